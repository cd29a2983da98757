"""`vllm-compile lock SPEC...`: resolve each spec's model(s) on the Hugging Face Hub and write
`<spec>.lock` — the only command that uses the network. With `hardware.gpu: auto` it also
records the GPUs NVML reports, so a machine without GPUs compiles the same bytes."""
from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from vllm_compile.diagnostics import Diagnostic


def _models(spec):
    """(key prefix, ModelSpec, token env) of every deployment that names a Hub repo."""
    for dep in spec.deployments:
        model = dep.spec.model
        if model.id and model.path is None and model.facts is None:
            yield dep.key_prefix, model, dep.spec.server.hf_token_env


def _adapters(spec):
    """(key of the adapter's id, repo id, token env) of every LoRA adapter served by repo id."""
    for dep in spec.deployments:
        for i, adapter in enumerate(dep.spec.model.lora_adapters):
            if adapter.id is not None:
                yield f"{dep.key_prefix}model.lora_adapters[{i}].id", adapter.id, dep.spec.server.hf_token_env


def _hardware(spec) -> dict | None:
    """The lock's hardware section for `gpu: auto` (None for declared hardware, which needs no
    driver); CompileError when NVML cannot see any GPU."""
    if spec.hardware.gpu.strip().lower() != "auto":
        return None
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.resolve.hardware import NoGpuError, hardware_lock_section
    from vllm_compile.resolve.hardware.detect import detect

    try:
        return hardware_lock_section(detect())
    except NoGpuError as exc:
        raise CompileError([spec.source.error(
            "hardware.gpu", f"`gpu: auto` makes `lock` record this machine's GPUs, but {exc}", found="'auto'",
            expected="a machine with the NVIDIA driver and its GPUs",
            fix="run `vllm-compile lock` on the GPU host and commit the lock file, or declare the GPU instead, "
                "e.g. `hardware: {gpu: H100, count: 8}` (names: `vllm-compile gpus`)", code="VC312")]) from None


def _record_hardware(lock_file: str, section: dict) -> None:
    import os

    from vllm_compile.resolve.models.lockfile import dump_lock

    from vllm_compile.inputs import read_json

    data = read_json(lock_file)  # just written by `lock`
    data["hardware"] = section
    tmp = lock_file + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(dump_lock(data))
    os.replace(tmp, lock_file)


@click.command(name="lock")
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False))
def command(specs):
    """Resolve each spec's model revision to a commit, fetch config.json (and a separate
    quantization config) and the safetensors headers (never the weights), and the
    adapter_config.json of each LoRA adapter served by repo id, and write SPEC.lock beside the
    spec. `compile` then needs no network for the model. For
    `hardware.gpu: auto`, the GPUs of this machine (through NVML) are recorded too."""
    from vllm_compile.diagnostics import CompileError
    from vllm_compile.parse import parse_spec
    from vllm_compile.resolve.models import facts_from_config
    from vllm_compile.resolve.models.config import FactsError
    from vllm_compile.resolve.models.hub import HubError, fetch, fetch_adapter
    from vllm_compile.resolve.models.sources import SourceError, adapter_rank
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
        try:
            hardware = _hardware(spec)  # before any network use: no driver fails fast
        except CompileError as exc:
            for d in exc.diagnostics:
                click.echo(d.format(), err=True)
            failed = True
            continue
        entries: dict[str, dict] = {}
        errors: list[Diagnostic] = []
        for prefix, model, token_env in _models(spec):
            if model.id in entries:
                if entries[model.id]["revision"] != (model.revision or "main"):
                    errors.append(spec.source.error(prefix + "model.revision",
                                                    f"{model.id} appears with two revisions in one spec",
                                                    fix="use one revision per repo in a spec", code="VC318"))
                continue
            try:
                entry = fetch(model.id, model.revision, token_env=token_env,
                              progress=lambda msg: click.echo(f"lock: {msg}", err=True))
                # Refuse to lock a config the compiler could not read later.
                facts_from_config(entry["config"], model_id=model.id, source="lock",
                                  quant_config=entry.get("quant_config"))
            except HubError as exc:
                errors.append(spec.source.error(prefix + "model.id", exc.message, fix=exc.fix, code="VC309"))
                continue
            except FactsError as exc:
                errors.append(spec.source.error(prefix + "model.id", f"{model.id} config.json: {exc.message}",
                                                fix=exc.fix or "state the architecture under model.facts", code="VC319"))
                continue
            entries[model.id] = entry
        adapters: dict[str, dict] = {}
        for key, repo_id, token_env in _adapters(spec):
            if repo_id in adapters:
                continue
            try:
                adapter = fetch_adapter(repo_id, token_env=token_env,
                                        progress=lambda msg: click.echo(f"lock: {msg}", err=True))
                adapter_rank(adapter["adapter_config"])   # refuse to lock what compile could not read
            except HubError as exc:
                errors.append(spec.source.error(key, exc.message, fix=exc.fix, code="VC309"))
                continue
            except SourceError as exc:
                errors.append(spec.source.error(key, f"{repo_id}: {exc}", fix="check the adapter's id", code="VC309"))
                continue
            adapters[repo_id] = adapter
        if errors:
            for d in errors:
                click.echo(d.format(), err=True)
            failed = True
            continue
        written = write_lock(path, entries, adapters)
        gpus = ""
        if hardware is not None:
            _record_hardware(written, hardware)
            gpus = f", {len(hardware['gpus'])} GPU(s), driver {hardware['driver_version']}"
        lora = f", {len(adapters)} LoRA adapter(s)" if adapters else ""
        click.echo(f"lock: wrote {written} ({len(entries)} model(s){lora}{gpus})", err=True)
    if failed:
        sys.exit(2)
