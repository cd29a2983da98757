"""Vision towers and projectors of multimodal models, counted from `vision_config`.

Each tower family is a row of `TOWERS` (how its blocks are built, which linears TP shards, how
large one item at the maximum size is); `encoder_facts` reads the row and the config. Tensors
are tagged like the decoder's (families.Tensor): column-parallel linears and their biases are
sharded, row-parallel biases, norms, patch embeddings and position tables replicated, as vLLM's
vision modules build them with the default `mm_encoder_tp_mode` ("weights"); SigLIP's position
table is vocabulary-parallel there, so it is split too.

Sources (structure, facts only): vLLM vllm/model_executor/models/qwen2_vl.py, qwen2_5_vl.py,
qwen3_vl.py, siglip.py, gemma3_mm.py, mllama4.py, pixtral.py, mistral3.py, llava.py, intern_vit.py,
internvl.py, nvlm_d.py and mllama.py; the Hugging Face image processors' default maximum
sizes (Qwen2-VL/2.5-VL `max_pixels` 12845056; Qwen3-VL/3.5 `longest_edge` 16777216 pixels, and 25165824
for a whole video),
which vLLM's Qwen processors take as the largest dummy image of the profile run. Each merged
token covers (patch x spatial_merge)^2 pixels: 16384 tokens per image for both, as vLLM logs
("Encoder cache will be initialized with a budget of 16384 tokens, and profiled with 1 image
items of the maximum feature size").
"""
from __future__ import annotations

from vllm_compile.fastclass import dataclass

from vllm_compile.ir.facts import EncoderFacts

from .config import LIMITS, Config, FactsError
from .families import Tensor


@dataclass(frozen=True, slots=True)
class Tower:
    width: str                 # config key of the tower's width
    depth: str                 # config key of its block count
    gated_mlp: bool            # gate/up/down (Qwen2.5-VL) or fc1/fc2
    layer_norm: bool           # LayerNorm (weight + bias) rather than RMSNorm (weight)
    patch_bias: bool           # the patch-embedding convolution has a bias
    temporal: bool             # a Conv3d over `temporal_patch_size` frames (Qwen)
    positions: str             # none | table (num_position_embeddings) | grid (image_size / patch_size)^2
    post_norm: bool            # a norm after the last block (SigLIP post_layernorm)
    projector: str             # qwen_merger | gemma3
    max_pixels: int = 0        # largest image the processor makes (Qwen); 0: fixed image_size
    default_patch: int = 14
    rotary: bool = False       # 2D rotary positions on q/k, in float32 (the Qwen towers); SigLIP: a table
    # The profile run's dummy video follows qwen2_vl.py's frame rule (Qwen2-VL, Qwen2.5-VL): from 0.10.2 it
    # fills the context and can outgrow an image. Qwen3-VL's processor sizes its videos by `video_max_pixels`.
    video_from_context: bool = False
    # Qwen3-VL's video processor bounds a whole video's pixels (video_preprocessor_config.json
    # `size.longest_edge`, 25165824 in the Qwen3-VL / Qwen3.5 / Qwen3.6 checkpoints and transformers'
    # Qwen3VLVideoProcessor as they load it); vLLM sizes the dummy video by it (plan/overheads.py).
    video_max_pixels: int = 0


