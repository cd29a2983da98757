"""Pixtral vision towers (issue 15 part 1): Mistral 3 (Mistral-Small-3.1/3.2, Magistral) and the
LLaVA-wrapped Pixtral-12B, counted from `vision_config` as vLLM builds them (pixtral.py
PixtralHFVisionModel, mistral3.py, llava.py) and split over TP like vLLM's linears."""
from __future__ import annotations

import copy

from models_support import load

from vllm_compile.plan import overheads, weights
from vllm_compile.resolve.models import facts_from_config
from profile_rules import profile_rules

MAGISTRAL = "mistralai/Magistral-Small-2509"


def _facts(config: dict, model_id: str = MAGISTRAL):
    return facts_from_config(config, model_id=model_id, source="t")


def test_mistral3_pixtral_tower_and_projector_from_the_module_shapes():
    # The bundled real config (SOURCES.md): vision hidden 1024, MLP 4096, 24 blocks, patch 14,
    # image 1540; text hidden 5120; spatial_merge_size 2; multimodal_projector_bias false.
    f = _facts(load(MAGISTRAL))
    enc = f.encoder
    patch_conv, ln_pre = 1024 * 3 * 14 * 14, 1024                      # Conv2d without bias, RMSNorm
    norms = 2 * 1024                                                    # attention_norm, ffn_norm
    qkv, o, gate_up, down = 3 * 1024 * 1024, 1024 * 1024, 2 * 4096 * 1024, 1024 * 4096
    norm, merger = 1024, 1024 * 2 * 2 * 1024                            # projector RMSNorm, merging_layer
    linear_1, linear_2 = 5120 * 1024, 5120 * 5120                       # no biases
    total = patch_conv + ln_pre + 24 * (norms + qkv + o + gate_up + down) + norm + merger + linear_1 + linear_2
    assert enc.kind == "mistral3" and enc.parameters == total == 438_958_080 and enc.num_layers == 24
    # The HF API's total for the checkpoint (sizes.csv): language model + tower + projector.
    assert f.parameters == 24_011_361_280 and not f.warnings
    # Replicated in vLLM: the patch Conv2d, every RMSNorm and the merger's plain nn.Linear;
    # qkv/gate_up/linear_1 are column-parallel, o/down/linear_2 row-parallel: split.
    replicated = patch_conv + ln_pre + 24 * norms + norm + merger
    assert enc.replicated_bytes == 2 * replicated and enc.sharded_bytes == 2 * (total - replicated)
    assert weights.encoder_rank_bytes(f, 4) == -(-enc.sharded_bytes // 4) + enc.replicated_bytes
    assert weights.encoder_rank_bytes(f, 1) - weights.encoder_rank_bytes(f, 2) == enc.sharded_bytes // 2


def test_mistral3_profile_image_is_image_size_square_merged_two_by_two():
    f = _facts(load(MAGISTRAL))
    # 1540 / 14 = 110 patches a side; 2x2 merged: 55 x 55 = 3025 embeddings ([IMG_BREAK] /
    # [IMG_END] tokens between the rows are not embeddings).
    assert (f.encoder.tokens_per_item, f.encoder.patches_per_item, f.encoder.patches_per_token) == (3025, 12100, 4)
    profile = overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 256, 1, None, 2)
    assert (profile.budget_tokens, profile.items) == (8192, 3)     # cdiv(8192, 3025)
    assert profile.cached_bytes == 3 * 3025 * 5120 * 2


def test_vision_feature_layer_limits_the_blocks_vllm_builds():
    config = load(MAGISTRAL)
    full = _facts(config).encoder
    config["vision_feature_layer"] = -2      # vLLM initialises the tower only up to that layer
    short = _facts(config).encoder
    block = 2 * 1024 + 3 * 1024 * 1024 + 1024 * 1024 + 2 * 4096 * 1024 + 1024 * 4096
    assert short.num_layers == 23 and full.parameters - short.parameters == block
    config["vision_feature_layer"] = 30
    try:
        _facts(config)
    except Exception as exc:       # FactsError names the key
        assert getattr(exc, "key", None) == "vision_feature_layer"
    else:
        raise AssertionError("a feature layer beyond the tower must be refused")
    config["vision_feature_layer"] = [-1, -2]
    several = _facts(config)
    assert several.encoder is None and any("vision_feature_layer" in w for w in several.warnings)


def test_llava_with_a_pixtral_tower_has_no_merger_and_projector_biases_by_default():
    # LLaVA's layout of Pixtral-12B: no spatial merge, no projector norm/merger; LlavaConfig's
    # multimodal_projector_bias defaults to true. Derived from the Magistral config's shapes.
    config = copy.deepcopy(load(MAGISTRAL))
    for key in ("spatial_merge_size", "multimodal_projector_bias"):
        del config[key]
    config |= {"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]}
    enc = _facts(config).encoder
    mistral3 = _facts(load(MAGISTRAL)).encoder
    assert enc.kind == "llava_pixtral"
    # minus the projector norm and merger, plus the linear_1 / linear_2 biases (5120 each).
    assert enc.parameters == mistral3.parameters - 1024 - 4 * 1024 * 1024 + 2 * 5120
    # linear_1's bias follows its split rows; linear_2's (row-parallel) is added on every rank.
    assert enc.replicated_bytes == mistral3.replicated_bytes - 2 * (1024 + 4 * 1024 * 1024) + 2 * 5120
    assert (enc.tokens_per_item, enc.patches_per_token) == (110 * 110, 1)


def test_llava_with_another_tower_is_not_counted_and_says_so():
    config = load(MAGISTRAL) | {"model_type": "llava"}
    config["vision_config"] = config["vision_config"] | {"model_type": "clip_vision_model"}
    f = _facts(config)
    assert f.encoder is None and any("'clip_vision_model' vision tower" in w for w in f.warnings)
