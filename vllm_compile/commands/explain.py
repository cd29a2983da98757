"""`vllm-compile explain SPEC`: the ledger as a table and bar chart, and every knob with its reason."""
from __future__ import annotations

import sys

import click

from vllm_compile.commands._common import compile_all


@click.command("explain")
@click.argument("spec", type=click.Path(dir_okay=False))
def command(spec):
    """Explain SPEC's plan: where each GPU's memory goes and why each knob has its value."""
    from vllm_compile.commands._ledger import explain_text
    from vllm_compile.pipeline import Options, plan as plan_pass

    result, = compile_all([spec], Options(allow_plan_failure=True), until=plan_pass)
    for dep, p in zip(result.spec.deployments, result.plans):
        click.echo(explain_text(dep.spec.name, p, p.gpu_name or result.hardware.gpu.name))
    sys.exit(0 if all(p.verdict == "ok" for p in result.plans) else 1)
