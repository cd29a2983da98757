"""Weights per rank: TP split, vocabulary padding to 64, pipeline stages and tied embeddings."""
from __future__ import annotations

import dataclasses

import pytest

from plan_support import DEEPSEEK_V3, LLAMA_70B, LLAMA_8B, QWEN3_06B, cdiv, facts, plan
from vllm_compile.plan import weights

# Llama-3.1-8B (config.json): hidden 4096, 32 layers, 32 heads, 8 KV heads x 128, MLP 14336,
# vocab 128256, untied, bf16, max_position_embeddings 131072.
H, I, V, L = 4096, 14336, 128_256, 32
LAYER_LINEAR = H * H + 2 * (H * 1024) + H * H + 3 * H * I   # q, k, v, o, gate, up, down = 218,103,808
LAYER_NORMS = 2 * H                                         # input + post-attention RMSNorm
ROTARY = 131_072 * 128 * 2                                  # cos/sin cache: positions x rotary dim x 2 B = 32 MiB
PUBLISHED_PARAMS = 8_030_261_248                            # Meta's model card / safetensors index


def test_llama_8b_parameter_arithmetic():
    assert LAYER_LINEAR == 218_103_808
    assert L * (LAYER_LINEAR + LAYER_NORMS) + 2 * V * H + H == PUBLISHED_PARAMS


def test_llama_8b_weights_tp1():
    # 2 bytes per parameter + the rotary cache ("Model loading took 14.99 GiB" in real logs).
    expected = 2 * PUBLISHED_PARAMS + ROTARY
    assert expected == 16_094_076_928
    assert weights.rank_weight_bytes(facts(LLAMA_8B), 1, 1, 0) == expected
    p = plan(LLAMA_8B, "H100", 1, mode="predict", tensor_parallel_size=1, max_model_len=8192)
    assert p.per_gpu.weights_bytes == expected


