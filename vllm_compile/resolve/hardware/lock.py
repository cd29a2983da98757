"""The `hardware` section of a lock file, so CI compiles the same bytes without a GPU."""
from __future__ import annotations

from dataclasses import replace

from vllm_compile.ir.facts import GpuFacts, HardwareFacts, HostGpu
from vllm_compile.resolve.hardware.catalog import find_gpu

_GPU_FIELDS = ("name", "memory_bytes", "compute_capability", "bf16", "fp8", "vendor", "bandwidth_gbps",
               "interconnect")


def hardware_lock_section(facts: HardwareFacts) -> dict:
    """Plain, deterministic data recording every figure the compiler uses from each GPU."""
    gpus = []
    for host in sorted(facts.gpus, key=lambda h: h.index):
        gpu = host.gpu
        gpus.append({
            "index": host.index,
            "uuid": host.uuid,
            "name": gpu.name,
            "memory_bytes": gpu.memory_bytes,
            "compute_capability": f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}",
            "bf16": gpu.bf16,
            "fp8": gpu.fp8,
            "vendor": gpu.vendor,
            "bandwidth_gbps": gpu.bandwidth_gbps,
            "interconnect": gpu.interconnect,
            "nvidia_smi_names": list(gpu.nvidia_smi_names),
        })
    return {"detected": facts.detected, "driver_version": facts.driver_version, "gpus": gpus,
            "warnings": list(facts.warnings)}


def hardware_from_lock(section: dict) -> HardwareFacts:
    """Inverse of hardware_lock_section; ValueError when the section is malformed."""
    try:
        hosts = []
        for item in section["gpus"]:
            missing = [f for f in _GPU_FIELDS if f not in item]
            if missing:
                raise ValueError(f"gpu entry {item.get('index')} lacks {', '.join(missing)}")
            major, minor = (int(p) for p in str(item["compute_capability"]).split("."))
            gpu = GpuFacts(name=str(item["name"]), memory_bytes=int(item["memory_bytes"]),
                           compute_capability=(major, minor), bf16=bool(item["bf16"]), fp8=bool(item["fp8"]),
                           vendor=item["vendor"], bandwidth_gbps=float(item["bandwidth_gbps"]),
                           interconnect=str(item["interconnect"]),
                           nvidia_smi_names=tuple(item.get("nvidia_smi_names", ())))
            known = find_gpu(gpu.name)
            if known is not None and known.name == gpu.name:
                gpu = replace(gpu, aliases=known.aliases, nvidia_smi_names=known.nvidia_smi_names)
            hosts.append(HostGpu(index=int(item["index"]), gpu=gpu, uuid=item.get("uuid")))
        if not hosts:
            raise ValueError("no GPUs recorded")
        return HardwareFacts(gpus=tuple(hosts), detected=bool(section.get("detected", True)),
                             driver_version=section.get("driver_version"),
                             warnings=tuple(section.get("warnings", ())))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed hardware section ({type(exc).__name__}: {exc})") from exc
