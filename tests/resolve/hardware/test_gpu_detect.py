import ctypes.util
import sys
import types

import pytest

from hardware_fakes import DRIVER, MIB, FakeNvml, device, h100_host
from vllm_compile.resolve.hardware import NoGpuError, lookup_gpu
from vllm_compile.resolve.hardware.detect import detect
from vllm_compile.resolve.hardware.nvml import PynvmlAdapter

GIB = 1 << 30
no_driver = pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None,
                               reason="this machine has an NVIDIA driver")


def test_h100_host_maps_to_catalog():
    facts = detect(h100_host(2))
    assert facts.detected and facts.driver_version == DRIVER and facts.warnings == ()
    assert [h.index for h in facts.gpus] == [0, 1]
    assert facts.gpus[1].uuid == "GPU-00000001-0000-0000-0000-000000000000"
    # vLLM sees the catalog's CUDA total (≈79.18 GiB), not NVML's 81559 MiB (79.65 GiB).
    assert facts.gpu == lookup_gpu("H100-SXM-80GB")
    assert facts.gpu.memory_bytes < 81559 * MIB


def test_mixed_host_keeps_each_card():
    facts = detect(FakeNvml([device(0, "NVIDIA L4", 23034, (8, 9)), device(1, "Tesla T4", 15360, (7, 5))]))
    assert [h.gpu.name for h in facts.gpus] == ["L4", "T4"]


@pytest.mark.parametrize("mib,expected", [(8188, "RTX-4060-Ti-8GB"), (16380, "RTX-4060-Ti-16GB")])
def test_memory_variants_sharing_an_nvidia_smi_name(mib, expected):
    facts = detect(FakeNvml([device(0, "NVIDIA GeForce RTX 4060 Ti", mib, (8, 9))]))
    assert facts.gpu.name == expected and facts.warnings == ()


def test_unknown_card_uses_nvml_figures_with_a_warning():
    facts = detect(FakeNvml([device(0, "NVIDIA GeForce GTX 1080 Ti", 11264, (6, 1))]))
    gpu = facts.gpu
    assert gpu.name == "NVIDIA GeForce GTX 1080 Ti"
    assert gpu.compute_capability == (6, 1) and not gpu.bf16 and not gpu.fp8
    # 98% of 11264 MiB: slightly under NVML's total, as CUDA always sees a little less.
    assert gpu.memory_bytes == int(11264 * MIB * 0.98)
    assert len(facts.warnings) == 1 and "not in the GPU catalog" in facts.warnings[0]
    assert "memory_gib" in facts.warnings[0]


def test_unknown_card_without_compute_capability():
    facts = detect(FakeNvml([device(0, "NVIDIA Mystery", 4096, None)]))
    assert facts.gpu.compute_capability == (0, 0) and not facts.gpu.bf16
    assert "unknown compute capability" in facts.warnings[0]


def test_known_name_with_less_memory_than_catalog_warns():
    # A MIG or vGPU slice reports the board's name with a fraction of its memory.
    facts = detect(FakeNvml([device(0, "NVIDIA A100-SXM4-80GB", 40 * 1024, (8, 0))]))
    assert facts.gpu.compute_capability == (8, 0)
    assert facts.gpu.memory_bytes == int(40 * GIB * 0.98)
    assert "MIG" in facts.warnings[0]


def test_fake_without_gpus_raises():
    with pytest.raises(NoGpuError, match="no driver here"):
        detect(FakeNvml(error="no driver here"))


@no_driver
def test_real_nvml_on_this_machine_reports_no_driver():
    with pytest.raises(NoGpuError, match="no NVIDIA driver"):
        detect()


class _FakePynvml(types.ModuleType):
    """Stands in for the pynvml module to check the adapter's error mapping and decoding."""

    class NVMLError(Exception):
        pass

    class NVMLError_LibraryNotFound(NVMLError):
        pass

    class NVMLError_DriverNotLoaded(NVMLError):
        pass

    def __init__(self, init_error=None, names=(), shutdowns=None):
        super().__init__("pynvml")
        self.init_error, self.names, self.shutdowns = init_error, names, []

    def nvmlInit(self):
        if self.init_error:
            raise self.init_error

    def nvmlShutdown(self):
        self.shutdowns.append(True)

    def nvmlDeviceGetCount(self):
        return len(self.names)

    def nvmlSystemGetDriverVersion(self):
        return b"535.104.05"

    def nvmlDeviceGetHandleByIndex(self, i):
        return i

    def nvmlDeviceGetName(self, h):
        return self.names[h]

    def nvmlDeviceGetUUID(self, h):
        raise self.NVMLError("not supported")

    def nvmlDeviceGetMemoryInfo(self, h):
        return types.SimpleNamespace(total=23034 * MIB)

    def nvmlDeviceGetCudaComputeCapability(self, h):
        return (8, 9)


def _with_fake(monkeypatch, fake):
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return PynvmlAdapter()


def test_adapter_reads_devices_and_decodes_bytes(monkeypatch):
    fake = _FakePynvml(names=(b"NVIDIA L4",))
    snapshot = _with_fake(monkeypatch, fake).query()
    assert snapshot.driver_version == "535.104.05"
    (dev,) = snapshot.devices
    assert (dev.name, dev.uuid, dev.memory_total, dev.compute_capability) == ("NVIDIA L4", None, 23034 * MIB, (8, 9))
    assert fake.shutdowns == [True]


@pytest.mark.parametrize("error,message", [
    ("NVMLError_LibraryNotFound", "no NVIDIA driver"),
    ("NVMLError_DriverNotLoaded", "not loaded"),
    ("NVMLError", "NVML failed to start"),
])
def test_adapter_maps_init_failures(monkeypatch, error, message):
    fake = _FakePynvml()
    fake.init_error = getattr(_FakePynvml, error)("boom")
    with pytest.raises(NoGpuError, match=message):
        _with_fake(monkeypatch, fake).query()


def test_adapter_no_devices(monkeypatch):
    with pytest.raises(NoGpuError, match="no GPUs"):
        _with_fake(monkeypatch, _FakePynvml(names=())).query()
