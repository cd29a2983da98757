"""Checks 3-4: the NVIDIA driver through NVML, and the GPUs the plan needs with their free memory now."""
from __future__ import annotations

import math
import re

from vllm_compile.doctor.base import Context, Finding, Status, combine, gib
from vllm_compile.versions import release_key

# CUDA of the default vllm/vllm-openai image, by the first release of a range: (lowest, highest)
# seen across the range. APPROXIMATE: read off vLLM's Dockerfile/torch pins of the time; ranges
# with two values changed CUDA inside the range. A `-cuXYZ` image tag overrides the table.
IMAGE_CUDA = (
    ("0.0.0", "12.1", "12.4"),
    ("0.7.0", "12.4", "12.8"),
    ("0.10.0", "12.8", "12.8"),
    ("0.12.0", "12.8", "12.9"),
    ("0.13.0", "12.9", "12.9"),
    ("0.20.0", "12.9", "13.0"),
)
# Minimum Linux driver of each CUDA toolkit's GA release (CUDA release notes, "CUDA Toolkit and
# Corresponding Driver Versions"). The images' NVIDIA_REQUIRE_CUDA makes the container toolkit
# refuse to start them on an older driver.
MIN_DRIVER = {"12.1": "530.30.02", "12.4": "550.54.14", "12.6": "560.28.03", "12.8": "570.26",
              "12.9": "575.51.03", "13.0": "580.65.06"}
_CU_TAG = re.compile(r"cu(\d{2})(\d)(?![0-9])")


def image_of(dep) -> str:
    return dep.spec.engine.image or f"vllm/vllm-openai:v{dep.spec.engine.version}"


def image_cuda(image: str, version: str) -> tuple[str, str]:
    """(lowest, highest) CUDA the image may be built with."""
    tag = image.split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    match = _CU_TAG.search(tag)
    if match:
        exact = f"{int(match.group(1))}.{match.group(2)}"
        return exact, exact
    key = release_key(version)
    row = [r for r in IMAGE_CUDA if release_key(r[0]) <= key][-1]
    return row[1], row[2]


