"""KV cache per token, pages, hybrid sliding-window capacity and block capacity: the worked
figures of the reference (§2.4, §2.5, §2.11), derived by hand below."""
from __future__ import annotations

import pytest

from plan_support import (DEEPSEEK_V3, GIB, GPT_OSS_20B, LLAMA_70B, LLAMA_8B, QWEN3_06B, cdiv, facts, plan)
from vllm_compile.plan import kv


def specs_for(model_id, tp=1, kv_bytes=2, block=16, hybrid=True, v0_mla=False):
    return kv.layer_specs(list(facts(model_id).layers), tp, kv_bytes, block, hybrid=hybrid, v0_mla_alignment=v0_mla)


# Full attention: 2 (K and V) x KV heads per rank x head_dim x 2 bytes (bf16) x layers.
LLAMA_8B_TP1 = 2 * 8 * 128 * 2 * 32          # = 131,072
LLAMA_8B_TP2 = 2 * (8 // 2) * 128 * 2 * 32    # = 65,536
LLAMA_70B_TP1 = 2 * 8 * 128 * 2 * 80          # = 327,680
LLAMA_70B_TP8 = 2 * (8 // 8) * 128 * 2 * 80   # = 40,960
LLAMA_70B_TP16 = 2 * max(1, 8 // 16) * 128 * 2 * 80  # one head per rank, replicated: still 40,960
QWEN3_06B_TP1 = 2 * 8 * 128 * 2 * 28          # head_dim 128 from config (not 1024/16 = 64): 114,688
# MLA: one latent of kv_lora_rank + qk_rope_head_dim = 512 + 64 = 576 elements per layer, not split by TP.
DEEPSEEK_BF16 = (512 + 64) * 2 * 61            # = 70,272
DEEPSEEK_FP8 = (512 + 64) * 1 * 61             # = 35,136


def test_hand_arithmetic_matches_the_reference_table():
    assert (LLAMA_8B_TP1, LLAMA_8B_TP2) == (131_072, 65_536)
    assert (LLAMA_70B_TP1, LLAMA_70B_TP8, LLAMA_70B_TP16) == (327_680, 40_960, 40_960)
    assert QWEN3_06B_TP1 == 114_688
    assert (DEEPSEEK_BF16, DEEPSEEK_FP8) == (70_272, 35_136)


@pytest.mark.parametrize("model_id, tp, expected", [
    (LLAMA_8B, 1, LLAMA_8B_TP1), (LLAMA_8B, 2, LLAMA_8B_TP2),
    (LLAMA_70B, 1, LLAMA_70B_TP1), (LLAMA_70B, 8, LLAMA_70B_TP8), (LLAMA_70B, 16, LLAMA_70B_TP16),
    (QWEN3_06B, 1, QWEN3_06B_TP1),
    (DEEPSEEK_V3, 1, DEEPSEEK_BF16), (DEEPSEEK_V3, 8, DEEPSEEK_BF16), (DEEPSEEK_V3, 16, DEEPSEEK_BF16),
])
def test_kv_bytes_per_token_per_rank(model_id, tp, expected):
    assert kv.token_bytes(specs_for(model_id, tp=tp)) == expected


@pytest.mark.parametrize("model_id, gpu_name, tp, expected", [
    (LLAMA_8B, "H100", 1, LLAMA_8B_TP1),
    (LLAMA_8B, "H100", 2, LLAMA_8B_TP2),
    (LLAMA_70B, "H100", 8, LLAMA_70B_TP8),
    (LLAMA_70B, "H100", 16, LLAMA_70B_TP16),
    (QWEN3_06B, "L4", 1, QWEN3_06B_TP1),
    (DEEPSEEK_V3, "H200", 8, DEEPSEEK_BF16),
])
def test_plan_ledger_reports_the_same_per_token_figure(model_id, gpu_name, tp, expected):
    p = plan(model_id, gpu_name, tp, mode="predict", tensor_parallel_size=tp, max_model_len=8192)
    assert p.per_gpu.kv_bytes_per_token == expected
    assert all(r.kv_bytes_per_token == expected for r in p.ranks)


def test_deepseek_fp8_kv_halves_the_latent():
    assert kv.token_bytes(specs_for(DEEPSEEK_V3, tp=8, kv_bytes=1)) == DEEPSEEK_FP8
    p = plan(DEEPSEEK_V3, "H200", 8, mode="predict", tensor_parallel_size=8, max_model_len=8192,
             kv_cache_dtype="fp8")
    assert p.per_gpu.kv_bytes_per_token == DEEPSEEK_FP8
    assert p.kv_cache_dtype == "fp8"


def test_deepseek_on_hopper_uses_flashmla_64_token_blocks():
    p = plan(DEEPSEEK_V3, "H200", 8, mode="predict", tensor_parallel_size=8, max_model_len=8192)
    assert p.block_size == 64
    # Page = 64 tokens x 576 x 2 bytes per layer.
    assert all(s.page_bytes == 64 * 576 * 2 for s in specs_for(DEEPSEEK_V3, tp=8, block=64))


def test_fp8_kv_halves_full_attention():
    assert kv.token_bytes(specs_for(LLAMA_8B, kv_bytes=1)) == LLAMA_8B_TP1 // 2


# --------------------------------------------------------------------------------------------
# gpt-oss-20b: 24 layers alternating sliding-window (128) and full, 8 KV heads x 64, bf16, block 16.

GPT_OSS_PAGE = 2 * 16 * 8 * 64 * 2        # K+V x block x heads x head x bytes = 32 KiB per layer
FULL_BLOCKS = cdiv(131_072, 16)           # 8,192
SW_BLOCKS = cdiv(min(128 - 1 + 8192, 131_072), 16) + 1   # cdiv(8,319, 16) + 1 = 520 + 1 = 521


def test_gpt_oss_layer_kinds_and_pages():
    specs = specs_for(GPT_OSS_20B)
    assert GPT_OSS_PAGE == 32 * 1024
    assert [s.page_bytes for s in specs] == [GPT_OSS_PAGE] * 24
    kinds = sorted((s.kind, s.window) for s in specs)
    assert kinds == [("full", 0)] * 12 + [("sliding", 128)] * 12
    # Full-context equivalent per token: 24 x 2 x 8 x 64 x 2.
    assert kv.token_bytes(specs) == 24 * 2 * 8 * 64 * 2 == 49_152


def test_gpt_oss_one_long_request_needs_8192_full_and_521_sliding_blocks():
    specs = specs_for(GPT_OSS_20B)
    full = next(s for s in specs if s.kind == "full")
    sliding = next(s for s in specs if s.kind == "sliding")
    assert (FULL_BLOCKS, SW_BLOCKS) == (8192, 521)
    assert full.blocks_per_request(131_072, 16, 8192) == FULL_BLOCKS
    assert sliding.blocks_per_request(131_072, 16, 8192) == SW_BLOCKS
    # Admission: every layer's own need, summed.
    assert kv.admission_bytes(specs, 131_072, 16, 8192) == 12 * (FULL_BLOCKS + SW_BLOCKS) * GPT_OSS_PAGE


def test_gpt_oss_hybrid_concurrency_is_about_1_88x_all_full():
    hybrid, naive = specs_for(GPT_OSS_20B), specs_for(GPT_OSS_20B, hybrid=False)
    assert all(s.kind == "full" for s in naive)
    # Memory for exactly ten max-length requests under the hybrid allocator: groups of 12 layers
    # share one pool; each request holds 8,192 + 521 blocks of a 12-layer group.
    available = 10 * (FULL_BLOCKS + SW_BLOCKS) * 12 * GPT_OSS_PAGE
    cap_h = kv.capacity(hybrid, available, 16, 131_072, 8192, engine="v1", tokens_from_concurrency=True)
    cap_n = kv.capacity(naive, available, 16, 131_072, 8192, engine="v1", tokens_from_concurrency=True)
    assert cap_h.blocks_per_request == FULL_BLOCKS + SW_BLOCKS == 8713
    assert cap_h.num_blocks == available // (GPT_OSS_PAGE * 12)
    assert cap_h.max_concurrency == pytest.approx(10.0)
    assert cap_h.tokens == 10 * 131_072
    # All 24 layers full: 16,384 blocks-of-12-layers per request -> 16,384 / 8,713 = 1.8804x less.
    assert cap_n.max_concurrency == pytest.approx(available / (24 * GPT_OSS_PAGE * FULL_BLOCKS), rel=1e-4)
    assert cap_h.max_concurrency / cap_n.max_concurrency == pytest.approx(16_384 / 8_713, rel=1e-3)
    assert 1.87 < cap_h.max_concurrency / cap_n.max_concurrency < 1.89


def test_gpt_oss_hybrid_manager_off_before_0_10_means_all_full():
    # V1 0.8/0.9 had no hybrid allocator: the plan's capacity must match the naive count.
    old = plan(GPT_OSS_20B, "H100", 1, version="0.9.2", mode="predict", tensor_parallel_size=1,
               max_model_len=131_072)
    new = plan(GPT_OSS_20B, "H100", 1, version="0.11.0", mode="predict", tensor_parallel_size=1,
               max_model_len=131_072)
    per_request_old = cdiv(131_072, 16)
    assert old.max_concurrency == pytest.approx(old.num_gpu_blocks / per_request_old, abs=0.01)
    assert new.max_concurrency == pytest.approx(new.num_gpu_blocks / (FULL_BLOCKS + SW_BLOCKS), abs=0.01)


def test_disable_hybrid_kv_cache_manager_reverts_to_full():
    on = plan(GPT_OSS_20B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=131_072)
    off = plan(GPT_OSS_20B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=131_072,
               disable_hybrid_kv_cache_manager=True)
    assert on.per_gpu.kv_cache_bytes == off.per_gpu.kv_cache_bytes  # same memory, different use
    assert on.max_concurrency / off.max_concurrency == pytest.approx(16_384 / 8_713, rel=0.01)


# --------------------------------------------------------------------------------------------
# Admission and capacity from bytes


def test_qwen3_0_6b_full_context_needs_4_38_gib():
    specs = specs_for(QWEN3_06B)
    # 40,960 tokens = 2,560 blocks x 28 layers x (16 x 8 x (128 + 128) x 2) bytes = 4,697,620,480 B.
    needed = 2560 * 28 * (16 * 8 * 256 * 2)
    assert needed == 40_960 * QWEN3_06B_TP1 == 4_697_620_480
    assert kv.admission_bytes(specs, 40_960, 16, 2048) == needed
    assert f"{needed / GIB:.2f}" == "4.38"


def test_qwen3_kv_too_small_message_states_vllm_figures():
    p = plan(QWEN3_06B, "L4", 1, mode="predict", tensor_parallel_size=1, max_model_len=40_960,
             kv_cache_memory_bytes=2 * GIB)
    assert p.verdict == "kv_too_small"
    # 2 GiB // (28 layers x 65,536 B per block) = 1,170 blocks -> 18,720 tokens.
    assert (2 * GIB) // (28 * 65_536) == 1170
    text = " ".join(p.reasons)
    assert "4.38 GiB KV cache is needed" in text
    assert "(2.00 GiB)" in text
    assert "estimated maximum model length is 18720" in text
    assert {"workload.max_model_len": 18720} in [dict(f.settings) for f in p.fixes]


def test_largest_fitting_len_is_exact_for_full_attention():
    specs = specs_for(LLAMA_8B)
    block_bytes = 32 * 16 * 8 * 256 * 2            # 2 MiB for 16 tokens across 32 layers
    available = 1000 * block_bytes + block_bytes // 2
    assert kv.largest_fitting_len(specs, available, 16, 2048, 131_072) == 1000 * 16
    assert kv.admission_bytes(specs, 16_000, 16, 2048) <= available < kv.admission_bytes(specs, 16_001, 16, 2048)


@pytest.mark.parametrize("version, tokens_from_concurrency", [("0.11.0", False), ("0.33.0", True)])
def test_uniform_capacity_from_the_ledger(version, tokens_from_concurrency):
    length = 30_001   # not a block multiple: 1,876 blocks per request
    p = plan(LLAMA_8B, "H100", 1, version=version, mode="predict", tensor_parallel_size=1, max_model_len=length)
    assert p.verdict == "ok"
    block_bytes = 32 * 16 * 8 * 256 * 2
    blocks = p.per_gpu.kv_cache_bytes // block_bytes
    assert p.num_gpu_blocks == blocks
    assert p.max_concurrency == round(blocks / cdiv(length, 16), 2)
    if tokens_from_concurrency:   # newest: int(concurrency x max_model_len)
        assert p.kv_cache_tokens == int(blocks / 1876 * length)
    else:                         # older V1: blocks x block size
        assert p.kv_cache_tokens == blocks * 16
