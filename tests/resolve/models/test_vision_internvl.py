"""InternVL (issue 15 part 1): InternViT + the mlp1 projector counted from `vision_config` and the
language model from `llm_config`, split over TP the way vLLM's intern_vit.py / internvl.py /
nvlm_d.py build them, and the dummy image of the profile run (tiles x 256 embeddings).

The expected numbers are derived here from the module table a public log prints for
OpenGVLab/InternVL3-1B (SOURCES.md) and the published parameter count (sizes.csv), not taken
from the planner."""
from __future__ import annotations

import copy

import pytest
from models_support import load

from vllm_compile.plan import overheads, weights
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.config import FactsError
from profile_rules import profile_rules

INTERNVL3_1B = "OpenGVLab/InternVL3-1B"


def _facts(config: dict, model_id: str = INTERNVL3_1B):
    return facts_from_config(config, model_id=model_id, source="t")


# The module table printed for InternVL3-1B (InternViT-300M-448px + Qwen2.5-0.5B):
#   patch_embedding Conv2d(3, 1024, 14, 14) with bias; per block qkv Linear(1024, 3072, bias),
#   proj Linear(1024, 1024, bias), fc1 Linear(1024, 4096, bias), fc2 Linear(4096, 1024, bias),
#   norm1/norm2 LayerNorm(1024); mlp1: LayerNorm(4096), Linear(4096, 896), Linear(896, 896).
# Parameters that are not modules (InternVisionEmbeddings / InternVisionEncoderLayer): the class
# token (1 x 1 x 1024), the position table (1 x (32 x 32 + 1) x 1024) and ls1/ls2 (1024 each).
PATCH = 3 * 14 * 14 * 1024 + 1024
CLASS_AND_POSITIONS = 1024 + (32 * 32 + 1) * 1024
QKV, PROJ = 1024 * 3072 + 3072, 1024 * 1024 + 1024
FC1, FC2 = 1024 * 4096 + 4096, 4096 * 1024 + 1024
NORMS, SCALES = 2 * 2 * 1024, 2 * 1024
BLOCK = QKV + PROJ + FC1 + FC2 + NORMS + SCALES
MLP1 = 2 * 4096 + (4096 * 896 + 896) + (896 * 896 + 896)


def test_internvl3_1b_counts_tower_projector_and_llm_config_language_model():
    f = _facts(load(INTERNVL3_1B))
    enc = f.encoder
    assert enc.kind == "internvl" and enc.num_layers == 24 and not f.warnings
    assert enc.parameters == PATCH + CLASS_AND_POSITIONS + 24 * BLOCK + MLP1 == 308_495_104
    # The language model is read from llm_config (Qwen2, 24 x 896, untied head, vocab 151674).
    assert (f.model_type, f.num_layers, f.hidden_size, f.vocab_size) == ("qwen2", 24, 896, 151674)
    assert not f.tie_word_embeddings
    # The published safetensors count of the checkpoint (sizes.csv): everything together.
    assert f.parameters == 938_193_024


