"""`vllm-compile compile SPEC... [-o DIR] [--emit FORMATS]`"""
from __future__ import annotations

import os

import click

from vllm_compile.commands._common import (compile_all, emit_option, fail, format_option, options_for, output_option,
                                           print_json, spec_paths, warnings_of)


@click.command("compile")
@spec_paths
@output_option
@emit_option
@format_option
def command(specs, output, emit, fmt):
    """Compile SPECS into deployment artifacts (compose.yaml, docker-run.sh, serve.sh).

    \b
    Nothing is written unless every spec compiles; each file is written atomically.
    Example: vllm-compile compile specs/llama.yaml"""
    from vllm_compile.diagnostics import Diagnostic
    from vllm_compile.writer import artifact_path, write_atomic

    results = compile_all(specs, options_for(specs, output, emit, fmt), fmt=fmt)
    targets = [(result, artifact, artifact_path(result.spec.directory, artifact.path))
               for result in results for artifact in result.artifacts]
    # Make every folder first, so a path that cannot be written stops the run before any file changes.
    step = "create folder"
    written: list[dict] = []
    try:
        for _, _, path in targets:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        step = "write"
        for _, artifact, path in targets:
            changed = write_atomic(path, artifact.content, artifact.executable)
            written.append({"path": os.path.relpath(path), "changed": changed})
            if fmt != "json":
                click.echo(f"{'wrote' if changed else 'unchanged'} {os.path.relpath(path)}")
    except OSError as exc:
        where = exc.filename or "the output folder"
        fail([*warnings_of(results),
              Diagnostic(f"cannot {step} {where}: {exc.strerror}", file=str(where),
                         fix="choose an output folder you can write to (-o DIR or output.dir)", code="VC902")], fmt)
    # What the planner settled, one line per deployment on stderr, where a reader of the log sees it.
    from vllm_compile.commands._ledger import summary_line

    summaries = []
    for result in results:
        for dep, plan in zip(result.spec.deployments, result.plans):
            engine = dep.spec.engine
            defaulted = engine.version if "version" not in engine.model_fields_set else None
            summaries.append(summary_line(dep.spec.name, plan, defaulted))
    for line in summaries:
        click.echo(line, err=True)
    if fmt == "json":
        print_json(warnings_of(results), artifacts=written, summaries=summaries)
