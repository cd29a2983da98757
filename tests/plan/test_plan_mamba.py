"""Mamba / Mamba2 hybrids (issue 15, part 2): Nemotron-H, Granite-4.0-H, Jamba, Falcon-H1, Bamba.

Per-layer kinds and weights from the config, each mixer's state per sequence and its TP split
by vLLM's rules (MambaStateShapeCalculator), the unified page (attention block raised to hold
one state, the state padded to the attention page), the state blocks per running sequence,
max_num_seqs as the lever, and the releases that run each architecture. The two Nemotron-H
configs are real (bundled); the other families' configs were not found and are stated by hand
below from their published shapes."""
from __future__ import annotations

import dataclasses

import pytest
from plan_support import GIB, cdiv, facts, gpu, plan

from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import kv, plan_deployment
from vllm_compile.plan.releases import rules_for_model
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.catalog import entry

NANO = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-BF16"
NANO_FP4 = "nvidia/NVIDIA-Nemotron-3-Nano-30B-A3B-NVFP4"
H56B = "nvidia/Nemotron-H-56B-Base-8K"

# Shapes of Granite-4.0-H-Tiny as public copies of its config print them (the file itself
# was not found): 40 layers, attention at 5, 15, 25, 35, 64 experts + a shared MLP.
GRANITE_TINY = {
    "architectures": ["GraniteMoeHybridForCausalLM"], "model_type": "granitemoehybrid", "hidden_size": 1536,
    "num_hidden_layers": 40, "num_attention_heads": 12, "num_key_value_heads": 4, "intermediate_size": 512,
    "shared_intermediate_size": 1024, "num_local_experts": 64, "num_experts_per_tok": 6, "vocab_size": 100352,
    "tie_word_embeddings": True, "mamba_d_state": 128, "mamba_n_groups": 1, "mamba_n_heads": 48, "mamba_d_head": 64,
    "mamba_expand": 2, "mamba_d_conv": 4, "mamba_conv_bias": True, "mamba_proj_bias": False,
    "max_position_embeddings": 131072, "torch_dtype": "bfloat16",
    "layer_types": ["attention" if i in (5, 15, 25, 35) else "mamba" for i in range(40)],
}
# Jamba-v0.1's published shapes: attention every 8th layer from 4, experts every 2nd from 1.
JAMBA = {
    "architectures": ["JambaForCausalLM"], "model_type": "jamba", "hidden_size": 4096, "intermediate_size": 14336,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8, "num_experts": 16,
    "num_experts_per_tok": 2, "attn_layer_period": 8, "attn_layer_offset": 4, "expert_layer_period": 2,
    "expert_layer_offset": 1, "mamba_d_state": 16, "mamba_d_conv": 4, "mamba_expand": 2, "mamba_dt_rank": 256,
    "mamba_conv_bias": True, "mamba_proj_bias": False, "vocab_size": 65536, "tie_word_embeddings": False,
    "max_position_embeddings": 262144, "torch_dtype": "bfloat16",
}
# Falcon-H1-1.5B-shaped (the table in transformers' FalconH1 docs): attention and Mamba2 in every layer.
FALCON_H1 = {
    "architectures": ["FalconH1ForCausalLM"], "model_type": "falcon_h1", "hidden_size": 2048, "intermediate_size": 4608,
    "num_hidden_layers": 24, "num_attention_heads": 8, "num_key_value_heads": 2, "head_dim": 128,
    "vocab_size": 65537, "mamba_d_ssm": 3072, "mamba_n_heads": 48, "mamba_d_head": 64, "mamba_n_groups": 1,
    "mamba_d_state": 256, "mamba_d_conv": 4, "mamba_conv_bias": True, "mamba_proj_bias": False,
    "mamba_rms_norm": False, "max_position_embeddings": 131072, "torch_dtype": "bfloat16",
}


def hand(config: dict, name: str):
    return facts_from_config(config, model_id=f"t/{name}", source="spec")


