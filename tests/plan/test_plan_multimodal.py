"""Vision-language models: the vision tower's weights per rank and the memory of vLLM's
multimodal profile run (encoder budget, dummy image batch, cached embeddings), with the flags
that change it."""
from __future__ import annotations

import json
import subprocess
import sys

from plan_support import GIB, facts, plan

from vllm_compile.plan import overheads, releases, weights

VL7 = "Qwen/Qwen2.5-VL-7B-Instruct"
VL3 = "Qwen/Qwen2.5-VL-3B-Instruct"


def test_the_vision_tower_is_counted_from_vision_config_and_split_over_tp():
    f = facts(VL7)
    enc = f.encoder
    # transformers counts Qwen2.5-VL-7B's `model.visual` at 676,550,144 of 8,292,166,656 (sizes.csv).
    assert enc.parameters == 676_550_144 and f.parameters == 8_292_166_656
    assert enc.sharded_bytes + enc.replicated_bytes == enc.parameters * 2
    # Replicated: the patch-embedding Conv3d (3 x 2 x 14 x 14 -> 1280), 2 RMSNorms per block,
    # the row-parallel biases (attn.proj, mlp.down_proj per block; merger mlp.2) and ln_q.
    assert enc.replicated_bytes == 2 * (3 * 2 * 14 * 14 * 1280 + 32 * (2 * 1280 + 1280 + 1280) + 3584 + 1280)
    one, four = weights.rank_weight_bytes(f, 1, 1, 0), weights.rank_weight_bytes(f, 4, 1, 0)
    assert weights.encoder_rank_bytes(f, 4) == -(-enc.sharded_bytes // 4) + enc.replicated_bytes
    assert one - four > 0.7 * (one - one // 4)    # most of the model, the tower included, is split
    # A pipeline's later stages hold no tower.
    assert weights.rank_weight_bytes(f, 1, 2, 1) < weights.rank_weight_bytes(f, 1, 2, 0) - enc.replicated_bytes


def test_the_profile_batch_follows_the_encoder_budget_and_the_limits():
    f = facts(VL7)
    # 16384 tokens per image of the processor's max_pixels (12845056 / 28^2); the budget is at
    # least one such item: max_num_batched_tokens 8192 -> one image; 32768 -> two.
    one = overheads.encoder_profile(f, "v1c", 1, 8192, 256, 1, None, 2)
    two = overheads.encoder_profile(f, "v1c", 1, 32768, 256, 1, None, 2)
    assert (one.budget_tokens, one.items) == (16384, 1) and (two.budget_tokens, two.items) == (32768, 2)
    assert two.cached_bytes == 2 * one.cached_bytes == 2 * 16384 * 3584 * 2
    # Smaller images (--mm-processor-kwargs max_pixels): more of them fill the same budget.
    small = overheads.encoder_profile(f, "v1c", 1, 2048, 256, 1, 1024 * 28 * 28, 2)
    assert (small.budget_tokens, small.items) == (2048, 2)
    # max_num_seqs x the per-prompt limit caps the batch.
    assert overheads.encoder_profile(f, "v1c", 1, 32768, 1, 1, None, 2).items == 1
    assert overheads.encoder_profile(f, "v1c", 1, 32768, 256, 0, None, 2) is None


def test_a_long_context_makes_the_qwen_profile_run_encode_a_video_from_0_10_2():
    # vLLM 0.10.2 (PR #24312) sizes the dummy video from the whole context: the most frames, up
    # to 14, whose temporal patches of 16384 embeddings fit max_model_len. A 0.23.0 start-up of
    # Qwen2.5-VL-7B at its 128,000-token context logs "a budget of 114688 tokens, and profiled
    # with 1 video items" (bench/data/calibration, a100-80g-qwen25vl-7b-u022-v023-nokv).
    f = facts(VL7)
    assert f.encoder.video_frames_per_patch == 2
    assert overheads.video_tokens(16384, 2, 128000) == 7 * 16384 == 114688
    video = overheads.encoder_profile(f, "v1c", 1, 2048, 256, 1, None, 2, videos_per_prompt=1, max_model_len=128000,
                                      video_from_context=True)
    assert (video.modality, video.budget_tokens, video.items) == ("video", 114688, 1)
    assert video.cached_bytes == 114688 * 3584 * 2
    # An 8,192-token context holds one temporal patch at most: the video is no larger than an
    # image, and the image is profiled (the L4 start-up of Qwen2.5-VL-3B, vLLM 0.11.0).
    short = overheads.encoder_profile(f, "v1c", 1, 2048, 256, 1, None, 2, videos_per_prompt=1, max_model_len=8192,
                                      video_from_context=True)
    assert (short.modality, short.budget_tokens) == ("image", 16384)
    # Videos limited to 0, or a release before 0.10.2: the image as before.
    for kw in ({"videos_per_prompt": 0, "video_from_context": True}, {"videos_per_prompt": 1}):
        image = overheads.encoder_profile(f, "v1c", 1, 2048, 256, 1, None, 2, max_model_len=128000, **kw)
        assert (image.modality, image.budget_tokens) == ("image", 16384)
    # Qwen3-VL's processor (Qwen3.5, Qwen3.6) sizes its videos by its own rule: the logged
    # Qwen3.6 start-ups profile images even at 262,144 tokens, and so does the planner.
    assert facts("Qwen/Qwen3.6-35B-A3B").encoder.video_frames_per_patch == 0
    new = plan(VL7, "A100-80GB", version="0.23.0", mode="predict", gpu_memory_utilization=0.22)
    old = plan(VL7, "A100-80GB", version="0.10.1", mode="predict", gpu_memory_utilization=0.22)
    no_video = plan(VL7, "A100-80GB", version="0.23.0", mode="predict", gpu_memory_utilization=0.22,
                    mm_limits=(("video", 0),))
    assert new.per_gpu.encoder_activation_bytes > 7 * no_video.per_gpu.encoder_activation_bytes
    assert (new.per_gpu.encoder_modality, no_video.per_gpu.encoder_modality) == ("video", "image")
    assert new.per_gpu.as_json()["encoder_profiled"] == "video"
    assert old.per_gpu.encoder_activation_bytes < no_video.per_gpu.encoder_activation_bytes * 2


def test_the_tower_forward_counts_the_block_tensors_live_at_its_peak():
    # Qwen2.5-VL's tower (width 1280, gated MLP 3420, 2D rotary, 3 x 2 x 14 x 14 inputs per
    # patch). The MLP's peak, 4 x 1280 + 3 x 3420, is above the attention's (residual, qkv, the
    # kernel's inputs and output: 8 x 1280), except in the releases that rotate q and k
    # concatenated on a float32 copy (0.11), where the attention holds 14 x 1280; the dummy
    # pixels add 4 + 2 bytes per input value.
    enc = facts(VL7).encoder
    assert (enc.pixels_per_patch, enc.gated_mlp, enc.rotary) == (1176, True, True)
    assert overheads.tower_patch_bytes(enc, 1, 2) == (4 * 1280 + 3 * 3420) * 2 + 1176 * 6
    assert overheads.tower_patch_bytes(enc, 1, 2, qk_concat_rotary=True) == 14 * 1280 * 2 + 1176 * 6
    # Split over TP: the qkv, the q/k copies and the MLP's intermediate tensors; the residual and
    # the pixels stay whole on every rank.
    assert overheads.tower_patch_bytes(enc, 2, 2, qk_concat_rotary=True) == \
        max(1280 + 13 * 1280 // 2, 4 * 1280 + 3 * 3420 // 2) * 2 + 1176 * 6
    assert releases.rules_for("0.11.0").vision_qk_concat_rotary
    assert not releases.rules_for("0.10.2").vision_qk_concat_rotary and not releases.rules_for("0.12.0").vision_qk_concat_rotary
    # The logged start-ups (bench/data/calibration), each profiling one 16,384-token image or one
    # 114,688-token video: Qwen2.5-VL-7B on an L4 at max_model_len 2048 (vLLM 0.9.0) leaves 1.81
    # GiB and 33,824 tokens for the KV cache; Qwen2.5-VL-3B on an L4 (0.11.0, max_model_len 8192,
    # 2048 batched tokens) 9.26 GiB and 269,568 tokens; Qwen2.5-VL-7B at utilization 0.22 on an
    # A100-80GB (0.23.0) fails with -14.28 GiB available.
    seven = plan(VL7, "L4", version="0.9.0", mode="predict", max_model_len=2048)
    assert abs(seven.kv_cache_tokens / 33_824 - 1) < 0.10
    three = plan(VL3, "L4", version="0.11.0", mode="predict", max_model_len=8192, max_num_batched_tokens=2048)
    assert abs(three.kv_cache_tokens / 269_568 - 1) < 0.10
    a100 = plan(VL7, "A100-80GB", version="0.23.0", mode="predict", gpu_memory_utilization=0.22)
    available = a100.per_gpu.requested_bytes - a100.per_gpu.weights_bytes - a100.per_gpu.activation_bytes \
        - a100.per_gpu.non_torch_bytes - a100.per_gpu.cuda_graph_bytes
    assert a100.verdict != "ok" and -16 * GIB < available < -13 * GIB


def test_limit_zero_and_skip_profiling_drop_the_encoder_activation_and_language_model_only_its_weights():
    base = plan(VL3, "L4", version="0.10.1", mode="predict", max_model_len=8192)
    assert base.per_gpu.encoder_activation_bytes > 0 and base.per_gpu.encoder_weights_bytes > GIB
    text_only = plan(VL3, "L4", version="0.10.1", mode="predict", max_model_len=8192,
                     mm_limits=(("image", 0), ("video", 0)))
    assert text_only.per_gpu.encoder_activation_bytes == 0
    assert text_only.per_gpu.activation_bytes == base.per_gpu.activation_bytes - base.per_gpu.encoder_activation_bytes
    assert text_only.kv_cache_tokens > base.kv_cache_tokens
    # Video still allowed: the Qwen processor profiles a video item, so the profile run stays.
    video = plan(VL3, "L4", version="0.10.1", mode="predict", max_model_len=8192, mm_limits=(("image", 0),))
    assert video.per_gpu.encoder_activation_bytes > 0
    skipped = plan(VL3, "L4", version="0.33.0", mode="predict", max_model_len=8192, skip_mm_profiling=True)
    assert skipped.per_gpu.encoder_activation_bytes == 0
    lm_only = plan(VL3, "L4", version="0.33.0", mode="predict", max_model_len=8192, language_model_only=True)
    assert lm_only.per_gpu.encoder_weights_bytes == 0 and lm_only.per_gpu.encoder_activation_bytes == 0
    with_tower = plan(VL3, "L4", version="0.33.0", mode="predict", max_model_len=8192)
    assert with_tower.per_gpu.weights_bytes - lm_only.per_gpu.weights_bytes == facts(VL3).encoder.parameters * 2


def test_predict_reads_the_multimodal_flags_and_inspect_and_explain_show_the_encoder():
    def run(*argv):
        done = subprocess.run([sys.executable, "-m", "vllm_compile", *argv], capture_output=True, text=True)
        assert done.returncode in (0, 1), done.stderr
        return done.stdout

    argv = ["predict", "--gpu", "L4", "--vllm-version", "0.10.1", "--format", "json", "--", "vllm", "serve", VL3,
            "--max-model-len", "8192"]
    full = json.loads(run(*argv))["per_gpu"]
    limited = json.loads(run(*argv, "--limit-mm-per-prompt", '{"image": 0, "video": 0}'))["per_gpu"]
    assert full["encoder_activation_bytes"] > 0 and limited["encoder_activation_bytes"] == 0
    # The dotted form (vLLM 0.9.0 on) is the same limit: the planner reads the typed value.
    dotted = json.loads(run(*argv, "--limit-mm-per-prompt.image", "0", "--limit-mm-per-prompt.video=0"))["per_gpu"]
    assert dotted == limited
    assert full["encoder_weights_bytes"] == limited["encoder_weights_bytes"] > 0
    report = json.loads(run("inspect", VL3, "--format", "json"))
    assert report["encoder"]["parameters"] == facts(VL3).encoder.parameters and report["parameters"] == 3_754_622_976
    text = run(*argv[:5], "--", "vllm", "serve", VL3, "--max-model-len", "8192")
    assert "of which encoder" in text and "vision tower + projector" in text


def test_gemma3_siglip_tower_and_text_rows_reproduce_the_published_4b_count():
    # google/gemma-3-4b-it's config names few keys (bench/data/model-configs/SOURCES.md: the
    # partial copy from a public C# test); transformers' Gemma3TextConfig defaults fill the rest
    # (8 heads, 4 KV heads, head_dim 256, vocabulary 262208). Published: 4,300,079,472
    # parameters (keras-hub medgemma_4b presets; scripts pinning revision 093f9f388b).
    from vllm_compile.resolve.models import facts_from_config

    config = {"architectures": ["Gemma3ForConditionalGeneration"], "boi_token_index": 255999,
              "eoi_token_index": 256000, "image_token_index": 262144, "mm_tokens_per_image": 256,
              "model_type": "gemma3", "torch_dtype": "bfloat16",
              "text_config": {"hidden_size": 2560, "intermediate_size": 10240, "model_type": "gemma3_text",
                              "num_hidden_layers": 34, "rope_scaling": {"factor": 8.0, "rope_type": "linear"},
                              "sliding_window": 1024, "final_logit_softcapping": 30.0,
                              "num_attention_heads": 8, "num_key_value_heads": 4, "head_dim": 256, "vocab_size": 262208},
              "vision_config": {"hidden_size": 1152, "image_size": 896, "intermediate_size": 4304,
                                "model_type": "siglip_vision_model", "num_attention_heads": 16,
                                "num_hidden_layers": 27, "patch_size": 14, "vision_use_head": False}}
    f = facts_from_config(config, model_id="google/gemma-3-4b-it", source="t")
    assert f.parameters == 4_300_079_472 and not f.warnings
    assert f.encoder.kind == "gemma3" and (f.encoder.tokens_per_item, f.encoder.patches_per_item) == (256, 4096)
    assert f.attention_kinds() == {"full": 5, "sliding": 29} and f.tie_word_embeddings
    # On every rank (vLLM siglip.py, gemma3_mm.py): the patch Conv2d with its bias, per block two
    # LayerNorms and the row-parallel biases, the post LayerNorm and the projector (its norm and
    # plain weight matrix). SigLIP's 64 x 64 position table is vocabulary-parallel: split.
    replicated = 1152 * 3 * 14 * 14 + 1152 + 27 * (4 * 1152 + 2 * 1152) + 2 * 1152 + 1152 + 2560 * 1152
    assert f.encoder.replicated_bytes == 2 * replicated


# Llama 4's vision_config as transformers prints it for meta-llama/Llama-4-Scout-17B-16E, with the
# model's module table (a public markdown note found by the search tool, find_string id
# 41112263523; repository not exposed). No full Instruct config.json with its vision_config was
# found, so the catalog's Llama 4 configs stay text-only; a user's own config (model.path, lock)
# gets the tower counted.
LLAMA4_VISION = {"attention_dropout": 0.0, "hidden_act": "gelu", "hidden_size": 1408, "image_size": 336,
                 "initializer_range": 0.02, "intermediate_size": 5632, "model_type": "llama4_vision_model",
                 "multi_modal_projector_bias": False, "norm_eps": 1e-05, "num_attention_heads": 16, "num_channels": 3,
                 "num_hidden_layers": 34, "patch_size": 14, "pixel_shuffle_ratio": 0.5, "projector_dropout": 0.0,
                 "projector_input_dim": 4096, "projector_output_dim": 4096, "rope_theta": 10000,
                 "vision_feature_layer": -1, "vision_feature_select_strategy": "default", "vision_output_dim": 4096}
SCOUT = "meta-llama/Llama-4-Scout-17B-16E-Instruct"


def _scout_with_tower():
    from plan_support import CONFIGS

    from vllm_compile.resolve.models import facts_from_config

    config = json.loads((CONFIGS / SCOUT / "config.json").read_text())
    return facts_from_config(config | {"vision_config": LLAMA4_VISION}, model_id=SCOUT, source="t")


def test_llama4_vision_model_adapter_and_projector_match_the_printed_module_table():
    f = _scout_with_tower()
    enc = f.encoder
    # The printed module table: class embedding 1408, positional_embedding_vlm 812416 (577 x 1408),
    # patch_embedding.linear 827904 (588 x 1408), four LayerNorm vectors of 1408 around the
    # encoder; per layer q/k/v/o 1982464 + bias 1408 each, fc1 7929856 + 5632, fc2 7929856 + 1408,
    # two LayerNorms (weight + bias); vision_adapter fc1 23068672 and fc2 16777216 (no bias);
    # multi_modal_projector.linear_1 20971520.
    layer = 4 * (1982464 + 1408) + (7929856 + 5632) + (7929856 + 1408) + 4 * 1408
    printed = 34 * layer + 1408 + 812416 + 827904 + 4 * 1408 + 23068672 + 16777216 + 20971520
    assert enc.kind == "llama4" and enc.parameters == printed == 871_932_416
    assert f.parameters == facts(SCOUT).parameters + printed and not f.warnings
    # Per rank as vLLM builds it: the fused qkv and fc1 with their biases, o_proj, fc2, the
    # patch linear, the adapter and the projector split over TP; the class token, position
    # table, LayerNorms and the row-parallel biases on every rank.
    replicated = 1408 + 812416 + 4 * 1408 + 34 * (2 * 1408 + 4 * 1408)
    assert enc.replicated_bytes == 2 * replicated and enc.sharded_bytes == 2 * (printed - replicated)
    assert weights.encoder_rank_bytes(f, 4) == -(-enc.sharded_bytes // 4) + enc.replicated_bytes
    # The profile's image: 16 tiles plus the global one, 144 embeddings each after the 2x2 pixel
    # shuffle of 24 x 24 patches; the tower runs 577 tokens (patches + class token) per tile.
    assert (enc.tokens_per_item, enc.patches_per_item) == (17 * 144, 17 * 577)
    profile = overheads.encoder_profile(f, "v1c", 4, 8192, 256, 1, None, 2)
    assert (profile.budget_tokens, profile.items) == (8192, 4)
    assert profile.cached_bytes == 4 * 2448 * 5120 * 2


def test_llama4_without_vision_config_counts_the_language_model_and_says_so():
    f = facts(SCOUT)
    assert f.encoder is None and any("no vision_config" in w for w in f.warnings)


def test_magistral_plan_holds_the_pixtral_tower_split_over_tp():
    # Mistral 3 (Magistral-Small-2509): the Pixtral tower + projector is on every GPU, its
    # column/row-parallel linears split over TP; 3025-embedding images fill the profile budget.
    magistral = "mistralai/Magistral-Small-2509"
    f = facts(magistral)
    one = plan(magistral, "H100", 1, max_model_len=8192)
    two = plan(magistral, "H100", 2, max_model_len=8192, tensor_parallel_size=2)
    assert one.per_gpu.encoder_weights_bytes == f.encoder.sharded_bytes + f.encoder.replicated_bytes
    assert two.per_gpu.encoder_weights_bytes == weights.encoder_rank_bytes(f, 2) == \
        f.encoder.sharded_bytes // 2 + f.encoder.replicated_bytes
    assert one.per_gpu.encoder_activation_bytes > 0
    lm_only = plan(magistral, "H100", 1, max_model_len=8192, language_model_only=True)
    assert one.per_gpu.weights_bytes - lm_only.per_gpu.weights_bytes == f.encoder.parameters * 2


def test_internvl_plan_holds_internvit_and_mlp1_split_over_tp():
    # InternVL3-1B: the language model comes from llm_config, InternViT-300M + mlp1 from
    # vision_config; TP 2 divides the tower's 16 heads, so qkv/proj split with fc1/fc2, while
    # mlp1 (plain linears in vLLM), norms, layer scales and the embeddings stay whole.
    internvl = "OpenGVLab/InternVL3-1B"
    f = facts(internvl)
    one = plan(internvl, "L4", 1, max_model_len=8192)
    two = plan(internvl, "L4", 2, max_model_len=8192, tensor_parallel_size=2)
    assert one.per_gpu.encoder_weights_bytes == f.encoder.sharded_bytes + f.encoder.replicated_bytes
    assert two.per_gpu.encoder_weights_bytes == f.encoder.sharded_bytes // 2 + f.encoder.replicated_bytes
    assert one.per_gpu.encoder_activation_bytes > 0
    lm_only = plan(internvl, "L4", 1, max_model_len=8192, language_model_only=True)
    assert one.per_gpu.weights_bytes - lm_only.per_gpu.weights_bytes == f.encoder.parameters * 2
    assert lm_only.per_gpu.encoder_activation_bytes == 0


def test_predict_reads_internvl_max_dynamic_patch():
    argv = [sys.executable, "-m", "vllm_compile", "predict", "--gpu", "L4", "--format", "json", "--", "vllm",
            "serve", "OpenGVLab/InternVL3-1B", "--max-model-len", "8192", "--max-num-batched-tokens", "4096"]
    full = json.loads(subprocess.run(argv, capture_output=True, text=True).stdout)["per_gpu"]
    one = json.loads(subprocess.run([*argv, "--mm-processor-kwargs", '{"max_dynamic_patch": 1}'],
                                    capture_output=True, text=True).stdout)["per_gpu"]
    # 13 tiles (3328 embeddings: cdiv(4096, 3328) = 2 images, 6656 cached) against one-tile
    # images of 256 (16 fill the 4096-token budget, 4096 cached): the activation peak differs,
    # the weights do not.
    assert one["encoder_weights_bytes"] == full["encoder_weights_bytes"]
    assert one["encoder_activation_bytes"] != full["encoder_activation_bytes"]
