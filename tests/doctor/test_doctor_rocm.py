"""ROCm hosts: /dev/kfd and /dev/dri, the GPUs amd-smi (or rocm-smi) lists; NVIDIA checks stand aside."""
from __future__ import annotations

import sys

from doctor_fakes import context, deploy
from vllm_compile.doctor import run_checks
from vllm_compile.doctor.docker import check_toolkit
from vllm_compile.doctor.gpu import check_driver, check_gpus
from vllm_compile.doctor.rocm import check_rocm

AMD_SMI_LIST = """GPU: 0
    BDF: 0000:0c:00.0
    UUID: 1fff74a1-0000-1000-80e9-b2e8b2c2e8a6

GPU: 1
    BDF: 0000:22:00.0
    UUID: 2cff74a1-0000-1000-8071-0d53f7b4e1b2
"""
ROCM_SMI_SHOWID = """============================ ROCm System Management Interface ============================
=========================================== ID ===========================================
GPU[0]		: Device Name: 		AMD Instinct MI300X
GPU[0]		: Device ID: 		0x74a1
GPU[1]		: Device Name: 		AMD Instinct MI300X
GPU[1]		: Device ID: 		0x74a1
GPU[2]		: Device Name: 		AMD Instinct MI300X
GPU[2]		: Device ID: 		0x74a1
==========================================================================================
"""


def tool(tmp_path, name, output, code=0):
    path = tmp_path / "bin" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"#!{sys.executable}\nimport sys\nsys.stdout.write({output!r})\nsys.exit({code})\n")
    path.chmod(0o755)
    return str(path)


def rocm_host(tmp_path, devices=("kfd", "dri")):
    dev = tmp_path / "dev"
    dev.mkdir()
    for name in devices:
        (dev / name).mkdir()
    return str(dev)


def amd_context(tmp_path, *deployments, tools=None, devices=("kfd", "dri")):
    tools = tools or {}
    return context(*deployments, gpu="MI300X", dev_root=rocm_host(tmp_path, devices), which=tools.get)


def test_two_gpus_listed_by_amd_smi(tmp_path):
    ctx = amd_context(tmp_path, deploy(gpus=2, device_ids=("0", "1")),
                      tools={"amd-smi": tool(tmp_path, "amd-smi", AMD_SMI_LIST)})
    finding = check_rocm(ctx)
    assert finding.status == "ok", finding
    assert "amd-smi lists 2 GPU(s)" in finding.found and "/kfd and" in finding.found


def test_rocm_smi_when_there_is_no_amd_smi_and_a_pinned_gpu_missing(tmp_path):
    ctx = amd_context(tmp_path, deploy(gpus=2, device_ids=("2", "5")),
                      tools={"rocm-smi": tool(tmp_path, "rocm-smi", ROCM_SMI_SHOWID)})
    finding = check_rocm(ctx)
    assert finding.status == "fail"
    assert "rocm-smi lists 3 GPU(s)" in finding.found and "pinned GPU(s) 5 are not listed" in finding.found


def test_too_few_gpus_and_no_driver_devices(tmp_path):
    ctx = amd_context(tmp_path, deploy(gpus=4), devices=("dri",),
                      tools={"amd-smi": tool(tmp_path, "amd-smi", AMD_SMI_LIST)})
    finding = check_rocm(ctx)
    assert finding.status == "fail"
    assert "needs 4 GPU(s), amd-smi lists 2" in finding.found and "/kfd" in finding.found
    assert "amdgpu" in finding.fix


def test_no_listing_tool_is_a_warning(tmp_path):
    finding = check_rocm(amd_context(tmp_path, deploy()))
    assert finding.status == "warn" and "no amd-smi on PATH; no rocm-smi on PATH" in finding.found


def test_failing_tool_falls_back_to_the_next(tmp_path):
    tools = {"amd-smi": tool(tmp_path, "amd-smi", "error: no driver\n", code=1),
             "rocm-smi": tool(tmp_path, "rocm-smi", ROCM_SMI_SHOWID)}
    finding = check_rocm(amd_context(tmp_path, deploy(), tools=tools))
    assert finding.status == "ok" and "rocm-smi lists 3" in finding.found


def test_nvidia_checks_stand_aside_on_amd(tmp_path):
    ctx = amd_context(tmp_path, deploy(), tools={"amd-smi": tool(tmp_path, "amd-smi", AMD_SMI_LIST)})
    assert check_driver(ctx) is None and check_gpus(ctx) is None
    assert "not needed: AMD GPUs" in check_toolkit(ctx).found
    names = [f.name for f in run_checks(ctx) if f.name in ("driver", "gpus", "rocm")]
    assert names == ["rocm"]
    # NVIDIA hosts never see the ROCm check.
    assert check_rocm(context(deploy())) is None
