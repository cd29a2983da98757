"""What every subcommand shares: running the pipeline over specs and reporting diagnostics."""
from __future__ import annotations

import sys

import click

from vllm_compile.diagnostics import CompileError, Diagnostic


def report(diagnostics, stream_err: bool = True) -> None:
    for d in diagnostics:
        click.echo(d.format(), err=stream_err)


def compile_all(paths, options, until=None):
    """Run the pipeline over every spec; report every error of every spec, then exit 2 if any."""
    from vllm_compile.pipeline import run

    results, errors = [], list[Diagnostic]()
    for path in paths:
        try:
            results.append(run(path, options, until=until))
        except CompileError as exc:
            errors += exc.diagnostics
        except Exception as exc:  # a bug, not a user error: say so plainly, without a traceback
            errors.append(Diagnostic(f"internal error: {type(exc).__name__}: {exc}", file=path,
                                     fix="please report this with the spec attached; run with "
                                         "VLLM_COMPILE_DEBUG=1 for a traceback"))
            import os

            if os.environ.get("VLLM_COMPILE_DEBUG"):
                raise
    warnings = [w for r in results for w in r.warnings]
    report(warnings)
    if errors:
        report(errors)
        count = sum(1 for d in errors if d.severity == "error")
        click.echo(f"{count} error(s); nothing written", err=True)
        sys.exit(2)
    return results


def emit_formats(value: str | None):
    if not value:
        return None
    from vllm_compile.emit import check_formats

    names = tuple(v.strip() for v in value.split(",") if v.strip())
    try:
        return check_formats(names)
    except CompileError as exc:
        report(exc.diagnostics)
        sys.exit(2)


class PathText(click.Path):
    """click.Path that refuses a NUL byte as a usage error (os.stat would raise ValueError)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and "\0" in value:
            self.fail("a path cannot hold a NUL byte", param, ctx)
        return super().convert(value, param, ctx)


spec_paths = click.argument("specs", nargs=-1, required=True, type=PathText(dir_okay=False))
found_spec_paths = click.argument("specs", nargs=-1, required=False, type=PathText(dir_okay=False))

SKIPPED_FOLDERS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", ".mypy_cache", ".pytest_cache"}


def discover_specs(given) -> list[str]:
    """SPECS as given, or — when none are given (the pre-commit hook) — every `*.vllm.yaml` below
    the working directory and every YAML file directly in `specs/`, sorted."""
    if given:
        return list(given)
    import os

    found = set()
    for folder, subfolders, files in os.walk("."):
        subfolders[:] = [d for d in subfolders if d not in SKIPPED_FOLDERS and not d.startswith(".")]
        for name in files:
            if name.endswith((".vllm.yaml", ".vllm.yml")) or (
                    os.path.normpath(folder) == "specs" and name.endswith((".yaml", ".yml"))):
                found.add(os.path.normpath(os.path.join(folder, name)))
    if not found:
        report([Diagnostic("no specs given and none found (*.vllm.yaml, or YAML files in specs/)",
                           fix="name the spec files: vllm-compile check path/to/deployment.vllm.yaml")])
        sys.exit(2)
    return sorted(found)
output_option = click.option("-o", "--output", "output", type=PathText(file_okay=False),
                             help="Write into DIR instead of each spec's output.dir (DIR/<name> for several specs).")
def _emit_help() -> str:
    from vllm_compile.emit.registry import FORMATS

    return f"Comma-separated artifacts to produce: {', '.join(FORMATS)} (overrides output.formats)."


emit_option = click.option("--emit", "emit", metavar="FORMATS", help=_emit_help())


def options_for(specs, output, emit, **kw):
    from vllm_compile.pipeline import Options

    return Options(formats=emit_formats(emit), output_dir=output, nest_output=output is not None and len(specs) > 1, **kw)
