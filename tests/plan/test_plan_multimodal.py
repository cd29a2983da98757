"""Vision-language models: the vision tower's weights per rank and the memory of vLLM's
multimodal profile run (encoder budget, dummy image batch, cached embeddings), with the flags
that change it."""
from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

from plan_support import GEMMA3_4B, GIB, facts, plan, request

from vllm_compile.plan import overheads, releases, weights
from profile_rules import profile_rules

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
    one = overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 256, 1, None, 2)
    two = overheads.encoder_profile(f, profile_rules("v1c"), 1, 32768, 256, 1, None, 2)
    assert (one.budget_tokens, one.items) == (16384, 1) and (two.budget_tokens, two.items) == (32768, 2)
    assert two.cached_bytes == 2 * one.cached_bytes == 2 * 16384 * 3584 * 2
    # Smaller images (--mm-processor-kwargs max_pixels): more of them fill the same budget.
    small = overheads.encoder_profile(f, profile_rules("v1c"), 1, 2048, 256, 1, 1024 * 28 * 28, 2)
    assert (small.budget_tokens, small.items) == (2048, 2)
    # max_num_seqs x the per-prompt limit caps the batch.
    assert overheads.encoder_profile(f, profile_rules("v1c"), 1, 32768, 1, 1, None, 2).items == 1
    assert overheads.encoder_profile(f, profile_rules("v1c"), 1, 32768, 256, 0, None, 2) is None


def test_a_long_context_makes_the_qwen_profile_run_encode_a_video_from_0_10_2():
    # vLLM 0.10.2 (PR #24312) sizes the dummy video from the whole context: the most frames, up
    # to 14, whose temporal patches of 16384 embeddings fit max_model_len. A 0.23.0 start-up of
    # Qwen2.5-VL-7B at its 128,000-token context logs "a budget of 114688 tokens, and profiled
    # with 1 video items" (bench/data/calibration, a100-80g-qwen25vl-7b-u022-v023-nokv).
    f = facts(VL7)
    assert f.encoder.video_frames_per_patch == 2
    assert overheads.video_tokens(16384, 2, 128000) == 7 * 16384 == 114688
    from_context = profile_rules("v1c", video_frames_from_context=True)
    video = overheads.encoder_profile(f, from_context, 1, 2048, 256, 1, None, 2, videos_per_prompt=1,
                                      max_model_len=128000)
    assert (video.modality, video.budget_tokens, video.items) == ("video", 114688, 1)
    assert video.cached_bytes == 114688 * 3584 * 2
    # An 8,192-token context holds one temporal patch at most: the video is no larger than an
    # image, and the image is profiled (the L4 start-up of Qwen2.5-VL-3B, vLLM 0.11.0).
    short = overheads.encoder_profile(f, from_context, 1, 2048, 256, 1, None, 2, videos_per_prompt=1,
                                      max_model_len=8192)
    assert (short.modality, short.budget_tokens) == ("image", 16384)
    # Videos limited to 0: the image as before.
    image = overheads.encoder_profile(f, from_context, 1, 2048, 256, 1, None, 2, max_model_len=128000,
                                      videos_per_prompt=0)
    assert (image.modality, image.budget_tokens) == ("image", 16384)
    # Qwen3-VL's processor (Qwen3.5, Qwen3.6) sizes its videos by its own rule (the next tests).
    assert facts("Qwen/Qwen3.6-35B-A3B").encoder.video_frames_per_patch == 0
    new = plan(VL7, "A100-80GB", version="0.23.0", mode="predict", gpu_memory_utilization=0.22)
    old = plan(VL7, "A100-80GB", version="0.10.1", mode="predict", gpu_memory_utilization=0.22)
    no_video = plan(VL7, "A100-80GB", version="0.23.0", mode="predict", gpu_memory_utilization=0.22,
                    mm_limits=(("video", 0),))
    assert new.per_gpu.encoder_activation_bytes > 7 * no_video.per_gpu.encoder_activation_bytes
    assert (new.per_gpu.encoder_modality, no_video.per_gpu.encoder_modality) == ("video", "image")
    assert new.per_gpu.as_json()["encoder_profiled"] == "video"
    assert old.per_gpu.encoder_activation_bytes < no_video.per_gpu.encoder_activation_bytes * 2


