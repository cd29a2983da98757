"""`vllm-compile lock SPEC...`: resolve each spec's model(s) on the Hugging Face Hub and write
`<spec>.lock` — the only command that uses the network."""
from __future__ import annotations

import sys

import click


def _models(spec):
    """(key prefix, ModelSpec, token env) of every deployment that names a Hub repo."""
    for dep in spec.deployments:
        model = dep.spec.model
        if model.id and model.path is None and model.facts is None:
            yield dep.key_prefix, model, dep.spec.server.hf_token_env


@click.command(name="lock")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def command(specs):
    """Resolve each spec's model revision to a commit, fetch config.json (and a separate
    quantization config) and the safetensors headers (never the weights), and write
    SPEC.lock beside the spec. `compile` then needs no network for the model."""
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse import parse_spec
    from vllm_compile.resolve.models import facts_from_config
    from vllm_compile.resolve.models.config import FactsError
    from vllm_compile.resolve.models.hub import HubError, fetch
    from vllm_compile.resolve.models.lockfile import write_lock

    failed = False
    for path in specs:
        try:
            spec = parse_spec(path)
        except CompileError as exc:
            for d in exc.diagnostics:
                click.echo(d.format(), err=True)
            failed = True
            continue
        entries, errors = {}, []
        for prefix, model, token_env in _models(spec):
            if model.id in entries:
                if entries[model.id]["revision"] != (model.revision or "main"):
                    errors.append(spec.source.error(prefix + "model.revision",
                                                    f"{model.id} appears with two revisions in one spec",
                                                    fix="use one revision per repo in a spec"))
                continue
            try:
                entry = fetch(model.id, model.revision, token_env=token_env,
                              progress=lambda msg: click.echo(f"lock: {msg}", err=True))
                # Refuse to lock a config the compiler could not read later.
                facts_from_config(entry["config"], model_id=model.id, source="lock",
                                  quant_config=entry.get("quant_config"))
            except HubError as exc:
                errors.append(spec.source.error(prefix + "model.id", exc.message, fix=exc.fix))
                continue
            except FactsError as exc:
                errors.append(spec.source.error(prefix + "model.id", f"{model.id} config.json: {exc.message}",
                                                fix=exc.fix or "state the architecture under model.facts"))
                continue
            entries[model.id] = entry
        if errors:
            for d in errors:
                click.echo(d.format(), err=True)
            failed = True
            continue
        written = write_lock(path, entries)
        click.echo(f"lock: wrote {written} ({len(entries)} model(s))", err=True)
    if failed:
        sys.exit(2)
