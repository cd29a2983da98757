"""Property: for every plan that starts, the ledger adds up to what vLLM requests
(KV + weights + activation + non-torch, + CUDA graphs from 0.21) on every rank."""
from __future__ import annotations

import itertools
import math

import pytest

from plan_support import facts, plan
from vllm_compile.plan import valid_tensor_parallel
from vllm_compile.plan.releases import architecture_support
from vllm_compile.versions import at_least

MODELS = ["meta-llama/Llama-3.1-8B-Instruct", "Qwen/Qwen3-0.6B", "Qwen/Qwen3-30B-A3B", "openai/gpt-oss-20b",
          "mistralai/Mistral-7B-Instruct-v0.3", "google/gemma-2-9b-it", "meta-llama/Llama-3.1-70B-Instruct"]
GPUS = ["H100", "A100-80GB", "L4", "L40S", "RTX-4090"]
TPS = [1, 2, 4]
VERSIONS = ["0.9.2", "0.11.0", "0.20.2", "0.21.0", "0.33.0"]


def _cases():
    # A deterministic spread over the cross product (every model, GPU, TP and release appears).
    for i, (model_id, gpu_name, tp) in enumerate(itertools.product(MODELS, GPUS, TPS)):
        yield model_id, gpu_name, tp, VERSIONS[i % len(VERSIONS)]


@pytest.mark.parametrize("model_id, gpu_name, tp, version", list(_cases()))
def test_ledger_adds_up_to_requested(model_id, gpu_name, tp, version):
    if not valid_tensor_parallel(facts(model_id), tp):
        pytest.skip("TP does not divide this model's heads")
    p = plan(model_id, gpu_name, tp, version=version, mode="predict", tensor_parallel_size=tp, max_model_len=4096)
    support = architecture_support(facts(model_id).architecture)
    if support is not None and not at_least(version, support.first):
        # A release before the architecture's first refuses it (planner-rules.json `architectures`).
        assert p.verdict == "invalid" and p.failure_key == "engine.version"
        return
    if p.verdict != "ok":
        assert p.verdict in ("weights_do_not_fit", "no_kv_memory", "kv_too_small")
        assert p.reasons and p.fixes
        return
    graphs_counted = version in ("0.21.0", "0.33.0")
    assert p.gpu_memory_utilization == (0.92 if graphs_counted else 0.90)
    for r in p.ranks or (p.per_gpu,):
        assert r.requested_bytes == math.ceil(r.total_bytes * p.gpu_memory_utilization)
        spent = r.kv_cache_bytes + r.weights_bytes + r.activation_bytes + r.non_torch_bytes
        if graphs_counted:
            spent += r.cuda_graph_bytes
        assert spent == r.requested_bytes
        assert min(r.kv_cache_bytes, r.weights_bytes, r.activation_bytes, r.non_torch_bytes) > 0
    assert p.kv_cache_tokens > 0 and p.max_concurrency >= 1
    assert p.per_gpu in p.ranks


def test_property_cases_cover_both_verdict_kinds():
    verdicts = set()
    for model_id, gpu_name, tp, version in _cases():
        if valid_tensor_parallel(facts(model_id), tp):
            verdicts.add(plan(model_id, gpu_name, tp, version=version, mode="predict",
                              tensor_parallel_size=tp, max_model_len=4096).verdict == "ok")
    assert verdicts == {True, False}
