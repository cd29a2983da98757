"""A fake NVML adapter (the same `query()` boundary the real one has)."""
from vllm_compile.resolve.hardware.nvml import NoGpuError, NvmlDevice, NvmlSnapshot

MIB = 1 << 20


class FakeNvml:
    def __init__(self, devices=(), driver="550.54.15", error: str | None = None):
        self.snapshot = NvmlSnapshot(driver, tuple(devices))
        self.error = error
        self.calls = 0

    def query(self):
        self.calls += 1
        if self.error:
            raise NoGpuError(self.error)
        return self.snapshot


def device(index, name, mib, cc=(9, 0), uuid=None):
    return NvmlDevice(index=index, name=name, uuid=uuid or f"GPU-{index:08x}-0000-0000-0000-000000000000",
                      memory_total=mib * MIB, compute_capability=cc)


def h100_host(n=8):
    # nvidia-smi shows 81559 MiB for an H100 80GB HBM3.
    return FakeNvml([device(i, "NVIDIA H100 80GB HBM3", 81559) for i in range(n)])