def test_before_0_10_2_the_qwen_video_fills_the_context_left_after_one_image_and_is_built_per_release():
    # vLLM 0.8.5-0.10.1 (qwen2_vl.py get_num_frames_with_most_features): the largest video has the
    # most frames, up to 16, that fit max_model_len minus one image: at 128,000 tokens 12 frames,
    # 6 x 16384 = 98,304 embeddings (the budget 0.8 logs of Qwen2.5-VL-7B printed), not 114,688.
    f = facts(VL7)
    r = {v: releases.rules_for(v) for v in ("0.7.3", "0.9.2", "0.10.0", "0.10.1", "0.10.2", "0.11.0")}
    assert [r[v].video_dummy_len for v in r] == ["", "batched_tokens", "item", "batched_tokens", "batched_tokens",
                                                 "model_len"]
    assert [r[v].video_max_frames for v in r] == [16, 16, 16, 16, 16, 14]
    assert [r[v].mm_items_floor for v in r] == [False, False, True, True, True, True]

    def profile(version, batched=2048, model_len=128000, images=1, videos=1, seqs=256):
        rules = r[version]
        only = profile_rules("v1a", video_frames_from_context=rules.video_frames_from_context,
                             video_dummy_len=rules.video_dummy_len, video_max_frames=rules.video_max_frames,
                             mm_items_floor=rules.mm_items_floor)
        return overheads.encoder_profile(f, only, 1, batched, seqs, images, None, 2, videos_per_prompt=videos,
                                         max_model_len=model_len)

    # 0.8/0.9: the budget follows the logged 98,304-token video, but profile_run builds the dummy
    # video for max_num_batched_tokens (2048: one frame, one temporal patch of 16,384 embeddings).
    old = profile("0.9.2")
    assert (old.modality, old.budget_tokens, old.items) == ("video", 98304, 1)
    assert old.cached_bytes == 16384 * 3584 * 2
    # A 40,000-token batch holds 4 frames (2 temporal patches); with images limited to 0 the whole
    # context is the video's (14 frames of 16 fit 128,000: 7 x 16384).
    assert profile("0.9.2", batched=40000).cached_bytes == 2 * 16384 * 3584 * 2
    assert profile("0.9.2", images=0).budget_tokens == 114688
    # 0.10.0 encodes the video at its logged size; 0.10.1 and 0.10.2 at the batch's again; 0.10.2
    # counts the frames from the whole context (up to 16: 131,072 tokens hold 8 temporal patches).
    assert profile("0.10.0").cached_bytes == 98304 * 3584 * 2
    assert profile("0.10.0").forward_bytes == 6 * profile("0.10.1").forward_bytes
    assert profile("0.10.2").budget_tokens == 114688 and profile("0.10.2").cached_bytes == old.cached_bytes
    assert profile("0.10.2", model_len=131072).budget_tokens == 8 * 16384
    assert profile("0.11.0", model_len=131072).budget_tokens == 7 * 16384
    assert profile("0.11.0").cached_bytes == 114688 * 3584 * 2
    # A short context: the video is no larger than an image (a tie): the image is profiled.
    assert profile("0.9.2", model_len=2048).modality == "image"
    # Items: cdiv(budget, item) until 0.9; from 0.10.0 max(1, budget // item), per prompt at most
    # max_model_len // item: a 20,000-token batch profiles two images on 0.9.2, one on 0.10.1.
    assert (profile("0.9.2", batched=20000, videos=0).items, profile("0.10.1", batched=20000, videos=0).items) == (2, 1)
    # 0.8.0-0.8.2 read the per-prompt limits: the Qwen README's 10 images leave no room at 128,000
    # tokens, so the video is one frame and the image is profiled (a 0.8.2 H100 start-up logs "a
    # budget of 16384 tokens, and profiled with 1 image items"); with the default limits of one
    # image and one video the 12-frame video is logged. 0.8.3 sizes for one image and one video.
    assert releases.rules_for("0.8.2").video_room_by_limits and not releases.rules_for("0.8.3").video_room_by_limits

    def early(version, images, videos, batched=2048):
        rules = releases.rules_for(version)
        only = profile_rules("v1a", video_dummy_len=rules.video_dummy_len, video_max_frames=rules.video_max_frames,
                             video_room_by_limits=rules.video_room_by_limits)
        return overheads.encoder_profile(f, only, 1, batched, 256, images, None, 2, videos_per_prompt=videos,
                                         max_model_len=128000)

    assert (early("0.8.2", 10, 10).modality, early("0.8.2", 10, 10).budget_tokens) == ("image", 16384)
    assert (early("0.8.3", 10, 10).modality, early("0.8.3", 10, 10).budget_tokens) == ("video", 98304)
    assert early("0.8.2", 1, 1).budget_tokens == 98304
    # Two videos share the frames: 12 -> 6 each (3 temporal patches); no images: 14 -> 7 frames.
    assert early("0.8.2", 1, 2).budget_tokens == 3 * 16384 and early("0.8.2", 0, 2).budget_tokens == 4 * 16384
    # The batch's dummy video leaves room for the images too: 40,000 - 16,384 tokens hold 2 frames.
    assert early("0.8.2", 1, 1, batched=40000).cached_bytes == 16384 * 3584 * 2
    assert early("0.8.3", 1, 1, batched=40000).cached_bytes == 2 * 16384 * 3584 * 2
    # V0 (0.7.3): no video rule, images as before.
    assert profile("0.7.3").modality == "image"
    # Through the planner: Qwen2.5-VL-7B at 128,000 tokens on an A100 profiles a video on 0.10.0,
    # far above the image it profiles with videos limited to 0.
    ten = plan(VL7, "A100-80GB", version="0.10.0", mode="predict", gpu_memory_utilization=0.5)
    ten_image = plan(VL7, "A100-80GB", version="0.10.0", mode="predict", gpu_memory_utilization=0.5,
                     mm_limits=(("video", 0),))
    assert ten.per_gpu.encoder_modality == "video" and ten_image.per_gpu.encoder_modality == "image"
    assert ten.per_gpu.encoder_activation_bytes > 5 * ten_image.per_gpu.encoder_activation_bytes


