"""Weight bytes per GPU rank for a TP x PP (x EP) layout: the model facts' checkpoint layout,
plus what vLLM's kernels reshape or add while loading (counted in "Model loading took").
"""
from __future__ import annotations

import functools

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import GpuFacts, ModelFacts
from vllm_compile.plan.kv import extra_groups
from vllm_compile.versions import at_least

VOCAB_PADDING = 64  # vLLM pads the vocabulary to a multiple of 64 before splitting it over TP
MXFP4_BLOCK = 32    # one e8m0 scale per 32 e2m1 values
NVFP4_BLOCK = 16    # one fp8 scale per 16 e2m1 values
SCALE_TILE = (128, 4)  # CUTLASS block-scale tiles: rows x scale columns (swizzle_blockscale)
# First release whose NVFP4 MoE oracle tries FLASHINFER_TRTLLM first on compute capability 10.x
# (0.14.0's select_nvfp4_moe_backend still picks VLLM_CUTLASS unless VLLM_USE_FLASHINFER_MOE_FP4).
NVFP4_TRTLLM_DEFAULT = "0.15.0"
FP8_METHODS = {"fp8", "fbgemm_fp8", "modelopt", "compressed-tensors"}


@dataclass(frozen=True, slots=True)
class LoadKernels:
    """Load-time transforms that depend on the release and the GPU.

    `mxfp4_pad`: (intermediate-per-rank, hidden) alignment the MXFP4 MoE backend pads expert
    weights to (Marlin: n % 256, k % 128 -> (128, 256); FlashInfer TRT-LLM: (256, 256); Triton:
    (64, 1)). `mla_absorbed`: V0-era MLA materialises the absorbed decode matrices W_Q_UK and
    W_UV_O (re-quantized to fp8 for fp8 checkpoints) next to the original projections; later
    releases keep only a 16-bit copy of a quantized kv_b_proj (W_UK_T / W_UV views).
    `bnb_absmax_fp32`: bitsandbytes double quantization (every in-flight quantization, and
    checkpoints saved with it) has its uint8 absmax dequantized to fp32 at load, so a 4-bit
    weight costs 0.5625 bytes per element instead of about 0.516. `mxfp4_bias_bytes`: the
    Triton MoE path (triton_kernels matmul_ogs) converts the experts' w13/w2 biases to fp32
    (Mxfp4MoEMethod.process_weights_after_loading); Marlin and FlashInfer keep them 16-bit.
    `nvfp4_moe_swizzle`: the NVFP4 MoE experts run on a CUTLASS kernel (FlashInfer's or vLLM's),
    whose block scales are swizzled into 128 x 4 tiles (`nvfp4_swizzle_growth`); Marlin, on GPUs
    without native FP4, repacks them at the checkpoint's size."""

    mxfp4_pad: tuple[int, int] = (64, 1)
    mla_absorbed: bool = False
    bnb_absmax_fp32: bool = False
    mxfp4_bias_bytes: int = 2
    nvfp4_moe_swizzle: bool = False


def load_kernels(version: str, gpu: GpuFacts | None) -> LoadKernels:
    """Which kernels vLLM picks at load (vllm/model_executor/layers/quantization/mxfp4.py,
    vllm/attention/backends/mla): MXFP4 MoE runs Marlin on CUDA below compute capability 9.0 and
    on consumer Blackwell (12.x), FlashInfer on datacenter Blackwell, and on Hopper Marlin until
    the triton_kernels dependency made Triton the default [≈ 0.11.1]. Below 9.0 every release
    with MXFP4 (0.10.1 on; the wheels' mxfp4.py read up to 0.25.0) picks Marlin: Ampere and Ada
    ran the Triton kernels only in the pre-release `vllm/vllm-openai:gptoss` image, which no
    release number names (the wheels of 0.19 and 0.25 keep the Triton experts to 9.0 <= SM < 11.0).
    Matrix absorption was removed by PR #14770 before 0.8.0; releases before MLA existed (< 0.7.1)
    get the earliest MLA behaviour, as the KV model does. The bnb absmax dequantization at load
    came with PR #19742 (June 2025, first in 0.9.2)."""
    pad, triton = (64, 1), False
    if gpu is not None and gpu.vendor == "nvidia":
        triton = True
        cc = gpu.compute_capability
        if (10, 0) <= cc < (11, 0):
            pad, triton = (256, 256), False
        elif cc < (9, 0) or cc >= (11, 0) or not at_least(version, "0.11.1"):
            pad, triton = (128, 256), False
    return LoadKernels(mxfp4_pad=pad, mla_absorbed=not at_least(version, "0.8.0"),
                       bnb_absmax_fp32=at_least(version, "0.9.2"), mxfp4_bias_bytes=4 if triton else 2,
                       nvfp4_moe_swizzle=nvfp4_moe_swizzled(version, gpu))