TOWERS: dict[str, Tower] = {
    "qwen2_vl": Tower(width="embed_dim", depth="depth", gated_mlp=False, layer_norm=True, patch_bias=False,
                      temporal=True, positions="none", post_norm=False, projector="qwen_merger", max_pixels=12845056,
                      rotary=True, video_from_context=True),
    "qwen2_5_vl": Tower(width="hidden_size", depth="depth", gated_mlp=True, layer_norm=False, patch_bias=False,
                        temporal=True, positions="none", post_norm=False, projector="qwen_merger", max_pixels=12845056,
                        rotary=True, video_from_context=True),
    "qwen3_vl": Tower(width="hidden_size", depth="depth", gated_mlp=False, layer_norm=True, patch_bias=True,
                      temporal=True, positions="table", post_norm=False, projector="qwen_merger",
                      max_pixels=16777216, default_patch=16, rotary=True, video_max_pixels=25165824),
    "gemma3": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=True, patch_bias=True,
                    temporal=False, positions="grid", post_norm=True, projector="gemma3"),
    # Llama 4 (vLLM mllama4.py): an unfolding linear patch embedding without bias, a class token
    # and (tiles + 1) positions, pre/post LayerNorms, pixel-shuffle adapter MLP, one projection.
    "llama4": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=True, patch_bias=False,
                    temporal=False, positions="grid", post_norm=True, projector="llama4"),
    # Pixtral (vLLM pixtral.py PixtralHFVisionModel): a patch Conv2d without bias, ln_pre RMSNorm,
    # 2D rotary positions (a buffer, no table), per block attention/ffn RMSNorms, bias-free
    # qkv/o and gated SiLU MLP, no post norm. Mistral 3 (mistral3.py) projects through an RMSNorm,
    # a spatial patch merger and linear_1/linear_2; LLaVA (llava.py, pixtral-12b) through the two
    # linears alone. Both count only the blocks up to `vision_feature_layer`.
    "mistral3": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=True, layer_norm=False,
                      patch_bias=False, temporal=False, positions="none", post_norm=False, projector="mistral3",
                      default_patch=16),
    "llava_pixtral": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=True, layer_norm=False,
                           patch_bias=False, temporal=False, positions="none", post_norm=False, projector="llava",
                           default_patch=16),
    # InternViT (vLLM intern_vit.py, internvl.py, nvlm_d.py): a patch Conv2d with bias, a class
    # token and a (grid + 1) position table, per block norm1/norm2 (LayerNorm or RMSNorm per
    # `norm_type`), fused qkv (bias per `qkv_bias`), q/k RMSNorms over all heads when
    # `qk_normalization`, proj, fc1/fc2 with biases and the layer scales ls1/ls2; blocks only up
    # to `select_layer`. InternVL projects the pixel-shuffled features through `mlp1` (LayerNorm,
    # Linear, GELU, Linear, all replicated); NVLM-D's mlp1 goes through the LLM's intermediate width.
    "internvl": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=True,
                      patch_bias=True, temporal=False, positions="grid", post_norm=False, projector="internvl"),
    # The Hugging Face layout of InternVL (`internvl`, InternVLForConditionalGeneration), which
    # vLLM serves with interns1.py / interns1_vit.py: the same tower with an unsplit attention
    # (q/k/v/projection_layer are plain linears) and multi_modal_projector in place of mlp1.
    "internvl_hf": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=True,
                         patch_bias=True, temporal=False, positions="grid", post_norm=False, projector="internvl_hf"),
    "nvlm_d": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=False,
                    patch_bias=True, temporal=False, positions="grid", post_norm=False, projector="nvlm_d"),
    # Llama-3.2-Vision (vLLM mllama.py MllamaVisionModel): a bias-free patch embedding, class
    # token, gated position and tile embeddings, local blocks then gated global blocks, one
    # projector from the concatenated intermediate features (`vision_output_dim`).
    "mllama": Tower(width="hidden_size", depth="num_hidden_layers", gated_mlp=False, layer_norm=True,
                    patch_bias=False, temporal=False, positions="grid", post_norm=True, projector="mllama"),
}
# Top-level model_type -> tower row.
TOWER_OF = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl", "qwen3_vl_moe": "qwen3_vl",
            "qwen3_5": "qwen3_vl", "qwen3_5_moe": "qwen3_vl", "gemma3": "gemma3", "llama4": "llama4",
            "mistral3": "mistral3", "llava": "llava_pixtral", "internvl_chat": "internvl", "NVLM_D": "nvlm_d", "internvl": "internvl_hf",
            "mllama": "mllama"}
# Rows whose tower must be the one named by vision_config.model_type (LLaVA wraps CLIP/SigLIP too).
TOWER_VISION = {"mistral3": "pixtral", "llava_pixtral": "pixtral", "internvl": "intern_vit_6b",
                "nvlm_d": "intern_vit_6b", "internvl_hf": "internvl_vision", "mllama": "mllama_vision_model"}
# vLLM's NVLM-D pads InternViT-6B's 25 heads with 7 dummy heads (32) so that TP 2/4/8 divide them;
# InternVL itself adds none. Read in the wheels 0.6.3 - 0.12.0, 0.15.0 and 0.33.0: nvlm_d.py's
# _init_vision_model passes `num_dummy_heads=7` to InternVisionModel (internvl.py passes none), and
# intern_vit.py's attention sizes with (heads + dummy) x head_dim: the qkv rows (and qkv bias),
# the q_norm / k_norm weights and the proj input columns; proj's output, its bias and the MLP keep
# the tower's width.
DUMMY_HEADS = {"nvlm_d": 7}
# Llama 4's image processor splits an image into at most `max_patches` tiles of image_size
# (transformers Llama4ImageProcessor default and the released checkpoints' preprocessor_config:
# 16); vLLM profiles with the image of the most features, 16 tiles high and one wide, which the
# processor sends as those 16 tiles plus one global tile (Mllama4ProcessingInfo).
LLAMA4_MAX_TILES = 16


def _v(name: str, n: int, part: str = "replicated") -> Tensor:
    return Tensor(name, n, 0, part)


def _norm(name: str, n: int, layer_norm: bool) -> list[Tensor]:
    return [_v(name, n)] + ([_v(name + ".bias", n)] if layer_norm else [])


def _linear(name: str, rows: int, cols: int, *, bias: bool, row_parallel: bool = False) -> list[Tensor]:
    out = [Tensor(name, rows, cols)]
    if bias:   # a column-parallel bias follows its rows; a row-parallel one is added whole on every rank
        out.append(_v(name + ".bias", rows, "replicated" if row_parallel else "sharded"))
    return out


def _fc_mlp(prefix: str, width: int, inter: int) -> list[Tensor]:
    """fc1 (column-parallel) and fc2 (row-parallel), both with biases: the ViT MLP."""
    return (_linear(prefix + "fc1", inter, width, bias=True)
            + _linear(prefix + "fc2", width, inter, bias=True, row_parallel=True))


