"""`vllm-compile check SPEC...`: the pre-commit/CI form of diff — quiet when clean."""
from __future__ import annotations

import sys

import click

from vllm_compile.commands._common import (compile_all, discover_specs, emit_option, format_option,
                                           found_spec_paths, options_for, output_option, print_json, warnings_of)


@click.command("check")
@found_spec_paths
@output_option
@emit_option
@format_option
def command(specs, output, emit, fmt):
    """Exit 1 (listing the drifted files) when artifacts on disk differ from what SPECS generate.

    Without SPECS: every *.vllm.yaml below the working directory and every YAML file in specs/."""
    from vllm_compile.freshness import up_to_date

    specs = discover_specs(specs, fmt)
    options = options_for(specs, output, emit, fmt)
    # Specs whose sealed artifacts prove them up to date need no compile (vllm_compile/freshness.py).
    unproven = [spec for spec in specs if not up_to_date(spec, options)]
    stale = []
    results = []
    if unproven:
        from vllm_compile.drift import drifts

        results = compile_all(unproven, options, fmt=fmt)
        stale = [d for result in results for d in drifts(result)]
    if fmt == "json":
        print_json(warnings_of(results), drift=[d.as_json() for d in stale], up_to_date=not stale)
        sys.exit(1 if stale else 0)
    for drift in stale:
        click.echo(f"{drift.path}: {drift.summary}", err=True)
    if stale:
        click.echo("artifacts are out of date: run `vllm-compile compile` on the specs above and commit the result",
                   err=True)
    sys.exit(1 if stale else 0)
