"""Audio-language models: Qwen2-Audio's Whisper-style audio tower and projector counted from
`audio_config` (whole on every rank), the profile run's dummy audio batch, `--limit-mm-per-prompt`
for audio, and how inspect / explain show the tower."""
from __future__ import annotations

import json

from plan_support import CONFIGS, GIB, cdiv, gpu

from vllm_compile.commands._ledger import ledger_text
from vllm_compile.ir.plan import PlanRequest
from vllm_compile.plan import overheads, plan_deployment, weights
from vllm_compile.resolve.models import facts_from_config
from vllm_compile.resolve.models.audio import with_defaults
from profile_rules import profile_rules

# The keys Qwen/Qwen2-Audio-7B-Instruct's config.json states, as public replicas of it quote them
# (found with the search tool's find_string "vocab_size": 156032, e.g. ids 71219223641 and
# 55608441559: a text_config without widths or head counts); no byte-identical copy was found to
# vendor. transformers fills the rest of text_config from Qwen2Config (4096 wide, 32 layers, 32
# heads, 32 KV heads) and of audio_config from Qwen2AudioEncoderConfig (1280 wide, 32 layers, 5120
# MLP, 128 mel bins, 1500 positions).
QWEN2_AUDIO = {
    "architectures": ["Qwen2AudioForConditionalGeneration"], "audio_config": {"model_type": "qwen2_audio_encoder"},
    "audio_token_index": 151646, "ignore_index": -100, "model_type": "qwen2_audio",
    "text_config": {"bos_token_id": 151643, "eos_token_id": 151645, "intermediate_size": 11008,
                    "max_position_embeddings": 8192, "model_type": "qwen2", "rms_norm_eps": 1e-05,
                    "rope_theta": 10000, "sliding_window": 32768, "torch_dtype": "bfloat16", "use_mrope": False,
                    "vocab_size": 156032},
    "torch_dtype": "bfloat16", "vocab_size": 156032}
MODEL = "Qwen/Qwen2-Audio-7B-Instruct"


def _facts(config=QWEN2_AUDIO):
    return facts_from_config(config, model_id=MODEL, source="t")


def _whisper_tower(d: int, layers: int, ffn: int, mels: int, positions: int) -> int:
    """Parameters of the Whisper-style encoder as transformers' Qwen2AudioEncoder declares it."""
    convs = (mels * d * 3 + d) + (d * d * 3 + d)
    attention = 3 * (d * d + d) + d * d          # q, v, out with bias; k without
    block = attention + (ffn * d + ffn) + (d * ffn + d) + 2 * 2 * d
    return convs + positions * d + layers * block + 2 * d


def test_qwen2_audio_counts_the_tower_and_reproduces_the_published_8_4b():
    f = _facts()
    assert not f.warnings and f.multimodal and f.encoder.modality == "audio"
    tower = _whisper_tower(1280, 32, 5120, 128, 1500)
    projector = 1280 * 4096 + 4096
    assert f.encoder.parameters == tower + projector
    # The language model: Qwen2 with q/k/v biases, untied 156032-row embedding and head.
    h, i, v = 4096, 11008, 156032
    lm = 2 * v * h + 32 * (3 * (h * h + h) + h * h + 3 * h * i + 2 * h) + h
    assert f.parameters == lm + tower + projector
    assert round(f.parameters / 1e9, 1) == 8.4      # the model card's "8.4B params"
    assert (f.hidden_size, f.num_layers, f.num_kv_heads, f.max_position_embeddings) == (4096, 32, 32, 8192)
    assert not f.tie_word_embeddings and f.weight_bytes == 2 * f.parameters


def test_the_audio_tower_is_whole_on_every_rank():
    # vLLM builds transformers' Qwen2AudioEncoder and a plain nn.Linear projector: nothing is
    # split over tensor parallelism.
    f = _facts()
    enc = f.encoder
    assert enc.sharded_bytes == 0 and enc.replicated_bytes == 2 * enc.parameters
    assert weights.encoder_rank_bytes(f, 1) == weights.encoder_rank_bytes(f, 4) == 2 * enc.parameters
    one, four = weights.rank_weight_bytes(f, 1, 1, 0), weights.rank_weight_bytes(f, 4, 1, 0)
    lm = one - 2 * enc.parameters
    assert four - 2 * enc.parameters < lm // 4 + lm // 50     # the language model splits, the tower does not
    # The later stages of a pipeline hold no tower.
    assert weights.rank_weight_bytes(f, 1, 2, 1) < weights.rank_weight_bytes(f, 1, 2, 0) - 2 * enc.parameters // 2


