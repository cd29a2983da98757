"""On a node of a deployment across nodes: what breaks multi-node start-ups most often.

VLLM_HOST_IP set, and distinct from the head's on the other nodes; the NCCL and Gloo interface
names set and present on this host; /dev/shm large enough for the node's GPUs; InfiniBand
devices when the spec says so. (The weights on this node: the cache check.)
"""
from __future__ import annotations

import os

from vllm_compile.doctor.base import GIB, Context, Finding, Status, combine, gib

HEAD_VAR = "VLLM_HEAD_ADDRESS"
SHM_PER_GPU = 2 * GIB      # what the lowering gives each GPU (vLLM's Kubernetes guide)


def check_nodes(ctx: Context) -> Finding | None:
    hw = ctx.hardware_spec
    if hw is None or hw.nodes <= 1:
        return None
    env = ctx.environ
    parts: list[tuple[Status, str, str]] = []
    host = env.get("VLLM_HOST_IP", "")
    head = env.get(HEAD_VAR) or (hw.node_addresses[0] if hw.node_addresses else "")
    if not host:
        parts.append(("fail", "VLLM_HOST_IP is not set", "set VLLM_HOST_IP to this node's address, as the other "
                                                          "nodes reach it"))
    elif head and host == head:
        parts.append(("ok", f"VLLM_HOST_IP {host} (the head)", ""))
    else:
        parts.append(("ok", f"VLLM_HOST_IP {host}" + (f", head {head}" if head else ""), ""))
    present = set()
    try:
        present = set(os.listdir(os.path.join(ctx.sys_root, "class", "net")))
    except OSError:
        pass
    for var in ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME"):
        name = env.get(var, "")
        wanted = [n.lstrip("^=") for n in name.split(",") if n]
        if not name:
            parts.append(("fail", f"{var} is not set", f"set {var} to the interface the nodes reach each other on "
                                                       f"(`ip -br addr`)"))
        elif present and not any(any(p.startswith(w) for p in present) for w in wanted):
            parts.append(("fail", f"{var}={name} names no interface of this host ({', '.join(sorted(present))})",
                          f"set {var} to one of {', '.join(sorted(present))}"))
        else:
            parts.append(("ok", f"{var}={name}", ""))
    try:
        stat = os.statvfs(ctx.shm_path)
        shm = stat.f_frsize * stat.f_blocks
        need = SHM_PER_GPU * hw.count
        parts.append(("ok", f"/dev/shm {gib(shm)}", "") if shm >= need else
                     ("warn", f"/dev/shm {gib(shm)} < {gib(need)} for {hw.count} GPUs",
                      "the containers get their own --shm-size; on bare metal enlarge /dev/shm"))
    except OSError:
        pass
    if hw.network == "infiniband":
        ib = os.path.join(ctx.dev_root, "infiniband")
        parts.append(("ok", "InfiniBand devices present", "") if os.path.isdir(ib) else
                     ("fail", f"hardware.network is infiniband but {ib} is missing",
                      "install the RDMA driver (MLNX_OFED / rdma-core), or set hardware.network: ethernet"))
    return combine("multi-node", parts)
