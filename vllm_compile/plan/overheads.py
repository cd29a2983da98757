"""Activation peak, non-torch memory, CUDA-graph memory and what vLLM allocates outside its
budget: vLLM measures the first three at start-up; the planner models them.

The shapes come from what drives each term (reference §1.2-1.3, §6A): the profile run pushes
`max_num_batched_tokens` through one layer's widest tensors, the sampler holds fp32 logits for
`min(max_num_seqs, batched tokens)` rows with several temporaries (V0: `max_num_seqs` rows, and
the peak is the larger of the forward pass and the sampler's sort of the logits, counted from
the buffers PyTorch's sort allocates), bitsandbytes 4-bit linears dequantize one weight shard
at a time, fused-MoE kernels keep per-token expert intermediates, NCCL/custom all-reduce buffers
grow with TP (and, with the NCCL of releases before 0.9.0, NVLink channel and NVLS buffers set up
at start-up), and CUDA graphs cost a shared pool plus a little per captured graph. The constants live in
vllm_compile/data/planner-rules.json, each with the bench/data/calibration cases it was fitted on
(bench/calibrate.py --leave-one-out refits them); no calibration entry is special-cased.
"""
from __future__ import annotations

import functools
import math

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import EncoderFacts, GpuFacts, ModelFacts
from vllm_compile.plan import rules_data
from vllm_compile.plan.releases import ReleaseRules

GIB = 1 << 30
MIB = 1 << 20


@dataclass(frozen=True, slots=True)
class EraConstants:
    forward_factor: float   # x dtype x (2 x MLP width per rank + hidden) bytes per batched token
    sampler_copies: float   # fp32 logit-sized temporaries held by the dummy sampler (small batches)
    sampler_copies_large: float  # the same at 1024 rows and more (V1 samples large batches differently)
    moe_factor: float       # x topk x hidden x dtype bytes per batched token (up to MOE_TOKEN_CAP)
    constant_bytes: int     # workspaces independent of the batch
    mamba_factor: float = 0.0  # x Mamba in_proj width per rank x dtype bytes per batched token


def era_constants(era: str) -> EraConstants:
    """The fitted constants of a calibration era (planner-rules.json `eras` -> `constants`)."""
    names = rules_data.data()["eras"][era]

    def value(key: str) -> float:   # V0 has no fitted sampler copies (v0_sampler_sort_bytes)
        return rules_data.constant(names[key]) if key in names else 0.0

    return EraConstants(value("forward_factor"), value("sampler_copies"), value("sampler_copies_large"),
                        value("moe_factor"), rules_data.gib(names["constant_gib"]),
                        rules_data.constant("mamba_factor"))


SMALL_BATCH_ROWS, LARGE_BATCH_ROWS = 256, 1024
MOE_TOKEN_CAP = 8192  # fused-MoE workspaces stop growing once the kernel chunks the batch
ALL_REDUCES_PER_LAYER = 2  # after attention's o_proj and after the MLP / MoE


def cuda_context_bytes() -> int:
    """Outside vLLM's budget: the CUDA context, allocated before the memory snapshot."""
    return rules_data.gib("cuda_context_gib")


def nccl_capture_bytes() -> int:
    """Every NCCL collective captured into a CUDA graph keeps its own device-side resources
    (planner-rules.json `nccl_capture_mib`, from vLLM PR #2192's measurements)."""
    return int(rules_data.constant("nccl_capture_mib") * MIB)


def _dense_width(facts: ModelFacts) -> int:
    """The widest dense MLP: MoE layers run the shared expert densely; leading dense layers run
    the plain MLP."""
    if facts.moe is None:
        return facts.intermediate_size
    return max(facts.moe.shared_expert_intermediate_size, facts.intermediate_size if facts.moe.first_dense_layers else 0)