def test_the_profile_runs_30_second_clips_through_the_tower():
    f = _facts()
    enc = f.encoder
    # 30 s at 16 kHz -> 3000 mel frames -> 1500 positions after the stride-2 conv -> 750 after the pool.
    frames = 30 * 16000 // 160
    positions = (frames - 1) // 2 + 1
    assert (enc.patches_per_item, enc.tokens_per_item) == (positions, (positions - 2) // 2 + 1) == (1500, 750)
    p = overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 256, 1, None, 2)
    assert (p.budget_tokens, p.items) == (8192, cdiv(8192, 750)) == (8192, 11)
    assert p.cached_bytes == 11 * 750 * 4096 * 2
    # The budget is at least one clip; max_num_seqs x the limit caps the batch.
    small = overheads.encoder_profile(f, profile_rules("v1c"), 1, 512, 256, 1, None, 2)
    assert (small.budget_tokens, small.items) == (750, 1)
    assert overheads.encoder_profile(f, profile_rules("v1c"), 1, 8192, 2, 3, None, 2).items == 6
    # The whole tower runs on every rank, so its forward does not shrink with TP.
    assert overheads.encoder_profile(f, profile_rules("v1c"), 4, 8192, 256, 1, None, 2).forward_bytes == p.forward_bytes
    one_clip = overheads.encoder_profile(f, profile_rules("v1c"), 1, 750, 256, 1, None, 2)
    assert p.forward_bytes == 11 * one_clip.forward_bytes
    # Per position, whole on the rank: the larger of the attention's residual + qkv + kernel
    # in/out (8 x 1280) and the MLP's 4 x 1280 + fc1 and its GELU (2 x 5120), in bf16, plus the
    # 2 x 128 float32 mel values behind it and their bf16 copy.
    assert one_clip.forward_bytes == 1500 * (max(8 * 1280, 4 * 1280 + 2 * 5120) * 2 + 2 * 128 * (4 + 2))


def _plan(**kw):
    return plan_deployment(PlanRequest(vllm_version="0.10.1", model=_facts(), gpu=gpu("L4"), gpu_count=1,
                                       mode="predict", max_model_len=4096, **kw))


def test_limit_zero_for_audio_skips_the_profile_and_the_ledger_names_the_audio_tower():
    base = _plan()
    enc = _facts().encoder
    assert base.per_gpu.encoder_weights_bytes == 2 * enc.parameters > GIB
    assert base.per_gpu.encoder_activation_bytes > 0 and base.per_gpu.encoder_modality == "audio"
    assert base.encoder_towers == "audio"
    muted = _plan(mm_limits=(("audio", 0),))
    assert muted.per_gpu.encoder_activation_bytes == 0
    assert muted.per_gpu.activation_bytes == base.per_gpu.activation_bytes - base.per_gpu.encoder_activation_bytes
    assert muted.kv_cache_tokens > base.kv_cache_tokens
    # An image limit does not touch the audio profile.
    assert _plan(mm_limits=(("image", 0),)).per_gpu == base.per_gpu
    lm_only = _plan(language_model_only=True)
    assert base.per_gpu.weights_bytes - lm_only.per_gpu.weights_bytes == 2 * enc.parameters
    text = ledger_text("qwen2-audio", base, "L4")
    assert "audio tower + projector" in text and "dummy audio batch" in text and "vision" not in text


def test_inspect_reports_the_audio_tower_separately():
    from vllm_compile.commands.inspect import render_text, report

    f = _facts()
    r = report(f)
    assert r["encoder"]["modality"] == "audio" and r["encoder"]["parameters"] == f.encoder.parameters
    line = next(row for row in render_text(r).splitlines() if row.lstrip().startswith("encoder"))
    assert f"{f.encoder.parameters:,} parameters (qwen2_audio audio tower + projector: 32 blocks of width 1280" in line
    assert "750 tokens per audio" in line and f"language model {f.parameters - f.encoder.parameters:,}" in line


def test_sparse_sub_configs_take_transformers_defaults_and_stated_keys_win():
    filled = with_defaults(QWEN2_AUDIO)
    assert filled["text_config"]["hidden_size"] == 4096 and filled["text_config"]["intermediate_size"] == 11008
    assert filled["audio_config"]["d_model"] == 1280 and QWEN2_AUDIO["audio_config"] == {
        "model_type": "qwen2_audio_encoder"}        # the caller's dict is not changed
    smaller = dict(QWEN2_AUDIO, audio_config={"model_type": "qwen2_audio_encoder", "encoder_layers": 4,
                                              "d_model": 256, "encoder_ffn_dim": 512, "max_source_positions": 100})
    enc = _facts(smaller).encoder
    assert enc.parameters == _whisper_tower(256, 4, 512, 128, 100) + 256 * 4096 + 4096
    assert (enc.patches_per_item, enc.tokens_per_item) == (100, 50)