def test_internvit_attention_is_split_only_when_tp_divides_its_heads():
    f = _facts(load(INTERNVL3_1B))
    enc = f.encoder
    # Column/row-parallel when split: qkv and its bias, proj's weight, fc1 and its bias, fc2's
    # weight. Whole on every rank: patch conv, class token, positions, norms, layer scales,
    # proj/fc2 biases and all of mlp1 (vLLM builds it from plain / replicated linears).
    attention = 24 * (QKV + 1024 * 1024)
    mlp = 24 * (FC1 + 4096 * 1024)
    assert enc.sharded_bytes == 2 * (attention + mlp)
    assert enc.replicated_bytes == 2 * (PATCH + CLASS_AND_POSITIONS + 24 * (NORMS + SCALES + 1024 + 1024) + MLP1)
    # 16 heads: TP 2 and 4 split the attention; TP 3 does not (vLLM's InternSdpaAttention: whole).
    assert weights.encoder_rank_bytes(f, 2) == enc.replicated_bytes + (2 * (attention + mlp)) // 2
    assert weights.encoder_rank_bytes(f, 4) == enc.replicated_bytes + (2 * (attention + mlp)) // 4
    assert weights.encoder_rank_bytes(f, 3) == enc.replicated_bytes + 2 * attention + -(-2 * mlp // 3)


def test_profile_item_is_twelve_tiles_and_a_thumbnail_of_256_embeddings():
    config = load(INTERNVL3_1B)
    enc = _facts(config).encoder
    # (448 / 14)^2 x 0.5^2 = 256 embeddings per tile; max_dynamic_patch 12 + the thumbnail = 13
    # tiles, each 32 x 32 + 1 (class token) tower tokens.
    assert (enc.tokens_per_item, enc.patches_per_item) == (13 * 256, 13 * 1025)
    profile = overheads.encoder_profile(_facts(config), profile_rules("v1c"), 1, 8192, 256, 1, None, 2)
    assert (profile.budget_tokens, profile.items) == (8192, 3)            # cdiv(8192, 3328)
    assert profile.cached_bytes == 3 * 3328 * 896 * 2
    no_thumbnail = _facts(config | {"use_thumbnail": False}).encoder
    assert no_thumbnail.tokens_per_item == 12 * 256
    single = _facts(config | {"dynamic_image_size": False}).encoder
    assert single.tokens_per_item == 256 and single.patches_per_item == 1025


def test_select_layer_limits_the_blocks_vllm_builds():
    config = load(INTERNVL3_1B)
    full = _facts(config).encoder
    short = _facts(config | {"select_layer": -4}).encoder
    assert short.num_layers == 21 and full.parameters - short.parameters == 3 * BLOCK
    assert _facts(config | {"select_layer": 5}).encoder.num_layers == 6     # non-negative: index + 1
    with pytest.raises(FactsError) as err:
        _facts(config | {"select_layer": -30})
    assert err.value.key == "select_layer"


def _internvit_6b(config: dict) -> dict:
    """InternViT-6B-448px (InternVL2.5-26B/38B/78B's tower): 45 blocks of width 3200 with 25
    heads, MLP 12800, RMSNorms, q/k normalization, qkv without bias."""
    config = copy.deepcopy(config)
    config["vision_config"] |= {"hidden_size": 3200, "intermediate_size": 12800, "num_attention_heads": 25,
                                "num_hidden_layers": 45, "norm_type": "rms_norm", "qk_normalization": True,
                                "qkv_bias": False}
    return config


def test_internvit_6b_with_25_heads_keeps_its_attention_whole_at_tp_8():
    f = _facts(_internvit_6b(load(INTERNVL3_1B)))
    enc = f.encoder
    attention = 45 * (3 * 3200 * 3200 + 3200 * 3200)           # qkv (no bias) + proj weights
    mlp = 45 * (12800 * 3200 + 12800 + 3200 * 12800)
    assert enc.sharded_bytes == 2 * (attention + mlp)
    assert weights.encoder_rank_bytes(f, 5) == enc.replicated_bytes + (2 * (attention + mlp)) // 5
    assert weights.encoder_rank_bytes(f, 8) == enc.replicated_bytes + 2 * attention + 2 * mlp // 8
    # q/k RMSNorms over all 25 heads (3200 each) are on every rank.
    assert enc.replicated_bytes >= 2 * 45 * 2 * 3200


def test_nvlm_d_pads_internvit_6b_to_32_heads_so_tp_8_splits_them():
    config = _internvit_6b(load(INTERNVL3_1B)) | {"model_type": "NVLM_D", "architectures": ["NVLM_D_Model"]}
    f = _facts(config, "nvidia/NVLM-D-72B")
    enc = f.encoder
    padded = 32 * 128                                           # 25 + 7 dummy heads of 3200 / 25
    attention = 45 * (3 * padded * 3200 + 3200 * padded)
    internvl = _facts(_internvit_6b(load(INTERNVL3_1B))).encoder
    # The dummy heads add rows to qkv, columns to proj and width to the q/k norms; NVLM-D's mlp1
    # goes through the LLM's intermediate width (4864 here) without biases.
    assert enc.kind == "nvlm_d" and enc.split_heads == 32
    assert enc.head_split_bytes == 2 * attention
    mlp1_internvl = 2 * 12800 + 12800 * 896 + 896 + 896 * 896 + 896
    mlp1_nvlm = 2 * 12800 + 12800 * 4864 + 4864 * 896
    assert enc.parameters - internvl.parameters == (
        45 * (4 * 7 * 128 * 3200 + 2 * 7 * 128) + mlp1_nvlm - mlp1_internvl)
    assert weights.encoder_rank_bytes(f, 8) == -(-enc.sharded_bytes // 8) + enc.replicated_bytes


def test_an_unknown_internvl_tower_is_not_counted_and_says_so():
    config = copy.deepcopy(load(INTERNVL3_1B))
    config["vision_config"]["model_type"] = "siglip_vision_model"
    f = _facts(config)
    assert f.encoder is None and any("'siglip_vision_model' vision tower" in w for w in f.warnings)
    assert f.parameters < 938_193_024


def _hf_layout(config: dict) -> dict:
    """The same checkpoint in the Hugging Face layout (OpenGVLab/InternVL3-1B-hf,
    InternVLForConditionalGeneration): the LLM in text_config, InternViT as `internvl_vision` with
    list sizes and its own key names, `vision_feature_layer` for select_layer."""
    v = config["vision_config"]
    return {"architectures": ["InternVLForConditionalGeneration"], "model_type": "internvl",
            "downsample_ratio": 0.5, "vision_feature_layer": -1, "projector_hidden_act": "gelu",
            "image_seq_length": 256, "torch_dtype": "bfloat16", "text_config": copy.deepcopy(config["llm_config"]),
            "vision_config": {"model_type": "internvl_vision", "hidden_size": v["hidden_size"],
                              "intermediate_size": v["intermediate_size"], "num_hidden_layers": v["num_hidden_layers"],
                              "num_attention_heads": v["num_attention_heads"], "attention_bias": True,
                              "use_qk_norm": False, "norm_type": "layer_norm", "image_size": [448, 448],
                              "patch_size": [14, 14], "num_channels": 3, "use_absolute_position_embeddings": True,
                              "use_mean_pooling": True, "use_mask_token": False, "layer_scale_init_value": 0.1}}


def test_the_hugging_face_layout_counts_the_same_and_keeps_the_attention_whole():
    f = _facts(_hf_layout(load(INTERNVL3_1B)), "OpenGVLab/InternVL3-1B-hf")
    enc = f.encoder
    # sizes.csv's sources give the same published count for OpenGVLab/InternVL3-1B-hf.
    assert enc.kind == "internvl_hf" and f.parameters == 938_193_024 and not f.warnings
    # vLLM's interns1_vit.py: q/k/v and projection_layer are plain linears, whole on every rank;
    # only fc1 (with its bias) and fc2 split.
    mlp = 24 * (FC1 + 4096 * 1024)
    assert enc.sharded_bytes == 2 * mlp and enc.head_split_bytes == 0
    assert weights.encoder_rank_bytes(f, 4) == enc.replicated_bytes + 2 * mlp // 4
    assert enc.tokens_per_item == 13 * 256
    with pytest.raises(FactsError) as err:
        _facts(_hf_layout(load(INTERNVL3_1B)) | {"vision_feature_layer": 24})
    assert err.value.key == "vision_feature_layer"


def test_max_dynamic_patch_from_mm_processor_kwargs_sets_the_profile_image():
    f = _facts(load(INTERNVL3_1B))
    # --mm-processor-kwargs '{"max_dynamic_patch": 6}': 6 tiles + the thumbnail, 256 each.
    six = overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 256, 1, None, 2, max_tiles=6)
    assert six.cached_bytes == 5 * 7 * 256 * 896 * 2                      # cdiv(8192, 1792) = 5 images
    one = overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 256, 1, None, 2, max_tiles=1)
    assert (one.budget_tokens, one.items) == (8192, 32)                   # one tile, no thumbnail: 256
    from vllm_compile.engine_args import mm_processor_sizes
    assert mm_processor_sizes('{"max_dynamic_patch": 6}') == {"mm_max_tiles": 6}
    assert mm_processor_sizes({"max_pixels": 5}) == {"mm_max_pixels": 5}


