"""`ray/`: a deployment across several Docker hosts (no Kubernetes), in the pattern of vLLM's
`run_cluster.sh`: one script per node, `node-0.sh` on the head and `node-1.sh` ... on the others,
each running the pinned image with the host network, the shared memory of its GPUs, all its
GPUs, the Hugging Face cache and a VLLM_HOST_IP of its own, and starting a Ray node in it; and on
the head `serve.sh`, which waits until the cluster reports every node's GPUs and then runs
`vllm serve` with the planned parallel sizes inside the head's container.

Run `node-0.sh` on the head, each `node-<i>.sh` on node i, then `serve.sh` on the head. The
addresses come from `hardware.node_addresses` when given (VLLM_HOST_IP and VLLM_HEAD_ADDRESS
override them), else from those variables, which the scripts then require.
"""
from __future__ import annotations

from typing import Sequence

from vllm_compile.emit import docker_run, host, shell
from vllm_compile.emit.header import Header
from vllm_compile.emit.lws import IB_HCA, ray_wait
from vllm_compile.ir.lowered import EnvVar, LoweredDeployment, MultiNode

NAME = "ray"
FILENAME = "ray/node-0.sh"   # the head's script; `files` adds ray/node-<i>.sh for the others and ray/serve.sh
KIND = "shell"
SCOPE = "deployment"
RUNTIME = "docker"
DESCRIPTION = "ray/: node-<i>.sh per Docker host (a Ray cluster, as vLLM's run_cluster.sh) and the head's serve.sh"

FOLDER = "ray"
HEAD_VAR = "VLLM_HEAD_ADDRESS"
HOST_VAR = "VLLM_HOST_IP"
INTERFACE_VARS = ("NCCL_SOCKET_IFNAME", "GLOO_SOCKET_IFNAME")


def container_name(dep: LoweredDeployment, index: int) -> str:
    return f"{dep.name}-node-{index}"


def _multi(dep: LoweredDeployment) -> MultiNode:
    if dep.multinode is None or dep.multinode.ray is None:
        raise ValueError(f"deployment {dep.name} was lowered without a Ray launch")
    return dep.multinode


def _address_lines(multi: MultiNode, index: int) -> list[str]:
    """head_address and VLLM_HOST_IP of node `index`: the spec's addresses, else required variables."""
    if multi.addresses:
        head = shell.Expand.literal(multi.addresses[0])
        mine = shell.Expand.literal(multi.addresses[index])
        lines = [f'head_address="${{{HEAD_VAR}:-{head}}}"', f'export {HOST_VAR}="${{{HOST_VAR}:-{mine}}}"']
    else:
        lines = [f'head_address="${{{HEAD_VAR}:?set {HEAD_VAR} to the address of the head node}}"',
                 f': "${{{HOST_VAR}:?set {HOST_VAR} to the address of this node (node {index}) that the other '
                 f'nodes reach}}"']
    if index == 0:
        lines += [f'if [ "${HOST_VAR}" != "$head_address" ]; then',
                  f'  echo "node-0.sh runs on the head: {HOST_VAR} ($VLLM_HOST_IP) must be the head address '
                  f'($head_address)" >&2', "  exit 1", "fi"]
    else:
        lines += [f'if [ "${HOST_VAR}" = "$head_address" ]; then',
                  f'  echo "node-{index}.sh runs on node {index}: {HOST_VAR} must be the address of this node, not '
                  f'of the head ($head_address)" >&2', "  exit 1", "fi"]
    lines += [f': "${{{var}:?set {var} to the network interface the nodes reach each other on (ip -br addr)}}"'
              for var in INTERFACE_VARS]
    return lines


def _env(dep: LoweredDeployment, index: int) -> tuple[EnvVar, ...]:
    """The server's env; nodes other than the head run no API server, so no API key."""
    return tuple(v for v in host.container_env(dep) if index == 0 or v.secret != "api_key")


def _size(n: int) -> str:
    return f"{n // 2**30}g" if n % 2**30 == 0 else f"{-(-n // 2**20)}m"


