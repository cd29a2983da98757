"""Activation peak, non-torch memory and CUDA-graph memory: vLLM measures these at start-up;
the planner models them.

The shapes come from what drives each term (reference §1.2-1.3, §6A): the profile run pushes
`max_num_batched_tokens` through one layer's widest tensors, the sampler holds fp32 logits for
`min(max_num_seqs, batched tokens)` rows (V0: `max_num_seqs` rows) with several temporaries,
fused-MoE kernels keep per-token expert intermediates, NCCL/custom all-reduce buffers grow with
TP, and CUDA graphs cost a shared pool plus a little per captured size. The constants were
fitted once on ../shared/calibration (see bench/calibrate.py); no calibration entry is
special-cased.
"""
from __future__ import annotations

from dataclasses import dataclass

from vllm_compile.ir.facts import ModelFacts

GIB = 1 << 30


@dataclass(frozen=True, slots=True)
class EraConstants:
    forward_factor: float   # x dtype x (2 x MLP width per rank + hidden) bytes per batched token
    sampler_copies: float   # fp32 logit-sized temporaries held by the dummy sampler (small batches)
    sampler_copies_large: float  # the same at 1024 rows and more (V1 samples large batches differently)
    moe_factor: float       # x topk x hidden x dtype bytes per batched token (up to MOE_TOKEN_CAP)
    constant_bytes: int     # workspaces independent of the batch


ERAS = {
    "v0": EraConstants(1.12, 4.0, 4.0, 8.0, int(0.20 * GIB)),
    "v1a": EraConstants(1.12, 1.5, 7.0, 8.0, int(0.08 * GIB)),
    "v1b": EraConstants(1.12, 1.5, 7.0, 8.0, int(0.05 * GIB)),
    "v1c": EraConstants(1.12, 1.5, 7.0, 8.0, int(0.05 * GIB)),
}
SMALL_BATCH_ROWS, LARGE_BATCH_ROWS = 256, 1024
MOE_TOKEN_CAP = 8192  # fused-MoE workspaces stop growing once the kernel chunks the batch

NON_TORCH_BASE = int(0.15 * GIB)     # cuBLAS/cuDNN handles and workspaces at TP 1
NON_TORCH_PER_EXTRA_RANK = int(0.10 * GIB)  # NCCL/custom all-reduce buffers per additional TP peer
CUDA_CONTEXT_BYTES = int(0.50 * GIB)  # outside vLLM's budget: CUDA context, allocated before the snapshot
GRAPH_BASE = int(0.20 * GIB)
GRAPH_PER_SIZE_PER_40_LAYERS = int(0.006 * GIB)


def activation_bytes(facts: ModelFacts, era: str, tp: int, batched_tokens: int, sampler_rows: int,
                     dtype_bytes: int) -> int:
    k = ERAS[era]
    if facts.moe is None:
        dense_width = facts.intermediate_size
    else:
        # MoE layers run the shared expert densely; leading dense layers run the plain MLP.
        dense_width = max(facts.moe.shared_expert_intermediate_size,
                          facts.intermediate_size if facts.moe.first_dense_layers else 0)
    forward = batched_tokens * dtype_bytes * (2 * dense_width // tp + facts.hidden_size) * k.forward_factor
    share = min(1.0, max(0.0, (sampler_rows - SMALL_BATCH_ROWS) / (LARGE_BATCH_ROWS - SMALL_BATCH_ROWS)))
    copies = k.sampler_copies + share * (k.sampler_copies_large - k.sampler_copies)
    sampler = sampler_rows * facts.vocab_size * 4 * copies
    moe = 0.0
    if facts.moe:
        moe = min(batched_tokens, MOE_TOKEN_CAP) * facts.moe.experts_per_token * facts.hidden_size * dtype_bytes \
            * k.moe_factor
    return int(forward + sampler + moe + k.constant_bytes)


def non_torch_bytes(tp: int, pp: int) -> int:
    peers = tp - 1 + (1 if pp > 1 else 0)
    return NON_TORCH_BASE + NON_TORCH_PER_EXTRA_RANK * peers


def capture_sizes(max_num_seqs: int) -> list[int]:
    """vLLM's default CUDA-graph capture sizes, up to min(2 x max_num_seqs, 512)."""
    limit = min(2 * max_num_seqs, 512)
    sizes = [1, 2, 4] + list(range(8, 256, 8)) + list(range(256, 513, 16))
    return [s for s in sizes if s <= limit]


def cuda_graph_bytes(layers_on_rank: int, max_num_seqs: int, enforce_eager: bool) -> int:
    if enforce_eager:
        return 0
    sizes = len(capture_sizes(max_num_seqs))
    return int(GRAPH_BASE + GRAPH_PER_SIZE_PER_40_LAYERS * sizes * layers_on_rank / 40)
