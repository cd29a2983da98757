"""`vllm-compile lock` records the detected GPUs for `hardware.gpu: auto`, and `compile` then
uses them on a machine without a driver. The model is a local folder, so nothing touches the Hub;
NVML is the fake adapter (or, for "no driver", this machine's real one: it has no NVIDIA driver)."""
from __future__ import annotations

import ctypes.util
import json

import pytest
from click.testing import CliRunner

import vllm_compile.resolve.hardware.nvml as nvml_module
from nvml_fake import FakeNvml
from vllm_compile.cli import cli
from vllm_compile.resolve.hardware.nvml import NvmlDevice

MIB = 1 << 20
UUIDS = ("GPU-0d7a3c51-e92b-46f8-a1c0-5b8e2d9f6a73", "GPU-93c1e6b8-4d2a-7f05-c8e3-a6b0f1d4e927")
CONFIG = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": 2048,
          "intermediate_size": 8192, "num_hidden_layers": 16, "num_attention_heads": 32,
          "num_key_value_heads": 8, "vocab_size": 128256, "max_position_embeddings": 8192,
          "torch_dtype": "bfloat16", "tie_word_embeddings": True}


def l40s_host() -> FakeNvml:
    # nvidia-smi reports 46068 MiB for an L40S.
    return FakeNvml([NvmlDevice(index=i, name="NVIDIA L40S", uuid=u, memory_total=46068 * MIB,
                                compute_capability=(8, 9)) for i, u in enumerate(UUIDS)])


def write_spec(tmp_path, gpu: str):
    (tmp_path / "tiny").mkdir(exist_ok=True)
    (tmp_path / "tiny" / "config.json").write_text(json.dumps(CONFIG))
    spec = tmp_path / "app.yaml"
    spec.write_text(f"version: 1\nhardware:\n  gpu: {gpu}\ndeployments:\n"
                    "  - name: a\n    model: {path: tiny}\n    engine: {version: '0.33.0'}\n    server: {port: 8000}\n"
                    "  - name: b\n    model: {path: tiny}\n    engine: {version: '0.33.0'}\n    server: {port: 8001}\n")
    return spec


def invoke(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_lock_records_the_detected_gpus_and_compile_uses_them_without_a_driver(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, "auto")
    fake = l40s_host()
    monkeypatch.setattr(nvml_module, "default_adapter", lambda: fake)
    result = invoke("lock", str(spec))
    assert result.exit_code == 0, result.output
    assert "2 GPU(s), driver 570.86.15" in result.output
    text = (tmp_path / "app.yaml.lock").read_text()
    lock = json.loads(text)
    assert text == json.dumps(lock, indent=2, sort_keys=True) + "\n"
    hw = lock["hardware"]
    assert hw["detected"] is True and hw["driver_version"] == "570.86.15"
    assert [(g["index"], g["uuid"], g["name"]) for g in hw["gpus"]] == [(0, UUIDS[0], "L40S"), (1, UUIDS[1], "L40S")]
    # The catalog's L40S figure as vLLM reports it (44.39 GiB), not NVML's 46068 MiB.
    assert all(g["memory_bytes"] == 47663399567 for g in hw["gpus"])

    def no_driver():
        raise AssertionError("compile must take the GPUs from the lock, not from NVML")

    monkeypatch.setattr(nvml_module, "default_adapter", no_driver)
    out = tmp_path / "out"
    result = invoke("compile", str(spec), "-o", str(out))
    assert result.exit_code == 0, result.output
    compose = (out / "compose.yaml").read_text()
    assert f"- {UUIDS[0]}" in compose and f"- {UUIDS[1]}" in compose
    assert f'--gpus \'"device={UUIDS[1]}"\'' in (out / "b" / "docker-run.sh").read_text()


def test_lock_keeps_model_entries_when_it_records_hardware(tmp_path, monkeypatch):
    spec = write_spec(tmp_path, "auto")
    (tmp_path / "app.yaml.lock").write_text(json.dumps({"version": 1, "models": {}, "other": {"kept": True}}))
    monkeypatch.setattr(nvml_module, "default_adapter", l40s_host)
    assert invoke("lock", str(spec)).exit_code == 0
    lock = json.loads((tmp_path / "app.yaml.lock").read_text())
    assert lock["other"] == {"kept": True} and len(lock["hardware"]["gpus"]) == 2


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="this machine has an NVIDIA driver")
def test_lock_with_auto_and_no_driver_exits_2_with_a_clear_message(tmp_path):
    # The real NVML adapter, on this machine without a driver.
    spec = write_spec(tmp_path, "auto")
    result = CliRunner().invoke(cli, ["lock", str(spec)])
    assert result.exit_code == 2 and isinstance(result.exception, SystemExit)
    assert "app.yaml:3:3: error[VC312]: hardware.gpu: `gpu: auto`" in result.output
    assert "no NVIDIA driver" in result.output and "declare the GPU" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "app.yaml.lock").exists()


@pytest.mark.parametrize("gpu", ["L40S", "NVIDIA L4"])
def test_lock_with_declared_hardware_never_asks_nvml(tmp_path, monkeypatch, gpu):
    spec = write_spec(tmp_path, gpu)
    (tmp_path / "app.yaml.lock").write_text(json.dumps({"version": 1, "hardware": {"gpus": ["kept"]}}))

    def no_driver():
        raise AssertionError("declared hardware needs no driver")

    monkeypatch.setattr(nvml_module, "default_adapter", no_driver)
    result = invoke("lock", str(spec))
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "app.yaml.lock").read_text())["hardware"] == {"gpus": ["kept"]}
