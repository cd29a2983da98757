"""`vllm-compile inspect MODEL`: the architecture facts of a repo id or a local model folder."""
from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict

import click

KV_DTYPE_BYTES = 2  # the report assumes a bf16 KV cache


def kv_bytes_per_token(facts) -> int:
    """KV bytes one token takes over the whole model (no parallelism): K and V heads per
    attention layer, one latent per MLA layer (head_size_v is 0 there); sliding/chunked layers
    count as full, Mamba/shared layers hold no per-token cache."""
    return sum(layer.kv_heads * (layer.head_size + layer.head_size_v) * KV_DTYPE_BYTES + layer.index_key_bytes
               for layer in facts.layers if layer.attention not in ("mamba", "none"))


def recurrent_state(facts) -> dict | None:
    """What the recurrent layers keep per sequence (no parallelism, `--mamba-cache-dtype auto`):
    layer count per mixer, conv and SSM state elements of one layer, its dtypes and the bytes of
    one sequence over all of them."""
    layers = [layer for layer in facts.layers if layer.mixer]
    if not layers:
        return None
    mixers: dict[str, int] = {}
    for layer in layers:
        mixers[layer.mixer] = mixers.get(layer.mixer, 0) + 1
    first = layers[0]
    return {"layers": dict(sorted(mixers.items())), "conv_state_elements": first.conv_state,
            "ssm_state_elements": first.ssm_state, "ssm_state_dtype": "float32" if first.ssm_state_fp32 else facts.dtype,
            "bytes_per_sequence": sum(layer.state_bytes for layer in layers)}


def report(facts) -> dict:
    quant = asdict(facts.quantization) if facts.quantization else None
    if quant:
        quant["excluded_modules"] = list(quant["excluded_modules"])
        quant["weight_block_size"] = list(quant["weight_block_size"]) if quant["weight_block_size"] else None
    return {
        "model_id": facts.model_id, "source": facts.source, "revision": facts.revision,
        "model_type": facts.model_type, "architecture": facts.architecture,
        "parameters": facts.parameters, "weight_bytes": facts.weight_bytes,
        "weights_from_headers": facts.weights_from_headers, "dtype": facts.dtype,
        "layers": facts.num_layers, "hidden_size": facts.hidden_size,
        "attention_heads": facts.num_attention_heads, "kv_heads": facts.num_kv_heads,
        "head_dim": facts.head_dim, "intermediate_size": facts.intermediate_size,
        "vocab_size": facts.vocab_size, "tie_word_embeddings": facts.tie_word_embeddings,
        "kv_bytes_per_token": kv_bytes_per_token(facts),
        "recurrent_state": recurrent_state(facts),
        "max_position_embeddings": facts.max_position_embeddings,
        "quantization": quant, "experts": asdict(facts.moe) if facts.moe else None,
        "mla": _mla(facts.mla),
        "attention_kinds": facts.attention_kinds(),
        "sliding_window": next((l.window for l in facts.layers if l.attention == "sliding"), None),
        "multimodal": facts.multimodal, "encoder": asdict(facts.encoder) if facts.encoder else None,
        "gated": facts.gated, "warnings": list(facts.warnings),
        "quantized_variants": [v.model_id for v in facts.lighter_variants],
    }


def _mla(mla) -> dict | None:
    """MLA facts; the sparse-attention indexer's only where the model has one."""
    if mla is None:
        return None
    out = asdict(mla)
    if not mla.sparse:
        for key in ("index_topk", "index_n_heads", "index_head_dim"):
            out.pop(key)
    return out


def _gib(n: int) -> str:
    return f"{n:,} ({n / 2**30:.2f} GiB)"


