"""Audio towers of multimodal models, counted from `audio_config`.

Qwen2-Audio (`Qwen2AudioForConditionalGeneration`, model_type `qwen2_audio`): vLLM builds the
audio tower with transformers' own `Qwen2AudioEncoder` and the projector as a plain `nn.Linear`
(vLLM qwen2_audio.py), so no tensor of them is split over tensor parallelism: every rank holds
the whole tower. The encoder is Whisper's: two Conv1d over the mel bins (kernel 3, with bias;
the second with stride 2), a learned position table of `max_source_positions` rows, blocks of
pre-norm self-attention (q/v/out projections with bias, k without, as Whisper) and a GELU MLP
(fc1/fc2 with bias), each with two LayerNorms, an average pool of 2 over time, a final
LayerNorm, then `multi_modal_projector.linear` (d_model -> the language model's width, with bias).

Profile item (Qwen2AudioProcessingInfo / Qwen2AudioDummyInputsBuilder): a silent clip of the
feature extractor's `chunk_length` (30 s at 16 kHz), padded to 3000 mel frames; the convolutions
leave `max_source_positions` (1500) encoder positions, the pool half of them: 750 embeddings
per clip, the figure `get_mm_max_tokens_per_item` gives ((max_source_positions - 2) // 2 + 1).

Released configs (Qwen/Qwen2-Audio-7B, -7B-Instruct) name only a few keys of `text_config` and
`audio_config`; transformers fills the rest from Qwen2Config's and Qwen2AudioEncoderConfig's
defaults when vLLM loads them, and `with_defaults` does the same here.
"""
from __future__ import annotations

from typing import Any

from vllm_compile.ir.facts import EncoderFacts

from .config import LIMITS, Config
from .families import Tensor

# transformers' defaults for the sub-configs a Qwen2-Audio config leaves out (Qwen2Config and
# Qwen2AudioEncoderConfig; Qwen2AudioConfig builds a missing audio_config with these values).
QWEN2_TEXT_DEFAULTS: dict[str, Any] = {
    "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 4096, "intermediate_size": 22016,
    "num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32, "hidden_act": "silu",
    "max_position_embeddings": 32768, "tie_word_embeddings": False, "rope_theta": 10000.0}
QWEN2_AUDIO_ENCODER_DEFAULTS: dict[str, Any] = {
    "model_type": "qwen2_audio_encoder", "num_mel_bins": 128, "encoder_layers": 32, "encoder_attention_heads": 20,
    "encoder_ffn_dim": 5120, "d_model": 1280, "max_source_positions": 1500, "scale_embedding": False,
    "activation_function": "gelu"}
# Qwen2.5-Omni's thinker audio encoder (Qwen2_5OmniAudioEncoderConfig): Qwen2-Audio's, projecting
# to `output_dim`.
OMNI_AUDIO_ENCODER_DEFAULTS: dict[str, Any] = {**QWEN2_AUDIO_ENCODER_DEFAULTS, "model_type": "qwen2_5_omni_audio_encoder",
                                               "n_window": 100, "output_dim": 3584}
# Top-level model_type -> (text defaults, audio defaults).
DEFAULTS = {"qwen2_audio": (QWEN2_TEXT_DEFAULTS, QWEN2_AUDIO_ENCODER_DEFAULTS),
            "qwen2_5_omni_thinker": ({}, OMNI_AUDIO_ENCODER_DEFAULTS)}
# Audio towers the table knows: top-level model_type -> tower kind.
AUDIO_TOWERS = {"qwen2_audio": "qwen2_audio", "qwen2_5_omni_thinker": "qwen2_5_omni"}
# The model types whose language model vLLM builds as Qwen2ForCausalLM (qwen2_audio.py,
# qwen2_5_omni_thinker.py: `architectures=["Qwen2ForCausalLM"]`), whatever text_config calls it.
QWEN2_TEXT = ("qwen2_audio", "qwen2_5_omni_thinker")


def thinker(config: dict) -> dict:
    """Qwen2.5-Omni (`Qwen2_5OmniModel` / `Qwen2_5OmniForConditionalGeneration`, model_type
    qwen2_5_omni): vLLM serves the thinker alone (Qwen2_5OmniThinkerForConditionalGeneration;
    the talker and token2wav weights are not loaded), so its facts are those of
    `thinker_config`, with the top level's architectures and dtype. Other configs: unchanged."""
    inner = config.get("thinker_config")
    if config.get("model_type") != "qwen2_5_omni" or not isinstance(inner, dict):
        return config
    view = {**inner, "model_type": "qwen2_5_omni_thinker"}
    for key in ("architectures", "torch_dtype", "dtype"):
        if view.get(key) is None and config.get(key) is not None:
            view[key] = config[key]
    return view


def with_defaults(config: dict) -> dict:
    """`config` with the sub-config keys transformers would fill in (a new dict; unchanged for a
    model type without a row in `DEFAULTS`; a sub-config that is not an object is left as it is,
    for `Config` to report by key). Qwen2.5-Omni
    is read as its thinker (`thinker`)."""
    config = thinker(config)
    row = DEFAULTS.get(str(config.get("model_type")))
    if row is None:
        return config
    text_defaults, audio_defaults = row

    def filled(sub: Any, defaults: dict[str, Any]) -> Any:
        if sub is not None and not isinstance(sub, dict):
            return sub     # Config reports the wrong type by key
        return {**defaults, **{k: v for k, v in (sub or {}).items() if v is not None}}

    text, audio = filled(config.get("text_config"), text_defaults), filled(config.get("audio_config"), audio_defaults)
    if isinstance(text, dict) and config.get("model_type") in QWEN2_TEXT:
        text["model_type"] = "qwen2"
    return {**config, "text_config": text, "audio_config": audio}


