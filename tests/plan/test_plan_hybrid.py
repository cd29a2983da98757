"""Hybrid gated delta-net models (Qwen3.5 / Qwen3.6): per-layer kinds, the recurrent state per
sequence, vLLM's unified page (attention block raised to hold one state), state blocks per
running sequence, and max_num_seqs as the lever when the state blocks run short."""
from __future__ import annotations

from plan_support import facts, plan

from vllm_compile.plan import kv

QWEN36 = "Qwen/Qwen3.6-35B-A3B"


def test_layer_kinds_and_the_state_of_one_sequence_come_from_the_config():
    f = facts(QWEN36)
    assert f.attention_kinds() == {"full": 10, "mamba": 30}
    assert [l.attention for l in f.layers[:4]] == ["mamba", "mamba", "mamba", "full"]
    gdn = f.layers[0]
    # conv: (kernel 4 - 1) x (2 x 16 key heads x 128 + 32 value heads x 128), bf16;
    # recurrent: 32 value heads x 128 x 128, fp32 (the config's mamba_ssm_dtype).
    assert (gdn.conv_state, gdn.ssm_state, gdn.ssm_state_fp32) == (3 * 8192, 32 * 128 * 128, True)
    assert gdn.state_bytes == 3 * 8192 * 2 + 32 * 128 * 128 * 4 == 2_146_304
    assert gdn.kv_heads == 0 and f.layers[3].kv_heads == 2
    # The published total (Qwen3.5-35B-A3B, same shapes) counts the tower and the decoder, no MTP layer.
    assert f.parameters == 35_107_181_936 and f.moe.num_experts == 256 and f.moe.shared_expert_intermediate_size == 512


def test_the_attention_block_grows_until_its_page_holds_one_state_and_the_state_is_padded_to_it():
    f = facts(QWEN36)
    layers = list(f.layers)
    # One attention layer holds 2 KV heads x (256 + 256) x 2 bytes = 2048 bytes per token; vLLM's
    # rule: 16 x cdiv(state page, 16 x 2048) = 16 x 66 = 1056 tokens.
    assert kv.hybrid_block_size(layers, 1, 2, 2, 16, 16) == 1056
    # TP 2 halves both the state and the KV heads' bytes: same block.
    assert kv.hybrid_block_size(layers, 2, 2, 2, 16, 16) == 1056
    # An fp8 KV cache halves the attention page, so the block about doubles (the state stays
    # bf16/fp32): 16 x cdiv(2146304, 16 x 1024) = 2096, the size public logs of Qwen3.6-35B-A3B
    # with an fp8 KV cache print ("Setting attention block size to 2096 tokens").
    assert kv.hybrid_block_size(layers, 1, 1, 2, 16, 16) == 2096
    assert kv.hybrid_block_size(layers, 1, 2, 2, 2048, 16) == 2048   # a larger user block stays
    specs = kv.layer_specs(layers, 1, 2, 1056, hybrid=True, v0_mla_alignment=False, dtype_bytes=2, state_blocks=2)
    pages = {s.kind: s.page_bytes for s in specs}
    assert pages == {"mamba": 1056 * 2048, "full": 1056 * 2048}     # padded by 0.76 % to the attention page
    # 30 recurrent layers and 10 attention layers: groups of 10 -> 3 state groups + 1 attention group;
    # a request of 65536 tokens needs cdiv(65536, 1056) attention blocks + 2 per state group.
    cap = kv.capacity(specs, 100 * 1056 * 2048 * 10, 1056, 65536, 2048, engine="v1", tokens_from_concurrency=True)
    assert cap.num_blocks == 100 and cap.blocks_per_request == 63 + 3 * 2


