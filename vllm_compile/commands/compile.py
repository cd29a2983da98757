"""`vllm-compile compile SPEC... [-o DIR] [--emit FORMATS]`"""
from __future__ import annotations

import os
import sys

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
    from vllm_compile.commands._common import report
    from vllm_compile.diagnostics import Diagnostic
    from vllm_compile.writer import artifact_path, write_atomic

    results = compile_all(specs, options_for(specs, output, emit))
    targets = [(result, artifact, artifact_path(result.spec.directory, artifact.path))
               for result in results for artifact in result.artifacts]
    # Make every folder first, so a path that cannot be written stops the run before any file changes.
    step = "create folder"
    try:
        for _, _, path in targets:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        step = "write"
        for _, artifact, path in targets:
            changed = write_atomic(path, artifact.content, artifact.executable)
            click.echo(f"{'wrote' if changed else 'unchanged'} {os.path.relpath(path)}")
    except OSError as exc:
        where = exc.filename or "the output folder"
        report([Diagnostic(f"cannot {step} {where}: {exc.strerror}", file=str(where),
                           fix="choose an output folder you can write to (-o DIR or output.dir)")])
        sys.exit(2)
    # What the planner settled, one line per deployment on stderr, where a reader of the log sees it.
    from vllm_compile.commands._ledger import summary_line

    for result in results:
        for dep, plan in zip(result.spec.deployments, result.plans):
            engine = dep.spec.engine
            defaulted = engine.version if "version" not in engine.model_fields_set else None
            click.echo(summary_line(dep.spec.name, plan, defaulted), err=True)