def test_internvl2_5_26b_internvit_6b_and_internlm2_reproduce_the_published_count():
    # OpenGVLab/InternVL2_5-26B = InternViT-6B-448px-V2_5 (45 blocks, width 3200, 25 heads, RMSNorm,
    # q/k normalization, no qkv bias) + internlm2_5-20b-chat with InternVL's 92553-token vocabulary.
    # Published safetensors counts (a public script's HF `parameter_count` list, search-index
    # file id 12439498600): InternVL2_5-26B 25,514,186,112; internlm2_5-20b-chat 19,861,149,696
    # with its own 92544-token vocabulary.
    config = _internvit_6b(load(INTERNVL3_1B))
    config["llm_config"] = {"architectures": ["InternLM2ForCausalLM"], "model_type": "internlm2",
                            "hidden_size": 6144, "intermediate_size": 16384, "num_hidden_layers": 48,
                            "num_attention_heads": 48, "num_key_value_heads": 8, "vocab_size": 92553,
                            "max_position_embeddings": 32768, "tie_word_embeddings": False,
                            "torch_dtype": "bfloat16"}
    f = _facts(config, "OpenGVLab/InternVL2_5-26B")
    block = (3 * 3200 * 3200 + 2 * 3200 + (3200 * 3200 + 3200) + (3200 * 12800 + 12800) + (12800 * 3200 + 3200)
             + 2 * 3200 + 2 * 3200)                     # qkv, q/k norms, proj, fc1, fc2, two RMSNorms, ls1/ls2
    tower = 3 * 14 * 14 * 3200 + 3200 + 3200 + 1025 * 3200 + 45 * block
    mlp1 = 2 * 12800 + (12800 * 6144 + 6144) + (6144 * 6144 + 6144)
    assert f.encoder.parameters == tower + mlp1
    assert f.parameters - f.encoder.parameters == 19_861_149_696 + (92553 - 92544) * 2 * 6144
    assert f.parameters == 25_514_186_112