def test_nemotron_h_layers_follow_the_pattern_one_block_each():
    f = facts(NANO)
    pattern = "MEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEM*EMEMEMEM*EMEMEMEME"
    kinds = {"M": "mamba", "*": "full", "E": "none"}
    assert [layer.attention for layer in f.layers] == [kinds[ch] for ch in pattern]
    assert f.attention_kinds() == {"full": 6, "mamba": 23, "none": 23} and f.recurrent_layers() == 23
    # Only E blocks route (128 experts, 6 per token, a shared expert of 3712); M and * carry no FFN.
    assert [layer.is_moe for layer in f.layers] == [ch == "E" for ch in pattern]
    assert f.moe.num_experts == 128 and f.moe.shared_expert_intermediate_size == 3712
    attention = f.layers[5]
    assert (attention.kv_heads, attention.head_size, attention.expert_bytes) == (2, 128, 0)
    # One Mamba2 block: norm + in_proj (2 x 4096 + 2 x 8 x 128 + 64 rows) + conv over x, B, C
    # (6144 channels x 4, with bias) + A, D, dt_bias + gated norm (4096) + out_proj.
    hidden, inner, conv_dim = 2688, 64 * 64, 64 * 64 + 2 * 8 * 128
    assert f.layers[0].parameters == (hidden + (2 * inner + 2 * 8 * 128 + 64) * hidden + conv_dim * 4 + conv_dim
                                      + 3 * 64 + inner + hidden * inner)
    # The real checkpoint's count (llama.cpp's model_n_params of its GGUF, sizes.csv).
    assert f.parameters == 31_577_940_288


def test_the_state_of_one_sequence_and_its_tp_split_follow_vllms_shape_rules():
    layer = facts(NANO).layers[0]
    # conv: (kernel 4 - 1) x (heads 64 x head dim 64 + 2 x 8 groups x d_state 128); SSM: heads x
    # head dim x d_state, fp32 (the config's mamba_ssm_cache_dtype).
    assert (layer.conv_state, layer.ssm_state, layer.ssm_state_fp32) == (3 * 6144, 64 * 64 * 128, True)
    assert (layer.ssm_groups, layer.conv_group_state, layer.mixer) == (8, 3 * 2 * 128, "mamba2")
    assert kv.state_page_bytes(layer, 1, 2) == 3 * 6144 * 2 + 64 * 64 * 128 * 4 == 2_134_016
    # TP 2 splits both; TP 16 first replicates the 8 groups to 16 so each rank keeps its heads' groups.
    assert kv.state_page_bytes(layer, 2, 2) == 3 * 6144 // 2 * 2 + 64 * 64 * 128 // 2 * 4
    assert kv.state_page_bytes(layer, 8, 2) == 3 * 6144 // 8 * 2 + 64 * 64 * 128 // 8 * 4
    # One group (Granite-4.0-H): every rank above 1 holds its own copy of B and C.
    g = hand(GRANITE_TINY, "granite").layers[0]
    assert (g.conv_state, g.ssm_state, g.ssm_state_fp32) == (3 * (3072 + 2 * 128), 48 * 64 * 128, False)
    assert kv.state_page_bytes(g, 4, 2) == 3 * (3072 + 2 * 4 * 128) // 4 * 2 + 48 * 64 * 128 // 4 * 2
    # Nemotron-H without the key: vLLM's NemotronH hook makes the SSM state float32.
    assert facts(H56B).layers[0].ssm_state_fp32


def test_granite_and_falcon_h1_counts_match_their_published_sizes():
    # llama.cpp loading Granite 4.0 H Tiny prints "model params = 6.94 B" (LostRuins/koboldcpp#1781).
    granite = hand(GRANITE_TINY, "granite")
    assert round(granite.parameters / 1e7) == 694
    assert granite.moe.num_experts == 64 and granite.moe.shared_expert_intermediate_size == 1024
    assert all(layer.is_moe for layer in granite.layers)   # every layer: experts + the shared MLP
    # Falcon-H1-1.5B.
    assert round(hand(FALCON_H1, "falcon").parameters / 1e8) == 16


