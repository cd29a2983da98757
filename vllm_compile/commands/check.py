"""`vllm-compile check SPEC...`: the pre-commit/CI form of diff — quiet when clean."""
from __future__ import annotations

import sys

import click

from vllm_compile.commands._common import compile_all, emit_option, options_for, output_option, spec_paths


@click.command("check")
@spec_paths
@output_option
@emit_option
def command(specs, output, emit):
    """Exit 1 (listing the drifted files) when artifacts on disk differ from what SPECS generate."""
    from vllm_compile.drift import drifts

    stale = [d for result in compile_all(specs, options_for(specs, output, emit)) for d in drifts(result)]
    for drift in stale:
        click.echo(f"{drift.path}: {drift.summary}", err=True)
    if stale:
        click.echo("artifacts are out of date: run `vllm-compile compile` on the specs above and commit the result",
                   err=True)
    sys.exit(1 if stale else 0)
