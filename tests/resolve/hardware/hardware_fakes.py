"""A fake NVML adapter (the same `query()` boundary the real one has)."""
from nvml_fake import DRIVER, FakeNvml  # noqa: F401  (re-exported for the hardware tests)
from vllm_compile.resolve.hardware.nvml import NvmlDevice

MIB = 1 << 20


def device(index, name, mib, cc=(9, 0), uuid=None):
    return NvmlDevice(index=index, name=name, uuid=uuid or f"GPU-{index:08x}-0000-0000-0000-000000000000",
                      memory_total=mib * MIB, compute_capability=cc)


def h100_host(n=8):
    # nvidia-smi shows 81559 MiB for an H100 80GB HBM3.
    return FakeNvml([device(i, "NVIDIA H100 80GB HBM3", 81559) for i in range(n)])
