"""`vllm-compile explain SPEC`: the ledger as a table and bar chart, and every knob with its reason."""
from __future__ import annotations

import json
import sys

import click

from vllm_compile.commands._common import compile_all


@click.command("explain")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(spec, fmt):
    """Explain SPEC's plan: where each GPU's memory goes and why each knob has its value."""
    from vllm_compile.commands._ledger import explain_json, explain_text
    from vllm_compile.pipeline import Options, plan as plan_pass

    result, = compile_all([spec], Options(allow_plan_failure=True), until=plan_pass)
    deployments = result.spec.deployments
    if fmt == "json":
        objects = [explain_json(p, p.gpu_name or result.hardware.gpu.name) for p in result.plans]
        # The same shape as `plan --format json`: one object, or one per deployment by name.
        payload = objects[0] if not result.spec.multi else {d.spec.name: o for d, o in zip(deployments, objects)}
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for dep, p in zip(deployments, result.plans):
            click.echo(explain_text(dep.spec.name, p, p.gpu_name or result.hardware.gpu.name))
    sys.exit(0 if all(p.verdict == "ok" for p in result.plans) else 1)
