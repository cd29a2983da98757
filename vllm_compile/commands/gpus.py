"""`vllm-compile gpus`: list the GPU catalog."""
from __future__ import annotations

import json

import click

GIB = 1 << 30


def _row(gpu) -> dict:
    from vllm_compile.resolve.hardware.catalog import memory_note

    return {
        "name": gpu.name,
        "vendor": gpu.vendor,
        "memory_bytes": gpu.memory_bytes,
        "memory_gib": round(gpu.memory_bytes / GIB, 2),
        "memory_note": memory_note(gpu.name),
        "compute_capability": f"{gpu.compute_capability[0]}.{gpu.compute_capability[1]}",
        "bf16": gpu.bf16,
        "fp8": gpu.fp8,
        "bandwidth_gbps": gpu.bandwidth_gbps,
        "interconnect": gpu.interconnect,
        "nvidia_smi_names": list(gpu.nvidia_smi_names),
        "aliases": list(gpu.aliases),
    }


def table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(headers, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [headers, *rows]]
    return "\n".join(lines)


@click.command("gpus")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(fmt: str) -> None:
    """List the GPU catalog: memory as the driver reports it, compute capability, bf16/fp8, bandwidth."""
    from vllm_compile.resolve.hardware.catalog import catalog, defaults_note

    rows = [_row(g) for g in catalog()]
    if fmt == "json":
        click.echo(json.dumps({"gpus": rows, "defaults": defaults_note()}, indent=2, sort_keys=True,
                              ensure_ascii=False))
        return
    yes = {True: "yes", False: "-"}
    body = [[r["name"], r["vendor"] + (" (ROCm)" if r["vendor"] == "amd" else ""), f"{r['memory_gib']:.2f}",
             r["compute_capability"], yes[r["bf16"]], yes[r["fp8"]], f"{r['bandwidth_gbps']:g}", r["interconnect"],
             ", ".join(r["nvidia_smi_names"] + r["aliases"])] for r in rows]
    click.echo(table(["NAME", "VENDOR", "GiB", "CC", "BF16", "FP8", "GB/s", "LINK", "ALSO MATCHES"], body))
    click.echo(f"\nGiB: total memory as the driver reports it (what vLLM logs as total_gpu_memory).\n"
               f"{defaults_note()}")
