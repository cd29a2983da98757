"""Checks 3-4 against a fake NVML adapter, the adapter's free-memory field, and the real host."""
import ctypes.util
import sys
import types

import pytest

from doctor_fakes import GIB, MIB, FakeNvml, a10g, context, deploy, l4
from vllm_compile.doctor.gpu import check_driver, check_gpus, image_cuda


@pytest.mark.parametrize("image, version, cuda", [
    # The brief's table: <=0.6 12.1/12.4, 0.7-0.9 12.4/12.8, 0.10-0.11 12.8, 0.13+ 12.9, 0.2x 12.9/13.0.
    ("vllm/vllm-openai:v0.6.3", "0.6.3", ("12.1", "12.4")),
    ("vllm/vllm-openai:v0.8.5.post1", "0.8.5.post1", ("12.4", "12.8")),
    ("vllm/vllm-openai:v0.11.0", "0.11.0", ("12.8", "12.8")),
    ("vllm/vllm-openai:v0.13.0", "0.13.0", ("12.9", "12.9")),
    ("vllm/vllm-openai:v0.27.1", "0.27.1", ("12.9", "13.0")),
    # A CUDA tag names the CUDA exactly.
    ("vllm/vllm-openai:v0.27.1-cu129", "0.27.1", ("12.9", "12.9")),
    ("registry.local/vllm:v0.11.0-cu126@sha256:" + "a" * 64, "0.11.0", ("12.6", "12.6")),
])
def test_image_cuda(image, version, cuda):
    assert image_cuda(image, version) == cuda


def test_driver_too_old_for_the_image_fails():
    # CUDA 12.8 (v0.11.0) needs driver 570.26 or newer; 550.54.15 is the CUDA 12.4 driver.
    ctx = context(deploy(version="0.11.0"), nvml=FakeNvml([l4(0, 22)], driver="550.54.15"))
    finding = check_driver(ctx)
    assert finding.status == "fail"
    assert "550.54.15 is older than 570.26" in finding.found and "upgrade the NVIDIA driver to 570.26" in finding.fix


def test_driver_new_enough_passes():
    finding = check_driver(context(deploy(version="0.11.0"), nvml=FakeNvml([l4(0, 22)], driver="570.86.15")))
    assert finding.status == "ok" and "driver 570.86.15, NVML sees 1 GPU(s)" in finding.found


def test_driver_inside_an_ambiguous_range_warns():
    # 0.2x images are CUDA 12.9 or 13.0: 575.51.03 is enough for 12.9, not for 13.0 (580.65.06).
    warn = check_driver(context(deploy(version="0.27.1"), nvml=FakeNvml([l4(0, 22)], driver="575.57.08")))
    assert warn.status == "warn" and "580.65.06" in warn.found and "approximate" in warn.found
    exact = check_driver(context(deploy(version="0.27.1", image="vllm/vllm-openai:v0.27.1-cu129"),
                                 nvml=FakeNvml([l4(0, 22)], driver="575.57.08")))
    assert exact.status == "ok"


def test_no_nvml_fails_and_names_the_driver_needed():
    finding = check_driver(context(deploy(version="0.11.0"), nvml=FakeNvml(error="no NVIDIA driver found")))
    assert finding.status == "fail" and finding.found == "no NVIDIA driver found"
    assert "570.26 or newer" in finding.fix


def test_gpus_with_enough_free_memory_pass():
    nvml = FakeNvml([l4(0, 21.5), l4(1, 21.5)])
    finding = check_gpus(context(deploy(gpus=2, requested=20 * GIB), nvml=nvml))
    assert finding.status == "ok"
    assert "GPU 0 (L4) has 21.5 GiB free of the 20.0 GiB requested" in finding.found and "GPU 1" in finding.found


def test_busy_gpu_fails_with_a_utilization_that_would_start():
    # 10 GiB free of 22 GiB total: the largest utilization that still starts is floor(100 * 10/22)/100 = 0.45.
    nvml = FakeNvml([l4(0, 10)])
    finding = check_gpus(context(deploy(requested=20 * GIB, total=22 * GIB, util=0.9), nvml=nvml))
    assert finding.status == "fail"
    assert "GPU 0 has 10.0 GiB free, vLLM will request 20.0 GiB (0.9 x 22.0 GiB)" in finding.found
    assert "gpu_memory_utilization to 0.45 or less" in finding.fix


