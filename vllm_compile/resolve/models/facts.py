"""config.json (+ quantization config, + safetensors header totals) -> `ModelFacts`."""
from __future__ import annotations

import json

from vllm_compile.ir.facts import ModelFacts

from . import quant
from .config import LIMITS, Config, FactsError, checkpoint_dtype, max_len_stated, max_model_len, rope_parameters, text_config
from .counting import header_bytes, layer_facts, weigh
from .families import build


def facts_from_config(config: dict, *, model_id: str, source: str,
                      quant_config: dict | None = None,
                      safetensors_dtypes: dict[str, int] | None = None,
                      quantization: str | None = None,
                      dtype: str = "auto",
                      revision: str | None = None,
                      gated: bool = False,
                      generic_ok: bool = False) -> ModelFacts:
    """Normalised facts of one checkpoint.

    `quant_config` is a separate `hf_quant_config.json` (ModelOpt); `safetensors_dtypes` the
    per-dtype element counts of the loaded tensors, whose byte total then wins over the computed
    layout; `quantization` is the spec's `model.quantization`; `dtype` the spec's `model.dtype`.
    An unknown `model_type` with the standard keys is read as a Llama-style decoder with a
    warning (`generic_ok` drops the warning, for facts the user stated by hand)."""
    if isinstance(config, dict) and ("audio_config" in config or "thinker_config" in config
                                     or "audio" in str(config.get("model_type"))):
        from .audio import with_defaults   # sparse audio-model configs: transformers' sub-config defaults

        config = with_defaults(config)
    c, multimodal = text_config(config)
    model_type = c.str("model_type") or Config(config).str("model_type")
    if not model_type:
        raise FactsError("config has no `model_type`", key="model_type")
    arch = build(c, model_type, generic_ok=generic_ok)
    layout, warnings = quant.parse(c.dict("quantization_config"), quant_config)
    layout = quant.apply_spec(layout, quantization)
    warnings = [*arch.warnings, *warnings]
    ckpt_dtype = checkpoint_dtype(c)
    elem = 4 if dtype == "float32" else 2
    w = weigh(arch, layout, elem)
    weight_bytes, from_headers = w.weight_bytes, False
    if safetensors_dtypes and (layout.facts is None or layout.facts.prequantized):
        try:
            weight_bytes, from_headers = header_bytes(safetensors_dtypes, ckpt_dtype, elem), True
        except ValueError as exc:
            raise FactsError(f"safetensors headers: {exc}", key="safetensors") from None
    encoder = None
    if multimodal:
        from .vision import encoder_facts  # the tower table: only a multimodal model needs it

        top = Config(config)
        encoder, missing = encoder_facts(top, top.str("model_type") or model_type, arch.hidden, elem)
        if missing:
            warnings.append(missing)
        elif encoder is None:   # a text_config without the vision_config beside it
            warnings.append("multimodal model: only the language model is counted; the vision/audio encoder "
                            "weights come on top (the config holds no vision_config to count them from)")
        if encoder is not None and not from_headers:   # headers already hold the tower's tensors
            weight_bytes += encoder.sharded_bytes + encoder.replicated_bytes
    architectures = Config(config).list("architectures") or [model_type]
    rope = rope_parameters(c) or {}
    return ModelFacts(
        model_id=model_id, model_type=model_type, architecture=str(architectures[0]), source=source,
        num_layers=arch.num_layers, hidden_size=arch.hidden, num_attention_heads=arch.heads,
        num_kv_heads=arch.kv_heads, head_dim=arch.head_dim, intermediate_size=arch.intermediate,
        vocab_size=arch.vocab, tie_word_embeddings=arch.tie,
        max_position_embeddings=max_model_len(c, model_type), dtype=ckpt_dtype, layers=w.layers,
        parameters=w.parameters + (encoder.parameters if encoder else 0), weight_bytes=weight_bytes,
        embedding_bytes_per_row=w.embedding_bytes_per_row, lm_head_bytes_per_row=w.lm_head_bytes_per_row,
        final_norm_bytes=w.final_norm_bytes, mla=arch.mla, moe=arch.moe, quantization=layout.facts,
        rope_scaling=tuple(sorted((str(k), json.dumps(v, sort_keys=True) if not isinstance(v, str) else v)
                                  for k, v in rope.items())),
        mtp_layers=layer_facts(arch.mtp_layers, layout, elem, arch.num_layers),
        draft_vocab_size=c.opt_int("draft_vocab_size", limit=LIMITS["vocab_size"]),
        multimodal=multimodal, encoder=encoder, gated=gated, weights_from_headers=from_headers, revision=revision,
        warnings=tuple(warnings), max_len_assumed=not max_len_stated(c))
