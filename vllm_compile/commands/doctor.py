"""`vllm-compile doctor [SPEC]`: check that this host can run the deployment now."""
from __future__ import annotations

import json
import os
import sys

import click

from vllm_compile.commands._common import emit_formats, emit_option, report

MARK = {"ok": "ok", "warn": "WARN", "fail": "FAIL"}


def _plan(path: str, formats):
    """The spec planned (a failing plan included); bad input is reported and exits 2."""
    from vllm_compile.diagnostics import CompileError, Diagnostic
    from vllm_compile.pipeline import Options, plan, run

    try:
        result = run(path, Options(formats=formats, allow_plan_failure=True), until=plan)
    except CompileError as exc:
        report(exc.diagnostics)
        sys.exit(2)
    except Exception as exc:  # a bug, not a user error: say so plainly, without a traceback
        if os.environ.get("VLLM_COMPILE_DEBUG"):
            raise
        report([Diagnostic(f"internal error: {type(exc).__name__}: {exc}", file=path,
                           fix="please report this; run with VLLM_COMPILE_DEBUG=1 for a traceback", code="VC901")])
        sys.exit(2)
    report(result.warnings)
    return result


def render(findings) -> str:
    width = max(len(f.name) for f in findings)
    lines = []
    for f in findings:
        line = f"{MARK[f.status]:<4}  {f.name:<{width}}  {f.found}"
        lines.append(line + (f"  -> fix: {f.fix}" if f.fix and f.status != "ok" else ""))
    counts = {s: sum(1 for f in findings if f.status == s) for s in ("fail", "warn", "ok")}
    lines.append(f"{counts['fail']} failed, {counts['warn']} warning(s), {counts['ok']} ok")
    return "\n".join(lines)


@click.command("doctor")
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@emit_option
def command(spec: str | None, fmt: str, emit: str | None) -> None:
    """Check this host before deploying: Docker daemon, NVIDIA Container Toolkit, driver, free GPU
    memory, port, Hugging Face token and cache, shared memory. Without SPEC: host checks only.

    Exit codes: 0 nothing failed, 1 a check failed, 2 invalid input."""
    from vllm_compile.doctor import context_for, run_checks

    formats = emit_formats(emit)
    compilation = _plan(spec, formats) if spec else None
    findings = run_checks(context_for(compilation, formats))
    failed = any(f.status == "fail" for f in findings)
    if fmt == "json":
        click.echo(json.dumps({"spec": spec, "ok": not failed, "checks": [f.as_json() for f in findings]},
                              indent=2, sort_keys=True))
    else:
        click.echo(render(findings))
    sys.exit(1 if failed else 0)