def _vit_block(prefix: str, width: int, inter: int, *, attn_bias: bool) -> list[Tensor]:
    """One block of the Llama 4 and mllama towers as vLLM names it: fused qkv and o projections
    (biases as `attn_bias`), the fc MLP, LayerNorms before the attention and the MLP."""
    return (_linear(prefix + "self_attn.qkv_proj", 3 * width, width, bias=attn_bias)
            + _linear(prefix + "self_attn.o_proj", width, width, bias=attn_bias, row_parallel=True)
            + _fc_mlp(prefix + "mlp.", width, inter)
            + _norm(prefix + "input_layernorm", width, True) + _norm(prefix + "post_attention_layernorm", width, True))


def encoder_facts(top: Config, model_type: str, text_hidden: int, elem: int) -> tuple[EncoderFacts | None, str | None]:
    """(facts, None) for a tower the table knows; (None, warning) for a vision/audio config it
    does not; (None, None) for a text-only model."""
    vision = top.dict("vision_config")
    if vision is None:
        if not top.has("audio_config"):
            return None, None
        from .audio import audio_encoder_facts   # the audio towers' table (audio.py)

        return audio_encoder_facts(top, model_type, text_hidden, elem)
    kind = TOWER_OF.get(model_type)
    if kind is None and top.has("audio_config"):
        from .audio import AUDIO_TOWERS, audio_encoder_facts   # vision and audio towers (Qwen2.5-Omni)

        if model_type in AUDIO_TOWERS:
            return audio_encoder_facts(top, model_type, text_hidden, elem)
    if kind is None:
        return None, (f"multimodal model {model_type!r}: its vision tower is not in the table of towers, so only the "
                      "language model is counted; the vision encoder weights and its profile run come on top")
    row = TOWERS[kind]
    v = Config(vision, where=".vision_config")
    if kind in TOWER_VISION and v.str("model_type") != TOWER_VISION[kind]:
        return None, (f"multimodal model {model_type!r} with a {v.str('model_type')!r} vision tower: not in the table "
                      "of towers, so only the language model is counted; the vision encoder weights and its "
                      "profile run come on top")
    if row.projector == "llama4":
        return _llama4(v, text_hidden, elem), None
    if row.projector in ("mistral3", "llava"):
        return _pixtral(top, v, row.projector, text_hidden, elem)
    if row.projector == "mllama":
        return _mllama(v, text_hidden, elem), None
    if row.projector in ("internvl", "nvlm_d", "internvl_hf"):
        return _internvit(top, v, kind, text_hidden, elem), None
    width = v.int(row.width, limit=LIMITS["hidden_size"], aliases=(row.width,))
    depth = v.int(row.depth, limit=LIMITS["num_hidden_layers"], aliases=(row.depth,))
    if v.has("intermediate_size"):
        inter = v.int("intermediate_size", limit=LIMITS["intermediate_size"], aliases=("intermediate_size",))
    else:
        ratio = v.raw("mlp_ratio", 4)
        inter = int(width * v.number("mlp_ratio", ratio))
    patch = v.int("patch_size", row.default_patch, limit=4096, aliases=("patch_size", "spatial_patch_size"))
    channels = v.int("in_channels", 3, limit=16, aliases=("in_channels", "num_channels"))
    temporal = v.int("temporal_patch_size", 2, limit=64) if row.temporal else 1
    layer_norm = row.layer_norm
    tensors: list[Tensor] = [Tensor("visual.patch_embed", width, channels * temporal * patch * patch, "replicated",
                                    quantizable=False)]
    if row.patch_bias:
        tensors.append(_v("visual.patch_embed.bias", width))
    image = 0
    if row.positions == "table":
        tensors.append(Tensor("visual.pos_embed", v.int("num_position_embeddings", limit=LIMITS["positions"]), width,
                              "replicated", quantizable=False))
    elif row.positions == "grid":
        image = v.int("image_size", limit=1 << 16)
        # SigLIP's position table is a VocabParallelEmbedding in vLLM (siglip.py): split over TP.
        tensors.append(Tensor("visual.position_embedding", (image // patch) ** 2, width, quantizable=False))
    for i in range(depth):
        p = f"visual.blocks.{i}."
        tensors += _norm(p + "norm1", width, layer_norm) + _norm(p + "norm2", width, layer_norm)
        tensors += _linear(p + "attn.qkv", 3 * width, width, bias=True)
        tensors += _linear(p + "attn.proj", width, width, bias=True, row_parallel=True)
        if row.gated_mlp:
            tensors += _linear(p + "mlp.gate_proj", inter, width, bias=True) + \
                _linear(p + "mlp.up_proj", inter, width, bias=True)
        else:
            tensors += _linear(p + "mlp.fc1", inter, width, bias=True)
        tensors += _linear(p + "mlp.down_proj", width, inter, bias=True, row_parallel=True)
    if row.post_norm:
        tensors += _norm("visual.post_layernorm", width, layer_norm)
    merge = 1
    if row.projector == "qwen_merger":
        merge = v.int("spatial_merge_size", 2, limit=64)
        out = v.int("out_hidden_size", text_hidden, limit=LIMITS["hidden_size"])
        merged = width * merge * merge
        tensors += _norm("visual.merger.ln_q", width, layer_norm)
        tensors += _linear("visual.merger.mlp.0", merged, merged, bias=True)
        tensors += _linear("visual.merger.mlp.2", out, merged, bias=True, row_parallel=True)
        for j, _ in enumerate(v.list("deepstack_visual_indexes") or []):
            q = f"visual.deepstack_merger_list.{j}."
            tensors += _norm(q + "norm", merged, layer_norm)     # after the spatial shuffle: over the merged width
            tensors += _linear(q + "linear_fc1", merged, merged, bias=True)
            tensors += _linear(q + "linear_fc2", out, merged, bias=True, row_parallel=True)
    else:   # Gemma 3: an RMSNorm and one projection matrix, both replicated
        tensors += [_v("multi_modal_projector.mm_soft_emb_norm", width),
                    Tensor("multi_modal_projector.mm_input_projection", text_hidden, width, "replicated",
                           quantizable=False)]
    if row.max_pixels:
        tokens = row.max_pixels // (patch * merge) ** 2
        patches = tokens * merge * merge
    else:
        patches = (image // patch) ** 2
        tokens = top.int("mm_tokens_per_image", patches, limit=LIMITS["positions"])
    if tokens <= 0:
        raise FactsError("vision_config gives an image of no tokens", key="vision_config")
    sharded = sum(t.parameters * elem for t in tensors if t.part == "sharded")
    replicated = sum(t.parameters * elem for t in tensors if t.part != "sharded")
    return EncoderFacts(kind=kind, modality="image", parameters=sum(t.parameters for t in tensors),
                        sharded_bytes=sharded, replicated_bytes=replicated, hidden_size=width,
                        intermediate_size=inter, num_layers=depth, patches_per_item=patches,
                        tokens_per_item=tokens, pixels_per_token=(patch * merge) ** 2 if row.max_pixels else 0,
                        patches_per_token=merge * merge if row.max_pixels else max(1, patches // tokens),
                        video_frames_per_patch=temporal if row.video_from_context else 0,
                        video_max_pixels=row.video_max_pixels, video_temporal_patch=temporal if row.video_max_pixels else 0,
                        pixels_per_patch=channels * temporal * patch * patch, gated_mlp=row.gated_mlp,
                        rotary=row.rotary), None


def _llama4(v: Config, text_hidden: int, elem: int) -> EncoderFacts:
    """Llama 4's vision model, adapter and projector as vLLM builds them (mllama4.py, the default
    `mm_encoder_tp_mode`): the patch embedding, the fused qkv with its bias, fc1 with its bias,
    the adapter's MLP and the projector are column/row-parallel (sharded); the class token,
    position table, LayerNorms and the o_proj / fc2 / adapter fc2 biases are on every rank."""
    width = v.int("hidden_size", limit=LIMITS["hidden_size"])
    depth = v.int("num_hidden_layers", limit=LIMITS["num_hidden_layers"])
    inter = v.int("intermediate_size", limit=LIMITS["intermediate_size"])
    patch = v.int("patch_size", 14, limit=4096)
    channels = v.int("num_channels", 3, limit=16)
    image = v.int("image_size", limit=1 << 16)
    project_in = v.int("projector_input_dim", limit=LIMITS["intermediate_size"])
    project_out = v.int("projector_output_dim", limit=LIMITS["intermediate_size"])
    out = v.int("vision_output_dim", limit=LIMITS["intermediate_size"])
    adapter_bias = v.raw("multi_modal_projector_bias", False) is True
    ratio = v.number("pixel_shuffle_ratio", v.raw("pixel_shuffle_ratio", 0.5))
    if not 0 < ratio <= 1 or image % patch:
        raise FactsError("vision_config: pixel_shuffle_ratio must be in (0, 1] and image_size a multiple of "
                         "patch_size", key="vision_config")
    grid = (image // patch) ** 2
    tensors: list[Tensor] = [Tensor("vision_model.patch_embedding.linear", width, channels * patch * patch,
                                    quantizable=False),
                             _v("vision_model.class_embedding", width),
                             Tensor("vision_model.positional_embedding_vlm", grid + 1, width, "replicated",
                                    quantizable=False)]
    tensors += _norm("vision_model.layernorm_pre", width, True) + _norm("vision_model.layernorm_post", width, True)
    for i in range(depth):
        tensors += _vit_block(f"vision_model.model.layers.{i}.", width, inter, attn_bias=True)
    tensors += _linear("vision_model.vision_adapter.mlp.fc1", project_in, inter, bias=adapter_bias)
    tensors += _linear("vision_model.vision_adapter.mlp.fc2", project_out, project_in, bias=adapter_bias,
                       row_parallel=True)
    tensors.append(Tensor("multi_modal_projector.linear_1", text_hidden, out, quantizable=False))
    per_tile = grid // round(1 / ratio ** 2)
    if per_tile <= 0:
        raise FactsError("vision_config gives an image of no tokens", key="vision_config")
    tiles = LLAMA4_MAX_TILES + 1
    sharded = sum(t.parameters * elem for t in tensors if t.part == "sharded")
    replicated = sum(t.parameters * elem for t in tensors if t.part != "sharded")
    return EncoderFacts(kind="llama4", modality="image", parameters=sum(t.parameters for t in tensors),
                        sharded_bytes=sharded, replicated_bytes=replicated, hidden_size=width,
                        intermediate_size=inter, num_layers=depth, patches_per_item=tiles * (grid + 1),
                        tokens_per_item=tiles * per_tile, patches_per_token=max(1, (grid + 1) // per_tile),
                        pixels_per_patch=channels * patch * patch, rotary=True)


def _pixtral(top: Config, v: Config, projector: str, text_hidden: int,
             elem: int) -> tuple[EncoderFacts | None, str | None]:
    """Pixtral's vision model and the Mistral 3 / LLaVA projector as vLLM builds them (pixtral.py,
    mistral3.py, llava.py; keys absent from the config take transformers' PixtralVisionConfig,
    Mistral3Config and LlavaConfig defaults). Split over TP: the fused qkv, o_proj, gate_up,
    down_proj and the projector's linear_1 / linear_2 (column- then row-parallel); on every rank:
    the patch Conv2d, the RMSNorms, the patch merger's plain Linear and linear_2's bias.

    Profile item (Mistral3ProcessingInfo / PixtralHFEncoderInfo): a square image of image_size
    (the checkpoints' processor longest_edge equals it), cut into (image_size / patch)^2 tower
    patches; each spatial_merge_size^2 of them (Mistral 3; LLaVA: 1) becomes one embedding. The
    prompt also holds one [IMG_BREAK]/[IMG_END] per row, which are not embeddings."""
    width = v.int("hidden_size", 1024, limit=LIMITS["hidden_size"])
    layers = v.int("num_hidden_layers", 24, limit=LIMITS["num_hidden_layers"])
    inter = v.int("intermediate_size", 4096, limit=LIMITS["intermediate_size"])
    patch = v.int("patch_size", 16, limit=4096)
    channels = v.int("num_channels", 3, limit=16)
    image = v.int("image_size", 1024, limit=1 << 16)
    feature = top.raw("vision_feature_layer", -1 if projector == "mistral3" else -2)
    if isinstance(feature, bool) or not isinstance(feature, int):
        return None, (f"multimodal model: vision_feature_layer {feature!r} (features from several layers) is not "
                      "modelled, so only the language model is counted; the vision encoder weights come on top")
    # vLLM builds the blocks up to the feature layer only (get_layer_index: -1 is the last).
    depth = layers + feature + 1 if feature < 0 else feature
    if not 0 < depth <= layers:
        raise FactsError(f"config `vision_feature_layer` {feature} is outside the vision tower's {layers} layers",
                         key="vision_feature_layer")
    merge = top.int("spatial_merge_size", 2, limit=64) if projector == "mistral3" else 1
    bias = top.bool("multimodal_projector_bias", projector == "llava")
    tensors: list[Tensor] = [Tensor("vision_tower.patch_conv", width, channels * patch * patch, "replicated",
                                    quantizable=False), _v("vision_tower.ln_pre", width)]
    for i in range(depth):
        p = f"vision_tower.transformer.layers.{i}."
        tensors += [_v(p + "attention_norm", width), _v(p + "ffn_norm", width)]
        tensors += _linear(p + "attention.qkv_proj", 3 * width, width, bias=False)
        tensors += _linear(p + "attention.o_proj", width, width, bias=False, row_parallel=True)
        tensors += _linear(p + "feed_forward.gate_up_proj", 2 * inter, width, bias=False)
        tensors += _linear(p + "feed_forward.down_proj", width, inter, bias=False, row_parallel=True)
    if projector == "mistral3":
        tensors += [_v("multi_modal_projector.norm", width),
                    Tensor("multi_modal_projector.patch_merger.merging_layer", width, width * merge * merge,
                           "replicated", quantizable=False)]
    tensors += _linear("multi_modal_projector.linear_1", text_hidden, width, bias=bias)
    tensors += _linear("multi_modal_projector.linear_2", text_hidden, text_hidden, bias=bias, row_parallel=True)
    side = -(-image // (patch * merge))     # vLLM: (size - 1) // merged patch + 1 columns and rows
    tokens = side * side
    sharded = sum(t.parameters * elem for t in tensors if t.part == "sharded")
    replicated = sum(t.parameters * elem for t in tensors if t.part != "sharded")
    return EncoderFacts(kind="mistral3" if projector == "mistral3" else "llava_pixtral", modality="image",
                        parameters=sum(t.parameters for t in tensors), sharded_bytes=sharded,
                        replicated_bytes=replicated, hidden_size=width, intermediate_size=inter, num_layers=depth,
                        patches_per_item=tokens * merge * merge, tokens_per_item=tokens,
                        patches_per_token=merge * merge, pixels_per_patch=channels * patch * patch,
                        gated_mlp=True, rotary=True), None


def _internvit(top: Config, v: Config, kind: str, text_hidden: int, elem: int) -> EncoderFacts:
    """InternViT and the mlp1 projector as vLLM builds them (intern_vit.py, internvl.py,
    nvlm_d.py; keys absent from the config take the remote code's InternVisionConfig and
    InternVLChatConfig defaults).

    Split over TP: fc1 (and its bias) column-parallel, fc2 row-parallel. The attention's qkv and
    proj are QKV/row-parallel only when TP divides the heads (plus vLLM's dummy heads);
    otherwise every rank holds them whole: `head_split_bytes` / `split_heads` carry that rule to
    the planner. Every release has it (intern_vit.py, read in the wheels 0.6.2 - 0.12.0, 0.15.0
    and 0.33.0): 0.6.3 - 0.10.2 `_init_attn` falls back to the unsplit InternSdpaAttention when
    (num_heads + num_dummy_heads) % tp_size != 0 (0.6.2, before dummy heads: num_heads % tp_size,
    and xformers present); 0.11.0 on builds InternParallelAttention with disable_tp
    (use_data_parallel) in that case. On every rank:
    the patch Conv2d, class token, position table, norms, q/k norms, layer scales, the
    row-parallel biases and the whole of mlp1 (plain / replicated linears).

    Profile item (InternVLProcessingInfo): an image cut into `max_dynamic_patch` tiles of
    image_size (force_image_size when set) plus a thumbnail tile when `use_thumbnail` and there
    is more than one tile (one tile when `dynamic_image_size` is off); each tile is
    (image_size / patch)^2 x downsample_ratio^2 embeddings (256 for 448 / 14 at 0.5) after the
    pixel shuffle, from (image_size / patch)^2 + 1 tower tokens (the class token is dropped)."""
    hf = kind == "internvl_hf"
    width = v.int("hidden_size", 1024 if hf else 3200, limit=LIMITS["hidden_size"])
    layers = v.int("num_hidden_layers", 24 if hf else 48, limit=LIMITS["num_hidden_layers"])
    inter = v.int("intermediate_size", 4096 if hf else 12800, limit=LIMITS["intermediate_size"])
    heads = v.int("num_attention_heads", 16 if hf else 25, limit=LIMITS["num_attention_heads"])
    patch = _side(v, "patch_size", 14)
    channels = v.int("num_channels", 3, limit=16)
    image = _side(v, "image_size", 448 if hf else 224)
    qkv_bias = v.bool("attention_bias", False) if hf else v.bool("qkv_bias", False)
    qk_norm = v.bool("use_qk_norm", False) if hf else v.bool("qk_normalization", True)
    norm_type = v.str("norm_type", "layer_norm" if hf else "rms_norm")
    if norm_type not in ("rms_norm", "layer_norm"):
        raise FactsError(f"config.vision_config `norm_type` {norm_type!r} is not rms_norm or layer_norm",
                         key="norm_type")
    if width % heads:
        raise FactsError(f"config.vision_config hidden_size {width} is not divisible by num_attention_heads {heads}",
                         key="num_attention_heads")
    select_key = "vision_feature_layer" if hf else "select_layer"
    select = top.raw(select_key, -1)
    if isinstance(select, bool) or not isinstance(select, int):
        raise FactsError(f"config `{select_key}` must be an integer, found {select!r}", key=select_key)
    # vLLM builds the blocks up to the selected layer only (num_hidden_layers_override).
    depth = layers + select + 1 if select < 0 else select + 1
    if not 0 < depth <= layers:
        raise FactsError(f"config `{select_key}` {select} is outside the vision tower's {layers} layers",
                         key=select_key)
    ratio = top.number("downsample_ratio", top.raw("downsample_ratio", 0.5))
    if not 0 < ratio <= 1:
        raise FactsError("config `downsample_ratio` must be in (0, 1]", key="downsample_ratio")
    shuffle = int(1 / ratio) ** 2
    padded = (heads + DUMMY_HEADS.get(kind, 0)) * (width // heads)
    layer_norm = norm_type == "layer_norm"
    if hf:
        hf_tensors = _interns1_vit(v, width, inter, depth, patch, channels, image, qkv_bias, qk_norm, norm_type)
        hf_tensors += _norm("multi_modal_projector.layer_norm", width * shuffle, True)
        hf_tensors += [Tensor("multi_modal_projector.linear_1", text_hidden, width * shuffle, "replicated"),
                    _v("multi_modal_projector.linear_1.bias", text_hidden),
                    Tensor("multi_modal_projector.linear_2", text_hidden, text_hidden, "replicated"),
                    _v("multi_modal_projector.linear_2.bias", text_hidden)]
        return _intern_facts(top, kind, hf_tensors, width, inter, depth, image, patch, ratio, heads, hf=True,
                             elem=elem, channels=channels)
    p = "vision_model.embeddings."
    tensors: list[Tensor] = [_v(p + "class_embedding", width),
                             Tensor(p + "patch_embedding", width, channels * patch * patch, "replicated",
                                    quantizable=False), _v(p + "patch_embedding.bias", width),
                             Tensor(p + "position_embedding", (image // patch) ** 2 + 1, width, "replicated",
                                    quantizable=False)]
    for i in range(depth):
        q = f"vision_model.encoder.layers.{i}."
        tensors += [Tensor(q + "attn.qkv", 3 * padded, width, "heads")]
        if qkv_bias:
            tensors.append(_v(q + "attn.qkv.bias", 3 * padded, "heads"))
        if qk_norm:
            tensors += [_v(q + "attn.q_norm", padded), _v(q + "attn.k_norm", padded)]
        tensors += [Tensor(q + "attn.proj", width, padded, "heads"), _v(q + "attn.proj.bias", width)]
        tensors += _fc_mlp(q + "mlp.", width, inter)
        tensors += _norm(q + "norm1", width, layer_norm) + _norm(q + "norm2", width, layer_norm)
        tensors += [_v(q + "ls1", width), _v(q + "ls2", width)]
    tensors += _norm("mlp1.0", width * shuffle, True)
    if kind == "nvlm_d":   # through the LLM's intermediate width, no biases
        llm = Config(top.dict("llm_config") or top.dict("text_config") or {}, where=".llm_config")
        mid = llm.int("intermediate_size", limit=LIMITS["intermediate_size"])
        tensors += [Tensor("mlp1.1", mid, width * shuffle, "replicated"), Tensor("mlp1.3", text_hidden, mid, "replicated")]
    else:
        tensors += [Tensor("mlp1.1", text_hidden, width * shuffle, "replicated"), _v("mlp1.1.bias", text_hidden),
                    Tensor("mlp1.3", text_hidden, text_hidden, "replicated"), _v("mlp1.3.bias", text_hidden)]
    return _intern_facts(top, kind, tensors, width, inter, depth, image, patch, ratio, heads + DUMMY_HEADS.get(kind, 0),
                         hf=False, elem=elem, channels=channels)


def _side(v: Config, key: str, default: int) -> int:
    """image_size / patch_size: an integer, or (Hugging Face layout) a square [height, width]."""
    value = v.raw(key, default)
    if isinstance(value, list):
        if len(value) != 2 or value[0] != value[1]:
            raise FactsError(f"config.vision_config `{key}` {value!r}: only square sizes are modelled", key=key)
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= 1 << 16:
        raise FactsError(f"config.vision_config `{key}` must be a positive integer, found {value!r}", key=key)
    return value


def _interns1_vit(v: Config, width: int, inter: int, depth: int, patch: int, channels: int, image: int,
                  qkv_bias: bool, qk_norm: bool, norm_type: str) -> list[Tensor]:
    """InternViT as vLLM's interns1_vit.py builds it for the Hugging Face layout: cls_token (and
    mask_token when `use_mask_token`), a patch Conv2d with bias, the position table when
    `use_absolute_position_embeddings`; per layer q/k/v/projection_layer as plain linears (whole
    on every rank), q/k norms when `use_qk_norm`, fc1/fc2 split, two norms and lambda_1/lambda_2;
    a last LayerNorm unless `use_mean_pooling`."""
    layer_norm = norm_type == "layer_norm"
    p = "vision_tower.embeddings."
    tensors: list[Tensor] = [_v(p + "cls_token", width)]
    if v.bool("use_mask_token", False):
        tensors.append(_v(p + "mask_token", width))
    tensors += [Tensor(p + "patch_embeddings.projection", width, channels * patch * patch, "replicated",
                       quantizable=False), _v(p + "patch_embeddings.projection.bias", width)]
    if v.bool("use_absolute_position_embeddings", True):
        tensors.append(Tensor(p + "position_embeddings", (image // patch) ** 2 + 1, width, "replicated",
                              quantizable=False))
    for i in range(depth):
        q = f"vision_tower.encoder.layer.{i}."
        for name in ("q_proj", "k_proj", "v_proj"):
            tensors.append(Tensor(q + "attention." + name, width, width, "replicated"))
            if qkv_bias:
                tensors.append(_v(q + "attention." + name + ".bias", width))
        if qk_norm:
            tensors += [_v(q + "attention.q_norm", width), _v(q + "attention.k_norm", width)]
        tensors += [Tensor(q + "attention.projection_layer", width, width, "replicated"),
                    _v(q + "attention.projection_layer.bias", width)]
        tensors += _fc_mlp(q + "mlp.", width, inter)
        tensors += _norm(q + "layernorm_before", width, layer_norm) + _norm(q + "layernorm_after", width, layer_norm)
        tensors += [_v(q + "lambda_1", width), _v(q + "lambda_2", width)]
    if not v.bool("use_mean_pooling", True):
        tensors += _norm("vision_tower.layernorm", width, True)
    return tensors


def _intern_facts(top: Config, kind: str, tensors: list[Tensor], width: int, inter: int, depth: int, image: int,
                  patch: int, ratio: float, split_heads: int, *, hf: bool, elem: int = 2,
                  channels: int = 3) -> EncoderFacts:
    """The profile item and the per-rank split of an InternViT tower.

    Tiles: the remote-code layout's `max_dynamic_patch` (+ the thumbnail when `use_thumbnail`,
    one tile when `dynamic_image_size` is off); the Hugging Face layout keeps its tiling in the
    processor config (GotOcr2 `max_patches` 12, `crop_to_patches`: a thumbnail too), which the
    model config does not hold, so its defaults apply."""
    tile = image if hf else (top.int("force_image_size", 0, limit=1 << 16) or image)
    per_tile = int((tile // patch) ** 2 * ratio ** 2)
    if per_tile <= 0:
        raise FactsError("vision_config gives an image of no tokens", key="vision_config")
    thumbnail = hf or top.bool("use_thumbnail", False)
    if hf:
        tiles = 12 + 1
    else:
        tiles = 1
        if top.bool("dynamic_image_size", False):
            tiles = top.int("max_dynamic_patch", 6, limit=1024)
            if thumbnail and tiles > 1:
                tiles += 1
    sharded = sum(t.parameters * elem for t in tensors if t.part == "sharded")
    heads_part = sum(t.parameters * elem for t in tensors if t.part == "heads")
    replicated = sum(t.parameters * elem for t in tensors if t.part == "replicated")
    return EncoderFacts(kind=kind, modality="image", parameters=sum(t.parameters for t in tensors),
                        sharded_bytes=sharded + heads_part, replicated_bytes=replicated, hidden_size=width,
                        intermediate_size=inter, num_layers=depth,
                        patches_per_item=tiles * ((tile // patch) ** 2 + 1), tokens_per_item=tiles * per_tile,
                        patches_per_token=max(1, ((tile // patch) ** 2 + 1) // per_tile),
                        head_split_bytes=heads_part, split_heads=split_heads if heads_part else 0,
                        tokens_per_tile=per_tile, thumbnail=thumbnail, pixels_per_patch=channels * patch * patch)


def _mllama(v: Config, text_hidden: int, elem: int) -> EncoderFacts:
    """Llama-3.2-Vision's tower and projector as vLLM builds them (mllama.py; keys absent from the
    config take transformers' MllamaVisionConfig defaults).

    Split over TP: the patch embedding (a column-parallel unfold), the blocks' fused qkv, o_proj,
    fc1 (and its bias) and fc2, and the projector (column-parallel, gathered, from vLLM 0.6.4;
    0.6.2 - 0.6.3.post1 build it as an nn.Linear: `projector_bytes` and the release rule
    `mllama_projector_parallel`; read in the wheels 0.6.2 - 0.10.2). On every rank: the
    class token, the gated position table and its per-aspect-ratio tile table, the pre/post tile
    embeddings, the LayerNorms, fc2's bias and the global blocks' attention/MLP gates.

    Profile item: an image of `max_num_tiles` tiles, each (image_size / patch)^2 + 1 tokens
    (1601 for 560 / 14), which the cross-attention layers read (4 x 1601 = 6404 for the 11B/90B
    checkpoints); the tower runs each tile padded to a multiple of 8 tokens."""
    width = v.int("hidden_size", 1280, limit=LIMITS["hidden_size"])
    local = v.int("num_hidden_layers", 32, limit=LIMITS["num_hidden_layers"])
    global_layers = v.int("num_global_layers", 8, limit=LIMITS["num_hidden_layers"])
    inter = v.int("intermediate_size", 5120, limit=LIMITS["intermediate_size"])
    patch = v.int("patch_size", 14, limit=4096)
    channels = v.int("num_channels", 3, limit=16)
    image = v.int("image_size", 448, limit=1 << 16)
    tiles = v.int("max_num_tiles", 4, limit=64)
    ratios = v.list("supported_aspect_ratios")
    aspect_ids = len(ratios) if ratios is not None else 8
    indices = v.list("intermediate_layers_indices") or [3, 7, 15, 23, 30]
    out = v.int("vision_output_dim", width * (len(indices) + 1), limit=LIMITS["intermediate_size"])
    patches = (image // patch) ** 2 + 1
    tensors: list[Tensor] = [Tensor("vision_model.patch_embedding", width, channels * patch * patch, quantizable=False),
                             _v("vision_model.class_embedding", width),
                             _v("vision_model.gated_positional_embedding.gate", 1),
                             Tensor("vision_model.gated_positional_embedding.embedding", patches, width, "replicated",
                                    quantizable=False),
                             Tensor("vision_model.gated_positional_embedding.tile_embedding", aspect_ids + 1,
                                    tiles * patches * width, "replicated", quantizable=False)]
    for name in ("pre_tile_positional_embedding", "post_tile_positional_embedding"):
        tensors += [Tensor(f"vision_model.{name}.embedding", aspect_ids + 1, tiles * width, "replicated",
                           quantizable=False), _v(f"vision_model.{name}.gate", 1)]
    tensors += _norm("vision_model.layernorm_pre", width, True) + _norm("vision_model.layernorm_post", width, True)
    for stack, count, gated in (("transformer", local, False), ("global_transformer", global_layers, True)):
        for i in range(count):
            p = f"vision_model.{stack}.layers.{i}."
            tensors += _vit_block(p, width, inter, attn_bias=False)
            if gated:
                tensors += [_v(p + "gate_attn", 1), _v(p + "gate_ffn", 1)]
    projector = _linear("multi_modal_projector", text_hidden, out, bias=True)
    tensors += projector
    sharded = sum(t.parameters * elem for t in tensors if t.part == "sharded")
    replicated = sum(t.parameters * elem for t in tensors if t.part != "sharded")
    return EncoderFacts(kind="mllama", modality="image", parameters=sum(t.parameters for t in tensors),
                        sharded_bytes=sharded, replicated_bytes=replicated, hidden_size=width,
                        intermediate_size=inter, num_layers=local + global_layers,
                        patches_per_item=tiles * -(-patches // 8) * 8, tokens_per_item=tiles * patches,
                        patches_per_token=1, cross_attention=True, pixels_per_patch=channels * patch * patch,
                        projector_bytes=sum(t.parameters * elem for t in projector))
