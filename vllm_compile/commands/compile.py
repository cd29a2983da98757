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
    from vllm_compile.writer import Target, WriteError, artifact_path, write_set

    results = compile_all(specs, options_for(specs, output, emit))
    targets = [(result, Target(artifact_path(result.spec.directory, artifact.path), artifact.content,
                               artifact.executable))
               for result in results for artifact in result.artifacts]
    problems = _target_problems(results, targets, output)
    if problems:
        report(problems)
        click.echo(f"{len(problems)} error(s); nothing written", err=True)
        sys.exit(2)
    try:
        written = write_set([target for _, target in targets])
    except WriteError as exc:
        report([Diagnostic(f"cannot write the artifacts: {exc.reason}", file=_shown(exc.path),
                           fix="free space or choose an output folder you can write to (-o DIR or output.dir); "
                               "no artifact was changed")])
        sys.exit(2)
    for path, changed in written:
        click.echo(f"{'wrote' if changed else 'unchanged'} {_shown(path)}")
    # What the planner settled, one line per deployment on stderr, where a reader of the log sees it.
    from vllm_compile.commands._ledger import summary_line

    for result in results:
        for dep, plan in zip(result.spec.deployments, result.plans):
            engine = dep.spec.engine
            defaulted = engine.version if "version" not in engine.model_fields_set else None
            click.echo(summary_line(dep.spec.name, plan, defaulted), err=True)


def _shown(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path


def _target_problems(results, targets, output) -> list:
    """No artifact may replace an input of this run (a spec or its lock), and without -o every
    artifact must really lie inside its spec's folder tree (a symlinked folder is followed)."""
    from vllm_compile.diagnostics import Diagnostic

    inputs = {}
    for result in results:
        inputs[os.path.realpath(result.path)] = "the spec " + _shown(result.path)
        inputs[os.path.realpath(result.path + ".lock")] = "the lock file " + _shown(result.path + ".lock")
    problems, seen = [], set()

    def refuse(result, message: str, fix: str) -> None:
        if output is not None:
            problem = Diagnostic(message, file="<command line>", key="-o", fix=fix)
        else:
            problem = result.spec.source.error("output.dir", message, fix=fix)
        if (problem.file, problem.key, problem.message) not in seen:
            seen.add((problem.file, problem.key, problem.message))
            problems.append(problem)

    for result, target in targets:
        real = os.path.realpath(target.path)
        if real in inputs:
            refuse(result, f"{_shown(target.path)} would overwrite {inputs[real]}",
                   "choose an output folder that holds no spec, e.g. deploy/<name>")
            continue
        if output is None:
            root = os.path.realpath(result.spec.directory)
            if os.path.commonpath([root, real]) != root:
                refuse(result, f"the output folder leads outside the spec's folder tree (to {os.path.dirname(real)}, "
                               "through a symbolic link)",
                       "point output.dir at a real folder under the spec's folder, or pass -o DIR explicitly")
    return problems
