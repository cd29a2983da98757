"""`vllm-compile schema`: print the spec's JSON Schema."""
from __future__ import annotations

import json

import click


@click.command("schema")
def command():
    """Print the JSON Schema (draft 2020-12) of deployment.vllm.yaml."""
    from vllm_compile.ir.spec import json_schema

    click.echo(json.dumps(json_schema(), indent=2, sort_keys=True))
