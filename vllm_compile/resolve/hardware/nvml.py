"""The only code that talks to NVML: a thin adapter over `pynvml` returning plain data.

Everything else takes an object with a `query() -> NvmlSnapshot` method, so tests pass a fake.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass


class NoGpuError(Exception):
    """NVML is unusable here: no driver, driver not loaded, or no GPU."""


@dataclass(frozen=True, slots=True)
class NvmlDevice:
    index: int
    name: str
    uuid: str | None
    memory_total: int                          # bytes, NVML's total (more than CUDA later reports)
    compute_capability: tuple[int, int] | None
    memory_free: int | None = None             # bytes free right now (NVML), for `doctor`


@dataclass(frozen=True, slots=True)
class NvmlSnapshot:
    driver_version: str | None
    devices: tuple[NvmlDevice, ...]


def _text(value) -> str:
    # Older pynvml releases return bytes.
    return value.decode() if isinstance(value, bytes) else str(value)


class PynvmlAdapter:
    def query(self) -> NvmlSnapshot:
        try:
            import pynvml
        except ImportError as exc:
            raise NoGpuError("the NVML bindings (nvidia-ml-py) are not installed") from exc
        try:
            pynvml.nvmlInit()
        except pynvml.NVMLError_LibraryNotFound as exc:
            raise NoGpuError("no NVIDIA driver found on this machine (NVML library libnvidia-ml.so is missing)") from exc
        except pynvml.NVMLError_DriverNotLoaded as exc:
            raise NoGpuError("the NVIDIA driver is installed but not loaded") from exc
        except pynvml.NVMLError as exc:
            raise NoGpuError(f"NVML failed to start: {exc}") from exc
        try:
            count = pynvml.nvmlDeviceGetCount()
            if count == 0:
                raise NoGpuError("the NVIDIA driver reports no GPUs")
            driver = _text(pynvml.nvmlSystemGetDriverVersion())
            return NvmlSnapshot(driver, tuple(self._device(pynvml, i) for i in range(count)))
        except pynvml.NVMLError as exc:
            raise NoGpuError(f"NVML failed while reading the GPUs: {exc}") from exc
        finally:
            try:
                pynvml.nvmlShutdown()
            except pynvml.NVMLError:
                pass

    @staticmethod
    def _device(pynvml, index: int) -> NvmlDevice:
        handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        try:
            uuid = _text(pynvml.nvmlDeviceGetUUID(handle))
        except pynvml.NVMLError:
            uuid = None
        try:
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(handle)
            cc = (int(major), int(minor))
        except pynvml.NVMLError:
            cc = None
        memory = pynvml.nvmlDeviceGetMemoryInfo(handle)
        free = getattr(memory, "free", None)  # optional: only `doctor` needs it
        return NvmlDevice(index=index, name=_text(pynvml.nvmlDeviceGetName(handle)), uuid=uuid,
                          memory_total=int(memory.total), compute_capability=cc,
                          memory_free=None if free is None else int(free))


def default_adapter() -> PynvmlAdapter:
    return PynvmlAdapter()