def test_llama_8b_weights_tp2():
    # Linears split in two, norms replicated, embedding and lm_head rows split (128256/2 = 64128).
    expected = 2 * (L * (LAYER_LINEAR // 2 + LAYER_NORMS) + 2 * (V // 2) * H + H) + ROTARY
    assert expected == 8_064_081_920
    assert weights.rank_weight_bytes(facts(LLAMA_8B), 2, 1, 0) == expected


def test_vocab_padded_to_64_before_the_tp_split():
    # granite-3.1-8b: vocab 49,155 -> padded to 49,216 (769 x 64); tied embeddings, hidden 4096.
    granite = facts("ibm-granite/granite-3.1-8b-instruct")
    assert granite.vocab_size == 49_155 and granite.hidden_size == 4096 and granite.tie_word_embeddings
    padded = dataclasses.replace(granite, vocab_size=49_216)
    unpadded = dataclasses.replace(granite, vocab_size=49_152)
    row = 4096 * 2
    for tp in (1, 2, 4, 8):
        w = weights.rank_weight_bytes(granite, tp, 1, 0)
        assert w == weights.rank_weight_bytes(padded, tp, 1, 0)
        # 49,216 - 49,152 = 64 more rows, split over tp ranks.
        assert w - weights.rank_weight_bytes(unpadded, tp, 1, 0) == 64 // tp * row


def test_vocab_padding_applies_to_an_untied_lm_head_too():
    f = facts(LLAMA_8B)
    plus_one = dataclasses.replace(f, vocab_size=V + 1)        # 128,257 -> 128,320 rows
    for tp in (1, 2, 4):
        extra = weights.rank_weight_bytes(plus_one, tp, 1, 0) - weights.rank_weight_bytes(f, tp, 1, 0)
        assert extra == 2 * (64 // tp) * H * 2                 # embedding + lm_head


@pytest.mark.parametrize("layers, pp, sizes", [
    # vLLM get_pp_indices: even split; remainder one each to partitions[-2], [-3], ...
    (32, 1, [32]),
    (32, 2, [16, 16]),
    (80, 3, [27, 27, 26]),      # 26 each, remainder 2 -> stages 1 and 0
    (61, 4, [15, 15, 16, 15]),  # remainder 1 -> stage 2 (the second-to-last)
    (30, 4, [7, 8, 8, 7]),      # remainder 2 -> stages 2, 1
    (32, 5, [6, 6, 7, 7, 6]),   # remainder 2 -> stages 3, 2
    (63, 8, [8, 8, 8, 8, 8, 8, 8, 7]),  # remainder 7 -> stages 6..0; the last stage gets none
    (28, 3, [9, 10, 9]),
    (7, 7, [1] * 7),
])
def test_stage_partition_follows_vllm(layers, pp, sizes):
    ranges = weights.stage_layers(layers, pp)
    assert [len(r) for r in ranges] == sizes
    assert [i for r in ranges for i in r] == list(range(layers))   # contiguous, in order, complete


def test_pp_stage_ledgers_follow_the_partition():
    # Llama-3.1-70B at TP 2 x PP 3: stages of 27, 27, 26 layers; 4 KV heads per rank.
    p = plan(LLAMA_70B, "H100", 6, mode="predict", tensor_parallel_size=2, pipeline_parallel_size=3,
             max_model_len=8192)
    per_layer = 2 * 4 * 128 * 2
    assert [r.kv_bytes_per_token for r in p.ranks] == [27 * per_layer, 27 * per_layer, 26 * per_layer]
    assert [r.stage for r in p.ranks] == [0, 1, 2]
    # The first stage holds the embedding, the last the lm_head: both 128256/2 rows x 8192 x 2 B;
    # stage 1 holds neither, so it is lighter than stage 0 by exactly one embedding shard.
    f = facts(LLAMA_70B)
    rows = 128_256 // 2 * 8192 * 2
    assert p.ranks[0].weights_bytes - p.ranks[1].weights_bytes == rows
    layer = lambda i: cdiv(f.layers[i].sharded_bytes, 2) + f.layers[i].replicated_bytes  # noqa: E731
    assert p.ranks[2].weights_bytes - p.ranks[1].weights_bytes == \
        rows + f.final_norm_bytes - layer(53)    # stage 2 has one layer fewer (index 53 moved to stage 1)


def test_tied_embeddings_copied_to_the_last_stage():
    # Qwen3-0.6B ties lm_head to the embedding (151,936 x 1,024 x 2 B = 311,164,928 B).
    f = facts(QWEN3_06B)
    assert f.tie_word_embeddings
    matrix = 151_936 * 1024 * 2
    assert matrix == 311_164_928

    def layer_sum(rng):
        return sum(f.layers[i].sharded_bytes + f.layers[i].replicated_bytes for i in rng)

    rotary = weights.rotary_cache_bytes(f)
    # PP 1: one copy only.
    assert weights.rank_weight_bytes(f, 1, 1, 0) == layer_sum(range(28)) + matrix + f.final_norm_bytes + rotary
    # PP 2: the first stage has the embedding, the last its own lm_head copy.
    first, last = weights.stage_layers(28, 2)
    assert weights.rank_weight_bytes(f, 1, 2, 0) == layer_sum(first) + matrix + rotary
    assert weights.rank_weight_bytes(f, 1, 2, 1) == layer_sum(last) + matrix + f.final_norm_bytes + rotary


def test_reported_weights_are_the_heaviest_rank():
    p = plan(LLAMA_70B, "H100", 6, mode="predict", tensor_parallel_size=2, pipeline_parallel_size=3,
             max_model_len=8192)
    heaviest, stage = weights.heaviest_rank_bytes(facts(LLAMA_70B), 2, 3)
    assert heaviest == max(r.weights_bytes for r in p.ranks)
    assert heaviest == p.ranks[stage].weights_bytes


def test_expert_parallelism_over_data_parallel_replicas_splits_only_the_experts():
    f = facts(DEEPSEEK_V3)
    experts = sum(layer.expert_bytes for layer in f.layers)
    whole = weights.rank_weight_bytes(f, 1, 1, 0)
    # 256 routed experts over 8 replicas: 32 whole experts each; attention, dense layers, shared
    # experts, embeddings and lm_head stay on every replica.
    assert weights.rank_weight_bytes(f, 1, 1, 0, expert_parallel=True, dp=8) == whole - experts + experts // 8
    # Without expert parallelism a data-parallel replica holds the whole model.
    assert weights.rank_weight_bytes(f, 1, 1, 0, dp=8) == whole
    # TP 2 x DP 4 with EP: experts over 8 ranks, the rest over TP 2.
    tp2 = weights.rank_weight_bytes(f, 2, 1, 0)
    assert weights.rank_weight_bytes(f, 2, 1, 0, expert_parallel=True, dp=4) == tp2 - -(-experts // 2) + experts // 8
