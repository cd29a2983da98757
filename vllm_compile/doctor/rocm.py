"""Check 3 for AMD GPUs: the ROCm kernel driver's devices, and the GPUs amd-smi (or rocm-smi) lists.

ROCm containers get their GPUs as /dev/kfd (the compute interface of the amdgpu driver) and the
render nodes under /dev/dri; no container toolkit is involved. amd-smi replaced rocm-smi in
ROCm 6; either one lists the GPUs the driver sees."""
from __future__ import annotations

import os
import re
import subprocess

from vllm_compile.doctor.base import Context, Finding, Status, combine

# `amd-smi list` prints a "GPU: <index>" line per GPU; `rocm-smi --showid` one or more
# "GPU[<index>]" lines per GPU.
_LISTERS = (("amd-smi", ["list"], re.compile(r"^GPU:\s*(\d+)", re.M)),
            ("rocm-smi", ["--showid"], re.compile(r"^GPU\[(\d+)\]", re.M)))
INSTALL_ROCM = "install the AMD GPU driver (amdgpu-dkms) and ROCm, then check that `amd-smi list` shows the GPUs"


def _listed(ctx: Context) -> tuple[str | None, set[int], str]:
    """(tool, GPU indexes it lists, ""), or (None, empty, why there is no list)."""
    tried = []
    for tool, args, pattern in _LISTERS:
        path = ctx.which(tool)
        if not path:
            tried.append(f"no {tool} on PATH")
            continue
        try:
            done = subprocess.run([path, *args], capture_output=True, text=True, timeout=30,
                                  env={**ctx.environ, "PATH": os.environ.get("PATH", "")})
        except (OSError, subprocess.TimeoutExpired) as exc:
            tried.append(f"{tool} did not run ({exc})")
            continue
        if done.returncode != 0:
            tried.append(f"{tool} failed: {(done.stderr or done.stdout).strip()[:200]}")
            continue
        return tool, {int(i) for i in pattern.findall(done.stdout)}, ""
    return None, set(), "; ".join(tried)


def check_rocm(ctx: Context) -> Finding | None:
    """3-4 (AMD). /dev/kfd and /dev/dri exist, and the spec's GPUs are among those amd-smi lists."""
    if not ctx.amd:
        return None
    name = "rocm"
    parts: list[tuple[Status, str, str]] = []
    missing = [d for d in ("kfd", "dri") if not os.path.exists(os.path.join(ctx.dev_root, d))]
    if missing:
        parts.append(("fail", "no " + " and no ".join(f"{ctx.dev_root}/{d}" for d in missing)
                      + " (the amdgpu driver is not loaded)", INSTALL_ROCM))
    tool, listed, why = _listed(ctx)
    needed = sum(d.plan.gpus for d in ctx.deployments)
    pinned = sorted({int(i) for d in ctx.deployments for i in (d.device_ids or ()) if i.isdigit()})
    if tool is None:
        parts.append(("warn", f"cannot list the GPUs: {why}", INSTALL_ROCM))
    else:
        parts.append(("ok", f"{tool} lists {len(listed)} GPU(s)", ""))
        if needed > len(listed):
            parts.append(("fail", f"the spec needs {needed} GPU(s), {tool} lists {len(listed)}",
                          f"run on a host with {needed} AMD GPUs, or lower tensor/pipeline parallelism"))
        absent = [i for i in pinned if i not in listed]
        if absent:
            parts.append(("fail", f"pinned GPU(s) {', '.join(map(str, absent))} are not listed by {tool}",
                          "pin indexes that `amd-smi list` shows in hardware.device_ids"))
    if not missing:
        parts.append(("ok", f"{ctx.dev_root}/kfd and {ctx.dev_root}/dri present", ""))
    return combine(name, parts)
