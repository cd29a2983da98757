"""Each failing plan names the spec key its verdict is about (Plan.failure_key), decided where the
planner decides the verdict."""
from __future__ import annotations

from plan_support import LLAMA_8B, QWEN3_06B, plan


def test_ok_plan_has_no_failure_key():
    p = plan(QWEN3_06B, "L4", max_model_len=4096)
    assert p.verdict == "ok" and p.failure_key is None


def test_refused_kv_dtype():
    p = plan(LLAMA_8B, "V100-SXM2-32GB", kv_cache_dtype="fp8", dtype="float16", max_model_len=4096)
    assert p.verdict == "invalid" and p.failure_key == "engine.kv_cache_dtype"


def test_heads_not_divisible_by_tp():
    p = plan(LLAMA_8B, "H100-80GB", gpu_count=8, tensor_parallel_size=3, max_model_len=4096)
    assert p.verdict == "invalid" and p.failure_key == "engine.tensor_parallel_size"


def test_max_model_len_beyond_the_model():
    p = plan(QWEN3_06B, "H100-80GB", max_model_len=10_000_000)
    assert p.verdict == "invalid" and p.failure_key == "workload.max_model_len"


def test_bfloat16_on_a_gpu_without_it():
    p = plan(LLAMA_8B, "V100-SXM2-32GB", dtype="bfloat16", max_model_len=4096)
    assert p.verdict == "invalid" and p.failure_key == "model.dtype"


def test_memory_verdicts():
    assert plan("meta-llama/Llama-3.1-70B-Instruct", "L4", max_model_len=4096).failure_key == \
        "engine.tensor_parallel_size"
    goal = plan(LLAMA_8B, "L4", max_model_len=32768, concurrency=64)
    assert goal.verdict == "goal_not_met" and goal.failure_key == "workload.concurrency"


def test_failure_key_in_the_plan_json_only_when_failing():
    assert "failure_key" not in plan(QWEN3_06B, "L4", max_model_len=4096).as_json()
    failing = plan(QWEN3_06B, "H100-80GB", max_model_len=10_000_000).as_json()
    assert failing["failure_key"] == "workload.max_model_len"