def test_mamba_cache_dtype_flags_set_the_state_dtypes():
    layer = facts(NANO).layers[0]
    # --mamba-ssm-cache-dtype wins over the model's float32; --mamba-cache-dtype sets the conv state
    # and, with the SSM dtype left to auto, the model's own SSM dtype still applies.
    assert kv.state_page_bytes(layer, 1, 2, ("auto", "bfloat16")) == 3 * 6144 * 2 + 64 * 64 * 128 * 2
    assert kv.state_page_bytes(layer, 1, 2, ("float32", "auto")) == 3 * 6144 * 4 + 64 * 64 * 128 * 4
    g = hand(GRANITE_TINY, "granite").layers[0]
    assert kv.state_page_bytes(g, 1, 2, ("auto", "float32")) == 3 * 3328 * 2 + 48 * 64 * 128 * 4
    # Through the plan: a bf16 SSM state halves the page, so the fp8-KV block shrinks to 2128 tokens.
    half = plan(NANO, "H100-SXM-80GB", mode="predict", max_model_len=32768, kv_cache_dtype="fp8",
                mamba_ssm_cache_dtype="bfloat16", max_num_seqs=64)
    assert half.block_size == 16 * cdiv(3 * 6144 * 2 + 64 * 64 * 128 * 2, 16 * 512) == 2128
    assert plan(NANO, "H100-SXM-80GB", mode="predict", max_model_len=32768, kv_cache_dtype="fp8",
                max_num_seqs=64).block_size == 4176


def test_tensor_parallel_must_divide_the_mamba_heads_and_groups():
    from vllm_compile.plan import mamba_tp_refusal, valid_tensor_parallel

    nano = facts(NANO)   # 64 Mamba2 heads, 8 groups, 32 attention heads, 2 KV heads
    assert valid_tensor_parallel(nano, 2) and valid_tensor_parallel(nano, 8)
    assert "then num_groups must equal 1" in mamba_tp_refusal(nano, 16)
    assert not valid_tensor_parallel(nano, 16)
    granite = hand(GRANITE_TINY, "granite")   # 48 heads, one group: any TP dividing the heads
    assert mamba_tp_refusal(granite, 4) is None
    assert "must divide num heads" in mamba_tp_refusal(granite, 32)
    refused = plan(NANO, "H100-SXM-80GB", 16, mode="predict", tensor_parallel_size=16, max_model_len=8192)
    assert refused.verdict == "invalid" and "num_groups must equal 1" in refused.reasons[0]
    assert {"engine.tensor_parallel_size": 8} in [dict(f.settings) for f in refused.fixes]


def test_mamba1_state_and_weights_for_jamba():
    f = hand(JAMBA, "jamba")
    assert [i for i, layer in enumerate(f.layers) if layer.attention == "full"] == [4, 12, 20, 28]
    assert [i for i, layer in enumerate(f.layers) if layer.is_moe] == list(range(1, 32, 2))
    mamba = f.layers[0]
    # Mamba1: conv (4 - 1) x 8192 channels; SSM 8192 channels x d_state 16, in the model dtype.
    assert (mamba.conv_state, mamba.ssm_state, mamba.ssm_state_fp32, mamba.mixer) == (3 * 8192, 8192 * 16, False,
                                                                                         "mamba1")
    assert kv.state_page_bytes(mamba, 2, 2) == (3 * 8192 + 8192 * 16) // 2 * 2
    mixer = (2 * 8192 * 4096 + 8192 * 4 + 8192 + (256 + 2 * 16) * 8192 + 8192 * 256 + 8192 + 8192 * 16 + 8192
             + 256 + 16 + 16 + 4096 * 8192)
    assert mixer == 105_308_448
    assert mamba.parameters == 2 * 4096 + mixer + 3 * 14336 * 4096   # norms, mixer, dense MLP (layer 0)
    # Jamba-v0.1 is published as a 52B-parameter model.
    assert round(f.parameters / 1e9) == 52


def test_falcon_h1_layers_hold_kv_and_a_state_side_by_side():
    f = hand(FALCON_H1, "falcon")
    assert f.attention_kinds() == {"full": 24} and f.recurrent_layers() == 24
    layer = f.layers[0]
    assert layer.kv_heads == 2 and layer.conv_state == 3 * (3072 + 2 * 256) and layer.ssm_state == 48 * 64 * 256
    specs = kv.layer_specs(list(f.layers), 1, 2, 16, hybrid=True, v0_mla_alignment=False, dtype_bytes=2)
    assert sorted({s.kind for s in specs}) == ["full", "mamba"] and len(specs) == 48
    # Two norms, attention, the Mamba2 mixer (mamba_rms_norm false: no gated-norm weight) and the MLP.
    conv_dim = 3072 + 2 * 256
    assert layer.parameters == (2 * 2048 + (8 * 128 + 2 * 2 * 128) * 2048 + 2048 * 8 * 128
                                + (2 * 3072 + 2 * 256 + 48) * 2048 + conv_dim * 4 + conv_dim + 3 * 48 + 2048 * 3072
                                + 3 * 4608 * 2048)
    state = 3 * 3584 * 2 + 48 * 64 * 256 * 2
    assert kv.hybrid_block_size(list(f.layers), 1, 2, 2, 16, 16) == 16 * cdiv(state, 16 * 2 * 256 * 2)


