"""Weight bytes per GPU rank for a TP x PP (x EP) layout, from the model facts' layout."""
from __future__ import annotations

from vllm_compile.ir.facts import ModelFacts

VOCAB_PADDING = 64  # vLLM pads the vocabulary to a multiple of 64 before splitting it over TP


def stage_layers(num_layers: int, pp: int) -> list[range]:
    """Layer ranges per pipeline stage as vLLM partitions them: even split, with the remainder
    given one each to the stages counted back from the second-to-last (the last stage also
    holds the final norm and lm_head)."""
    sizes = [num_layers // pp] * pp
    for i in range(num_layers % pp):
        sizes[(pp - 2 - i) % pp] += 1
    ranges, start = [], 0
    for size in sizes:
        ranges.append(range(start, start + size))
        start += size
    return ranges


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def rank_weight_bytes(facts: ModelFacts, tp: int, pp: int, stage: int, expert_parallel: bool = False) -> int:
    layers = stage_layers(facts.num_layers, pp)[stage]
    total = 0
    for index in layers:
        layer = facts.layers[index]
        total += _cdiv(layer.sharded_bytes, tp) + layer.replicated_bytes
        if layer.expert_bytes:
            if expert_parallel and facts.moe is not None:
                experts = facts.moe.num_experts
                total += layer.expert_bytes * _cdiv(experts, tp) // experts
            else:
                total += _cdiv(layer.expert_bytes, tp)
    rows_per_rank = _cdiv(_cdiv(facts.vocab_size, VOCAB_PADDING) * VOCAB_PADDING, tp)
    first, last = stage == 0, stage == pp - 1
    if first:
        total += rows_per_rank * facts.embedding_bytes_per_row
    if last:
        total += facts.final_norm_bytes
        # Tied embeddings share the matrix only when one stage holds both ends.
        if not facts.tie_word_embeddings or pp > 1:
            total += rows_per_rank * facts.lm_head_bytes_per_row
    total += rotary_cache_bytes(facts)
    return total


def rotary_cache_bytes(facts: ModelFacts) -> int:
    """Persistent buffers created at load and counted in "Model loading took": the rotary
    cos/sin cache (max positions x rotary dim, 16-bit) is the one that scales."""
    rotary_dim = facts.mla.qk_rope_head_dim if facts.mla else facts.head_dim
    return min(facts.max_position_embeddings, 1 << 20) * rotary_dim * 2


def heaviest_rank_bytes(facts: ModelFacts, tp: int, pp: int, expert_parallel: bool = False) -> tuple[int, int]:
    """(bytes, stage) of the heaviest rank."""
    best = max(range(pp), key=lambda s: rank_weight_bytes(facts, tp, pp, s, expert_parallel))
    return rank_weight_bytes(facts, tp, pp, best, expert_parallel), best
