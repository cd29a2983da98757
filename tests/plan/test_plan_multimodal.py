"""Vision-language models: the vision tower's weights per rank and the memory of vLLM's
multimodal profile run (encoder budget, dummy image batch, cached embeddings), with the flags
that change it."""
from __future__ import annotations

import json
import subprocess
import sys

from plan_support import GIB, facts, plan

from vllm_compile.plan import overheads, weights

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
