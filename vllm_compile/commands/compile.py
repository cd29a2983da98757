"""`vllm-compile compile SPEC... [-o DIR] [--emit FORMATS]`"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from vllm_compile.commands._common import (compile_all, emit_option, fail, format_option, options_for, output_option,
                                           print_json, spec_paths, warnings_of)
from vllm_compile.diagnostics import Diagnostic

if TYPE_CHECKING:
    from vllm_compile.codes import Code


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
    from vllm_compile.writer import Target, WriteError, artifact_path, write_set

    results = compile_all(specs, options_for(specs, output, emit, fmt), fmt=fmt)
    targets = [(result, Target(artifact_path(result.spec.directory, artifact.path), artifact.content,
                               artifact.executable))
               for result in results for artifact in result.artifacts]
    problems = _target_problems(results, targets, output)
    if problems:
        fail([*warnings_of(results), *problems], fmt)
    try:
        changes = write_set([target for _, target in targets])
    except WriteError as exc:
        fail([*warnings_of(results),
              Diagnostic(f"cannot write the artifacts: {exc.reason}", file=_shown(exc.path),
                         fix="free space or choose an output folder you can write to (-o DIR or output.dir); "
                             "no artifact was changed", code="VC902")], fmt)
    written = [{"path": _shown(path), "changed": changed} for path, changed in changes]
    if fmt != "json":
        for path, changed in changes:
            click.echo(f"{'wrote' if changed else 'unchanged'} {_shown(path)}")
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


def _shown(path: str) -> str:
    try:
        return os.path.relpath(path)
    except ValueError:  # pragma: no cover - another drive on Windows
        return path


def _target_problems(results, targets, output) -> list[Diagnostic]:
    """No artifact may replace an input of this run (a spec or its lock), and without -o every
    artifact must really lie inside its spec's folder tree (a symlinked folder is followed)."""
    inputs = {}
    for result in results:
        inputs[os.path.realpath(result.path)] = "the spec " + _shown(result.path)
        inputs[os.path.realpath(result.path + ".lock")] = "the lock file " + _shown(result.path + ".lock")
    problems: list[Diagnostic] = []
    seen: set[tuple[str | None, str | None, str]] = set()

    def refuse(result, message: str, fix: str, code: Code) -> None:
        if output is not None:
            problem = Diagnostic(message, file="<command line>", key="-o", fix=fix, code=code)
        else:
            problem = result.spec.source.error("output.dir", message, fix=fix, code=code)
        if (problem.file, problem.key, problem.message) not in seen:
            seen.add((problem.file, problem.key, problem.message))
            problems.append(problem)

    for result, target in targets:
        real = os.path.realpath(target.path)
        if real in inputs:
            refuse(result, f"{_shown(target.path)} would overwrite {inputs[real]}",
                   "choose an output folder that holds no spec, e.g. deploy/<name>", "VC903")
            continue
        if output is None:
            root = os.path.realpath(result.spec.directory)
            if os.path.commonpath([root, real]) != root:
                refuse(result, f"the output folder leads outside the spec's folder tree (to {os.path.dirname(real)}, "
                               "through a symbolic link)",
                       "point output.dir at a real folder under the spec's folder, or pass -o DIR explicitly", "VC216")
    return problems