def render_text(r: dict) -> str:
    q = r["quantization"]
    e = r["experts"]
    rows = [
        ("model", r["model_id"] + (f"@{r['revision'][:12]}" if r["revision"] else "")),
        ("source", r["source"]),
        ("model_type", f"{r['model_type']} ({r['architecture']})"),
        ("parameters", f"{r['parameters']:,}"),
        ("weight_bytes", _gib(r["weight_bytes"]) + (" from safetensors headers" if r["weights_from_headers"] else "")),
        ("dtype", r["dtype"]),
        ("layers", str(r["layers"])),
        ("hidden_size", str(r["hidden_size"])),
        ("attention_heads", str(r["attention_heads"])),
        ("kv_heads", str(r["kv_heads"])),
        ("head_dim", str(r["head_dim"])),
        ("intermediate_size", str(r["intermediate_size"])),
        ("vocab_size", f"{r['vocab_size']}" + (" (tied lm_head)" if r["tie_word_embeddings"] else "")),
        ("attention_kinds", ", ".join(f"{k} {v}" for k, v in r["attention_kinds"].items())
         + (f" (window {r['sliding_window']})" if r["sliding_window"] else "")),
        ("kv_bytes_per_token", f"{r['kv_bytes_per_token']:,} (bf16, all layers"
         + (", with the indexer's fp8 key cache)" if r["mla"] and r["mla"].get("index_topk") else ")")),
        ("max_position_embeddings", f"{r['max_position_embeddings']:,}"),
        ("quantization", "none" if not q else q["method"] + (f" {q['bits']}-bit" if q["bits"] else "")
         + (f", group {q['group_size']}" if q["group_size"] else "")
         + (f", blocks {q['weight_block_size'][0]}x{q['weight_block_size'][1]}" if q["weight_block_size"] else "")
         + ("" if q["prequantized"] else ", at load")),
        ("experts", "none" if not e else f"{e['num_experts']} routed, {e['experts_per_token']} per token, "
         f"{e['moe_layer_count']} MoE layers (first {e['first_dense_layers']} dense)"
         + (f", shared {e['shared_expert_intermediate_size']}" if e["shared_expert_intermediate_size"] else "")),
        ("gated", "yes" if r["gated"] else "no"),
    ]
    if r["encoder"]:
        enc = r["encoder"]
        tower = "audio" if enc["modality"] == "audio" else "vision"
        audio = enc.get("audio_parameters") or 0
        rows.insert(4, ("encoder", f"{enc['parameters']:,} parameters ({enc['kind']} {tower} tower + projector: "
                        f"{enc['num_layers']} blocks of width {enc['hidden_size']}; "
                        f"{enc['tokens_per_item']:,} tokens per {enc['modality']} at the maximum size"
                        + (f"; audio tower + projection {audio:,}" if audio else "") + "); "
                        f"language model {r['parameters'] - enc['parameters']:,}"))
    if r["quantized_variants"]:
        rows.append(("quantized_variants", ", ".join(r["quantized_variants"])))
    if r["recurrent_state"] and not r["attention_heads"]:
        # A pure state-space model: no head counts and nothing cached per token.
        for i, (key, _) in enumerate(rows):
            if key in ("attention_heads", "kv_heads", "head_dim"):
                rows[i] = (key, "0 (no attention layer)")
            elif key == "kv_bytes_per_token":
                rows[i] = (key, "0 (no attention layer: only the recurrent state below)")
            elif key == "intermediate_size" and not r["intermediate_size"]:
                rows[i] = (key, "0 (no MLP: each layer is a norm and a Mamba mixer)")
    if r["recurrent_state"]:
        st = r["recurrent_state"]
        rows.insert(rows.index(next(row for row in rows if row[0] == "kv_bytes_per_token")) + 1, (
            "recurrent_state", f"{st['bytes_per_sequence']:,} bytes per sequence over "
            + ", ".join(f"{n} {mixer}" for mixer, n in st["layers"].items()) + " layers (conv "
            f"{st['conv_state_elements']:,} + SSM {st['ssm_state_elements']:,} ({st['ssm_state_dtype']}) elements "
            "a layer; constant in the context length)"))
    if r["mla"]:
        m = r["mla"]
        sparse = (f"; sparse: indexer of {m['index_n_heads']} heads x {m['index_head_dim']} picks the top "
                  f"{m['index_topk']} tokens" if m.get("index_topk") else "")
        rows.insert(11, ("mla", f"kv_lora_rank {m['kv_lora_rank']}, rope {m['qk_rope_head_dim']}{sparse}"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    lines += [f"warning: {w}" for w in r["warnings"]]
    return "\n".join(lines)


@click.command(name="inspect")
@click.argument("model")
@click.option("--revision", help="Branch, tag or commit of the repo (default: main).")
@click.option("--quantization", help="Quantization applied at load (as model.quantization in a spec).")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(model: str, revision: str | None, quantization: str | None, fmt: str):
    """Print the architecture facts of MODEL: a Hugging Face repo id (looked up in the HF cache,
    then the bundled catalog; never the network) or a local folder holding config.json."""
    from pydantic import ValidationError

    from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
    from vllm_compile.ir.spec import ModelSpec
    from vllm_compile.resolve.models import resolve_model

    local = os.path.isdir(model)
    try:
        spec = ModelSpec(path=model, revision=revision, quantization=quantization) if local else \
            ModelSpec(id=model, revision=revision, quantization=quantization)
    except ValidationError:
        click.echo(Diagnostic("not a model folder nor a Hugging Face repo id", found=model,
                              expected="ORG/NAME or an existing folder",
                              fix="e.g. vllm-compile inspect Qwen/Qwen3-8B", code="VC320").format(), err=True)
        sys.exit(2)
    try:
        facts = resolve_model(spec, spec_dir=".", source=SourceMap(file="inspect"), key_prefix="")
    except CompileError as exc:
        for d in exc.diagnostics:
            click.echo(d.format(), err=True)
        sys.exit(2)
    r = report(facts)
    click.echo(json.dumps(r, indent=2, sort_keys=True) if fmt == "json" else render_text(r))
