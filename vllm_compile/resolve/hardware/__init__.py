"""Hardware resolution: the GPU catalog, NVML detection, and the lock file's hardware section."""
from vllm_compile.resolve.hardware.catalog import UnknownGpuError, catalog, lookup_gpu
from vllm_compile.resolve.hardware.detect import detect
from vllm_compile.resolve.hardware.lock import hardware_from_lock, hardware_lock_section
from vllm_compile.resolve.hardware.nvml import NoGpuError
from vllm_compile.resolve.hardware.resolve import resolve_hardware

__all__ = ["NoGpuError", "UnknownGpuError", "catalog", "detect", "hardware_from_lock",
           "hardware_lock_section", "lookup_gpu", "resolve_hardware"]
