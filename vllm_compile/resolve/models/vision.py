"""Vision towers and projectors of multimodal models, counted from `vision_config`.

Each tower family is a row of `TOWERS` (how its blocks are built, which linears TP shards, how
large one item at the maximum size is); `encoder_facts` reads the row and the config. Tensors
are tagged like the decoder's (families.Tensor): column-parallel linears and their biases are
sharded, row-parallel biases, norms, patch embeddings and position tables replicated, as vLLM's
vision modules build them with the default `mm_encoder_tp_mode` ("weights"); SigLIP's position
table is vocabulary-parallel there, so it is split too.

Sources (structure, facts only): vLLM vllm/model_executor/models/qwen2_vl.py, qwen2_5_vl.py,
qwen3_vl.py, siglip.py, gemma3_mm.py, mllama4.py, pixtral.py, mistral3.py and llava.py; the Hugging Face image processors' default maximum
sizes (Qwen2-VL/2.5-VL `max_pixels` 12845056; Qwen3-VL/3.5 `longest_edge` 16777216 pixels),
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
    # fills the context and can outgrow an image. Qwen3-VL's processor sizes its videos otherwise (not modelled;
    # the Qwen3.5/3.6 start-ups logged profile images).
    video_from_context: bool = False


TOWERS: dict[str, Tower] = {
    "qwen2_vl": Tower(width="embed_dim", depth="depth", gated_mlp=False, layer_norm=True, patch_bias=False,
                      temporal=True, positions="none", post_norm=False, projector="qwen_merger", max_pixels=12845056,
                      rotary=True, video_from_context=True),
    "qwen2_5_vl": Tower(width="hidden_size", depth="depth", gated_mlp=True, layer_norm=False, patch_bias=False,
                        temporal=True, positions="none", post_norm=False, projector="qwen_merger", max_pixels=12845056,
                        rotary=True, video_from_context=True),
    "qwen3_vl": Tower(width="hidden_size", depth="depth", gated_mlp=False, layer_norm=True, patch_bias=True,
                      temporal=True, positions="table", post_norm=False, projector="qwen_merger",
                      max_pixels=16777216, default_patch=16, rotary=True),
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
}
# Top-level model_type -> tower row.
TOWER_OF = {"qwen2_vl": "qwen2_vl", "qwen2_5_vl": "qwen2_5_vl", "qwen3_vl": "qwen3_vl", "qwen3_vl_moe": "qwen3_vl",
            "qwen3_5": "qwen3_vl", "qwen3_5_moe": "qwen3_vl", "gemma3": "gemma3", "llama4": "llama4",
            "mistral3": "mistral3", "llava": "llava_pixtral"}
# Rows whose tower must be the one named by vision_config.model_type (LLaVA wraps CLIP/SigLIP too).
TOWER_VISION = {"mistral3": "pixtral", "llava_pixtral": "pixtral"}
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
        p = f"vision_model.model.layers.{i}."
        tensors += _linear(p + "self_attn.qkv_proj", 3 * width, width, bias=True)
        tensors += _linear(p + "self_attn.o_proj", width, width, bias=True, row_parallel=True)
        tensors += _linear(p + "mlp.fc1", inter, width, bias=True)
        tensors += _linear(p + "mlp.fc2", width, inter, bias=True, row_parallel=True)
        tensors += _norm(p + "input_layernorm", width, True) + _norm(p + "post_attention_layernorm", width, True)
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
