"""Hardware resolution: the GPU catalog, NVML detection, and the lock file's hardware section.

NVML detection and the lock file's hardware section are imported on first use: a compile that
names a catalog GPU needs neither (issue 16). `detect` is the function of the submodule of that
name: import it from `vllm_compile.resolve.hardware.detect` (the package's attribute of that name is
the submodule once it has been imported)."""
from typing import TYPE_CHECKING

from vllm_compile.resolve.hardware.catalog import UnknownGpuError, catalog, lookup_gpu
from vllm_compile.resolve.hardware.resolve import resolve_hardware

if TYPE_CHECKING:
    from vllm_compile.resolve.hardware.lock import hardware_from_lock, hardware_lock_section
    from vllm_compile.resolve.hardware.nvml import NoGpuError

__all__ = ["NoGpuError", "UnknownGpuError", "catalog", "hardware_from_lock",
           "hardware_lock_section", "lookup_gpu", "resolve_hardware"]

_LAZY = {"hardware_from_lock": "lock", "hardware_lock_section": "lock", "NoGpuError": "nvml"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
