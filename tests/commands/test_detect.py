import ctypes.util
import json

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.resolve.hardware import nvml
from vllm_compile.resolve.hardware.nvml import NvmlDevice, NvmlSnapshot

MIB = 1 << 20


class Fake:
    def __init__(self, *devices):
        self.snapshot = NvmlSnapshot("550.54.15", devices)

    def query(self):
        return self.snapshot


def run(*args):
    return CliRunner().invoke(cli, ["detect", *args])


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has an NVIDIA driver")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_no_driver_exits_2_with_advice(fmt):
    result = run("--format", fmt)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "no NVIDIA driver" in result.stderr and "hardware: {gpu:" in result.stderr
    assert "Traceback" not in result.output


def test_maps_detected_gpus(monkeypatch):
    fake = Fake(NvmlDevice(0, "NVIDIA H100 80GB HBM3", "GPU-aaaa", 81559 * MIB, (9, 0)),
                NvmlDevice(1, "NVIDIA GeForce GTX 1080", "GPU-bbbb", 8192 * MIB, (6, 1)))
    monkeypatch.setattr(nvml, "default_adapter", lambda: fake)
    result = run("--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["driver_version"] == "550.54.15"
    h100, gtx = data["gpus"]
    assert (h100["catalog"], h100["uuid"], h100["compute_capability"]) == ("H100-SXM-80GB", "GPU-aaaa", "9.0")
    assert h100["nvml_memory_bytes"] == 81559 * MIB > h100["memory_bytes"]
    assert gtx["catalog"] is None and gtx["memory_bytes"] == int(8192 * MIB * 0.98)
    assert "warning[VC332]:" in result.stderr and "GTX 1080" in result.stderr

    text = run()
    assert text.exit_code == 0
    assert "NVIDIA driver 550.54.15, 2 GPU(s)" in text.stdout
    assert "H100-SXM-80GB" in text.stdout and "(not in catalog)" in text.stdout and "79.65" in text.stdout