def test_the_hugging_face_layout_is_served_from_0_10_2_and_the_remote_code_layout_always():
    # vLLM's registry.py maps InternVLForConditionalGeneration (to interns1.py) from the 0.10.2
    # wheel on; 0.10.1.1's has InternS1ForConditionalGeneration and InternVLChatModel only.
    from vllm_compile.ir.plan import PlanRequest
    from vllm_compile.plan import plan_deployment
    from vllm_compile.resolve.hardware import lookup_gpu

    def plan(config: dict, version: str):
        return plan_deployment(PlanRequest(vllm_version=version, model=_facts(config), gpu=lookup_gpu("L4"),
                                           gpu_count=1, mode="predict", max_model_len=8192))

    hf = _hf_layout(load(INTERNVL3_1B))
    old = plan(hf, "0.10.1.1")
    assert old.verdict == "invalid" and old.failure_key == "engine.version"
    assert "Model architectures ['InternVLForConditionalGeneration'] are not supported for now" in old.reasons[0]
    assert {"engine.version": "0.10.2"} in [dict(f.settings) for f in old.fixes]
    assert plan(hf, "0.10.2").verdict == "ok"
    for version in ("0.6.6.post1", "0.10.1.1"):
        assert plan(load(INTERNVL3_1B), version).verdict == "ok"
