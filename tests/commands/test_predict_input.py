"""`predict` input errors (issue 11, items 5, 6, 8 and the --max-lora-rank inf part of 13): every
one is exit 2 with a `<command line>` location, never a traceback nor a `verdict ok`."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.plan.weights import stage_layers


@pytest.fixture(autouse=True)
def ws(workdir):
    return workdir


def predict(*argv):
    return CliRunner().invoke(cli, ["predict", *argv])


def assert_input_error(result, fragment: str):
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output and "internal error" not in result.output
    assert "<command line>" in result.stderr and fragment in result.stderr, result.stderr


@pytest.mark.parametrize("argv,fragment", [
    (["--vllm-version", "", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "is not a vLLM release"),
    (["--vllm-version", "abc", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "is not a vLLM release"),
    (["--", "vllm", "serve", "../../etc/passwd"], "neither a Hugging Face repo id nor a local model folder"),
    (["--", "vllm", "serve", "9"], "neither a Hugging Face repo id nor a local model folder"),
    (["--", "vllm", "serve", "Qwen/Qwen3-8B", "--revision", ""], "--revision is empty"),
    (["--gpu-memory-gib", "nan", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "finite memory size"),
    (["--gpu-memory-gib", "inf", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "finite memory size"),
    (["--gpu-memory-gib", "1e400", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "finite memory size"),
    (["--gpu-memory-gib", "-3", "--", "vllm", "serve", "Qwen/Qwen3-8B"], "finite memory size"),
    (["--", "vllm", "serve", "deepseek-ai/DeepSeek-R1", "-pp=-1"], "pipeline_parallel_size must be at least 1"),
    (["--", "vllm", "serve", "Qwen/Qwen3-8B", "--enable-lora", "--max-lora-rank", "inf"], "--max-lora-rank"),
])
def test_bad_input_is_a_located_input_error(argv, fragment):
    assert_input_error(predict(*argv), fragment)


@pytest.mark.parametrize("flags,fragment", [
    (["--gpu-memory-utilization", "0"], "GPU memory utilization must be in (0, 1]"),
    (["--gpu-memory-utilization", "1.5"], "GPU memory utilization must be in (0, 1]"),
    (["--gpu-memory-utilization", "nan"], "not a finite number"),
    (["-tp", "0"], "tensor_parallel_size must be at least 1"),
    (["-tp", "-1"], "tensor_parallel_size must be at least 1"),
    (["--max-model-len", "0"], "max_model_len must be at least 1"),
    (["--block-size", "0"], "block_size must be at least 1"),
    (["--max-num-seqs", "0"], "max_num_seqs must be at least 1"),
    (["--max-num-batched-tokens", "0"], "max_num_batched_tokens must be at least 1"),
    (["--max-num-seqs", "512", "--max-num-batched-tokens", "256"],
     "max_num_batched_tokens (256) must be greater than or equal to max_num_seqs (512)"),
    (["-pp", "0"], "pipeline_parallel_size must be at least 1"),
    (["-dp", "-1"], "data_parallel_size must be at least 1"),
    (["-pp", "1000"], "larger than the model's 36 layers"),
])
def test_values_vllm_refuses_are_not_ok(flags, fragment):
    assert_input_error(predict("--gpu", "H100", "--", "vllm", "serve", "Qwen/Qwen3-8B", *flags), fragment)


def test_auto_max_model_len_stays_allowed_where_the_release_has_it():
    result = predict("--gpu", "H100", "--", "vllm", "serve", "Qwen/Qwen3-8B", "--max-model-len", "-1")
    assert result.exit_code == 0, result.output
    old = predict("--gpu", "H100", "--vllm-version", "0.10.1.1", "--", "vllm", "serve", "Qwen/Qwen3-8B",
                  "--max-model-len", "-1")
    assert_input_error(old, "max_model_len must be at least 1")


def test_huge_pipeline_parallel_is_refused_and_stage_split_is_linear():
    assert_input_error(predict("--gpu", "H100", "--", "vllm", "serve", "Qwen/Qwen3-8B", "-pp", "100000"),
                       "larger than the model's 36 layers")
    # stage_layers is computed once per (layers, pp), not once per rank.
    stage_layers.cache_clear()
    split = stage_layers(61, 8)
    assert [len(r) for r in split] == [7, 7, 8, 8, 8, 8, 8, 7]
    assert stage_layers(61, 8) is split


def test_pipeline_larger_than_the_layers_in_a_spec_is_refused_at_its_key(tmp_path):
    from vllm_compile import pipeline
    from vllm_compile.diagnostics import CompileError

    spec = tmp_path / "s.yaml"
    spec.write_text('version: 1\nname: s\nmodel:\n  id: Qwen/Qwen3-0.6B\nhardware:\n  gpu: H100-80GB\n  count: 64\n'
                    'workload:\n  max_model_len: 4096\nengine:\n  version: "0.33.0"\n  pipeline_parallel_size: 40\n')
    with pytest.raises(CompileError) as exc:
        pipeline.run(str(spec))
    [diag] = exc.value.diagnostics
    assert diag.key == "engine.pipeline_parallel_size" and "every pipeline stage needs" in diag.message