def test_an_audio_tower_outside_the_table_is_named_in_the_warning():
    config = {"architectures": ["SomeAudioForConditionalGeneration"], "model_type": "some_audio",
              "audio_config": {"hidden_size": 1024},
              "text_config": {"model_type": "llama", "hidden_size": 2048, "num_hidden_layers": 4,
                              "num_attention_heads": 16, "intermediate_size": 8192, "vocab_size": 32000}}
    f = facts_from_config(config, model_id="x/y", source="t", generic_ok=True)
    assert f.encoder is None and any("'some_audio': its audio tower is not in the table" in w for w in f.warnings)


def test_predict_and_inspect_on_a_local_qwen2_audio_checkpoint(tmp_path):
    import subprocess
    import sys

    (tmp_path / "config.json").write_text(json.dumps(QWEN2_AUDIO))

    def run(*argv):
        done = subprocess.run([sys.executable, "-m", "vllm_compile", *argv], capture_output=True, text=True)
        assert done.returncode in (0, 1), done.stderr
        return done.stdout

    argv = ["predict", "--gpu", "L4", "--vllm-version", "0.10.1", "--format", "json", "--", "vllm", "serve",
            str(tmp_path), "--max-model-len", "4096"]
    full = json.loads(run(*argv))["per_gpu"]
    muted = json.loads(run(*argv, "--limit-mm-per-prompt", '{"audio": 0}'))["per_gpu"]
    tower = 2 * _facts().encoder.parameters
    assert full["encoder_weights_bytes"] == muted["encoder_weights_bytes"] == tower
    assert full["encoder_activation_bytes"] > 0 and muted["encoder_activation_bytes"] == 0
    report = json.loads(run("inspect", str(tmp_path), "--format", "json"))
    assert report["encoder"]["modality"] == "audio" and report["parameters"] == _facts().parameters
    assert not report["warnings"]


# Qwen2.5-Omni-7B's layout (thinker_config with text/audio/vision sub-configs, the thinker's
# dimensions as public replicas quote them, e.g. find_string id 54990794549; the vision keys as
# Qwen2.5-VL's config names them, which vLLM's Qwen2_5_VisionTransformer reads). Not a vendored
# copy: no byte-identical config.json was found.
OMNI = {
    "architectures": ["Qwen2_5OmniModel"], "model_type": "qwen2_5_omni", "torch_dtype": "bfloat16",
    "talker_config": {"hidden_size": 896, "num_hidden_layers": 24},
    "thinker_config": {
        "model_type": "qwen2_5_omni_thinker", "audio_token_index": 151646, "image_token_index": 151655,
        "text_config": {"model_type": "qwen2_5_omni_text", "hidden_size": 3584, "intermediate_size": 18944,
                        "num_attention_heads": 28, "num_key_value_heads": 4, "num_hidden_layers": 28,
                        "vocab_size": 152064, "max_position_embeddings": 32768, "rms_norm_eps": 1e-06,
                        "rope_theta": 1000000.0, "tie_word_embeddings": False,
                        "rope_scaling": {"mrope_section": [16, 24, 24], "rope_type": "default", "type": "default"}},
        "audio_config": {"model_type": "qwen2_5_omni_audio_encoder", "d_model": 1280, "encoder_attention_heads": 20,
                         "encoder_ffn_dim": 5120, "encoder_layers": 32, "num_mel_bins": 128,
                         "max_source_positions": 1500, "n_window": 100, "output_dim": 3584},
        "vision_config": {"model_type": "qwen2_5_omni_vision_encoder", "depth": 32, "hidden_size": 1280,
                          "intermediate_size": 3420, "num_heads": 16, "in_channels": 3, "out_hidden_size": 3584,
                          "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2, "window_size": 112,
                          "fullatt_block_indexes": [7, 15, 23, 31]}}}


