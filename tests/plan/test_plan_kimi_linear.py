"""Kimi Linear (issue 15, part 2): Kimi Delta Attention (KDA) layers beside MLA layers, MoE.

Which layers are KDA (`linear_attn_config.kda_layers`, 1-based as vLLM's KimiLinearConfig reads
them), the KDA mixer's weights (vLLM's layers/kda.py) and its state per sequence
(MambaStateShapeCalculator.kda_state_shape: three short-conv states and a heads x head_dim x
head_dim recurrent state that kda_state_dtype keeps in fp32), its TP split, the unified page of
an MLA + state hybrid (64-token MLA kernel blocks), and the release that first serves it.
The checkpoint's config.json was not found in a public copy that is not modified (the copies
found are MLX conversions with a `quantization` block added); the shapes below are
Kimi-Linear-48B-A3B-Instruct's as those copies and the model card print them."""
from __future__ import annotations

import dataclasses

import pytest
from plan_support import cdiv, gpu

from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import kv, mamba_tp_refusal, plan_deployment
from vllm_compile.plan.releases import rules_for_model
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.config import FactsError

FULL = [4, 8, 12, 16, 20, 24, 27]
KIMI_LINEAR_48B = {
    "architectures": ["KimiLinearForCausalLM"], "model_type": "kimi_linear", "hidden_size": 2304, "head_dim": 72,
    "intermediate_size": 9216, "num_hidden_layers": 27, "num_attention_heads": 32, "num_key_value_heads": 32,
    "kv_lora_rank": 512, "q_lora_rank": None, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64, "v_head_dim": 128,
    "mla_use_nope": True,
    "linear_attn_config": {"full_attn_layers": FULL, "head_dim": 128,
                           "kda_layers": [i for i in range(1, 28) if i not in FULL], "num_heads": 32,
                           "short_conv_kernel_size": 4},
    "num_experts": 256, "num_experts_per_token": 8, "num_shared_experts": 1, "moe_intermediate_size": 1024,
    "first_k_dense_replace": 1, "moe_layer_freq": 1, "vocab_size": 163840, "tie_word_embeddings": False,
    "model_max_length": 1048576, "dtype": "bfloat16",
}
HIDDEN, HEADS, HD, KERNEL = 2304, 32, 128, 4
PROJ = HEADS * HD


def kimi(config: dict | None = None):
    return facts_from_config(config or KIMI_LINEAR_48B, model_id="t/kimi-linear", source="spec")


def test_kda_layers_are_read_one_based_and_the_rest_are_mla():
    f = kimi()
    mla = [i for i, layer in enumerate(f.layers) if layer.attention == "mla"]
    assert mla == [n - 1 for n in FULL] == [3, 7, 11, 15, 19, 23, 26]
    assert f.attention_kinds() == {"mamba": 20, "mla": 7} and f.recurrent_layers() == 20
    assert all(f.layers[i].mixer == "kda" for i in range(27) if i not in mla)
    # MLA layers keep one 576-wide latent (kv_lora_rank 512 + rope 64); KDA layers no KV.
    assert {(f.layers[i].kv_heads, f.layers[i].head_size) for i in mla} == {(1, 576)}
    assert not f.warnings
    # Layer 0 is dense (first_k_dense_replace 1), every later one routes over 256 experts.
    assert [layer.is_moe for layer in f.layers] == [False] + [True] * 26
    assert (f.moe.num_experts, f.moe.experts_per_token, f.moe.shared_expert_intermediate_size) == (256, 8, 1024)


def test_the_kda_state_follows_vllms_shape_rule_and_splits_with_tp():
    layer = kimi().layers[0]
    # Three conv states (q, k, v) of (kernel - 1) x num_heads x head_dim; the recurrent state
    # heads x head_dim x head_dim, fp32 whatever the model dtype.
    assert (layer.conv_state, layer.ssm_state, layer.ssm_state_fp32) == (3 * 3 * PROJ, HEADS * HD * HD, True)
    one = 3 * 3 * PROJ * 2 + HEADS * HD * HD * 4
    assert kv.state_page_bytes(layer, 1, 2) == one == 2_170_880
    assert kv.state_page_bytes(layer, 4, 2) == 3 * 3 * PROJ // 4 * 2 + HEADS // 4 * HD * HD * 4 == one // 4
    # --mamba-cache-dtype float32 widens the convs.
    assert kv.state_page_bytes(layer, 1, 2, ("float32", "auto")) == 3 * 3 * PROJ * 4 + HEADS * HD * HD * 4


