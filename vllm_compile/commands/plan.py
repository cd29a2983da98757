"""`vllm-compile plan SPEC [--format text|json]`: the per-GPU memory ledger, knobs and verdict."""
from __future__ import annotations

import json
import sys

import click

from vllm_compile.commands._common import compile_all


@click.command("plan")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(spec, fmt):
    """Predict vLLM's start-up memory for SPEC: exit 0 when it starts, 1 when vLLM would fail."""
    from vllm_compile.commands._ledger import ledger_text
    from vllm_compile.pipeline import Options, plan as plan_pass

    result, = compile_all([spec], Options(allow_plan_failure=True), until=plan_pass)
    deployments = result.spec.deployments
    if fmt == "json":
        objects = [p.as_json() for p in result.plans]
        payload = objects[0] if not result.spec.multi else {
            d.spec.name: o for d, o in zip(deployments, objects)}
        click.echo(json.dumps(payload, indent=2, sort_keys=True))
    else:
        for dep, p in zip(deployments, result.plans):
            click.echo(ledger_text(dep.spec.name, p, p.gpu_name or result.hardware.gpu.name))
    # The exit code follows the verdict, the same one `compile` refuses (goal_not_met included).
    sys.exit(0 if all(p.verdict == "ok" for p in result.plans) else 1)
