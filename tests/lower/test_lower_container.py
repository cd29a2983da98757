"""Container description: image, env by reference, mounts, devices, healthcheck, digest."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import lower_builders as b
from vllm_compile.diagnostics import CompileError
from vllm_compile.ir.lowered import Accelerators, Volume
from vllm_compile.lower.container import start_period_seconds


def test_defaults():
    low = b.lowered()
    assert low.name == "llama-chat"
    assert low.image == "vllm/vllm-openai:v0.18.1"
    assert low.model == "meta-llama/Llama-3.1-8B-Instruct"
    assert (low.port, low.container_port) == (8000, 8000)
    assert low.accelerators == Accelerators(vendor="nvidia", count=1, device_ids=None,
                                            product_names=("NVIDIA H100 80GB HBM3",))
    assert low.shm_bytes == 2 * 2**30 and low.role == "server"
    assert low.output_dir == "deploy/llama-chat" and low.spec_path == "llama.yaml"
    assert low.formats == ("compose", "docker-run")
    assert low.warnings == ()
    [cache] = low.volumes
    assert cache == Volume(kind="model-cache", container="/root/.cache/huggingface")


def test_gated_model_requires_the_token_by_reference():
    [token] = b.lowered().env  # the Llama facts say gated
    assert (token.name, token.from_env, token.value, token.required) == ("HF_TOKEN", "HF_TOKEN", None, True)
    assert "meta-llama/Llama-3.1-8B-Instruct" in token.required_message
    [token] = b.lowered(facts=b.llama_facts(gated=False)).env
    assert not token.required


def test_spec_gated_override_and_token_variable_name():
    dep = b.deployment(model={"gated": False}, server={"hf_token_env": "MY_HF"})
    [token] = b.lowered(dep=dep).env
    assert token.from_env == "MY_HF" and not token.required


def test_api_key_passed_by_reference_never_inline():
    low = b.lowered(dep=b.deployment(server={"api_key_env": "LLAMA_KEY"}))
    key = {e.name: e for e in low.env}["VLLM_API_KEY"]
    assert key.from_env == "LLAMA_KEY" and key.value is None and key.required
    assert "--api-key" not in low.args


def test_image_override_and_latest_refused():
    digest = "vllm/vllm-openai@sha256:" + "a" * 64
    assert b.lowered(dep=b.deployment(engine={"image": digest})).image == digest
    assert b.lowered(dep=b.deployment(engine={"image": "ghcr.io/me/vllm:v0.18.1-cu128"})).image.endswith("cu128")
    for bad in ("vllm/vllm-openai:latest", "vllm/vllm-openai"):
        with pytest.raises(CompileError) as caught:
            b.lowered(dep=b.deployment(engine={"image": bad}))
        [diag] = caught.value.diagnostics
        assert diag.key == "engine.image" and (diag.line, diag.column) == (14, 3)
        assert "vllm/vllm-openai:v0.18.1" in diag.fix


def test_local_model_mounted_read_only_relative_to_the_output_folder():
    low = b.lowered(dep=b.deployment(model={"path": "./models/llama"}))
    assert low.model == "/models/llama" and low.args[:2] == ("--model", "/models/llama")
    mount = low.volumes[1]
    # deploy/llama-chat -> up two levels to the spec's folder -> models/llama
    assert mount == Volume(kind="local-model", container="/models/llama", source="../../models/llama", read_only=True)
    # a local model downloads nothing: the token is never required
    assert not low.env[0].required


def test_local_model_beside_the_output_folder():
    low = b.lowered(dep=b.deployment(model={"path": "deploy/llama-chat/weights"}))
    assert low.volumes[1].source == "./weights"


def test_pinned_devices():
    low = b.lowered(the_plan=b.plan(tensor_parallel_size=2), hardware_spec={"count": 2, "device_ids": ["2", "3"]})
    assert low.accelerators.device_ids == ("2", "3") and low.accelerators.count == 2
    low = b.lowered(hardware_spec={"count": 2, "device_ids": ["GPU-aaa", "GPU-bbb"]})
    assert low.accelerators.device_ids == ("GPU-aaa",) and "GPU-aaa" in low.warnings[0]
    with pytest.raises(CompileError) as caught:
        b.lowered(the_plan=b.plan(tensor_parallel_size=4), hardware_spec={"device_ids": ["0", "1"]})
    assert caught.value.diagnostics[0].key == "hardware.device_ids"


def test_device_ids_given_by_the_caller_win():
    low = b.lowered(device_ids=("1",), depends_on_healthy=("other",), output_dir="deploy/host")
    assert low.accelerators.device_ids == ("1",) and low.depends_on_healthy == ("other",) and low.output_dir == "deploy/host"


@pytest.mark.parametrize("bad", ["../elsewhere", "/etc/deploy", "deploy/../../x"])
def test_output_dir_must_stay_inside_the_spec_folder(bad):
    with pytest.raises(CompileError) as caught:
        b.lowered(dep=b.deployment(output={"dir": bad}))
    assert caught.value.diagnostics[0].key == "output.dir"


def test_start_period_formula():
    # 300 s + 10 s/GiB, rounded up to whole minutes.
    assert start_period_seconds(0) == 300
    assert start_period_seconds(6 * 2**30) == 360
    assert start_period_seconds(6 * 2**30 + 1) == 420
    # Llama-3.1-8B: 16,060,522,496 B = 14.96 GiB -> 449.6 s -> 480 s
    assert b.lowered().healthcheck.start_period_s == 480
    check = b.lowered().healthcheck
    assert check.path == "/health" and check.interval_s > 0 and check.timeout_s < check.interval_s


def test_release_without_manifest_warns():
    dep = b.deployment(engine={"version": "0.34.0"})
    low = b.lowered(dep=dep, the_plan=b.plan(vllm_version="0.34.0"))
    assert low.image == "vllm/vllm-openai:v0.34.0"
    assert any("0.33.0" in w for w in low.warnings)


def test_release_inside_the_vendored_range_is_its_own():
    dep = b.deployment(engine={"version": "0.19.0"})
    low = b.lowered(dep=dep, the_plan=b.plan(vllm_version="0.19.0"))
    assert not low.warnings


def test_digest_tracks_inputs_not_machine_paths():
    base = b.lowered().input_digest
    assert len(base) == 64 and int(base, 16) >= 0
    assert b.lowered().input_digest == base
    assert b.lowered(the_plan=b.plan(max_num_seqs=9)).input_digest != base
    assert b.lowered(dep=b.deployment(server={"port": 8001})).input_digest != base
    # where the model facts were read from, and where the spec lives, are not inputs
    assert b.lowered(facts=b.llama_facts(source="path:/other/place")).input_digest == base
    from vllm_compile.lower import lower_deployment
    dep = b.deployment()
    moved = lower_deployment(dep, b.plan(), b.llama_facts(), b.hardware(), spec=b.spec(dep, directory="/elsewhere"),
                             key_prefix="")
    assert moved.input_digest == base


def test_digest_stable_across_hash_seeds():
    code = ("import sys; sys.path.insert(0, %r); import lower_builders as b; print(b.lowered().input_digest)"
            % str(Path(__file__).parent))
    seen = set()
    for seed in ("0", "1", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "TZ": "Asia/Tokyo", "LC_ALL": "C"}
        seen.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout)
    assert len(seen) == 1
