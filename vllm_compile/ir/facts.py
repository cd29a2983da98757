"""What the resolve stage knows about the model and the GPUs, normalised and frozen.

`ModelFacts` is built from any supported Hugging Face `config.json` (local folder, lock file,
HF cache or the bundled catalog); the planner never reads a config itself. Weight bytes are
already laid out the way vLLM loads them (quantized linears packed, embeddings/norms/routers
16-bit), split into the parts that TP shards, replicates, or spreads across experts, so the
planner only has to divide them by the parallel layout.
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass
from typing import Literal

AttentionKind = Literal["full", "sliding", "chunked", "mla", "mamba", "none"]


@dataclass(frozen=True, slots=True)
class LayerFacts:
    """One decoder layer."""

    index: int
    attention: AttentionKind
    # Sliding-window size or chunk size (tokens) for "sliding"/"chunked"; else None.
    window: int | None = None
    # KV heads and head sizes of this layer's cache (0 for "none"/"mamba"); MLA: 1 head of
    # kv_lora_rank + qk_rope_head_dim with head_size_v == 0 (one latent, no separate V).
    kv_heads: int = 0
    head_size: int = 0
    head_size_v: int = 0
    # Constant per-sequence state bytes of a layer with a recurrent mixer (conv + ssm), else 0.
    state_bytes: int = 0
    # "mamba" layers (Mamba, gated delta-net): state elements per sequence before the TP split,
    # the conv state in the model dtype, the SSM / recurrent state in fp32 when the config says so.
    conv_state: int = 0
    ssm_state: int = 0
    ssm_state_fp32: bool = False
    # Mamba2 mixers: the B/C groups (`n_groups`), which vLLM replicates so that every TP rank
    # holds the groups of its heads when `n_groups % tp` is not 0, and the conv-state elements
    # one group adds ((conv kernel - 1) x 2 x d_state). 0 for gated delta-net and Mamba1.
    ssm_groups: int = 0
    conv_group_state: int = 0
    # Mamba2: the weight bytes one B/C group adds to a rank (its in_proj rows, conv channels and
    # conv bias): a rank holding a replicated group holds these whole, not split by TP.
    group_weight_bytes: int = 0
    ssm_heads: int = 0             # Mamba2 / KDA heads: vLLM's mixer needs TP to divide them
    mixer_width: int = 0           # Mamba mixers: output features of in_proj (column-parallel), before TP
    # The recurrent mixer of a layer that holds a state: "gated_delta_net" | "mamba1" | "mamba2" | "kda".
    # A Falcon-H1 layer runs attention and a Mamba2 mixer side by side: `attention` is "full" and
    # the state fields are set too.
    mixer: str = ""
    is_moe: bool = False
    # Bytes as loaded, before any parallel split.
    sharded_bytes: int = 0      # column/row-parallel linears: divided by TP
    replicated_bytes: int = 0   # norms, routers, row-parallel biases, MLA down-projections: on every TP rank
    expert_bytes: int = 0       # routed experts (all of them): split by TP (each expert) or by EP (whole experts)
    parameters: int = 0
    # bitsandbytes double quantization: the bytes the uint8 absmax grows by when vLLM
    # dequantizes it to fp32 at load (releases >= 0.9.2): (sharded, replicated, expert) parts.
    absmax_growth: tuple[int, int, int] = (0, 0, 0)
    # Sparse MLA (DeepSeek-V3.2): bytes per token of the layer's lightning-indexer key cache,
    # beside its latent (fp8 key of index_head_dim + one fp32 scale per 128); 0 without one.
    index_key_bytes: int = 0


@dataclass(frozen=True, slots=True)
class MlaFacts:
    kv_lora_rank: int
    qk_rope_head_dim: int
    qk_nope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None
    # DeepSeek Sparse Attention (`index_topk` in the config): each query attends to the top
    # `index_topk` tokens a lightning indexer of `index_n_heads` x `index_head_dim` picks. 0: dense MLA.
    index_topk: int = 0
    index_n_heads: int = 0
    index_head_dim: int = 0

    @property
    def sparse(self) -> bool:
        return self.index_topk > 0


@dataclass(frozen=True, slots=True)
class MoeFacts:
    num_experts: int
    experts_per_token: int
    expert_intermediate_size: int
    shared_expert_intermediate_size: int  # 0 when there is none
    first_dense_layers: int               # dense layers before the first MoE layer
    moe_layer_count: int
    # Gated experts (gate and up, SiLU and the like) or one up projection (Nemotron-H's squared
    # ReLU): vLLM's fused MoE stores w13 with 2 x or 1 x the intermediate rows.
    gated: bool = True


@dataclass(frozen=True, slots=True)
class EncoderFacts:
    """A multimodal model's vision tower and projector (counted from `vision_config`)."""

    kind: str                      # row of the vision-tower table (resolve/models/vision.py)
    modality: str                  # the modality vLLM profiles with: the one with the most tokens per item
    parameters: int
    sharded_bytes: int             # column/row-parallel linears and their column biases: divided by TP
    replicated_bytes: int          # patch embedding, position table, norms, row-parallel biases: on every rank
    hidden_size: int               # the tower's width
    intermediate_size: int         # its MLP width
    num_layers: int
    patches_per_item: int          # tokens the tower runs for one item of the maximum size
    tokens_per_item: int           # embeddings one such item places in the prompt (the encoder-cache unit)
    pixels_per_token: int = 0      # pixels behind one embedding where the item size follows max_pixels (Qwen); else 0
    patches_per_token: int = 1     # tower tokens merged into one embedding
    # Part of sharded_bytes that vLLM splits over TP only when TP divides `split_heads` (InternViT's
    # qkv/proj; otherwise an unsplit attention on every rank); 0 when the split does not depend on TP.
    head_split_bytes: int = 0
    split_heads: int = 0
    # Part of sharded_bytes that is a column-parallel projector which older releases build as a
    # plain linear on every rank (Llama-3.2-Vision's multi_modal_projector before vLLM 0.6.4: the
    # release rule `mllama_projector_parallel`); 0 when every release splits it the same way.
    projector_bytes: int = 0
    # The language model reads the item's tokens through cross-attention layers that cache them
    # per sequence (Llama-3.2-Vision), rather than as embeddings placed in the prompt.
    cross_attention: bool = False
    # Tiled items (InternVL): embeddings per tile, and whether a thumbnail tile joins a multi-tile
    # image; `--mm-processor-kwargs` max_dynamic_patch then sets the tile count. 0: not tiled.
    tokens_per_tile: int = 0
    thumbnail: bool = False
    # Frames one tower patch spans (the Conv3d `temporal_patch_size`) where vLLM sizes the profile
    # run's dummy video by qwen2_vl.py's frame rule (Qwen2-VL, Qwen2.5-VL); 0: not modelled.
    video_frames_per_patch: int = 0
    # Qwen3-VL's video processor (Qwen3-VL, Qwen3.5, Qwen3.6): the most pixels of a whole video
    # (its `size.longest_edge`, over all frames) and the frames of one temporal patch; 0: none.
    video_max_pixels: int = 0
    video_temporal_patch: int = 0
    # What the profile run's forward keeps live per tower patch (plan/overheads.py encoder_profile):
    # input values per patch (channels x frames x patch^2; the processor's float32 pixels and their
    # model-dtype copy), a gated MLP (gate and up) and 2D rotary positions applied to q and k in float32.
    pixels_per_patch: int = 0
    gated_mlp: bool = False
    rotary: bool = False
    audio_parameters: int = 0      # of `parameters`, an audio tower's beside the vision tower (Qwen2.5-Omni)


