"""`vllm-compile models [PATTERN]`: the bundled model catalog."""
from __future__ import annotations

import json
import sys

import click

GIB = 1 << 30


def _params(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.0f}M"


def _context(n: int | None) -> str:
    if n is None:
        return "-"
    return f"{n // 1024}k" if n % 1024 == 0 else f"{n:,}"


@click.command("models")
@click.argument("pattern", required=False)
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(pattern: str | None, fmt: str) -> None:
    """List the bundled model catalog (the models `model.id` resolves offline): repo id, family,
    parameters, weight size as loaded, max context, gated or not, quantized variants, and whether
    the planner can account for the architecture. PATTERN filters the repo ids: a glob such as
    'Qwen/*-FP8', or else a case-insensitive substring."""
    from vllm_compile.commands.gpus import table
    from vllm_compile.resolve.models.catalog import catalog_entries

    entries = catalog_entries(pattern)
    if fmt == "json":
        click.echo(json.dumps({"models": [e.as_json() for e in entries]}, indent=2, sort_keys=True))
        return
    if not entries:
        click.echo(f"no catalog model matches {pattern!r}; `vllm-compile models` lists them all", err=True)
        sys.exit(1)
    rows = []
    for e in entries:
        weights = "-" if e.weight_bytes is None else f"{e.weight_bytes / GIB:.1f}"
        dtype = e.quantization or e.dtype
        notes = []
        if e.variants:
            notes.append("quantized: " + ", ".join(e.variants))
        if e.variant_of:
            notes.append(f"quantizes {e.variant_of}")
        if e.checkpoint_bytes is not None and e.checkpoint_bytes != e.weight_bytes:
            notes.append(f"{e.dtype} checkpoint: {e.checkpoint_bytes / GIB:.1f} GiB on disk, loaded 16-bit")
        if e.multimodal:
            notes.append("vision encoder counted" if e.encoder_counted else "language model only")
        if e.modelled != "yes":
            notes.append(e.modelled)
        rows.append([e.model_id, e.model_type, _params(e.parameters), weights, dtype, _context(e.max_context),
                     "yes" if e.gated else "-", "; ".join(notes)])
    click.echo(table(["MODEL", "FAMILY", "PARAMS", "GiB", "DTYPE", "CONTEXT", "GATED", "NOTES"], rows))
    click.echo(f"\n{len(entries)} model(s). GiB: weights as vLLM loads the checkpoint (its dtype or quantization). "
               "Any other repo: `vllm-compile lock SPEC`, `model.path` or `model.facts`.")
