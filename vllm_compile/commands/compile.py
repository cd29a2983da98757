"""`vllm-compile compile SPEC... [-o DIR] [--emit FORMATS]`"""
from __future__ import annotations

import os

import click

from vllm_compile.commands._common import compile_all, emit_option, options_for, output_option, spec_paths


@click.command("compile")
@spec_paths
@output_option
@emit_option
def command(specs, output, emit):
    """Compile SPECS into deployment artifacts (compose.yaml, docker-run.sh, serve.sh).

    \b
    Nothing is written unless every spec compiles; each file is written atomically.
    Example: vllm-compile compile specs/llama.yaml"""
    from vllm_compile.writer import artifact_path, write_atomic

    results = compile_all(specs, options_for(specs, output, emit))
    for result in results:
        for artifact in result.artifacts:
            path = artifact_path(result.spec.directory, artifact.path)
            changed = write_atomic(path, artifact.content, artifact.executable)
            shown = os.path.relpath(path)
            click.echo(f"{'wrote' if changed else 'unchanged'} {shown}")
