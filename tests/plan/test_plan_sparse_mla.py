"""Sparse MLA (DeepSeek-V3.2): the packed fp8_ds_mla latent plus the indexer's key cache per
layer, FLASHMLA_SPARSE's 64-token blocks and GPUs, the KV dtypes it takes, the top-k buffer in
the weights, and the releases that serve it."""
from __future__ import annotations

import pytest
from plan_support import DEEPSEEK_V3, facts, plan, sets

from vllm_compile.ir.facts import SpeculativeFacts
from vllm_compile.plan import kv, weights

V32 = "deepseek-ai/DeepSeek-V3.2"
H200 = "H200-SXM-141GB"
LAYERS = 61


def predict(gpu=H200, version="0.33.0", **kw):
    return plan(V32, gpu, 8, version, mode="predict", tensor_parallel_size=8, **kw)


PACKED, LATENT16 = 656 + 132, 576 * 2 + 132      # latent + the indexer's 128 fp8 keys and their fp32 scale


@pytest.mark.parametrize("version,kv_dtype,token", [
    # 0.11.0 packed auto as fp8_ds_mla too; from 0.11.1 (PR #27121) auto is the 16-bit latent.
    ("0.11.0", "auto", PACKED), ("0.33.0", "auto", LATENT16), ("0.33.0", "fp8", PACKED),
    ("0.11.0", "fp8_e4m3", PACKED), ("0.33.0", "fp8_ds_mla", PACKED), ("0.33.0", "bfloat16", LATENT16)])
def test_each_layer_holds_its_latent_and_its_indexer_keys(version, kv_dtype, token):
    p = predict(version=version, kv_cache_dtype=kv_dtype, max_model_len=32768)
    assert p.verdict == "ok" and p.block_size == 64
    assert p.per_gpu.kv_bytes_per_token == LAYERS * token
    # One group of 61 layers whose block is the sum of every layer's latent and indexer pages.
    assert p.num_gpu_blocks == p.per_gpu.kv_cache_bytes // (LAYERS * token * 64)
    assert p.kv_cache_format == ("fp8_ds_mla" if token == PACKED and kv_dtype != "fp8_ds_mla" else "")


def test_layer_specs_add_the_indexer_page_to_the_latent_page():
    layers = list(facts(V32).layers)
    packed = kv.layer_specs(layers, 8, 2, 64, hybrid=True, v0_mla_alignment=False, packed_mla=True)
    assert {(s.kind, s.page_bytes, s.token_bytes) for s in packed} == {("mla", (656 + 132) * 64, 656 + 132)}
    dense = kv.layer_specs(list(facts(DEEPSEEK_V3).layers), 8, 1, 64, hybrid=True, v0_mla_alignment=False)
    assert {s.token_bytes for s in dense} == {576}          # V3's fp8 latent: no indexer, no packing
    assert kv.sparse_mla_format("auto", auto_fp8=True) == kv.sparse_mla_format("fp8_e5m2") == "fp8_ds_mla"
    assert kv.sparse_mla_format("auto") == "auto" and kv.sparse_mla_format("bfloat16", auto_fp8=True) == "bfloat16"


def test_flashmla_sparse_forces_64_token_blocks_on_blackwell_too():
    assert predict("B200", max_model_len=32768).block_size == 64
    assert plan(DEEPSEEK_V3, "B200", 8, mode="predict", tensor_parallel_size=8, max_model_len=32768).block_size == 128


def test_the_top_k_index_buffer_is_part_of_the_loaded_weights():
    f = facts(V32)
    assert weights.sparse_indexer_buffer_bytes(f, 8192) == 8192 * 2048 * 4
    assert weights.sparse_indexer_buffer_bytes(facts(DEEPSEEK_V3), 8192) == 0
    small, big = predict(max_model_len=32768, max_num_batched_tokens=4096), predict(max_model_len=32768,
                                                                                     max_num_batched_tokens=16384)
    assert big.per_gpu.weights_bytes - small.per_gpu.weights_bytes == (16384 - 4096) * 2048 * 4


def test_the_mtp_drafter_layer_caches_its_latent_and_indexer_keys_too():
    base = predict(max_model_len=32768)
    mtp = predict(max_model_len=32768, speculative=SpeculativeFacts("mtp", 1, given_method="deepseek_mtp"))
    assert mtp.per_gpu.kv_bytes_per_token - base.per_gpu.kv_bytes_per_token == LATENT16


def test_releases_before_0_11_do_not_serve_it_and_the_fix_is_that_release():
    old = predict(version="0.10.2", max_model_len=32768)
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "does not serve DeepseekV32ForCausalLM" in old.reasons[0] and "0.11.0" in old.reasons[0]
    assert {"engine.version": "0.11.0"} in sets(old)
    assert predict(version="0.11.0", max_model_len=32768).verdict == "ok"
    # Dense DeepSeek-V3 is not gated by it.
    assert plan(DEEPSEEK_V3, H200, 8, "0.10.2", mode="predict", tensor_parallel_size=8,
                max_model_len=32768).verdict == "ok"


@pytest.mark.parametrize("gpu", ["A100-SXM-80GB", "L40S"])
def test_only_hopper_and_blackwell_run_sparse_mla(gpu):
    p = predict(gpu, max_model_len=8192)
    assert p.verdict == "invalid" and p.failure_key == "hardware.gpu"
    assert "FLASHMLA_SPARSE: [compute capability not supported]" in p.reasons[0]
    # The same model on an A100 with dense MLA would only be short of memory, never refused.
    assert "FLASHMLA" not in " ".join(plan(DEEPSEEK_V3, gpu, 8, mode="predict", tensor_parallel_size=8,
                                           max_model_len=8192).reasons)


def test_kv_dtypes_sparse_mla_does_not_store_are_refused_and_fp8_ds_mla_is_v32_only():
    fp16 = predict(kv_cache_dtype="float16", max_model_len=8192)
    assert fp16.verdict == "invalid" and fp16.failure_key == "engine.kv_cache_dtype"
    assert "FLASHMLA_SPARSE: [kv_cache_dtype not supported]" in fp16.reasons[0]
    assert predict(kv_cache_dtype="fp8_e5m2", max_model_len=8192).verdict == "ok"    # stored as fp8_ds_mla
    dense = plan(DEEPSEEK_V3, H200, 8, mode="predict", tensor_parallel_size=8, max_model_len=8192,
                 kv_cache_dtype="fp8_ds_mla")
    assert dense.verdict == "invalid" and "fp8_ds_mla" in dense.reasons[0]


def test_the_fp8_kv_fix_is_offered_only_where_auto_is_not_fp8_already():
    packed = plan(V32, H200, 8, "0.11.0", mode="compile", tensor_parallel_size=8, max_model_len=163840, concurrency=5)
    assert packed.verdict == "goal_not_met"
    assert all("engine.kv_cache_dtype" not in s for s in sets(packed))
    latent = plan(V32, H200, 8, mode="compile", tensor_parallel_size=8, max_model_len=163840, concurrency=4)
    assert latent.verdict == "goal_not_met" and {"engine.kv_cache_dtype": "fp8"} in sets(latent)
    assert "fp8_ds_mla" in next(f.summary for f in latent.fixes if dict(f.settings) == {"engine.kv_cache_dtype": "fp8"})
