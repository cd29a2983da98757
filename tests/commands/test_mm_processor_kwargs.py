"""`--mm-processor-kwargs` size keys (max_dynamic_patch, max_pixels) are read once, by the engine
argument parser, so that `plan`/`compile` (engine.extra_args) and `predict` (the command line) size
the profile's dummy item alike, and a value the processor cannot use is an input error at its
location (exit 2), never a traceback nor a silently ignored key."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

MODEL = "OpenGVLab/InternVL3-1B"
FLAGS = ["--max-model-len", "8192", "--max-num-batched-tokens", "4096"]


@pytest.fixture(autouse=True)
def ws(workdir):
    return workdir


def _spec(path, extra_args: list[str]) -> str:
    path.write_text("version: 1\nname: iv\nmodel:\n  id: OpenGVLab/InternVL3-1B\nhardware:\n  gpu: L4\n  count: 1\n"
                    "workload:\n  max_model_len: 8192\nengine:\n  version: \"0.16.0\"\n"
                    "  max_num_batched_tokens: 4096\n"
                    f"  extra_args: {json.dumps(extra_args)}\n")
    return str(path)


def _per_gpu(result) -> dict:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["per_gpu"]


def _predict(*flags: str):
    return CliRunner().invoke(cli, ["predict", "--gpu", "L4", "--vllm-version", "0.16.0", "--format", "json", "--",
                                    "vllm", "serve", MODEL, *FLAGS, *flags])


def test_plan_reads_max_dynamic_patch_from_extra_args_as_predict_does(tmp_path):
    kwargs = ["--mm-processor-kwargs", '{"max_dynamic_patch": 1}']
    one_tile = _per_gpu(CliRunner().invoke(cli, ["plan", "--format", "json", _spec(tmp_path / "one.yaml", kwargs)]))
    default = _per_gpu(CliRunner().invoke(cli, ["plan", "--format", "json", _spec(tmp_path / "full.yaml", [])]))
    # One-tile images (256 embeddings) against the checkpoint's 12 tiles + thumbnail (3328): the
    # profile's encoder activation differs, and the spec and the command line agree on it.
    assert one_tile["encoder_activation_bytes"] != default["encoder_activation_bytes"]
    assert one_tile == _per_gpu(_predict(*kwargs))
    assert default == _per_gpu(_predict())


@pytest.mark.parametrize("value", ['{"max_dynamic_patch": 1e400}', '{"max_dynamic_patch": 0}',
                                   '{"max_dynamic_patch": -3}', '{"max_dynamic_patch": "x"}',
                                   '{"max_dynamic_patch": 2.5}', '{"max_dynamic_patch": true}',
                                   '{"max_pixels": NaN}', '{"max_pixels": 0}'])
def test_a_size_the_processor_cannot_use_is_an_input_error(value):
    result = _predict("--mm-processor-kwargs", value)
    assert result.exit_code == 2, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    key = "max_pixels" if "max_pixels" in value else "max_dynamic_patch"
    assert f"<command line>: error[VC522]: --mm-processor-kwargs: {key}" in result.stderr, result.stderr
    assert "fix: give" in result.stderr


def test_the_spec_error_names_its_extra_args_item(tmp_path):
    spec = _spec(tmp_path / "bad.yaml", ["--mm-processor-kwargs", '{"max_dynamic_patch": 0}'])
    result = CliRunner().invoke(cli, ["compile", spec])
    assert result.exit_code == 2, result.output
    assert ":13:" in result.stderr and "engine.extra_args[0]: --mm-processor-kwargs: max_dynamic_patch 0" \
        in result.stderr, result.stderr
    assert not (tmp_path / "deploy").exists()