def node_options(dep: LoweredDeployment, index: int) -> list[shell.Word]:
    """docker's options for node `index`, as run_cluster.sh starts a Ray node."""
    multi = _multi(dep)
    words: list[shell.Word] = ["--name", container_name(dep, index), "--detach", "--restart", host.RESTART,
                               *docker_run.stop_and_logs(), "--network", "host", "--shm-size", _size(dep.shm_bytes),
                               *docker_run.ulimits(dep)]
    if dep.accelerators.vendor == "amd":
        words += docker_run.rocm_options()  # every GPU of the node, as vLLM's ROCm guide runs its image
    else:
        words += ["--gpus", "all"]
    for volume in dep.volumes:
        side = shell.host_path(volume)
        suffix = f":{volume.container}" + (":ro" if volume.read_only else "")
        words += ["-v", shell.Expand(side.text + shell.Expand.literal(suffix)) if isinstance(side, shell.Expand)
                  else side + suffix]
    # Ray binds to this node's address on hosts with several interfaces (run_cluster.sh).
    words += ["-e", HOST_VAR, "-e", f"RAY_NODE_IP_ADDRESS=${HOST_VAR}", "-e", f"RAY_OVERRIDE_NODE_IP_ADDRESS=${HOST_VAR}"]
    words = [shell.Expand(w.replace(f"${HOST_VAR}", f"${{{HOST_VAR}}}")) if isinstance(w, str) and "$" in w else w
             for w in words]
    for name in INTERFACE_VARS:
        words += ["-e", name]
    if multi.network == "infiniband":
        words += ["--cap-add", "IPC_LOCK", "--device", "/dev/infiniband", "-e", f"NCCL_IB_HCA={IB_HCA}"]
    for var in _env(dep, index):
        words += ["-e", var.name]
    words += ["--entrypoint", "/bin/bash"]
    return words


def ray_command(dep: LoweredDeployment, index: int) -> shell.Expand:
    """The Ray node's start command (expanded on the host: the addresses are the host's variables)."""
    port = _multi(dep).ray_port
    if index == 0:
        return shell.Expand(f"ray start --block --head --node-ip-address=${{{HOST_VAR}}} --port={port}")
    return shell.Expand(f"ray start --block --address=${{head_address}}:{port} --node-ip-address=${{{HOST_VAR}}}")


def node_script(dep: LoweredDeployment, index: int, header: Header) -> bytes:
    multi = _multi(dep)
    role = "the head" if index == 0 else f"node {index}"
    setup = [f"# Node {index} of {multi.nodes} ({role}): a Ray node in a container of the pinned image."]
    setup += _address_lines(multi, index)
    setup += shell.env_setup(_env(dep, index))
    setup += docker_run.replace_existing(container_name(dep, index))
    groups: list[list[shell.Word]] = [*shell.flag_groups(node_options(dep, index)), [dep.image],
                                      ["-c", ray_command(dep, index)]]
    return shell.script(header, setup, shell.command_lines(["exec", "docker", "run"], groups))


def serve_args(dep: LoweredDeployment) -> list[str]:
    launch = _multi(dep).ray
    assert launch is not None
    # The host network: the server listens on the host's address and port itself.
    listen = ["--host", dep.bind_host] if dep.bind_host is not None else []
    port = [] if dep.port == dep.container_port else ["--port", str(dep.port)]
    return [*launch.leader_args, *listen, *port]


def serve_script(dep: LoweredDeployment, header: Header) -> bytes:
    multi = _multi(dep)
    head = container_name(dep, 0)
    gpus = multi.nodes * multi.gpus_per_node
    setup = [f"# On the head, once node-0.sh ... node-{multi.nodes - 1}.sh run: wait until the Ray cluster holds "
             f"{gpus} GPUs ({multi.nodes} x {multi.gpus_per_node}), then serve.",
             f"{ray_wait(gpus, multi.ray_port).replace('until python3', f'until docker exec {head} python3')}"]
    groups: list[list[shell.Word]] = [[head], ["vllm", "serve"], *shell.flag_groups(serve_args(dep))]
    return shell.script(header, setup, shell.command_lines(["exec", "docker", "exec"], groups))


def files(deployments: Sequence[LoweredDeployment], header: Header) -> list[tuple[str, bytes]]:
    dep = shell.single(deployments, NAME)
    multi = _multi(dep)
    out = [(f"{FOLDER}/node-{i}.sh", node_script(dep, i, header)) for i in range(multi.nodes)]
    out.append((f"{FOLDER}/serve.sh", serve_script(dep, header)))
    return out


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    """The head's script (`files` gives every one)."""
    dep = shell.single(deployments, NAME)
    return node_script(dep, 0, header)
