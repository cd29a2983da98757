"""The bundled catalog as rows: what `vllm-compile models` lists.

Each row is read from the vendored config itself; whether the planner can account for the
architecture is decided from the config's structure (its family, recurrent layers, its
quantization method), never by guessing from a name."""
from __future__ import annotations

import fnmatch
from vllm_compile.fastclass import dataclass

from . import quant
from .config import Config, FactsError, text_config
from .families import _recurrent_layers, family_of
from .sources import _catalog, _catalog_config, catalog_ids, is_gated, variant_ids


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    model_id: str
    model_type: str
    architecture: str
    parameters: int | None        # None when the planner cannot count them (see `modelled`)
    weight_bytes: int | None      # as vLLM loads the checkpoint (its own dtype or quantization)
    checkpoint_bytes: int | None  # as stored: differs only for float32 checkpoints (vLLM loads them 16-bit)
    dtype: str                    # the checkpoint's dtype (torch_dtype), "-" when the config has none
    quantization: str | None      # "fp8 (block 128x128)", "awq 4-bit", ...
    max_context: int | None
    gated: bool
    multimodal: bool
    variants: tuple[str, ...]     # quantized checkpoints of this model in the catalog
    variant_of: str | None        # the 16-bit model this checkpoint quantizes
    modelled: str                 # "yes", or "not modelled: <why>"
    encoder_counted: bool = False  # multimodal: the vision tower's weights are in `parameters` / `weight_bytes`

    def as_json(self) -> dict:
        return {"model_id": self.model_id, "model_type": self.model_type, "architecture": self.architecture,
                "parameters": self.parameters, "weight_bytes": self.weight_bytes,
                "checkpoint_bytes": self.checkpoint_bytes, "dtype": self.dtype,
                "quantization": self.quantization, "max_context": self.max_context, "gated": self.gated,
                "multimodal": self.multimodal, "quantized_variants": list(self.variants),
                "variant_of": self.variant_of, "modelled": self.modelled, "encoder_counted": self.encoder_counted}


def modelling_gap(config: dict, quant_config: dict | None = None) -> str | None:
    """Why the planner cannot account for this architecture, or None when it can."""
    c, _ = text_config(config)
    model_type = c.str("model_type") or Config(config).str("model_type") or "?"
    found = family_of(model_type)
    if _recurrent_layers(c) and (found is None or found[1].linear == "none"):
        return (f"{model_type} mixes attention with linear-attention or Mamba layers; their recurrent state "
                "and the hybrid KV layout are not counted")
    if found is None:
        return (f"model_type {model_type!r} is not a family vllm-compile knows (its attention and expert "
                "layout would be guessed as a Llama-style decoder)")
    layout, _ = quant.parse(c.dict("quantization_config"), quant_config)
    if layout.facts is not None and layout.kind == "none":
        return f"quantization method {layout.facts.method!r} has no byte formula; weights would be a 16-bit bound"
    return None


def _quant_text(q) -> str | None:
    if q is None:
        return None
    if q.method == "modelopt":      # ModelOpt's quant_algo FP8: per-tensor scales, static input scales
        return "modelopt fp8 (per-tensor)"
    text = q.method + (f" {q.bits}-bit" if q.bits and q.method not in ("fp8", "fbgemm_fp8") else "")
    if q.weight_block_size:
        text += f" (block {q.weight_block_size[0]}x{q.weight_block_size[1]})"
    elif q.group_size and q.method in ("awq", "gptq"):
        text += f" (group {q.group_size})"
    return text


def entry(model_id: str) -> CatalogEntry:
    from .facts import facts_from_config

    config, quant_config = _catalog_config(model_id)
    c, multimodal = text_config(config)
    top = Config(config)
    model_type = c.str("model_type") or top.str("model_type") or "?"
    architectures = top.list("architectures") or [model_type]
    dtype = c.str("torch_dtype") or c.str("dtype") or top.str("torch_dtype") or top.str("dtype") or "-"
    owners = [base for base, lighter in _catalog().get("variants", {}).items() if model_id in lighter]
    gap = modelling_gap(config, quant_config)
    parameters = weight_bytes = checkpoint_bytes = max_context = None
    quantization = None
    encoder_counted = False
    if gap is None:
        try:
            facts = facts_from_config(config, model_id=model_id, source="catalog", quant_config=quant_config)
        except FactsError as exc:
            gap = exc.message
        else:
            parameters, weight_bytes = facts.parameters, facts.weight_bytes
            encoder_counted = facts.encoder is not None
            checkpoint_bytes = weight_bytes
            if dtype == "float32" and facts.quantization is None:
                checkpoint_bytes = facts_from_config(config, model_id=model_id, source="catalog",
                                                     quant_config=quant_config, dtype="float32").weight_bytes
            max_context, quantization = facts.max_position_embeddings, _quant_text(facts.quantization)
    if gap is not None:
        method = (c.dict("quantization_config") or {}).get("quant_method")
        quantization = method if isinstance(method, str) else None
        positions = c.raw("max_position_embeddings")
        max_context = positions if isinstance(positions, int) and not isinstance(positions, bool) else None
    return CatalogEntry(
        model_id=model_id, model_type=model_type, architecture=str(architectures[0]), parameters=parameters,
        weight_bytes=weight_bytes, checkpoint_bytes=checkpoint_bytes, dtype=dtype, quantization=quantization, max_context=max_context,
        gated=is_gated(model_id), multimodal=multimodal, variants=tuple(variant_ids(model_id)),
        variant_of=owners[0] if owners else None, modelled="yes" if gap is None else f"not modelled: {gap}",
        encoder_counted=encoder_counted)


def matches(model_id: str, pattern: str | None) -> bool:
    """A glob (`Qwen/*-FP8`) when the pattern has wildcards, else a case-insensitive substring."""
    if not pattern:
        return True
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(model_id.lower(), pattern.lower())
    return pattern.lower() in model_id.lower()


def catalog_entries(pattern: str | None = None) -> list[CatalogEntry]:
    return [entry(m) for m in catalog_ids() if matches(m, pattern)]