def test_qwen2_5_omni_counts_the_thinker_with_both_towers():
    f = facts_from_config(OMNI, model_id="Qwen/Qwen2.5-Omni-7B", source="t")
    enc = f.encoder
    assert not f.warnings and enc.kind == "qwen2_5_omni" and enc.modality == "image"
    # The audio tower: Qwen2-Audio's encoder without a position table (sinusoids, a buffer), with
    # ln_post, the proj to 3584 and the two audio start/end embeddings.
    audio = _whisper_tower(1280, 32, 5120, 128, 1500) - 1500 * 1280 + (3584 * 1280 + 3584) + 2 * 3584
    assert enc.audio_parameters == audio
    # The vision tower is Qwen2.5-VL-7B's: transformers counts its `model.visual` at 676,550,144.
    assert enc.parameters - audio == 676_550_144
    # The language model is Qwen2.5-7B's (7,615,616,512 parameters); talker and token2wav are not loaded.
    assert f.parameters == 7_615_616_512 + 676_550_144 + audio
    assert f.model_type == "qwen2" and f.hidden_size == 3584 and f.num_kv_heads == 4
    # Per rank: the vision tower's parallel linears split, the audio tower whole.
    vl = facts_from_config(json.loads((CONFIGS / "Qwen/Qwen2.5-VL-7B-Instruct/config.json").read_text()),
                           model_id="Qwen/Qwen2.5-VL-7B-Instruct", source="t").encoder
    assert enc.sharded_bytes == vl.sharded_bytes and enc.replicated_bytes == vl.replicated_bytes + 2 * audio
    assert weights.encoder_rank_bytes(f, 2) == -(-vl.sharded_bytes // 2) + vl.replicated_bytes + 2 * audio
    # The profile is the image's (16384 embeddings per item against 750 per clip).
    assert (enc.tokens_per_item, enc.patches_per_item) == (vl.tokens_per_item, vl.patches_per_item) == (16384, 65536)


def test_qwen2_5_omni_ledger_and_inspect_name_both_towers():
    from vllm_compile.commands.inspect import render_text, report

    f = facts_from_config(OMNI, model_id="Qwen/Qwen2.5-Omni-7B", source="t")
    p = plan_deployment(PlanRequest(vllm_version="0.10.1", model=f, gpu=gpu("A100-80GB"), gpu_count=1,
                                    mode="predict", max_model_len=8192))
    assert p.encoder_towers == "image+audio"
    assert p.per_gpu.encoder_weights_bytes == f.encoder.sharded_bytes + f.encoder.replicated_bytes
    assert "vision and audio towers + projectors" in ledger_text("omni", p, "A100-80GB")
    line = next(row for row in render_text(report(f)).splitlines() if row.lstrip().startswith("encoder"))
    assert f"audio tower + projection {f.encoder.audio_parameters:,}" in line


def test_qwen2_5_omni_with_images_and_videos_at_zero_says_its_audio_profile_is_not_counted():
    # vLLM then profiles the one modality left, audio; the plan has no audio profile for the
    # thinker's tower, so it says so instead of reporting a text-only activation peak silently.
    f = facts_from_config(OMNI, model_id="Qwen/Qwen2.5-Omni-7B", source="t")

    def run(limits):
        return plan_deployment(PlanRequest(vllm_version="0.16.0", model=f, gpu=gpu("A100-80GB"), gpu_count=1,
                                           mode="predict", max_model_len=8192, mm_limits=limits))

    def audio_notes(p):
        return [w for w in p.warnings if "dummy audio batch" in str(w)]

    audio_left = run((("image", 0), ("video", 0)))
    assert audio_left.per_gpu.encoder_activation_bytes == 0
    assert len(audio_notes(audio_left)) == 1
    assert audio_notes(run((("audio", 0), ("image", 0), ("video", 0)))) == []
    assert audio_notes(run(())) == [] and run(()).per_gpu.encoder_activation_bytes > 0
    # Qwen2-Audio profiles its audio itself: no such note.
    assert audio_notes(_plan()) == []


def test_broken_audio_configs_are_reported_by_key():
    from vllm_compile.resolve.models.config import FactsError

    cases = {"d_model": dict(QWEN2_AUDIO, audio_config={"d_model": "wide"}),
             "audio_config": dict(QWEN2_AUDIO, audio_config=[1]),
             "max_source_positions": dict(QWEN2_AUDIO, audio_config={"max_source_positions": 1}),
             "text_config": dict(QWEN2_AUDIO, text_config=[]),
             "output_dim": dict(OMNI, thinker_config=dict(OMNI["thinker_config"], audio_config={"output_dim": 0}))}
    for key, config in cases.items():
        try:
            facts_from_config(config, model_id="x/y", source="t")
        except FactsError as exc:
            assert exc.key == key, (key, exc.message)
        else:
            raise AssertionError(f"{key}: accepted")
