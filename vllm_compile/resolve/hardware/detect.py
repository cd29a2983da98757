"""Map what NVML reports onto the catalog."""
from __future__ import annotations

from dataclasses import replace

from vllm_compile.ir.facts import GpuFacts, HardwareFacts, HostGpu
import vllm_compile.resolve.hardware.nvml as nvml_module
from vllm_compile.resolve.hardware.catalog import find_gpu, memory_variants
from vllm_compile.resolve.hardware.nvml import NvmlDevice, NvmlSnapshot

GIB = 1 << 30
# CUDA sees a little less than NVML's total: 98.3% (T4), 98.2% (RTX 3090), 98.0% (L4), 99.4% (H100)
# in the catalog's measured pairs. For a card the catalog lacks, take the low end so plans err safe.
CUDA_VISIBLE_FRACTION = 0.98


def query(nvml=None) -> NvmlSnapshot:
    return (nvml or nvml_module.default_adapter()).query()


def detect(nvml=None) -> HardwareFacts:
    """This host's GPUs through NVML, mapped to the catalog; raises NoGpuError without a driver/GPU."""
    return facts_from_snapshot(query(nvml))


def facts_from_snapshot(snapshot: NvmlSnapshot) -> HardwareFacts:
    gpus, warnings = [], []
    for device in snapshot.devices:
        gpu, warning = map_device(device)
        gpus.append(HostGpu(index=device.index, gpu=gpu, uuid=device.uuid))
        if warning:
            warnings.append(warning)
    return HardwareFacts(gpus=tuple(gpus), detected=True, driver_version=snapshot.driver_version,
                         warnings=tuple(warnings))


def map_device(device: NvmlDevice) -> tuple[GpuFacts, str | None]:
    """The catalog entry for an NVML device, or facts built from NVML's figures plus a warning."""
    known = find_gpu(device.name)
    estimate = int(device.memory_total * CUDA_VISIBLE_FRACTION)
    if known is not None:
        # Variants sharing one nvidia-smi name differ only in memory: take the largest that fits.
        fits = [g for g in memory_variants(known.name) if g.memory_bytes <= device.memory_total]
        if fits:
            return max(fits, key=lambda g: g.memory_bytes), None
        return replace(known, memory_bytes=estimate), (
            f"GPU {device.index} ({device.name}) reports {device.memory_total / GIB:.2f} GiB, less than the "
            f"catalog's {known.name} ({known.memory_bytes / GIB:.2f} GiB; MIG or vGPU slice?): using "
            f"{estimate / GIB:.2f} GiB; set hardware.memory_gib to the exact figure")
    cc = device.compute_capability
    gpu = GpuFacts(name=device.name, memory_bytes=estimate, compute_capability=cc or (0, 0),
                   bf16=cc is not None and cc >= (8, 0), fp8=cc is not None and cc >= (8, 9),
                   nvidia_smi_names=(device.name,))
    cc_text = f"compute capability {cc[0]}.{cc[1]}" if cc else "unknown compute capability"
    return gpu, (
        f"GPU {device.index} ({device.name}) is not in the GPU catalog: using NVML's figures "
        f"({cc_text}, {estimate / GIB:.2f} GiB = {CUDA_VISIBLE_FRACTION:.0%} of NVML's "
        f"{device.memory_total / GIB:.2f} GiB, as CUDA sees slightly less); set hardware.memory_gib "
        f"to the exact figure vLLM logs as total_gpu_memory")
