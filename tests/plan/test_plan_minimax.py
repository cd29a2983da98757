"""MiniMax-Text-01 / MiniMax-M1 (issue 15, part 2): lightning (linear) attention layers with a
softmax-attention layer where `attn_type_list` says 1, routed experts, fp32 router and lm_head.

The lightning mixer's weights (vLLM's MiniMaxText01LinearAttention) and its state per sequence
(MambaStateShapeCalculator.linear_attention_state_shape: heads x head_dim x head_dim, in the
cache dtype), the unified page, TP, and the releases. The checkpoint's config.json was not found
in a public copy; the shapes below are MiniMax-Text-01's as its model card and the transformers
docs print them (80 layers, every 8th softmax, 32 experts, top 2)."""
from __future__ import annotations

import dataclasses

import pytest
from plan_support import cdiv, gpu

from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import kv, plan_deployment
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.config import FactsError

MINIMAX_TEXT_01 = {
    "architectures": ["MiniMaxText01ForCausalLM"], "model_type": "minimax_text_01", "hidden_size": 6144,
    "num_hidden_layers": 80, "num_attention_heads": 64, "num_key_value_heads": 8, "head_dim": 128,
    "intermediate_size": 9216, "num_local_experts": 32, "num_experts_per_tok": 2, "vocab_size": 200064,
    "attn_type_list": [1 if (i + 1) % 8 == 0 else 0 for i in range(80)], "rotary_dim": 64,
    "shared_intermediate_size": 0, "tie_word_embeddings": False, "max_position_embeddings": 10240000,
    "torch_dtype": "bfloat16",
}
H, HEADS, HD, KV, INTER, E, VOCAB = 6144, 64, 128, 8, 9216, 32, 200064
INNER = HEADS * HD


def minimax(config: dict | None = None, model_type: str | None = None):
    config = dict(config or MINIMAX_TEXT_01)
    if model_type:
        config["model_type"] = model_type
    return facts_from_config(config, model_id="t/minimax", source="spec")


def test_attn_type_list_picks_the_softmax_layers():
    f = minimax()
    assert [i for i, layer in enumerate(f.layers) if layer.attention == "full"] == list(range(7, 80, 8))
    assert f.attention_kinds() == {"mamba": 70, "full": 10} and f.recurrent_layers() == 70
    assert {layer.mixer for layer in f.layers if layer.attention == "mamba"} == {"lightning"}
    assert all(layer.is_moe for layer in f.layers) and f.moe.num_experts == E and f.moe.experts_per_token == 2
    assert not f.warnings
    # MiniMax-M1 is the same architecture under its own model_type.
    assert minimax(model_type="minimax_m1").parameters == f.parameters
    with pytest.raises(FactsError) as e:
        minimax(dict(MINIMAX_TEXT_01, attn_type_list=[0, 1]))
    assert e.value.key == "attn_type_list"


def test_weights_are_counted_exactly_and_match_the_published_456b():
    f = minimax()
    lightning = 3 * INNER * H + INNER * H + INNER + H * INNER
    softmax = INNER * H + 2 * KV * HD * H + H * INNER
    moe = E * H + E * 3 * INTER * H
    assert f.layers[0].parameters == 2 * H + lightning + moe
    assert f.layers[7].parameters == 2 * H + softmax + moe
    assert f.parameters == 2 * VOCAB * H + H + 70 * lightning + 10 * softmax + 80 * (moe + 2 * H) == 456_089_655_296
    assert round(f.parameters / 1e9) == 456   # "456 billion total parameters" (model card)
    # vLLM builds the router in fp32 and casts lm_head to fp32.
    assert f.lm_head_bytes_per_row == 4 * H and f.embedding_bytes_per_row == 2 * H
    assert f.layers[0].replicated_bytes == 2 * 2 * H + 4 * E * H


def test_the_state_is_heads_by_head_dim_squared_in_the_cache_dtype_and_splits_with_tp():
    layer = minimax().layers[0]
    assert (layer.conv_state, layer.ssm_state, layer.ssm_state_fp32) == (0, HEADS * HD * HD, False)
    assert kv.state_page_bytes(layer, 1, 2) == HEADS * HD * HD * 2 == 2 * 1024 * 1024
    assert kv.state_page_bytes(layer, 8, 2) == HEADS // 8 * HD * HD * 2


def test_the_attention_block_grows_to_one_state_and_the_plan_follows():
    layers = list(minimax().layers)
    # 8 KV heads x (128 + 128) x 2 bytes a token at TP 1; one KV head per rank at TP 8.
    assert kv.hybrid_block_size(layers, 1, 2, 2, 16, 16) == 16 * cdiv(HEADS * HD * HD * 2, 16 * KV * 2 * HD * 2) == 512
    assert kv.hybrid_block_size(layers, 8, 2, 2, 16, 16) == 16 * cdiv(HEADS // 8 * HD * HD * 2, 16 * 2 * HD * 2) == 512
    req = PlanRequest(vllm_version="0.11.1", model=minimax(), gpu=gpu("H200-SXM-141GB"), gpu_count=8,
                      mode="predict", tensor_parallel_size=8, max_model_len=131072, max_num_seqs=64)
    p = plan_deployment(req)
    assert p.verdict == "ok" and p.block_size == 512
    # 10 softmax layers, 70 lightning layers: groups of 10 -> 7 state groups + 1 attention group.
    assert p.max_concurrency == pytest.approx(p.num_gpu_blocks / (cdiv(131072, 512) + 7), rel=1e-3)
    old = plan_deployment(dataclasses.replace(req, vllm_version="0.7.3"))
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['MiniMaxText01ForCausalLM'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.10.2"} in [dict(f.settings) for f in old.fixes]   # the first V1 release
    # 0.8.4 - 0.10.1.1 serve it on the V0 engine unless VLLM_USE_V1=1 (0.10.1's V1 oracle still
    # falls back for models with inner state).
    v0 = plan_deployment(dataclasses.replace(req, vllm_version="0.10.1"))
    assert any("V0 engine" in w and "0.10.2" in w for w in v0.warnings)