def test_too_few_gpus_fails():
    finding = check_gpus(context(deploy(gpus=2), nvml=FakeNvml([l4(0, 22)])))
    assert finding.status == "fail" and "needs 2 GPU(s), this host has 1" in finding.found


def test_wrong_gpu_type_fails():
    finding = check_gpus(context(deploy(), gpu="L4", nvml=FakeNvml([a10g(0, 22)])))
    assert finding.status == "fail" and "GPU 0 is NVIDIA A10G (A10G), the plan is for L4" in finding.found
    assert "hardware.gpu to 'A10G'" in finding.fix


def test_pinned_gpus_are_the_ones_checked():
    # GPU 0 is busy; the deployment is pinned to GPU 1 by UUID, so only GPU 1 counts.
    nvml = FakeNvml([l4(0, 1), l4(1, 21, uuid="GPU-beef")])
    ok = check_gpus(context(deploy(device_ids=("GPU-beef",)), count=2, nvml=nvml))
    assert ok.status == "ok" and "GPU 1" in ok.found and "GPU 0" not in ok.found
    missing = check_gpus(context(deploy(device_ids=("7",)), count=2, nvml=nvml))
    assert missing.status == "fail" and "pinned GPU 7 is not on this host" in missing.found


def test_several_deployments_take_consecutive_gpus():
    nvml = FakeNvml([l4(0, 21), l4(1, 21), l4(2, 5)])
    finding = check_gpus(context(deploy("a", gpus=2), deploy("b", port=8001), nvml=nvml))
    assert finding.status == "fail" and "b: GPU 2 has 5.0 GiB free" in finding.found
    assert "a: GPU 0 (L4)" in finding.found


def test_unknown_free_memory_warns_and_failing_plan_fails():
    assert check_gpus(context(deploy(), nvml=FakeNvml([l4(0, None)]))).status == "warn"
    bad = check_gpus(context(deploy(verdict="weights_do_not_fit"), nvml=FakeNvml([l4(0, 22)])))
    assert bad.status == "fail" and "weights_do_not_fit" in bad.found


def test_gpus_check_needs_a_spec():
    from vllm_compile.doctor import Context

    assert check_gpus(Context(nvml=FakeNvml([l4(0, 22)]))) is None


def test_adapter_reports_free_memory(monkeypatch):
    # A stand-in for the pynvml module: the adapter must read `free` from nvmlDeviceGetMemoryInfo.
    class NVMLError(Exception):
        pass

    fake = types.SimpleNamespace(
        NVMLError=NVMLError, NVMLError_LibraryNotFound=type("A", (NVMLError,), {}),
        NVMLError_DriverNotLoaded=type("B", (NVMLError,), {}),
        nvmlInit=lambda: None, nvmlShutdown=lambda: None, nvmlDeviceGetCount=lambda: 1,
        nvmlSystemGetDriverVersion=lambda: b"570.86.15", nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetUUID=lambda h: "GPU-1", nvmlDeviceGetCudaComputeCapability=lambda h: (8, 9),
        nvmlDeviceGetName=lambda h: "NVIDIA L4",
        nvmlDeviceGetMemoryInfo=lambda h: types.SimpleNamespace(total=23034 * MIB, free=20000 * MIB, used=3034 * MIB))
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    from vllm_compile.resolve.hardware.nvml import PynvmlAdapter

    device = PynvmlAdapter().query().devices[0]
    assert (device.memory_total, device.memory_free) == (23034 * MIB, 20000 * MIB)


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has an NVIDIA driver")
def test_this_machine_has_no_driver():
    ctx = context(deploy())
    driver, gpus = check_driver(ctx), check_gpus(ctx)
    assert driver.status == gpus.status == "fail"
    assert "NVIDIA driver" in driver.found and "cannot list the GPUs" in gpus.found