def test_weights_are_counted_tensor_by_tensor_and_round_to_the_published_48b():
    f = kimi()
    kda = (3 * PROJ * HIDDEN            # q, k, v projections
           + HD * HIDDEN + PROJ * HD    # forget gate: replicated down-projection, column-parallel up
           + PROJ + HEADS               # dt_bias (per channel), A_log (per head)
           + HEADS * HIDDEN             # beta projection
           + 3 * PROJ * KERNEL          # q, k, v short convs
           + HD * HIDDEN + PROJ * HD    # output gate
           + HD + HIDDEN * PROJ)        # gated norm over one head, o_proj
    mla = HEADS * 192 * HIDDEN + 576 * HIDDEN + 512 + HEADS * 256 * 512 + HIDDEN * HEADS * 128
    moe = 256 * HIDDEN + 256 + 256 * 3 * 1024 * HIDDEN + 3 * 1024 * HIDDEN
    norms = 2 * HIDDEN
    assert f.layers[0].parameters == norms + kda + 3 * 9216 * HIDDEN
    assert f.layers[1].parameters == norms + kda + moe
    assert f.layers[3].parameters == norms + mla + moe
    total = 2 * 163840 * HIDDEN + HIDDEN + 20 * kda + 7 * mla + 26 * moe + 3 * 9216 * HIDDEN + 27 * norms
    assert f.parameters == total == 49_122_681_728
    # Published as "48B total"; the count is within 3 % of that rounded figure.
    assert abs(f.parameters / 48e9 - 1) < 0.03
    # The convs, dt_bias and A_log are built fp32; the forget/output gates' down-projections, the
    # norms and the head norm are replicated on every TP rank; the rest is split.
    layer = f.layers[0]
    fp32 = 3 * PROJ * KERNEL + PROJ + HEADS
    replicated = 2 * HD * HIDDEN + HD + 2 * HIDDEN
    assert layer.replicated_bytes == 2 * replicated
    assert layer.sharded_bytes == 4 * fp32 + 2 * (kda - fp32 - (2 * HD * HIDDEN + HD) + 3 * 9216 * HIDDEN)


def test_the_mla_page_grows_to_hold_one_kda_state_in_64_token_blocks():
    layers = list(kimi().layers)
    state = 2_170_880
    # bf16 latent: 576 x 2 bytes a token; MLA kernel blocks align to 64 tokens.
    block = kv.hybrid_block_size(layers, 1, 2, 2, 16, 16, mla_alignment=64)
    assert block == 64 * cdiv(state, 64 * 576 * 2) == 1920
    specs = kv.layer_specs(layers, 1, 2, block, hybrid=True, v0_mla_alignment=False, dtype_bytes=2)
    assert {s.kind: s.page_bytes for s in specs} == {"mamba": 1920 * 1152, "mla": 1920 * 1152}
    # TP 4 splits the state but not the latent: a quarter of the block.
    assert kv.hybrid_block_size(layers, 4, 2, 2, 16, 16, mla_alignment=64) == 64 * cdiv(state // 4, 64 * 1152) == 512
    # fp8 latent: 576 bytes a token, twice the tokens.
    assert kv.hybrid_block_size(layers, 1, 1, 2, 16, 16, mla_alignment=64) == 64 * cdiv(state, 64 * 576) == 3776


def test_the_plan_uses_the_unified_page_and_bounds_state_by_max_num_seqs():
    base = PlanRequest(vllm_version="0.11.1", model=kimi(), gpu=gpu("H100-SXM-80GB"), gpu_count=2, mode="predict",
                       tensor_parallel_size=2, max_model_len=131072, max_num_seqs=64)
    p = plan_deployment(base)
    assert p.verdict == "ok" and p.block_size == 64 * cdiv(2_170_880 // 2, 64 * 1152) == 960
    # 7 MLA layers and 20 KDA layers: groups of 7 -> 3 state groups (one padding layer) + 1.
    assert p.max_concurrency == pytest.approx(p.num_gpu_blocks / (cdiv(131072, 960) + 3), rel=1e-3)
    rules = rules_for_model("0.11.1", "KimiLinearForCausalLM")
    assert rules.mamba_state_blocks == 1
    # Too many sequences for the state blocks (one H200, utilization 0.75): max_num_seqs is the lever.
    crowded = plan_deployment(dataclasses.replace(base, max_num_seqs=1024, vllm_version="0.33.0", gpu_count=1,
                                                  tensor_parallel_size=1, gpu=gpu("H200-SXM-141GB"),
                                                  gpu_memory_utilization=0.75))
    assert crowded.verdict == "invalid" and crowded.failure_key == "engine.max_num_seqs"
    assert crowded.reasons[0].startswith(f"max_num_seqs (1024) exceeds available Mamba cache blocks "
                                         f"({crowded.num_gpu_blocks})")
    assert crowded.block_size == 1920 and crowded.num_gpu_blocks < 1024
    fix = next(f for f in crowded.fixes if "engine.max_num_seqs" in dict(f.settings))
    assert dict(fix.settings)["engine.max_num_seqs"] <= crowded.num_gpu_blocks and fix.verdict == "ok"


def test_releases_before_0_11_1_do_not_serve_it():
    base = PlanRequest(vllm_version="0.11.0", model=kimi(), gpu=gpu("H200-SXM-141GB"), gpu_count=1, mode="predict",
                       max_model_len=32768, max_num_seqs=64)
    old = plan_deployment(base)
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['KimiLinearForCausalLM'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.11.1"} in [dict(f.settings) for f in old.fixes]
    assert plan_deployment(dataclasses.replace(base, vllm_version="0.11.1")).verdict == "ok"


def test_tp_must_divide_the_kda_heads_and_a_config_without_layer_lists_is_refused():
    f = kimi()
    assert mamba_tp_refusal(f, 8) is None
    odd = dict(KIMI_LINEAR_48B, linear_attn_config=dict(KIMI_LINEAR_48B["linear_attn_config"], num_heads=24))
    assert "24 KDA heads" in mamba_tp_refusal(kimi(odd), 16)
    with pytest.raises(FactsError) as e:
        kimi({k: v for k, v in KIMI_LINEAR_48B.items() if k != "linear_attn_config"})
    assert e.value.key == "linear_attn_config"
    bad = dict(KIMI_LINEAR_48B, linear_attn_config=dict(KIMI_LINEAR_48B["linear_attn_config"], kda_layers=[0, 1]))
    with pytest.raises(FactsError):
        kimi(bad)