def _v(name: str, n: int) -> Tensor:
    return Tensor(name, n, 0, "replicated")


def _linear(name: str, rows: int, cols: int, *, bias: bool) -> list[Tensor]:
    return [Tensor(name, rows, cols, "replicated")] + ([_v(name + ".bias", rows)] if bias else [])


def audio_encoder_facts(top: Config, model_type: str, text_hidden: int,
                        elem: int) -> tuple[EncoderFacts | None, str | None]:
    """(facts, None) for an audio tower the table knows; (None, warning) for one it does not."""
    kind = AUDIO_TOWERS.get(model_type)
    if kind is None:
        return None, (f"multimodal model {model_type!r}: its audio tower is not in the table of towers, so only the "
                      "language model is counted; the audio encoder weights and its profile run come on top")
    a = Config(top.dict("audio_config") or {}, where=".audio_config")
    width = a.int("d_model", limit=LIMITS["hidden_size"])
    depth = a.int("encoder_layers", limit=LIMITS["num_hidden_layers"])
    inter = a.int("encoder_ffn_dim", limit=LIMITS["intermediate_size"])
    mels = a.int("num_mel_bins", limit=4096)
    positions = a.int("max_source_positions", limit=1 << 20, minimum=2)   # 2 positions pool to one embedding
    omni = kind == "qwen2_5_omni"
    tensors: list[Tensor] = []
    tensors += _linear("audio_tower.conv1", width, mels * 3, bias=True)
    tensors += _linear("audio_tower.conv2", width, width * 3, bias=True)
    if omni:   # sinusoidal positions (a buffer, not a weight); the audio start/end embeddings
        out = a.int("output_dim", limit=LIMITS["hidden_size"])
        tensors.append(Tensor("audio_tower.audio_bos_eos_token", 2, out, "replicated", quantizable=False))
    else:
        tensors.append(Tensor("audio_tower.embed_positions", positions, width, "replicated", quantizable=False))
    for i in range(depth):
        p = f"audio_tower.layers.{i}."
        tensors += _linear(p + "self_attn.q_proj", width, width, bias=True)
        tensors += _linear(p + "self_attn.k_proj", width, width, bias=False)
        tensors += _linear(p + "self_attn.v_proj", width, width, bias=True)
        tensors += _linear(p + "self_attn.out_proj", width, width, bias=True)
        tensors += [_v(p + "self_attn_layer_norm", width), _v(p + "self_attn_layer_norm.bias", width)]
        tensors += _linear(p + "fc1", inter, width, bias=True) + _linear(p + "fc2", width, inter, bias=True)
        tensors += [_v(p + "final_layer_norm", width), _v(p + "final_layer_norm.bias", width)]
    tensors += [_v("audio_tower.layer_norm", width), _v("audio_tower.layer_norm.bias", width)]
    if omni:   # the tower's own projection (ln_post, proj) in place of a separate projector
        tensors += _linear("audio_tower.proj", out, width, bias=True)
        return _with_vision(top, sum(t.parameters for t in tensors), text_hidden, elem)
    tensors += _linear("multi_modal_projector.linear", text_hidden, width, bias=True)
    tokens = (positions - 2) // 2 + 1
    parameters = sum(t.parameters for t in tensors)
    return EncoderFacts(kind=kind, modality="audio", parameters=parameters, sharded_bytes=0,
                        replicated_bytes=parameters * elem, hidden_size=width, intermediate_size=inter,
                        num_layers=depth, patches_per_item=positions, tokens_per_item=tokens,
                        patches_per_token=max(1, positions // tokens),
                        # the float32 mel features behind one position (the stride-2 conv: 2 frames)
                        pixels_per_patch=mels * 2), None


def _with_vision(top: Config, audio: int, text_hidden: int, elem: int) -> tuple[EncoderFacts | None, str | None]:
    """Qwen2.5-Omni's thinker: the audio tower (`audio` parameters, whole on every rank: vLLM
    builds transformers' Qwen2_5OmniAudioEncoder) beside the Qwen2.5-VL vision tower vLLM builds
    from `vision_config` (qwen2_5_vl.py's Qwen2_5_VisionTransformer, split over TP). The profile
    run's dummy batch is of the modality with the most embeddings per item, the image (16384 at
    the processor's max_pixels, against 750 per 30 s clip), so the profile fields are the vision
    tower's."""
    from dataclasses import replace

    from .vision import encoder_facts

    if top.dict("vision_config") is None:
        return None, ("multimodal model 'qwen2_5_omni': its thinker_config holds no vision_config, so only the "
                      "language model is counted; the encoder weights come on top")
    vision, missing = encoder_facts(Config({"model_type": "qwen2_5_vl", "vision_config": top.dict("vision_config")}),
                                    "qwen2_5_vl", text_hidden, elem)
    if vision is None:
        return None, missing
    return replace(vision, kind="qwen2_5_omni", parameters=vision.parameters + audio,
                   replicated_bytes=vision.replicated_bytes + audio * elem, audio_parameters=audio), None