def test_the_attention_block_grows_to_the_state_page_as_the_logs_print_it():
    layers = list(facts(NANO).layers)
    # bf16 KV: 2 KV heads x (128 + 128) x 2 bytes = 1024 bytes a token -> 16 x cdiv(2134016, 16 x 1024).
    assert kv.hybrid_block_size(layers, 1, 2, 2, 16, 16) == 16 * 131 == 2096
    # fp8 KV halves the token: "Setting attention block size to 4176 tokens ..." and "Padding mamba
    # page size by 0.19% ..." in Nemotron-3-Nano / Nemotron-Cascade-2 start-ups with --kv-cache-dtype fp8.
    block = kv.hybrid_block_size(layers, 1, 1, 2, 16, 16)
    assert block == 4176
    specs = kv.layer_specs(layers, 1, 1, block, hybrid=True, v0_mla_alignment=False, dtype_bytes=2)
    pages = {s.kind: s.page_bytes for s in specs}
    assert pages == {"mamba": 4176 * 512, "full": 4176 * 512}
    assert f"{100 * (4176 * 512 - 2_134_016) / 2_134_016:.2f}" == "0.19"
    # Nemotron-H-56B: 8 KV heads, a 16.9 MB state -> 4128-token blocks, at TP 1 and TP 2 alike.
    big = list(facts(H56B).layers)
    assert kv.hybrid_block_size(big, 1, 2, 2, 16, 16) == kv.hybrid_block_size(big, 2, 2, 2, 16, 16) == 4128


def test_logged_capacity_follows_from_the_logged_kv_memory():
    # Nemotron-Cascade-2-30B-A3B-NVFP4 (the Nemotron-3-Nano layout) on vLLM 0.19.1, fp8 KV,
    # --max-model-len 262144, prefix caching off: "Available KV cache memory: 68.97 GiB",
    # "GPU KV cache size: 4,819,104 tokens", "Maximum concurrency for 262,144 tokens per request: 86.16x".
    f = facts(NANO_FP4)
    rules = rules_for_model("0.19.1", f.architecture)
    assert rules.mamba_state_blocks == 1 and not rules.tokens_from_concurrency
    specs = kv.layer_specs(list(f.layers), 1, 1, 4176, hybrid=True, v0_mla_alignment=False, dtype_bytes=2,
                           state_blocks=rules.mamba_state_blocks)
    cap = kv.capacity(specs, int(68.97 * GIB), 4176, 262144, 8192, engine="v1", tokens_from_concurrency=False)
    # Groups of 6 layers: 23 Mamba layers -> 4 groups (one padding layer), 6 attention -> 1.
    assert cap.num_blocks == int(68.97 * GIB) // (6 * 4176 * 512) == 5772
    assert cap.tokens == 5772 // 5 * 4176 == 4_819_104
    # One request: its attention blocks + one state block per Mamba group; 5772 or 5773 blocks (the
    # logged 68.97 GiB is rounded) give the logged 86.16x.
    assert cap.blocks_per_request == cdiv(262144, 4176) + 4
    assert abs(cap.max_concurrency - 86.16) < 0.02


def test_too_few_state_blocks_is_refused_with_max_num_seqs_as_the_lever():
    short = plan(NANO, "H100-SXM-80GB", mode="predict", max_model_len=131072)
    assert short.verdict == "invalid" and short.failure_key == "engine.max_num_seqs"
    assert short.reasons[0].startswith("max_num_seqs (1024) exceeds available Mamba cache blocks")
    assert short.block_size == 2096
    fix = next(f for f in short.fixes if "engine.max_num_seqs" in dict(f.settings))
    seqs = dict(fix.settings)["engine.max_num_seqs"]
    assert fix.verdict == "ok" and seqs <= short.num_gpu_blocks   # one state block per group: prefix caching off
    assert plan(NANO, "H100-SXM-80GB", mode="predict", max_model_len=131072, max_num_seqs=seqs).verdict == "ok"
    # Releases before the check capped the CUDA-graph sizes and started.
    assert plan(NANO, "H100-SXM-80GB", version="0.19.1", mode="predict", max_model_len=131072).verdict == "ok"


