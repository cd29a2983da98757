"""`vllm-compile detect`: this host's GPUs through NVML, mapped to the catalog."""
from __future__ import annotations

import json
import sys
from typing import Any

import click

GIB = 1 << 30


@click.command("detect")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(fmt: str) -> None:
    """Query NVML for each GPU's name, UUID, memory and compute capability, and the driver version."""
    from vllm_compile.commands.gpus import table
    from vllm_compile.diagnostics import Diagnostic
    from vllm_compile.resolve.hardware.catalog import find_gpu
    from vllm_compile.resolve.hardware.detect import map_device, query
    from vllm_compile.resolve.hardware.nvml import NoGpuError

    try:
        snapshot = query()
    except NoGpuError as exc:
        click.echo(Diagnostic(
            message=f"cannot detect GPUs: {exc}",
            fix="declare the hardware in the spec instead, e.g. `hardware: {gpu: L4, count: 1}` "
                "(`vllm-compile gpus` lists the names; nvidia-smi names work too)", code="VC312").format(), err=True)
        sys.exit(2)
    rows: list[dict[str, Any]] = []
    warnings: list[str] = []
    for device in snapshot.devices:
        gpu, warning = map_device(device)
        cc = device.compute_capability
        rows.append({
            "index": device.index,
            "nvml_name": device.name,
            "uuid": device.uuid,
            "nvml_memory_bytes": device.memory_total,
            "compute_capability": f"{cc[0]}.{cc[1]}" if cc else None,
            "catalog": gpu.name if find_gpu(gpu.name) else None,
            "memory_bytes": gpu.memory_bytes,
        })
        if warning:
            warnings.append(warning)
    for warning in warnings:
        click.echo(Diagnostic(message=warning, severity="warning", code="VC332").format(), err=True)
    if fmt == "json":
        click.echo(json.dumps({"driver_version": snapshot.driver_version, "gpus": rows, "warnings": warnings},
                              indent=2, sort_keys=True))
        return
    click.echo(f"NVIDIA driver {snapshot.driver_version or 'unknown'}, {len(rows)} GPU(s)")
    click.echo(table(
        ["IDX", "NVML NAME", "UUID", "NVML GiB", "CC", "CATALOG", "VLLM GiB"],
        [[str(r["index"]), r["nvml_name"], r["uuid"] or "-", f"{r['nvml_memory_bytes'] / GIB:.2f}",
          r["compute_capability"] or "?", r["catalog"] or "(not in catalog)", f"{r['memory_bytes'] / GIB:.2f}"]
         for r in rows]))
