"""`vllm-compile fix SPEC [--apply N]`: list the fixes that make SPEC compile, or apply one.

The planner proposes fixes as spec patches it has re-planned; here each patch is applied to the
file's text and the whole pipeline runs again on the result (no file is written), so only a fix
with which `compile` succeeds — for every deployment of the file — is listed. `--apply N` writes
fix N into the spec in place through a ruamel.yaml round trip, which keeps comments, key order
and formatting, atomically.
"""
from __future__ import annotations

import json
import re
import sys

import click

from vllm_compile.commands._common import compile_all

_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[(\d+)\])?$")


@click.command("fix")
@click.argument("spec", type=click.Path(dir_okay=False))
@click.option("--apply", "number", type=int, default=None, metavar="N", help="Apply fix N (as listed) to SPEC in place.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def command(spec, number, fmt):
    """List the verified fixes for SPEC (each makes `compile` succeed), or apply fix N in place.

    \b
    Exit codes: 0 listed or applied (or nothing to fix); 1 no fix found; 2 invalid input.
    Example: vllm-compile fix specs/llama-70b.yaml --apply 1"""
    from vllm_compile.commands._common import report
    from vllm_compile.diagnostics import Diagnostic
    from vllm_compile.pipeline import Options, plan as plan_pass

    result, = compile_all([spec], Options(allow_plan_failure=True), until=plan_pass)
    failing = [(dep, p) for dep, p in zip(result.spec.deployments, result.plans) if p.verdict != "ok"]
    if not failing:
        click.echo(json.dumps({"fixes": []}) if fmt == "json" else
                   f"{result.spec.path}: nothing to fix: every deployment plans ok")
        sys.exit(0)
    from vllm_compile.inputs import read_bytes

    original = read_bytes(spec)  # parsed just above, so a regular file of bounded size
    offered = []
    for dep, plan in failing:
        for fix in plan.fixes:
            patched = apply_settings(original, fix.settings)
            if patched is not None and _compiles(spec, patched):
                offered.append((dep.spec.name, fix, patched))

    if number is None:
        if fmt == "json":
            click.echo(json.dumps({"fixes": [{"deployment": name, **fix.as_json()} for name, fix, _ in offered]},
                                  indent=2, sort_keys=True))
        else:
            for dep, plan in failing:
                click.echo(f"{dep.spec.name}: verdict {plan.verdict}: {' '.join(plan.reasons)}")
            for i, (name, fix, _) in enumerate(offered, 1):
                click.echo(f"  fix {i} ({name}): {fix.label()}")
            if offered:
                click.echo(f"apply one with: vllm-compile fix {spec} --apply N")
            else:
                click.echo("no fix found with which the spec compiles")
        sys.exit(0 if offered else 1)

    if not 1 <= number <= len(offered):
        report([Diagnostic(f"there is no fix {number}: {len(offered)} verified fix(es) for this spec",
                           file=result.spec.path, key="--apply", found=str(number),
                           expected=f"1 to {len(offered)}" if offered else "no --apply (nothing to apply)",
                           fix=f"list them with: vllm-compile fix {spec}")])
        sys.exit(2)
    from vllm_compile.writer import write_atomic

    name, fix, patched = offered[number - 1]
    write_atomic(spec, patched)
    click.echo(f"applied fix {number} ({name}) to {result.spec.path}: {fix.label()}")


def _compiles(path: str, data: bytes) -> bool:
    """Whether the whole pipeline accepts the patched spec (nothing is written)."""
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.pipeline import Options, run

    try:
        run(path, Options(spec_bytes=data))
    except CompileError:
        return False
    return True


def apply_settings(data: bytes, settings) -> bytes | None:
    """The spec's bytes with each (dotted key path, value) set, through a ruamel.yaml round trip;
    None when a path does not lead to a mapping in this file."""
    import io

    from ruamel.yaml.comments import CommentedMap

    text = data.decode("utf-8")
    yaml = _round_tripper(text)
    root = yaml.load(text)
    for key, value in settings:
        node = root
        *parents, leaf = key.split(".")
        for step in parents:
            match = _STEP.match(step)
            if match is None or not isinstance(node, CommentedMap):
                return None
            name, index = match.group(1), match.group(2)
            if name not in node:
                if index is not None:
                    return None
                node[name] = CommentedMap()
            node = node[name]
            if index is not None:
                if not isinstance(node, list) or int(index) >= len(node):
                    return None
                node = node[int(index)]
        if not isinstance(node, CommentedMap):
            return None
        node[leaf] = value
    out = io.StringIO()
    yaml.dump(root, out)
    return out.getvalue().encode("utf-8")


# (mapping, sequence, offset) indentations tried in turn: the first whose untouched round trip gives
# the file back byte for byte is the file's own style.
_INDENTS = ((2, 4, 2), (2, 2, 0), (4, 4, 2), (4, 6, 4), (4, 4, 0), (2, 4, 0))


def _round_tripper(text: str):
    import io

    from ruamel.yaml import YAML

    def make(indent):
        yaml = YAML(typ="rt")
        yaml.preserve_quotes = True
        yaml.width = 4096
        yaml.indent(mapping=indent[0], sequence=indent[1], offset=indent[2])
        return yaml

    for indent in _INDENTS:
        yaml = make(indent)
        out = io.StringIO()
        yaml.dump(yaml.load(text), out)
        if out.getvalue() == text:
            return yaml
    return make(_INDENTS[0])