def test_tensor_parallel_shares_state_and_attention_per_rank():
    one = plan(H56B, "H100-SXM-80GB", 2, mode="predict", tensor_parallel_size=2, max_model_len=8192,
               max_num_seqs=64)
    assert one.verdict == "ok" and one.block_size == 4128
    # 10 attention layers and 54 Mamba2 layers: groups of 10 -> 6 Mamba groups (6 padding layers) + 1.
    assert one.max_concurrency == pytest.approx(one.num_gpu_blocks / (cdiv(8192, 4128) + 6), rel=1e-3)


def test_each_architecture_runs_from_its_release_and_older_ones_are_refused_with_the_fix():
    granite = hand(GRANITE_TINY, "granite")
    base = PlanRequest(vllm_version="0.8.5", model=granite, gpu=gpu("H100-SXM-80GB"), gpu_count=1, mode="predict",
                       max_model_len=32768)
    old = plan_deployment(base)
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['GraniteMoeHybridForCausalLM'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.10.2"} in [dict(f.settings) for f in old.fixes]
    # 0.9.2 - 0.10.1.1 run every model with inner state on V0 unless VLLM_USE_V1=1 (the V1
    # oracle in engine/arg_utils.py: 'Mamba is experimental on VLLM_USE_V1=1. Falling back to V0').
    for version in ("0.9.2", "0.10.0", "0.10.1.1"):
        v0 = plan_deployment(dataclasses.replace(base, vllm_version=version))
        assert any("V0 engine" in w and "0.10.2" in w and w.key == "engine.version" for w in v0.warnings), version
    new = plan_deployment(dataclasses.replace(base, vllm_version="0.10.2"))
    assert not any("V0 engine" in w for w in new.warnings) and new.verdict == "ok"
    # Jamba (Mamba1) reaches the V1 hybrid cache with the same release.
    jamba = plan_deployment(dataclasses.replace(base, model=hand(JAMBA, "jamba"), vllm_version="0.10.1",
                                                gpu=gpu("H200-SXM-141GB")))
    assert any("V0 engine" in w and "0.10.2" in w for w in jamba.warnings)


def test_catalog_rows_of_the_hybrids_are_modelled():
    for model_id in (NANO, NANO_FP4, H56B):
        row = entry(model_id)
        assert row.modelled == "yes" and row.parameters == facts(model_id).parameters
    assert entry(NANO_FP4).variant_of == NANO and entry(NANO).variants == (NANO_FP4,)
    # The NVFP4 release keeps its attention, six layers' Mamba projections, the convs and lm_head 16-bit.
    assert entry(NANO_FP4).quantization == "modelopt_fp4 4-bit"
    assert 17.9 < entry(NANO_FP4).weight_bytes / GIB < 18.1 < entry(NANO).weight_bytes / GIB


def test_the_profile_run_holds_the_mamba_mixers_prefill_intermediates():
    import dataclasses as dc

    from vllm_compile.plan import overheads, rules_data

    f = facts(NANO)
    width = 2 * 4096 + 2 * 8 * 128 + 64      # Nemotron-3-Nano's Mamba2 in_proj output features
    assert max(layer.mixer_width for layer in f.layers) == width
    without = dc.replace(f, layers=tuple(dc.replace(layer, mixer_width=0) for layer in f.layers))
    for tokens, tp in ((8192, 1), (32768, 2)):
        extra = (overheads.activation_bytes(f, "v1c", tp, tokens, 256, 2)
                 - overheads.activation_bytes(without, "v1c", tp, tokens, 256, 2))
        assert extra == pytest.approx(tokens * 2 * width / tp * rules_data.constant("mamba_factor"), abs=2)
    # Fitted on a real start-up (planner-rules.json names it); the bench refits it leave-one-out.
    assert rules_data.fitted_constants()["mamba_factor"]["fitted_on"] == [
        "localhost-rtx5090-nemotron-cascade2-30b-nvfp4-256k"]


def test_prefix_caching_flags_pick_the_mamba_cache_mode_and_its_state_blocks():
    from vllm_compile.plan.releases import mamba_cache_mode

    arch = facts(NANO).architecture
    # Default: prefix caching stays off for Mamba hybrids -> mode none, one state block per group.
    assert mamba_cache_mode("0.25.1", arch, None, None) is None
    assert rules_for_model("0.25.1", arch).mamba_state_blocks == 1
    # --enable-prefix-caching: 'all' where the architecture supports Mamba prefix caching (while the
    # release has it, to 0.31), 'align' after; an explicit --mamba-cache-mode wins; before 0.15
    # vLLM turned prefix caching off for hybrids.
    assert mamba_cache_mode("0.25.1", arch, True, None) == "all"
    assert mamba_cache_mode("0.33.0", arch, True, None) == "align"
    assert mamba_cache_mode("0.25.1", arch, True, "align") == "align"
    assert mamba_cache_mode("0.25.1", "JambaForCausalLM", True, None) == "align"
    assert mamba_cache_mode("0.12.0", arch, True, None) == "none"
    assert [rules_for_model("0.25.1", arch, True, m).mamba_state_blocks for m in (None, "align", "none")] == [0, 2, 1]
    # Capacity per request: 32 attention blocks of 65536 tokens, plus per Mamba group (4 groups of
    # 6 layers) 1 (none), 2 (align) or again 32 (all: a state snapshot per block).
    runs = {mode: plan(NANO, "H100-SXM-80GB", version="0.25.1", mode="predict", max_model_len=65536, max_num_seqs=64,
                       enable_prefix_caching=mode != "none", mamba_cache_mode=None if mode != "align" else "align")
            for mode in ("none", "align", "all")}
    blocks = runs["none"].num_gpu_blocks
    assert all(p.num_gpu_blocks == blocks and p.block_size == 2096 for p in runs.values())
    for mode, per_group in (("none", 1), ("align", 2), ("all", 32)):
        assert runs[mode].max_concurrency == pytest.approx(blocks / (32 + 4 * per_group), abs=0.01), mode


def test_granite_4_h_small_page_matches_its_logged_block_and_padding():
    # A vLLM 0.11.1 start-up of ibm-granite/granite-4.0-h-small (public log): "Setting attention
    # block size to 528 tokens ..." and "Padding mamba page size by 0.69% ...". Its config was not
    # found; the shapes below are the ones public copies of it print (32 heads, 8 KV heads, 128
    # Mamba2 heads x 64, d_state 128, one group, attention at 5/15/25/35, 72 experts + shared MLP).
    small = {**GRANITE_TINY, "hidden_size": 4096, "num_attention_heads": 32, "num_key_value_heads": 8,
             "intermediate_size": 768, "shared_intermediate_size": 1536, "num_local_experts": 72,
             "num_experts_per_tok": 10, "mamba_n_heads": 128}
    f = hand(small, "granite-small")
    state = kv.state_page_bytes(f.layers[0], 1, 2)
    assert state == 3 * (8192 + 2 * 128) * 2 + 128 * 64 * 128 * 2      # bf16 state: no fp32 default
    block = kv.hybrid_block_size(list(f.layers), 1, 2, 2, 16, 16)
    assert block == 528 and f"{100 * (528 * 8 * 256 * 2 - state) / state:.2f}" == "0.69"
    # Published as a 32B-parameter model.
    assert round(f.parameters / 1e9) == 32


def test_the_plan_reports_the_hybrid_page_and_state_blocks():
    p = plan(NANO, "H100-SXM-80GB", mode="predict", max_model_len=65536, max_num_seqs=64)
    # The state page is padded to the 2096-token attention page: 2096 x 2 KV heads x 256 x 2 bytes.
    assert (p.block_size, p.state_page_bytes, p.state_groups, p.state_blocks_per_sequence) == (2096, 2096 * 1024, 4, 1)
    assert p.as_json()["recurrent_state"] == {"page_bytes": 2096 * 1024, "groups": 4, "blocks_per_sequence": 1}
    allp = plan(NANO, "H100-SXM-80GB", version="0.25.1", mode="predict", max_model_len=65536, max_num_seqs=64,
                enable_prefix_caching=True)
    assert allp.state_blocks_per_sequence == 0     # mode 'all': one per attention block
    dense = plan("Qwen/Qwen3-8B", "H100-SXM-80GB", mode="predict", max_model_len=8192)
    assert dense.state_page_bytes == 0 and "recurrent_state" not in dense.as_json()