def nvfp4_moe_swizzled(version: str, gpu: GpuFacts | None) -> bool:
    """Whether vLLM prepares NVFP4 MoE experts for a CUTLASS kernel (swizzled, padded block
    scales) rather than Marlin or FlashInfer TRT-LLM. Read in the wheels' modelopt.py (0.11.0-0.13.0)
    and fused_moe/oracle/nvfp4.py with utils/flashinfer_fp4_moe.py (0.15.0-0.33.0): below compute
    capability 10.0 no kernel has native FP4 and Marlin is used; 11.x and 12.x (consumer Blackwell:
    FLASHINFER_CUTLASS, or VLLM_CUTLASS on 11.x) always take the CUTLASS preparation; 10.x took it
    while FlashInfer stayed opt-in (VLLM_USE_FLASHINFER_MOE_FP4, off by default up to 0.13.0) and
    picks FLASHINFER_TRTLLM first since the MoE backend oracle (0.15.0 read), whose shuffled layout
    vllm-compile counts at the checkpoint's size."""
    if gpu is None or gpu.vendor != "nvidia" or gpu.compute_capability < (10, 0):
        return False
    return gpu.compute_capability >= (11, 0) or not at_least(version, NVFP4_TRTLLM_DEFAULT)


@functools.lru_cache(maxsize=64)
def stage_layers(num_layers: int, pp: int) -> tuple[range, ...]:
    """Layer ranges per pipeline stage as vLLM partitions them: even split, with the remainder
    given one each to the stages counted back from the second-to-last (the last stage also
    holds the final norm and lm_head). Cached: every rank of a plan asks for the same split, so
    a plan's weight accounting stays linear in the number of stages."""
    sizes = [num_layers // pp] * pp
    for i in range(num_layers % pp):
        sizes[(pp - 2 - i) % pp] += 1
    ranges, start = [], 0
    for size in sizes:
        ranges.append(range(start, start + size))
        start += size
    return tuple(ranges)


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _round_up(a: int, b: int) -> int:
    return _cdiv(a, b) * b


def rank_weight_bytes(facts: ModelFacts, tp: int, pp: int, stage: int, expert_parallel: bool = False,
                      kernels: LoadKernels | None = None, cpu_offload_bytes: int = 0, dp: int = 1) -> int:
    """Weight bytes one rank holds on its GPU. `cpu_offload_bytes` (`--cpu-offload-gb`): vLLM
    moves decoder-layer parameters to pinned host memory until that many bytes are offloaded;
    embeddings and lm_head stay on the GPU. With expert parallelism the routed experts are split
    whole over TP x DP ranks (`dp` data-parallel replicas); everything else over TP only."""
    kernels = kernels or LoadKernels()
    ep = tp * dp
    layers = stage_layers(facts.num_layers, pp)[stage]
    mxfp4 = facts.quantization is not None and facts.quantization.method == "mxfp4" and facts.moe is not None
    swizzle = kernels.nvfp4_moe_swizzle and nvfp4_experts(facts)
    total = 0
    for index in layers:
        layer = facts.layers[index]
        sharded, replicated, expert = layer.sharded_bytes, layer.replicated_bytes, layer.expert_bytes
        if kernels.bnb_absmax_fp32:
            sharded, replicated, expert = (a + b for a, b in zip((sharded, replicated, expert), layer.absmax_growth))
        total += _cdiv(sharded, tp) + replicated
        if layer.group_weight_bytes and layer.ssm_groups % tp:
            # Mamba2 groups replicated up to the TP size: each rank holds its group whole.
            total += extra_groups(layer.ssm_groups, tp) * layer.group_weight_bytes // tp
        if expert and mxfp4:
            total += mxfp4_expert_bytes(facts, ep if expert_parallel else tp, expert_parallel, kernels.mxfp4_pad,
                                        kernels.mxfp4_bias_bytes)
        elif expert:
            if expert_parallel and facts.moe is not None:
                experts = facts.moe.num_experts
                total += expert * _cdiv(experts, ep) // experts
            else:
                total += _cdiv(expert, tp)
            if swizzle:
                total += nvfp4_swizzle_growth(facts, ep if expert_parallel else tp, expert_parallel)
        if layer.attention == "mla":
            total += mla_decode_bytes(facts, tp, kernels.mla_absorbed)
    total -= min(cpu_offload_bytes, total)
    rows_per_rank = _cdiv(_cdiv(facts.vocab_size, VOCAB_PADDING) * VOCAB_PADDING, tp)
    first, last = stage == 0, stage == pp - 1
    if first:
        total += rows_per_rank * facts.embedding_bytes_per_row
        total += encoder_rank_bytes(facts, tp)
    if last:
        total += facts.final_norm_bytes
        # Tied embeddings share the matrix only when one stage holds both ends.
        if not facts.tie_word_embeddings or pp > 1:
            total += rows_per_rank * facts.lm_head_bytes_per_row
    total += rotary_cache_bytes(facts)
    return total


def mxfp4_expert_bytes(facts: ModelFacts, tp: int, expert_parallel: bool, pad: tuple[int, int],
                       bias_bytes: int = 2) -> int:
    """One MoE layer's MXFP4 experts on one rank as vLLM's Mxfp4MoEMethod allocates them:
    w13 (2 x I' rows x H' cols) and w2 (H' x I') as e2m1 nibbles plus one e8m0 byte per 32,
    and w13/w2 biases of `bias_bytes` each (16-bit as loaded; fp32 on the Triton path), with
    I' = the rank's intermediate slice and H' = hidden, each rounded up to the backend's
    alignment."""
    moe = facts.moe
    assert moe is not None, "called for MoE models only"
    experts = _cdiv(moe.num_experts, tp) if expert_parallel else moe.num_experts
    inter = moe.expert_intermediate_size if expert_parallel else _cdiv(moe.expert_intermediate_size, tp)
    inter, hidden = _round_up(inter, pad[0]), _round_up(facts.hidden_size, pad[1])
    elements = 3 * inter * hidden  # w13 (2 x I' x H') + w2 (H' x I')
    return experts * (elements // 2 + elements // MXFP4_BLOCK + (2 * inter + hidden) * bias_bytes)


def nvfp4_experts(facts: ModelFacts) -> bool:
    """Whether the routed experts are NVFP4: ModelOpt `modelopt_fp4`, or compressed-tensors'
    4-bit float scheme (an fp8 scale per 16)."""
    quant = facts.quantization
    return (facts.moe is not None and quant is not None and quant.bits == 4 and quant.group_size == NVFP4_BLOCK
            and quant.method in ("modelopt_fp4", "compressed-tensors"))


def nvfp4_swizzle_growth(facts: ModelFacts, tp: int, expert_parallel: bool) -> int:
    """Bytes one MoE layer's NVFP4 experts gain on one rank when vLLM prepares them for a
    CUTLASS kernel (prepare_nvfp4_moe_layer_for_fi_or_cutlass; ModelOptNvFp4FusedMoE before the
    oracle): each expert's fp8 block scales (rows x cols / 16) are swizzled into zero-padded tiles
    of 128 rows x 4 scale columns, and where that pads the rows of w13 (the intermediate size of
    non-gated experts, Nemotron-H's squared ReLU: 1856 -> 1920), w13 gains the rows and w2 the
    columns, as e2m1 nibbles, with w2's scales padded before their swizzle. (Gated experts whose
    2 x intermediate is not a multiple of 128 are refused by vLLM; their scales are counted padded.)"""
    moe = facts.moe
    assert moe is not None, "called for MoE models only"
    experts = _cdiv(moe.num_experts, tp) if expert_parallel else moe.num_experts
    inter = moe.expert_intermediate_size if expert_parallel else moe.expert_intermediate_size // tp
    hidden = facts.hidden_size
    rows13 = (2 if moe.gated else 1) * inter
    padded13 = _round_up(rows13, SCALE_TILE[0])
    pad = 0 if moe.gated else padded13 - rows13
    scale_cols13, scale_cols2 = _cdiv(hidden, NVFP4_BLOCK), _cdiv(inter, NVFP4_BLOCK)
    grown_cols2 = _cdiv(inter + pad, NVFP4_BLOCK)
    scales = (padded13 * _round_up(scale_cols13, SCALE_TILE[1]) - rows13 * scale_cols13
              + _round_up(hidden, SCALE_TILE[0]) * _round_up(grown_cols2, SCALE_TILE[1]) - hidden * scale_cols2)
    weights = pad * hidden // 2 + hidden * pad // 2   # w13's new rows, w2's new columns
    return experts * (scales + weights)


def mla_decode_bytes(facts: ModelFacts, tp: int, absorbed: bool) -> int:
    """Decode-path matrices vLLM's MLA backend builds from the loaded projections, per layer
    and rank (N = heads on the rank, L = kv_lora_rank, Q = q_lora_rank or hidden)."""
    mla, quant = facts.mla, facts.quantization
    assert mla is not None, "called for MLA models only"
    block = quant.weight_block_size if quant is not None else None
    n = max(1, facts.num_attention_heads // tp)
    lora = mla.kv_lora_rank
    fp8 = quant is not None and quant.bits == 8 and quant.method in FP8_METHODS
    # The dequantized kv_b_proj (L x N(nope + v), 16-bit) stays alive behind the W_UK/W_UV views;
    # a 16-bit checkpoint's views alias the weight itself.
    total = lora * n * (mla.qk_nope_head_dim + mla.v_head_dim) * 2 if fp8 else 0
    if not absorbed:
        return total
    q_in = mla.q_lora_rank or facts.hidden_size

    def stored(rows: int, cols: int) -> int:
        if not fp8:
            return rows * cols * 2
        scales = _cdiv(rows, block[0]) * _cdiv(cols, block[1]) if block else 1
        return rows * cols + scales * 4

    # W_Q_UK (Q x N·L), W_UV_O (N·L x hidden), and the 16-bit W_QR (Q x N·rope).
    return (total + stored(q_in, n * lora) + stored(n * lora, facts.hidden_size)
            + q_in * n * mla.qk_rope_head_dim * 2)


def encoder_rank_bytes(facts: ModelFacts, tp: int) -> int:
    """The vision tower and projector on one rank of the first pipeline stage: its parallel
    linears split over TP (vLLM's default `mm_encoder_tp_mode` "weights"), the rest whole. An
    attention whose heads TP does not divide (InternViT) stays whole on every rank."""
    enc = facts.encoder
    if enc is None:
        return 0
    if enc.head_split_bytes and enc.split_heads % tp:
        return _cdiv(enc.sharded_bytes - enc.head_split_bytes, tp) + enc.head_split_bytes + enc.replicated_bytes
    return _cdiv(enc.sharded_bytes, tp) + enc.replicated_bytes


def rotary_cache_bytes(facts: ModelFacts) -> int:
    """Persistent buffers created at load and counted in "Model loading took": the rotary
    cos/sin cache (max positions x rotary dim, 16-bit) is the one that scales."""
    rotary_dim = facts.mla.qk_rope_head_dim if facts.mla else facts.head_dim
    return min(facts.max_position_embeddings, 1 << 20) * rotary_dim * 2


def heaviest_rank_bytes(facts: ModelFacts, tp: int, pp: int, expert_parallel: bool = False,
                        kernels: LoadKernels | None = None) -> tuple[int, int]:
    """(bytes, stage) of the heaviest rank."""
    best = max(range(pp), key=lambda s: rank_weight_bytes(facts, tp, pp, s, expert_parallel, kernels))
    return rank_weight_bytes(facts, tp, pp, best, expert_parallel, kernels), best


def lora_slot_bytes(facts: ModelFacts, tp: int, pp: int, max_loras: int, max_rank: int, dtype_bytes: int) -> int:
    """LoRA buffers vLLM allocates at load with `--enable-lora` (heaviest stage): for each of
    `max_loras` slots and each decoder layer, A (rank x input) and B (output x rank) matrices for
    qkv, o, gate/up and down, with the TP-split side divided by TP (column-parallel: B;
    row-parallel: A). MoE experts get no adapters here (vLLM added them late and sparsely)."""
    h, i = facts.hidden_size, facts.intermediate_size
    q, k = facts.num_attention_heads * facts.head_dim, facts.num_kv_heads * facts.head_dim
    if facts.mla:
        q = facts.num_attention_heads * (facts.mla.qk_nope_head_dim + facts.mla.qk_rope_head_dim)
    attention = 3 * h + _cdiv(q + 2 * k, tp) + _cdiv(q, tp) + h
    mlp = 2 * h + 2 * _cdiv(i, tp) + _cdiv(i, tp) + h
    layers = max(len(r) for r in stage_layers(facts.num_layers, pp))
    dense = sum(1 for layer in facts.layers[:layers] if not layer.is_moe)
    per_slot = layers * attention + dense * mlp
    return max_loras * max_rank * per_slot * dtype_bytes



def sparse_indexer_buffer_bytes(facts: ModelFacts, max_num_batched_tokens: int) -> int:
    """Sparse MLA (DeepSeek-V3.2): the top-k index buffer vLLM's DeepseekV2Model allocates when it
    is built (`topk_indices_buffer`: max_num_batched_tokens x index_topk int32, shared by every
    layer of the rank), so it is part of the memory "Model loading took"."""
    if facts.mla is None or not facts.mla.sparse:
        return 0
    return max_num_batched_tokens * facts.mla.index_topk * 4