def test_state_blocks_bound_max_num_seqs_and_the_fix_lowers_it():
    short = plan(QWEN36, "H200-SXM-141GB", version="0.33.0", mode="predict", max_model_len=65536,
                 gpu_memory_utilization=0.6)
    assert short.verdict == "invalid" and "exceeds available Mamba cache blocks" in short.reasons[0]
    assert short.block_size == 1056
    fix = next(f for f in short.fixes if "engine.max_num_seqs" in dict(f.settings))
    assert fix.verdict == "ok" and dict(fix.settings)["engine.max_num_seqs"] <= short.num_gpu_blocks // 2
    roomy = plan(QWEN36, "H200-SXM-141GB", version="0.33.0", mode="predict", max_model_len=65536)
    assert roomy.verdict == "ok" and roomy.num_gpu_blocks >= 2 * roomy.max_num_seqs
    # Releases before the check capped CUDA-graph sizes instead of failing (0.17.0: the first whose
    # registry has Qwen3_5MoeForConditionalGeneration).
    older = plan(QWEN36, "H200-SXM-141GB", version="0.17.0", mode="predict", max_model_len=65536,
                 gpu_memory_utilization=0.6)
    assert older.verdict == "ok"
    # Older V1 reports "GPU KV cache size" as blocks // groups x block size (4 groups here).
    assert older.kv_cache_tokens == older.num_gpu_blocks // 4 * 1056


def test_logged_hybrid_capacity_follows_from_the_logged_kv_memory():
    # noonghunna/club-3090#652 and #612 (vLLM 0.24.0, Qwen3.6-35B-A3B NVFP4 on one RTX 5090,
    # --kv-cache-dtype fp8 --max-model-len 131072):
    #   "Available KV cache memory: 6.01 GiB" / "GPU KV cache size: 569,878 tokens" /
    #   "Maximum concurrency for 131,072 tokens per request: 4.35x"
    #   "Available KV cache memory: 5.98 GiB" / "GPU KV cache size: 567,978 tokens" / "... 4.33x"
    # The weights' quantization does not enter: from the logged memory, the 2096-token fp8 page,
    # groups of 10 layers and 2 state blocks per state group (align mode) give both lines exactly.
    from vllm_compile.plan.releases import rules_for

    layers = list(facts(QWEN36).layers)
    rules = rules_for("0.24.0")
    block = kv.hybrid_block_size(layers, 1, 1, 2, 16, 16)
    specs = kv.layer_specs(layers, 1, 1, block, hybrid=True, v0_mla_alignment=False, dtype_bytes=2,
                           state_blocks=rules.mamba_state_blocks)
    for gib, tokens, concurrency in ((6.01, 569_878, 4.35), (5.98, 567_978, 4.33)):
        cap = kv.capacity(specs, int(gib * (1 << 30)), block, 131072, 8192, engine="v1",
                          tokens_from_concurrency=rules.tokens_from_concurrency)
        assert round(cap.max_concurrency, 2) == concurrency
        assert abs(cap.tokens - tokens) <= 1


def test_qwen3_next_keeps_its_recurrent_state_in_the_model_dtype():
    # No mamba_ssm_dtype in Qwen3-Next's config: vLLM's `--mamba-ssm-cache-dtype auto` is bf16,
    # so one state is 3 x 8192 x 2 + 32 x 128 x 128 x 2 bytes and the block 16 x cdiv(., 16 x 2048).
    f = facts("Qwen/Qwen3-Next-80B-A3B-Thinking")
    assert f.attention_kinds() == {"full": 12, "mamba": 36} and not f.layers[0].ssm_state_fp32
    assert f.layers[0].state_bytes == 3 * 8192 * 2 + 32 * 128 * 128 * 2
    assert kv.hybrid_block_size(list(f.layers), 1, 2, 2, 16, 16) == 544
    two = plan("Qwen/Qwen3-Next-80B-A3B-Thinking", "H200-SXM-141GB", 2, mode="predict", tensor_parallel_size=2,
               max_model_len=131072)
    assert two.verdict == "ok" and two.block_size == 544


def test_too_few_state_blocks_is_about_max_num_seqs_not_memory_utilization():
    # The verdict is "invalid" like the start-up free-memory check, but what it is about (and
    # where its diagnostic points) is engine.max_num_seqs: the planner says so structurally.
    short = plan(QWEN36, "H200-SXM-141GB", version="0.33.0", mode="predict", max_model_len=65536,
                 gpu_memory_utilization=0.6)
    assert short.verdict == "invalid" and short.failure_key == "engine.max_num_seqs"
    tight = plan(QWEN36, "H200-SXM-141GB", version="0.33.0", mode="predict", max_model_len=65536,
                 gpu_memory_utilization=0.999)
    assert tight.verdict == "invalid" and tight.failure_key == "engine.gpu_memory_utilization"