def test_qwen3_vl_sizes_its_dummy_video_by_its_own_processor_per_release():
    # Qwen3-VL's video processor holds a whole video to 25,165,824 pixels (video_preprocessor_config
    # size.longest_edge): two frames of the 4096 x 4096 image shrink to 3520 x 3520, 12,100
    # embeddings; three frames (padded to four) to 2880, 16,200; with very many frames each frame
    # is one 32 x 32 embedding per temporal patch, 24,576 frames giving 12,288.
    f = facts("Qwen/Qwen3.6-35B-A3B")
    e = f.encoder
    assert (e.video_max_pixels, e.video_temporal_patch, e.video_frames_per_patch) == (25165824, 2, 0)
    assert overheads.qwen3_video_tokens(2, 4096, 25165824, 32, 2) == 12100
    assert overheads.qwen3_video_tokens(3, 4096, 25165824, 32, 2) == 16200
    assert overheads.qwen3_context_video_tokens(8192, 4096, 25165824, 32, 2) == 12100
    assert overheads.qwen3_context_video_tokens(262144, 4096, 25165824, 32, 2) == 12288

    def profile(version, images=1):
        r = releases.rules_for(version)
        # The release's own video, item and cache rules; the rotary terms left out (forward only).
        only = profile_rules(r.era, video_frames_from_context=r.video_frames_from_context,
                             video_dummy_len=r.video_dummy_len, video_max_frames=r.video_max_frames,
                             mm_items_floor=r.mm_items_floor, qwen3_video_rule=r.qwen3_video_rule,
                             qwen3_video_token_factor=r.qwen3_video_token_factor,
                             mm_cache_pads_to_budget=r.mm_cache_pads_to_budget)
        return overheads.encoder_profile(f, only, 2, 16384, 128, images, None, 2, videos_per_prompt=1,
                                         max_model_len=262144)

    hidden = f.hidden_size * 2
    # 0.11.0-0.12: the budget counts 12.5 tokens per embedding (timestamps): 153,600 > 16,384, the
    # video is profiled; 0.11.0 pads the cached 12,288 embeddings to the budget.
    eleven, twelve = profile("0.11.0"), profile("0.12.0")
    assert (eleven.modality, eleven.budget_tokens, eleven.items) == ("video", 153600, 1)
    assert (eleven.cached_bytes, twelve.cached_bytes) == (153600 * hidden, 12288 * hidden)
    # 0.13-0.14 count the embeddings alone, and from 0.16 the video is two frames: the image is
    # profiled (as the logged Qwen3.6 start-ups on 0.17/0.18 show), the video only without images.
    for version, video in (("0.13.0", 12288), ("0.16.0", 12100), ("0.33.0", 12100)):
        image, only_video = profile(version), profile(version, images=0)
        assert (image.modality, image.budget_tokens, image.cached_bytes) == ("image", 16384, 16384 * hidden)
        assert (only_video.modality, only_video.cached_bytes) == ("video", video * hidden), version
    # Through the planner: Qwen3.6 at 262,144 tokens on 0.11.0 holds more for the profile than on 0.13.0.
    old = plan("Qwen/Qwen3.6-35B-A3B", "H200", 2, version="0.11.0", mode="predict", max_model_len=262144)
    new = plan("Qwen/Qwen3.6-35B-A3B", "H200", 2, version="0.13.0", mode="predict", max_model_len=262144)
    assert (old.per_gpu.encoder_modality, new.per_gpu.encoder_modality) == ("video", "image")