def activation_bytes(facts: ModelFacts, era: str, tp: int, batched_tokens: int, sampler_rows: int,
                     dtype_bytes: int, ep_replicas: int = 1, dequant_bytes: int = 0) -> int:
    """`ep_replicas` > 1 (expert parallelism over data-parallel replicas): the MoE layers
    gather every replica's batch before dispatching it to the experts. `dequant_bytes`: a
    weight the forward pass dequantizes on the fly (bnb_dequant_bytes)."""
    k = era_constants(era)
    dense_width = _dense_width(facts)
    forward = batched_tokens * dtype_bytes * (2 * dense_width // tp + facts.hidden_size) * k.forward_factor
    share = min(1.0, max(0.0, (sampler_rows - SMALL_BATCH_ROWS) / (LARGE_BATCH_ROWS - SMALL_BATCH_ROWS)))
    copies = k.sampler_copies + share * (k.sampler_copies_large - k.sampler_copies)
    sampler = sampler_rows * facts.vocab_size * 4 * copies
    moe = 0.0
    if facts.moe:
        moe = min(batched_tokens, MOE_TOKEN_CAP) * facts.moe.experts_per_token * facts.hidden_size * dtype_bytes \
            * k.moe_factor
    if facts.moe and ep_replicas > 1:
        moe += batched_tokens * ep_replicas * facts.hidden_size * dtype_bytes
    # Mamba mixers' prefill: the in_proj output and what the chunked scan derives from it (conv
    # output, per-chunk states) live through one layer's forward, per batched token.
    width = max((layer.mixer_width for layer in facts.layers), default=0)
    forward += batched_tokens * dtype_bytes * width / tp * k.mamba_factor
    forward += dequant_bytes
    if era == "v0":
        # V0's profile run (worker/model_runner.py _dummy_run) samples after the forward pass
        # has freed its intermediates: the peak is the larger of the two phases. While the
        # sampler sorts, the model's output hidden states are still held.
        held = batched_tokens * facts.hidden_size * dtype_bytes
        sort_phase = v0_sampler_sort_bytes(sampler_rows, facts.vocab_size, dtype_bytes) + held
        return int(max(forward + moe, sort_phase) + k.constant_bytes)
    return int(forward + sampler + moe + k.constant_bytes)


FULL_SORT_BELOW_ROWS = 128   # PyTorch sorts fewer rows as one flat sort of (value, row, index)


def v0_sampler_sort_bytes(rows: int, vocab: int, dtype_bytes: int) -> int:
    """Bytes live while V0's dummy sampler sorts its logits, the peak of its profile run.

    The dummy requests ask top_k = vocab - 1 and top_p 0.99, so the sampler
    (model_executor/layers/sampler.py) casts the logits to fp32 and sorts them
    (`_apply_top_k_top_p`: `logits.sort(dim=-1)`) while the model-dtype logits are still held
    by the model runner. PyTorch's CUDA sort (aten SortStable.cu) of `rows` rows of `vocab`
    fp32 values returns the sorted values and int64 indices and, per element, allocates:
    from 128 rows (and for one row) an int64 index input plus the radix sort's alternate key
    (fp32) and value (int64) buffers (cub's SortPairs without double buffering); for 2 to 127
    rows one flat sort of int2 (row, index) pairs, its copy, a keys output and the alternate
    key and int2 buffers."""
    per_item = dtype_bytes + (0 if dtype_bytes == 4 else 4) + 4 + 8   # logits, fp32 copy, sorted values, indices
    if 1 < rows < FULL_SORT_BELOW_ROWS:
        per_item += 8 + 8 + 4 + 4 + 8
    else:
        per_item += 8 + 4 + 8
    return rows * vocab * per_item


def bnb_dequant_bytes(facts: ModelFacts, tp: int, nested_absmax: bool) -> int:
    """bitsandbytes 4-bit linears on more than one token (every profile run): vLLM's
    `_apply_4bit_weight` calls bitsandbytes' `matmul_4bit` once per output shard, which
    dequantizes that shard to a 16-bit weight (`dequantize_4bit`) before the matmul; with a
    double-quantized absmax still nested (vLLM < 0.9.2 keeps the checkpoint's) it first
    decodes the fp32 absmax (one per 64 weights). A float16 checkpoint's shard is cast once
    more to the bfloat16 of the input. The largest shard per rank: an MLP projection
    (intermediate x hidden) or the query projection (heads x head_dim x hidden); the fused
    MoE experts take another path and are not counted here."""
    q = facts.quantization
    if q is None or q.method != "bitsandbytes" or q.bits != 4:
        return 0
    query = facts.num_attention_heads * facts.head_dim if facts.mla is None else 0
    elements = max(_dense_width(facts), query) * facts.hidden_size // tp
    copies = 2 if facts.dtype == "float16" else 1
    return elements * 2 * copies + (-(-elements // 64) * 4 if nested_absmax else 0)


@dataclass(frozen=True, slots=True)
class EncoderProfile:
    """What vLLM's profile run adds for a multimodal model: the dummy batch of `items` items of
    the maximum size through the vision (or audio) tower, and their embeddings kept in the encoder cache
    while the text dummy run follows."""

    budget_tokens: int    # "Encoder cache will be initialized with a budget of N tokens"
    items: int            # "... and profiled with K image items of the maximum feature size"
    forward_bytes: int    # the tower's activation peak for that batch
    cached_bytes: int     # the embeddings held through the text run
    modality: str = "image"   # the dummy items' modality ("... K video items ...")


# qwen2_vl.py `_MAX_FRAMES_PER_VIDEO` from 0.11.0 (16 before): the most frames of a dummy video.
MAX_FRAMES_PER_VIDEO = 14


def video_tokens(frame_tokens: int, frames_per_patch: int, seq_len: int, max_frames: int = MAX_FRAMES_PER_VIDEO,
                 videos: int = 1) -> int:
    """Embeddings of the largest dummy video a Qwen2/2.5-VL tower makes for `seq_len` tokens
    (qwen2_vl.py `get_num_frames_with_most_features`): the most frames whose tokens fit `seq_len`
    (none if one does not), shared by `videos` videos, at most `max_frames` and at least one per
    video. Frames are padded to a multiple of the tower's temporal patch, and each temporal patch
    of a maximum-size frame gives `frame_tokens` embeddings (as one image does)."""
    def tokens(frames: int) -> int:
        padded = frames + frames % frames_per_patch
        return max(padded // frames_per_patch, 1) * frame_tokens

    videos = max(videos, 1)
    total = 0   # frames beyond max_frames x videos change nothing
    while total < max_frames * videos and tokens(total + 1) <= seq_len:
        total += 1
    return tokens(max(1, min(total // videos, max_frames)))


# qwen3_vl.py `_MAX_FRAMES_PER_VIDEO` (0.11-0.14): the most frames of a Qwen3-VL dummy video.
QWEN3_MAX_FRAMES_PER_VIDEO = 24576


def qwen3_video_tokens(frames: int, side: int, max_pixels: int, factor: int, temporal: int) -> int:
    """Embeddings of a Qwen3-VL video of `frames` frames of a `side` x `side` image, as its video
    processor resizes it (transformers qwen3_vl video smart_resize, which vLLM calls): when the
    frames, rounded to the temporal patch, hold more than `max_pixels`, every frame shrinks by
    sqrt(frames x side^2 / max_pixels) to a multiple of `factor` (patch x merge, at least one);
    frames are padded to a multiple of `temporal`, each temporal patch giving (edge / factor)^2."""
    edge = side
    if round(frames / temporal) * temporal * side * side > max_pixels:
        beta = math.sqrt(frames * side * side / max_pixels)
        edge = max(factor, math.floor(side / beta / factor) * factor)
    padded = frames + frames % temporal
    return max(padded // temporal, 1) * (edge // factor) ** 2


@functools.lru_cache(maxsize=64)
def qwen3_context_video_tokens(seq_len: int, side: int, max_pixels: int, factor: int, temporal: int) -> int:
    """vLLM 0.11-0.14 (qwen3_vl.py get_num_frames_with_most_features, start 2 frames): the most
    frames, up to QWEN3_MAX_FRAMES_PER_VIDEO, before the next frame's video would exceed
    `seq_len`; the embeddings of that video."""
    frames = 2
    while frames < QWEN3_MAX_FRAMES_PER_VIDEO and \
            qwen3_video_tokens(frames + 1, side, max_pixels, factor, temporal) <= seq_len:
        frames += 1
    return qwen3_video_tokens(frames, side, max_pixels, factor, temporal)


def qwen3_video_item(enc: EncoderFacts, image_tokens: int, rule: str, token_factor: float,
                     max_model_len: int) -> tuple[int, int]:
    """(tokens per video item as the budget counts them, embeddings of the dummy video encoded)
    for a Qwen3-VL tower. `rule` "context" (0.11-0.14): the frames the context holds, of the
    largest image; the budget counts `token_factor` x its embeddings (12.5 in 0.11-0.12, for the
    timestamps each frame adds to the prompt). "two_frames" (0.16 on): two frames of an image of
    at most the video's pixels / temporal patch."""
    factor = math.isqrt(enc.pixels_per_token)
    side = max(factor, math.isqrt(image_tokens * enc.pixels_per_token) // factor * factor)
    if rule == "context":
        video = qwen3_context_video_tokens(max_model_len, side, enc.video_max_pixels, factor,
                                           enc.video_temporal_patch)
        return int(video * token_factor), video
    frame = max(factor, math.isqrt(enc.video_max_pixels // enc.video_temporal_patch) // factor * factor)
    video = qwen3_video_tokens(2, min(side, frame), enc.video_max_pixels, factor, enc.video_temporal_patch)
    return video, video


def encoder_profile(facts: ModelFacts, rules: ReleaseRules, tp: int, batched_tokens: int, max_num_seqs: int,
                    items_per_prompt: int, max_pixels: int | None, dtype_bytes: int, *, videos_per_prompt: int = 0,
                    max_model_len: int = 0, max_tiles: int | None = None) -> EncoderProfile | None:
    """vLLM's rules (v1/core/encoder_cache_manager.py, gpu_model_runner.profile_run): the encoder
    compute budget and cache size default to max_num_batched_tokens, and are at least one item of
    the maximum size; the batch holds cdiv(budget, tokens per item) items (`rules.mm_items_floor`, 0.10.0
    on: max(1, budget // tokens per item), at most max(1, min(limit, max_model_len // tokens per
    item)) per prompt), at most max_num_seqs x the per-prompt limit. The profiled modality is the
    one with the most tokens per item, sized at max_model_len; an image wins a tie.

    A Qwen2/2.5-VL tower takes videos (`videos_per_prompt` > 0, V1 releases: `rules.video_dummy_len`
    set): its largest video has the most frames that fit max_model_len (`rules.video_frames_from_context`,
    0.10.2 on) or what is left of it after one image (before; `items_per_prompt` 0: no image), at
    most `rules.video_max_frames`; 0.8.0-0.8.2 (`rules.video_room_by_limits`) leave out the per-prompt image
    limit's images and share the frames among the per-prompt videos, both in the budget and in the
    batch's dummy video. The dummy video actually encoded is built for the seq_len the release
    passes (`rules.video_dummy_len`): max_num_batched_tokens (0.8-0.9, 0.10.1-0.10.2), the item's own
    maximum (0.10.0) or max_model_len (0.11 on). A Qwen3-VL tower's video follows
    `rules.qwen3_video_rule` (qwen3_video_item). With images limited to 0 and no video rule, an
    image-sized item stands for the video (as before). `rules.mm_cache_pads_to_budget` (0.11.0): each
    cached output smaller than the budget is copied into a budget-sized zero tensor.

    The tower's forward is shaped like the decoder's (`forward_factor` x dtype x (2 x MLP width per
    rank + width) per tower token); the cached embeddings are items x tokens per item x the
    language model's hidden size."""
    enc = facts.encoder
    if enc is None or (items_per_prompt <= 0 and videos_per_prompt <= 0):
        return None
    video_from_context, video_dummy_len = rules.video_frames_from_context, rules.video_dummy_len
    max_video_frames, video_room_by_limits = rules.video_max_frames, rules.video_room_by_limits
    tokens = enc.tokens_per_item
    if max_pixels and enc.pixels_per_token:
        tokens = max(1, max_pixels // enc.pixels_per_token)
    if max_tiles and enc.tokens_per_tile:   # InternVL's max_dynamic_patch (+ the thumbnail tile)
        tokens = (max_tiles + (1 if enc.thumbnail and max_tiles > 1 else 0)) * enc.tokens_per_tile
    modality, limit, item_tokens, encoded = enc.modality, items_per_prompt, tokens, tokens
    if video_dummy_len and videos_per_prompt > 0 and enc.video_frames_per_patch:
        frames = enc.video_frames_per_patch
        if video_room_by_limits:
            images, videos = max(items_per_prompt, 0) * tokens, videos_per_prompt
        else:
            images, videos = (tokens if items_per_prompt > 0 and not video_from_context else 0), 1
        video = video_tokens(tokens, frames, max_model_len - images, max_video_frames, videos)
        if video > tokens or items_per_prompt <= 0:
            modality, limit, item_tokens = "video", videos_per_prompt, video
            batch = video_tokens(tokens, frames, batched_tokens - (images if video_room_by_limits else 0),
                                 max_video_frames, videos if video_room_by_limits else 1)
            encoded = {"batched_tokens": batch,
                       "model_len": video_tokens(tokens, frames, max_model_len, max_video_frames)}.get(
                video_dummy_len, video)
    elif rules.qwen3_video_rule and videos_per_prompt > 0 and enc.video_max_pixels and enc.pixels_per_token:
        video, dummy = qwen3_video_item(enc, tokens, rules.qwen3_video_rule, rules.qwen3_video_token_factor,
                                        max_model_len)
        if video > tokens or items_per_prompt <= 0:
            modality, limit, item_tokens, encoded = "video", videos_per_prompt, video, dummy
    budget = max(batched_tokens, item_tokens)
    if rules.mm_items_floor:
        per_prompt = max(1, min(limit, max_model_len // item_tokens))
        items = max(1, min(budget // item_tokens, max_num_seqs * per_prompt))
    else:
        items = min(-(-budget // item_tokens), max_num_seqs * max(limit, 1))
    patches = encoded * enc.patches_per_token
    # A tower with no split weights (Qwen2-Audio's, transformers' own modules) runs whole on each rank.
    split = tp if enc.sharded_bytes else 1
    if enc.pixels_per_patch:
        forward = items * patches * tower_patch_bytes(enc, split, dtype_bytes, rules.vision_qk_concat_rotary,
                                                             rules.vision_qk_fp32_rotary)
    else:   # a tower whose facts do not say its block's shape: the decoder's per-token rule
        forward = int(items * patches * dtype_bytes * (2 * enc.intermediate_size // split + enc.hidden_size)
                      * era_constants(rules.era).forward_factor)
    cached = items * (max(encoded, budget) if rules.mm_cache_pads_to_budget else encoded) * facts.hidden_size * dtype_bytes
    return EncoderProfile(budget, items, forward, cached, modality)


# The towers whose attention is qwen2_vl.py's Qwen2VisionAttention or qwen2_5_vl.py's
# Qwen2_5_VisionAttention (Qwen3-VL's blocks use the latter): the float32 q/k pair of 0.11.x.
QWEN_VISION_ATTENTION = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")


def tower_patch_bytes(enc: EncoderFacts, tp: int, dtype_bytes: int, qk_concat_rotary: bool = False,
                      qk_fp32_rotary: bool = False) -> int:
    """Bytes one tower patch keeps live at the peak of the encoder's forward, from the vision
    blocks as vLLM writes them (qwen2_vl.py / qwen2_5_vl.py, pixtral.py, mllama4.py, siglip.py),
    per rank:
    - the attention: the residual stream (width) and, split over TP, the fused qkv (3 x width)
      and the attention kernel's inputs and output (4 x); in the releases whose Qwen towers
      rotate q and k as one pair on a float32 copy (`qk_fp32_rotary`, 0.11.x), that copy and the
      float32 rotated output (4 x each, in model-dtype units) instead, plus the pair itself (2 x)
      where it is built by torch.cat: qwen2_vl.py in every such release, qwen2_5_vl.py (also
      Qwen3-VL's blocks) only where `qk_concat_rotary` (0.11.0; 0.11.1 views the fused qkv);
    - the MLP: the residual, the attention output, the fused norm's new residual and normed input
      (4 x width), and split over TP the gate/up output and its activation (3 x intermediate) or
      fc1's output and its activation (2 x);
    - the larger of the two, plus the dummy batch's pixels: the processor's float32 values and
      their model-dtype copy (channels x frames x patch^2 per patch, on every rank)."""
    h, i = enc.hidden_size, enc.intermediate_size
    qk = 4
    if enc.kind in QWEN_VISION_ATTENTION and qk_fp32_rotary:
        qk = (2 if qk_concat_rotary or enc.kind == "qwen2_vl" else 0) + 4 + 4
    attention = h + (3 + qk) * h // tp
    mlp = 4 * h + (3 if enc.gated_mlp else 2) * i // tp
    return max(attention, mlp) * dtype_bytes + enc.pixels_per_patch * (4 + dtype_bytes)


def non_torch_bytes(tp: int, pp: int, ep_replicas: int = 1, gpu: GpuFacts | None = None,
                    eager_nccl: bool = False) -> int:
    """What V0's and V1's profilers log as non_torch_memory: device memory that is not PyTorch's,
    from before the distributed set-up to after the profile run (cuBLAS handles, NCCL and custom
    all-reduce buffers). `ep_replicas`: data-parallel replicas that exchange tokens with this rank
    (expert parallelism over TP x DP); each is one more all-to-all peer. `eager_nccl`: releases
    whose bundled NCCL (<= 2.21) sets up all its channels when a communicator is created; on an
    NVLink fabric that adds `nccl_eager_nvlink_gib` at TP > 1, and on NVSwitch Hopper systems at
    TP > 2 the NVLink SHARP buffers of each communicator of the TP group (nvls_bytes)."""
    peers = tp * ep_replicas - 1 + (1 if pp > 1 else 0)
    total = rules_data.gib("non_torch_base_gib") + rules_data.gib("non_torch_per_extra_rank_gib") * peers
    if eager_nccl and gpu is not None and tp > 1 and gpu.interconnect == "nvlink":
        total += rules_data.gib("nccl_eager_nvlink_gib") + nvls_bytes(gpu, tp)
    return total


def nvls_capable(gpu: GpuFacts) -> bool:
    """NVLink SHARP needs NVSwitch multicast: Hopper and later NVIDIA parts on an NVLink
    baseboard (not the two-GPU NVL bridge cards, not a lone Grace-Hopper superchip)."""
    bridged = "NVL" in gpu.name.split("-") or gpu.name.startswith("GH200")
    return gpu.vendor == "nvidia" and gpu.compute_capability >= (9, 0) and gpu.interconnect == "nvlink" and not bridged


def nvls_bytes(gpu: GpuFacts, tp: int) -> int:
    """NCCL enables NVLS only above 2 GPUs (vLLM issue #9699); each communicator over the TP
    ranks then holds nvls_mib_per_rank x ranks (its nvlsTotalSize)."""
    if tp <= 2 or not nvls_capable(gpu):
        return 0
    return int(rules_data.constant("nvls_communicators") * rules_data.constant("nvls_mib_per_rank") * MIB) * tp


def capture_sizes(max_num_seqs: int, era: str = "v1c", max_num_batched_tokens: int | None = None) -> list[int]:
    """vLLM's default CUDA-graph capture sizes for the release era.

    V0 captures decode graphs for [1, 2, 4, 8, 16, ...] up to the first size covering
    `max_num_seqs`; V1 up to 0.10 captures [1, 2, 4] + multiples of 8 up to 512 whatever
    `max_num_seqs` is (only sizes above `max_num_batched_tokens` are dropped); from ≈0.11 the
    largest size is min(2 x max_num_seqs, 512) with steps of 16 above 256."""
    if era == "v0":
        possible = [1, 2, 4] + list(range(8, 8193, 8))
        cap = next((s for s in possible if s >= max_num_seqs), possible[-1])
        return [s for s in possible if s <= cap]
    if era == "v1a":
        sizes = [1, 2, 4] + list(range(8, 513, 8))
    else:
        limit = min(2 * max_num_seqs, 512)
        sizes = [s for s in [1, 2, 4] + list(range(8, 256, 8)) + list(range(256, 513, 16)) if s <= limit]
    return [s for s in sizes if max_num_batched_tokens is None or s <= max_num_batched_tokens]


def custom_all_reduce(gpu: GpuFacts, tp: int) -> bool:
    """Whether vLLM's custom all-reduce replaces NCCL inside CUDA graphs: it needs a fully
    connected fabric (NVLink / Infinity Fabric) beyond two GPUs; two PCIe GPUs with P2P qualify."""
    return tp == 2 or gpu.interconnect in ("nvlink", "infinity-fabric")


def nccl_in_graphs(gpu: GpuFacts, tp: int, graphs_in_budget: bool) -> bool:
    """Whether captured NCCL all-reduces are charged per capture: at TP > 1 without custom
    all-reduce, in the releases that capture graphs after sizing the KV cache (V0 measurements
    in PR #2192; the 4 x A10 V1 0.8.5 start-up). From 0.21 vLLM measures graph memory itself and
    the planner's graph term follows those estimates, which have no TP > 2 PCIe calibration."""
    return tp > 1 and not graphs_in_budget and not custom_all_reduce(gpu, tp)


def cuda_graph_bytes(layers_on_rank: int, max_num_seqs: int, enforce_eager: bool, *, era: str = "v1c",
                     max_num_batched_tokens: int | None = None, nccl_in_graphs: bool = False) -> int:
    """CUDA-graph memory of one rank: a shared pool, a little per graph and layer, and the
    resources of every NCCL all-reduce captured into the graphs (TP > 1 without custom
    all-reduce)."""
    if enforce_eager:
        return 0
    sizes = len(capture_sizes(max_num_seqs, era, max_num_batched_tokens))
    graphs = rules_data.gib("graph_base_gib") + rules_data.gib("graph_per_size_per_40_layers_gib") * sizes * layers_on_rank / 40
    if nccl_in_graphs:
        graphs += nccl_capture_bytes() * ALL_REDUCES_PER_LAYER * layers_on_rank * sizes
    return int(graphs)


def outside_budget_bytes(cuda_graphs: int, graphs_in_budget: bool, other_tenants: int = 0) -> int:
    """What must fit in total x (1 - utilization): the CUDA context (created before vLLM's
    snapshot), other tenants' memory, and the CUDA graphs when the release captures them after
    sizing the KV cache (everything before 0.21)."""
    return cuda_context_bytes() + other_tenants + (0 if graphs_in_budget else cuda_graphs)
