"""`vllm-compile diff SPEC...`: how the generated artifacts differ from the files on disk."""
from __future__ import annotations

import sys

import click

from vllm_compile.commands._common import (compile_all, discover_specs, emit_option, format_option,
                                           found_spec_paths, options_for, output_option, print_json, warnings_of)


@click.command("diff")
@found_spec_paths
@output_option
@emit_option
@format_option
def command(specs, output, emit, fmt):
    """Show drift between SPECS and their artifacts on disk; exit 1 when anything differs.

    YAML is compared structurally (key paths with old -> new values), scripts as a unified diff."""
    from vllm_compile.drift import drifts

    specs = discover_specs(specs, fmt)
    if fmt == "json":
        results = compile_all(specs, options_for(specs, output, emit, fmt), fmt=fmt)
        stale = [d for result in results for d in drifts(result)]
        print_json(warnings_of(results), drift=[d.as_json() for d in stale], up_to_date=not stale)
        sys.exit(1 if stale else 0)
    found = False
    for result in compile_all(specs, options_for(specs, output, emit)):
        for drift in drifts(result):
            found = True
            click.echo(f"{drift.path}: {drift.summary}")
            for line in drift.details:
                click.echo(f"  {line}")
    if not found:
        click.echo("up to date")
    sys.exit(1 if found else 0)