@dataclass(frozen=True, slots=True)
class QuantFacts:
    method: str                    # vLLM's name: awq, gptq, fp8, mxfp4, bitsandbytes, compressed-tensors, modelopt, …
    bits: int | None = None        # weight bits of quantized linears
    group_size: int | None = None  # -1 / None = per channel
    desc_act: bool = False
    weight_block_size: tuple[int, int] | None = None  # FP8 block scales, e.g. (128, 128)
    activation_scheme: str | None = None
    excluded_modules: tuple[str, ...] = ()
    # Checkpoint-quantized (True) or quantized at load from a 16-bit checkpoint (False).
    prequantized: bool = True


@dataclass(frozen=True, slots=True)
class ModelFacts:
    model_id: str
    model_type: str
    architecture: str
    source: str                    # "path:<dir>", "lock", "hf-cache", "catalog", "spec"
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    num_kv_heads: int              # total, before TP
    head_dim: int                  # per-head size of the KV cache (MLA: kv_lora_rank + qk_rope_head_dim)
    intermediate_size: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int   # the derived max model length vLLM would use (rope scaling applied)
    dtype: str                     # checkpoint dtype: bfloat16 | float16 | float32
    layers: tuple[LayerFacts, ...]
    parameters: int                # exact parameter count
    weight_bytes: int              # whole model, as vLLM loads it (no parallelism)
    # Embedding and (untied or copied) lm_head: one row = hidden_size elements at 16 bits unless quantized.
    embedding_bytes_per_row: int
    lm_head_bytes_per_row: int
    final_norm_bytes: int
    mla: MlaFacts | None = None
    moe: MoeFacts | None = None
    quantization: QuantFacts | None = None
    rope_scaling: tuple[tuple[str, str], ...] = ()
    multimodal: bool = False
    # The vision tower + projector when the model has one the resolver counts (their bytes and
    # parameters are included in `parameters` / `weight_bytes` above).
    encoder: EncoderFacts | None = None
    gated: bool = False
    # True when weight_bytes came from safetensors headers rather than the computed layout.
    weights_from_headers: bool = False
    revision: str | None = None
    warnings: tuple[str, ...] = ()
    # The same model's quantized checkpoints the catalog knows (fewer bytes per weight): the
    # planner offers one that starts when these weights do not fit.
    lighter_variants: tuple[ModelFacts, ...] = ()
    # Multi-token-prediction layers of the checkpoint (DeepSeek `num_nextn_predict_layers`,
    # Qwen3-Next/3.5 `mtp_num_hidden_layers`): loaded only for speculative decoding by MTP;
    # not in `parameters` / `weight_bytes`.
    mtp_layers: tuple[LayerFacts, ...] = ()
    # EAGLE-3 heads: the size of their own output vocabulary (`draft_vocab_size`).
    draft_vocab_size: int | None = None
    # The EAGLE head or draft model that engine.extra_args' --speculative-config names, resolved
    # by the resolve pass like the target (compile); None without one.
    speculative_draft: ModelFacts | None = None
    # LoRA adapters served on top of the model (model.lora_adapters), in the spec's order.
    lora_adapters: tuple[LoraAdapterFacts, ...] = ()
    # The config names no length key (pure Mamba checkpoints): vLLM then assumes 2048 tokens as
    # the default but takes any --max-model-len as given (`_get_and_verify_max_len`).
    max_len_assumed: bool = False

    def recurrent_layers(self) -> int:
        """Layers that keep a state per sequence (Mamba, gated delta-net, Falcon-H1's parallel mixer)."""
        return sum(1 for layer in self.layers if layer.mixer)

    def attention_kinds(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for layer in self.layers:
            counts[layer.attention] = counts.get(layer.attention, 0) + 1
        return dict(sorted(counts.items()))


@dataclass(frozen=True, slots=True)
class SpeculativeFacts:
    """`--speculative-config` (or the older `--speculative-model` flags), resolved."""

    method: str                     # eagle | eagle3 | mtp | draft_model | ngram | suffix, or what was given
    num_speculative_tokens: int
    draft: ModelFacts | None = None  # the EAGLE head or draft model, resolved like the target
    given_method: str | None = None  # as written (e.g. deepseek_mtp, qwen3_next_mtp), for messages


@dataclass(frozen=True, slots=True)
class LoraAdapterFacts:
    """One LoRA adapter, as its adapter_config.json describes it."""

    name: str                      # the model name clients request it by
    rank: int                      # `r` of adapter_config.json
    source: str                    # "path:<spec path>" | "hf-cache:<repo id>@<commit>"
    repo_id: str | None = None     # served by repo id (vLLM downloads it at start-up)


@dataclass(frozen=True, slots=True)
class GpuFacts:
    name: str                      # catalog name, e.g. "H100-SXM-80GB"
    memory_bytes: int              # total as the driver reports it (cudaMemGetInfo / NVML)
    compute_capability: tuple[int, int]
    bf16: bool
    fp8: bool
    vendor: Literal["nvidia", "amd"] = "nvidia"
    bandwidth_gbps: float = 0.0
    interconnect: str = "pcie"     # "nvlink" | "pcie" | "infinity-fabric"
    aliases: tuple[str, ...] = ()
    nvidia_smi_names: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HostGpu:
    """One physical GPU of the host, as declared or detected."""

    index: int
    gpu: GpuFacts
    uuid: str | None = None


@dataclass(frozen=True, slots=True)
class HardwareFacts:
    gpus: tuple[HostGpu, ...]
    detected: bool = False
    driver_version: str | None = None
    warnings: tuple[str, ...] = ()

    @property
    def gpu(self) -> GpuFacts:
        return self.gpus[0].gpu