def test_the_tower_forward_counts_the_block_tensors_live_at_its_peak():
    # Qwen2.5-VL's tower (width 1280, gated MLP 3420, 2D rotary, 3 x 2 x 14 x 14 inputs per
    # patch). The MLP's peak, 4 x 1280 + 3 x 3420, is above the attention's (residual, qkv, the
    # kernel's inputs and output: 8 x 1280), except in the releases that rotate q and k
    # concatenated on a float32 copy (0.11), where the attention holds 14 x 1280; the dummy
    # pixels add 4 + 2 bytes per input value.
    enc = facts(VL7).encoder
    assert (enc.pixels_per_patch, enc.gated_mlp, enc.rotary) == (1176, True, True)
    assert overheads.tower_patch_bytes(enc, 1, 2) == (4 * 1280 + 3 * 3420) * 2 + 1176 * 6
    assert overheads.tower_patch_bytes(enc, 1, 2, qk_concat_rotary=True, qk_fp32_rotary=True) == 14 * 1280 * 2 + 1176 * 6
    # Split over TP: the qkv, the q/k copies and the MLP's intermediate tensors; the residual and
    # the pixels stay whole on every rank.
    assert overheads.tower_patch_bytes(enc, 2, 2, qk_concat_rotary=True, qk_fp32_rotary=True) == \
        max(1280 + 13 * 1280 // 2, 4 * 1280 + 3 * 3420 // 2) * 2 + 1176 * 6
    assert overheads.tower_patch_bytes(enc, 1, 2, qk_concat_rotary=True) == \
        overheads.tower_patch_bytes(enc, 1, 2)      # the concatenation alone: only with the float32 pair
    assert releases.rules_for("0.11.0").vision_qk_concat_rotary
    assert not releases.rules_for("0.10.2").vision_qk_concat_rotary and not releases.rules_for("0.12.0").vision_qk_concat_rotary


def test_the_float32_qk_pair_of_the_qwen_vision_rotary_follows_each_release_and_tower():
    # qwen2_vl.py's apply_rotary_pos_emb_vision rotates t.float() in 0.11.0 - 0.11.2 and the model
    # dtype from 0.12.0. qwen2_5_vl.py (Qwen3-VL's blocks too) builds the q/k pair by torch.cat in
    # 0.11.0 and as a view of the fused qkv from 0.11.1; qwen2_vl.py keeps its torch.cat. Pixtral
    # and Llama 4 rotate q and k apart (complex float) in every release: no pair.
    assert [(releases.rules_for(v).vision_qk_fp32_rotary, releases.rules_for(v).vision_qk_concat_rotary)
            for v in ("0.10.2", "0.11.0", "0.11.1", "0.11.2", "0.12.0")] == \
        [(False, False), (True, True), (True, False), (True, False), (False, False)]
    enc = facts(VL7).encoder
    mlp = overheads.tower_patch_bytes(enc, 1, 2)
    pixels = 1176 * 6
    assert mlp == (4 * 1280 + 3 * 3420) * 2 + pixels
    assert overheads.tower_patch_bytes(enc, 1, 2, True, True) == 14 * 1280 * 2 + pixels       # 0.11.0
    # 0.11.1: residual, qkv and the float32 pair and its output (12 x 1280) fall just below the
    # MLP's 4 x 1280 + 3 x 3420, which is the peak again.
    assert overheads.tower_patch_bytes(enc, 1, 2, False, True) == max(12 * 1280, 4 * 1280 + 3 * 3420) * 2 + pixels
    assert overheads.tower_patch_bytes(enc, 2, 2, False, True) == \
        max(1280 + 11 * 1280 // 2, 4 * 1280 + 3 * 3420 // 2) * 2 + pixels
    wide = dataclasses.replace(enc, intermediate_size=1280)
    assert overheads.tower_patch_bytes(wide, 1, 2, False, True) == 12 * 1280 * 2 + pixels
    qwen2_vl = dataclasses.replace(enc, kind="qwen2_vl")
    assert overheads.tower_patch_bytes(qwen2_vl, 1, 2, False, True) == 14 * 1280 * 2 + pixels
    for other in (facts("mistralai/Magistral-Small-2509").encoder, _scout_with_tower().encoder):
        assert other.rotary and other.kind not in overheads.QWEN_VISION_ATTENTION
        assert overheads.tower_patch_bytes(other, 1, 2, True, True) == overheads.tower_patch_bytes(other, 1, 2)
    # Through the planner: the same start-up holds less for the tower on 0.11.1 than on 0.11.0.
    old, new = (plan(VL3, "L4", version=v, mode="predict", max_model_len=8192, max_num_batched_tokens=2048)
                for v in ("0.11.0", "0.11.1"))
    assert old.per_gpu.encoder_activation_bytes > new.per_gpu.encoder_activation_bytes > 0
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

    # 0.10.0 still builds the tower with every limit at 0 (0.10.1 does not: the next test).
    argv = ["predict", "--gpu", "L4", "--vllm-version", "0.10.0", "--format", "json", "--", "vllm", "serve", VL3,
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


def test_every_limit_at_zero_skips_building_the_tower_from_the_release_that_does():
    # vLLM 0.10.1 builds no Qwen tower (qwen2_5_vl.py: self.visual = None) when the image and the
    # video limits are both 0; 0.10.0 still loads it. Gemma 3's tower is skipped only from 0.16.0
    # (gemma3_mm.py _mark_tower_model); planner-rules.json holds the first release per tower row.
    zero = (("image", 0), ("video", 0))
    tower = facts(VL3).encoder.sharded_bytes + facts(VL3).encoder.replicated_bytes
    for version, skipped in (("0.10.0", False), ("0.10.1", True), ("0.33.0", True)):
        full = plan(VL3, "L4", version=version, mode="predict", max_model_len=8192)
        text = plan(VL3, "L4", version=version, mode="predict", max_model_len=8192, mm_limits=zero)
        assert text.per_gpu.encoder_activation_bytes == 0
        assert full.per_gpu.weights_bytes - text.per_gpu.weights_bytes == (tower if skipped else 0), version
        assert (text.per_gpu.encoder_weights_bytes == 0) == skipped
    # One modality still allowed keeps the tower; the JSON flag form reads the same.
    video_only = plan(VL3, "L4", version="0.33.0", mode="predict", max_model_len=8192, mm_limits=(("image", 0),))
    assert video_only.per_gpu.encoder_weights_bytes > 0 and video_only.per_gpu.encoder_activation_bytes > 0
    # Gemma 3 (one modality, image): the rule's own release. The bundled catalog has no Gemma 3
    # config; a Gemma-3-shaped tower row stands in through the facts of the Qwen model.
    from vllm_compile.plan import tower_skipped

    gemma = dataclasses.replace(facts(VL3), encoder=dataclasses.replace(facts(VL3).encoder, kind="gemma3",
                                                                         pixels_per_token=0,
                                                                         video_frames_per_patch=0))
    for version, skipped in (("0.14.0", False), ("0.16.0", True)):
        req = request(VL3, "L4", version=version, mm_limits=(("image", 0),))
        assert tower_skipped(dataclasses.replace(req, model=gemma), gemma) == skipped, version
        assert not tower_skipped(req, req.model)    # the Qwen tower also takes videos, still allowed
    # InternVL (internvl.py, _mark_tower_model over image and video, 0.16.0 on): both limits at 0.
    intern = dataclasses.replace(facts(VL3), encoder=dataclasses.replace(facts(VL3).encoder, kind="internvl"))
    for version, limits, skipped in (("0.14.0", (("image", 0), ("video", 0)), False),
                                     ("0.16.0", (("image", 0),), False),
                                     ("0.16.0", (("image", 0), ("video", 0)), True)):
        req = dataclasses.replace(request(VL3, "L4", version=version, mm_limits=limits), model=intern)
        assert tower_skipped(req, intern) == skipped, (version, limits)


def test_gemma3_siglip_tower_and_text_rows_reproduce_the_published_4b_count():
    # google/gemma-3-4b-it's config names few keys (bench/data/model-configs/SOURCES.md: the
    # partial copy from a public C# test); transformers' Gemma3TextConfig defaults fill the rest
    # (8 heads, 4 KV heads, head_dim 256, vocabulary 262208). Published: 4,300,079,472
    # parameters (keras-hub medgemma_4b presets; scripts pinning revision 093f9f388b).
    from vllm_compile.resolve.models import facts_from_config

    f = facts_from_config(GEMMA3_4B, model_id="google/gemma-3-4b-it", source="t")
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
    profile = overheads.encoder_profile(f, profile_rules("v1c"), 4, 8192, 256, 1, None, 2)
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
