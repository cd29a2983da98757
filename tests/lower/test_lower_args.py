"""Plan -> vLLM argv. Expected argv are written out by hand from the brief's rules."""
from __future__ import annotations

import pytest

import lower_builders as b
from vllm_compile.diagnostics import CompileError
from vllm_compile.ir.facts import QuantFacts


def lower(**kw):
    return b.lowered(**kw)


def error_of(**kw):
    with pytest.raises(CompileError) as caught:
        lower(**kw)
    return caught.value.diagnostics


def test_basic_llama_args():
    assert lower().args == (
        "--model", "meta-llama/Llama-3.1-8B-Instruct",
        "--tensor-parallel-size", "1",
        "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.9",
        "--max-num-seqs", "8",
        "--max-num-batched-tokens", "8192",
    )


def test_every_knob():
    dep = b.deployment(
        model={"revision": "abc123", "served_model_name": "llama", "trust_remote_code": True,
               "dtype": "float16", "quantization": "fp8"},
        engine={"version": "0.18.1", "block_size": 32, "enforce_eager": True, "enable_expert_parallel": True})
    plan = b.plan(tensor_parallel_size=2, pipeline_parallel_size=2, dtype="float16", kv_cache_dtype="fp8",
                  block_size=32, enforce_eager=True, enable_expert_parallel=True, gpu_memory_utilization=0.875)
    assert lower(dep=dep, the_plan=plan).args == (
        "--model", "meta-llama/Llama-3.1-8B-Instruct",
        "--revision", "abc123",
        "--served-model-name", "llama",
        "--trust-remote-code",
        "--dtype", "float16",
        "--quantization", "fp8",
        "--tensor-parallel-size", "2",
        "--pipeline-parallel-size", "2",
        "--enable-expert-parallel",
        "--max-model-len", "32768",
        "--gpu-memory-utilization", "0.875",
        "--kv-cache-dtype", "fp8",
        "--block-size", "32",
        "--max-num-seqs", "8",
        "--max-num-batched-tokens", "8192",
        "--enforce-eager",
    )


def test_dtype_emitted_when_plan_differs_from_checkpoint():
    # e.g. a pre-Ampere GPU: the planner picks float16 for a bfloat16 checkpoint.
    args = lower(the_plan=b.plan(dtype="float16")).args
    assert args[args.index("--dtype") + 1] == "float16"
    assert "--dtype" not in lower().args


def test_prequantized_checkpoint_gets_no_quantization_flag():
    facts = b.llama_facts(quantization=QuantFacts(method="awq", bits=4, group_size=128))
    assert "--quantization" not in lower(facts=facts, the_plan=b.plan(quantization="awq")).args


def test_extra_args_appended_after_validation():
    dep = b.deployment(engine={"extra_args": ["--enable-prefix-caching", "--swap-space=8"], "version": "0.15.1"})
    assert lower(dep=dep).args[-2:] == ("--enable-prefix-caching", "--swap-space=8")


def test_flag_missing_from_release_is_reported_at_its_extra_args_position():
    dep = b.deployment(engine={"extra_args": ["--enable-prefix-caching", "--swap-space", "4"]})
    [diag] = error_of(dep=dep)
    assert (diag.file, diag.line, diag.column) == ("specs/llama.yaml", 20, 7)
    assert diag.key == "engine.extra_args[1]"
    assert "--swap-space" in diag.message and "0.17.1" in diag.fix


def test_compiler_flag_missing_from_release_points_at_engine_key():
    # --enable-expert-parallel first appears in the 0.8.4 manifest.
    dep = b.deployment(engine={"version": "0.7.3", "enable_expert_parallel": True})
    [diag] = error_of(dep=dep, the_plan=b.plan(vllm_version="0.7.3", enable_expert_parallel=True))
    assert diag.key == "engine.enable_expert_parallel" and diag.line == 17
    assert "present from vLLM 0.8.4" in diag.fix


def test_bad_choice_from_the_spec_points_at_the_knob():
    dep = b.deployment(engine={"version": "0.10.1.1", "block_size": 7})
    [diag] = error_of(dep=dep, the_plan=b.plan(vllm_version="0.10.1.1", block_size=7))
    assert diag.key == "engine.block_size" and "1, 8, 16, 32, 64, 128" in diag.expected
    [diag] = error_of(the_plan=b.plan(kv_cache_dtype="fp9"))
    assert diag.key == "engine.kv_cache_dtype"


def test_duplicate_of_emitted_flag_names_both():
    dep = b.deployment(engine={"extra_args": ["--max-model-len", "4096"]})
    [diag] = error_of(dep=dep)
    assert diag.key == "engine.extra_args[0]"
    assert "--max-model-len" in diag.message and "workload.max_model_len" in diag.message


def test_alias_duplicate_is_caught_by_dest():
    dep = b.deployment(engine={"extra_args": ["-tp", "2"]})
    [diag] = error_of(dep=dep)
    assert "-tp" in diag.message and "--tensor-parallel-size" in diag.message


def test_duplicate_within_extra_args():
    dep = b.deployment(engine={"extra_args": ["--seed", "1", "--seed=2"]})
    [diag] = error_of(dep=dep)
    assert diag.key == "engine.extra_args[2]" and "twice" in diag.message


@pytest.mark.parametrize("extra", [["--api-key", "sk-secret"], ["--hf-token=hf_secret"]])
def test_inline_secrets_refused_without_echoing_them(extra):
    [diag] = error_of(dep=b.deployment(engine={"extra_args": extra}))
    assert "secret" in diag.message and "_env" in diag.fix
    assert "sk-secret" not in diag.format() and "hf_secret" not in diag.format()


@pytest.mark.parametrize("extra", [["--port", "9000"], ["--host", "127.0.0.1"], ["--model", "x/y"]])
def test_container_owned_flags_refused(extra):
    [diag] = error_of(dep=b.deployment(engine={"extra_args": extra}))
    assert "cannot be set" in diag.message


def test_positional_in_extra_args_refused():
    [diag] = error_of(dep=b.deployment(engine={"extra_args": ["some/model"]}))
    assert diag.key == "engine.extra_args[0]" and "not a flag" in diag.message


def test_all_problems_reported_at_once():
    dep = b.deployment(engine={"extra_args": ["--bogus-flag", "--swap-space", "4", "--max-model-len=1"]})
    diags = error_of(dep=dep)
    assert [d.key for d in diags] == ["engine.extra_args[0]", "engine.extra_args[1]", "engine.extra_args[3]"]


def test_local_model_is_served_under_its_repo_id():
    dep = b.deployment(model={"path": "./models/llama"})
    args = lower(dep=dep).args
    assert args[:4] == ("--model", "/models/llama", "--served-model-name", "meta-llama/Llama-3.1-8B-Instruct")
