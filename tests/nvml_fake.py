"""One fake of the NVML adapter boundary (`query()` -> NvmlSnapshot), shared by the hardware and
doctor tests."""
from vllm_compile.resolve.hardware.nvml import NoGpuError, NvmlSnapshot

DRIVER = "570.86.15"


class FakeNvml:
    def __init__(self, devices=(), driver: str = DRIVER, error: str | None = None):
        self.snapshot = NvmlSnapshot(driver, tuple(devices))
        self.error = error
        self.calls = 0

    def query(self):
        self.calls += 1
        if self.error:
            raise NoGpuError(self.error)
        return self.snapshot