def _driver_key(version: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", version))


def _driver_for(cuda: str, what: str, driver: str) -> tuple[Status, str, str]:
    """(status, found, fix) for one CUDA the deployment may need."""
    need = MIN_DRIVER.get(cuda)
    if need is None:
        return "warn", f"no minimum driver known for CUDA {cuda} ({what})", "check the image's CUDA against nvidia-smi's"
    if _driver_key(driver) >= _driver_key(need):
        return "ok", "", ""
    return "fail", f"driver {driver} is older than {need}, the minimum for CUDA {cuda} ({what})", (
        f"upgrade the NVIDIA driver to {need} or newer, or pin an engine.version/image built for an older CUDA")


def check_driver(ctx: Context) -> Finding | None:
    """3. NVML answers, and the driver is new enough for the CUDA of every pinned vLLM image."""
    if ctx.amd:
        return None     # NVML knows no AMD GPU: check_rocm looks at them
    name = "driver"
    snapshot = ctx.gpus
    images = {image_of(d): d.spec.engine.version for d in ctx.deployments}
    if isinstance(snapshot, str):
        needs = [MIN_DRIVER.get(image_cuda(image, version)[1]) for image, version in images.items()]
        floor = max((n for n in needs if n), key=_driver_key, default=None)
        return Finding(name, "fail", snapshot, "install the NVIDIA driver" + (f" {floor} or newer" if floor else "")
                       + " and load it (`nvidia-smi` must list the GPUs)")
    driver = snapshot.driver_version or "unknown"
    head = f"driver {driver}, NVML sees {len(snapshot.devices)} GPU(s)"
    if not ctx.deployments:
        return Finding(name, "ok", head)
    if snapshot.driver_version is None:
        return Finding(name, "warn", f"{head}; its version is unknown", "check `nvidia-smi`")
    parts: list[tuple[Status, str, str]] = [("ok", head, "")]
    for image, version in sorted(images.items()):
        low, high = image_cuda(image, version)
        status, found, fix = _driver_for(low, image, driver)
        if status == "ok" and high != low:
            status, found, fix = _driver_for(high, image, driver)
            if status == "fail":
                # The table is approximate inside a range that changed CUDA: a warning, not a verdict.
                status, found = "warn", found + "; depending on the build (the release table is approximate)"
        cuda = high if high == low else f"{low}-{high}"
        parts.append((status, found or f"new enough for CUDA {cuda} ({image})", fix))
    return combine(name, parts)


def _pick(devices, ids, offset: int, count: int):
    """The NVML devices a deployment gets, and the ids that name no GPU here."""
    if ids is None:
        return list(devices[offset:offset + count]), []
    chosen, missing = [], []
    for dev_id in ids[:count]:
        match = next((d for d in devices if (dev_id.isdigit() and d.index == int(dev_id))
                      or (d.uuid and d.uuid.lower() == dev_id.lower())), None)
        if match is None:
            missing.append(dev_id)
        else:
            chosen.append(match)
    return chosen, missing


def check_gpus(ctx: Context) -> Finding | None:
    """4. The GPUs each deployment needs exist, are the planned type, and have its requested memory free.

    vLLM refuses to start when free memory is below gpu_memory_utilization x total
    ("Free memory on device ... is less than desired GPU memory utilization")."""
    if not ctx.has_spec or ctx.amd:
        return None
    from vllm_compile.resolve.hardware.detect import map_device

    name = "gpus"
    snapshot = ctx.gpus
    if isinstance(snapshot, str):
        return Finding(name, "fail", f"cannot list the GPUs: {snapshot}",
                       "install and load the NVIDIA driver on the deployment host")
    devices = snapshot.devices
    planned = sorted({h.gpu.name for h in ctx.hardware.gpus}) if ctx.hardware else []
    needed = sum(d.plan.gpus for d in ctx.deployments)
    parts: list[tuple[Status, str, str]] = []
    if needed > len(devices):
        parts.append(("fail", f"the spec needs {needed} GPU(s), this host has {len(devices)}",
                      f"run on a host with {needed} GPUs, or lower tensor/pipeline parallelism"))
    offset = 0
    for dep in ctx.deployments:
        plan = dep.plan
        chosen, missing = _pick(devices, dep.device_ids, offset, plan.gpus)
        if dep.device_ids is None:
            offset += plan.gpus
        label = f"{dep.name}: " if len(ctx.deployments) > 1 else ""
        if plan.verdict != "ok":
            parts.append(("fail", f"{label}the plan predicts vLLM fails at start-up ({plan.verdict})",
                          "see `vllm-compile explain` and fix the spec first"))
        for dev_id in missing:
            listing = ", ".join(f"{d.index} ({d.uuid})" if d.uuid else str(d.index) for d in devices)
            parts.append(("fail", f"{label}pinned GPU {dev_id} is not on this host (GPUs: {listing})",
                          "pin GPUs from `vllm-compile detect` in hardware.device_ids"))
        request = plan.per_gpu.requested_bytes
        for dev in chosen:
            kind = map_device(dev)[0].name
            if planned and kind not in planned:
                parts.append(("fail", f"{label}GPU {dev.index} is {dev.name} ({kind}), the plan is for {', '.join(planned)}",
                              f"set hardware.gpu to {kind!r} (or auto) and recompile, or run on the planned GPUs"))
            elif dev.memory_free is None:
                parts.append(("warn", f"{label}GPU {dev.index}: NVML did not report free memory",
                              "check `nvidia-smi --query-gpu=memory.free --format=csv`"))
            elif dev.memory_free < request:
                # The utilization that would still start, rounded down to the 0.01 vLLM users write.
                util = math.floor(dev.memory_free / plan.per_gpu.total_bytes * 100) / 100
                parts.append(("fail", f"{label}GPU {dev.index} has {gib(dev.memory_free)} free, vLLM will request "
                              f"{gib(request)} ({plan.gpu_memory_utilization:g} x {gib(plan.per_gpu.total_bytes)})",
                              f"stop what uses GPU {dev.index} (see nvidia-smi), or set engine.gpu_memory_utilization "
                              f"to {util:.2f} or less"))
            else:
                parts.append(("ok", f"{label}GPU {dev.index} ({kind}) has {gib(dev.memory_free)} free of the "
                              f"{gib(request)} requested", ""))
    return combine(name, parts)
