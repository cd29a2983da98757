"""Release rules: default utilization, CUDA graphs in the budget, batch defaults by GPU."""
from __future__ import annotations

import math

import pytest

from plan_support import LLAMA_8B, QWEN3_06B, plan
from vllm_compile.plan.releases import rules_for


@pytest.mark.parametrize("version, util, graphs_in_budget", [
    ("0.6.3", 0.90, False), ("0.8.5", 0.90, False), ("0.10.1.1", 0.90, False), ("0.11.0", 0.90, False),
    ("0.20.2", 0.90, False), ("0.21.0", 0.92, True), ("0.27.1", 0.92, True), ("0.33.0", 0.92, True),
])
def test_default_utilization_and_graph_accounting(version, util, graphs_in_budget):
    rules = rules_for(version)
    assert rules.default_utilization == util
    assert rules.cuda_graphs_in_budget is graphs_in_budget
    p = plan(QWEN3_06B, "H100", 1, version=version, mode="predict", tensor_parallel_size=1, max_model_len=4096)
    assert p.gpu_memory_utilization == util
    assert p.per_gpu.requested_bytes == math.ceil(p.per_gpu.total_bytes * util)


@pytest.mark.parametrize("version, engine", [("0.6.3", "v0"), ("0.7.3", "v0"), ("0.8.0", "v1"), ("0.33.0", "v1")])
def test_engine_by_release(version, engine):
    assert rules_for(version).engine == engine


@pytest.mark.parametrize("version, gpu_name, tokens, seqs", [
    ("0.10.0", "H100", 8192, 1024),
    ("0.11.0", "H100", 8192, 1024),
    ("0.33.0", "H100", 8192, 1024),
    ("0.33.0", "H200", 8192, 1024),
    ("0.33.0", "B200", 8192, 1024),
    ("0.33.0", "A100-80GB", 2048, 256),   # >= 70 GiB but an A100
    ("0.11.0", "A100-80GB", 2048, 256),
    ("0.33.0", "L4", 2048, 256),
    ("0.33.0", "L40S", 2048, 256),
    ("0.8.5", "H100", 8192, 1024),        # early V1 special-cased H100/H200 by name
    ("0.8.5", "L4", 2048, 256),
])
def test_batch_defaults_by_release_and_gpu(version, gpu_name, tokens, seqs):
    p = plan(QWEN3_06B, gpu_name, 1, version=version, mode="predict", tensor_parallel_size=1, max_model_len=4096)
    assert (p.max_num_batched_tokens, p.max_num_seqs) == (tokens, seqs)


def test_v0_without_chunked_prefill_batches_the_whole_context():
    # V0 (0.6.3) below 32K context: max_num_batched_tokens = max(max_model_len, 2048), 256 seqs.
    p = plan(QWEN3_06B, "H100", 1, version="0.6.3", mode="predict", tensor_parallel_size=1, max_model_len=4096)
    assert (p.max_num_batched_tokens, p.max_num_seqs) == (4096, 256)


def test_explicit_batch_knobs_win_over_defaults():
    p = plan(QWEN3_06B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=4096,
             max_num_batched_tokens=4096, max_num_seqs=64)
    assert (p.max_num_batched_tokens, p.max_num_seqs) == (4096, 64)


def test_cuda_graphs_only_in_the_budget_from_0_21():
    # Same model and GPU; the 0.21 ledger subtracts the graph estimate, 0.20 does not.
    for version, counted in (("0.20.2", False), ("0.21.0", True)):
        p = plan(LLAMA_8B, "H100", 1, version=version, mode="predict", tensor_parallel_size=1, max_model_len=8192)
        g = p.per_gpu
        assert g.cuda_graph_bytes > 0
        rest = g.requested_bytes - g.weights_bytes - g.activation_bytes - g.non_torch_bytes
        assert g.kv_cache_bytes == rest - (g.cuda_graph_bytes if counted else 0)


def test_enforce_eager_removes_graph_memory():
    p = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192, enforce_eager=True)
    assert p.per_gpu.cuda_graph_bytes == 0


def test_kv_cache_memory_bytes_replaces_the_budget():
    p = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192,
             kv_cache_memory_bytes=10 << 30)
    assert p.per_gpu.kv_cache_bytes == 10 << 30
    assert p.num_gpu_blocks == (10 << 30) // (32 * 16 * 8 * 256 * 2)
