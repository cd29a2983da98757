"""The compiler: one ordered tuple of passes, run by a short loop.

Each pass takes the `Compilation` so far and returns a new one with its stage's output filled
in; the passes are thin adapters over the stage packages (parse, resolve, plan, lower, emit),
which never import each other.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import field
from vllm_compile.fastclass import dataclass
from typing import Any

from vllm_compile.diagnostics import CompileError, Diagnostic


@dataclass(frozen=True)
class Options:
    formats: tuple[str, ...] | None = None   # --emit: overrides output.formats
    output_dir: str | None = None            # -o: overrides output.dir (relative to the CWD)
    nest_output: bool = False                # several specs share -o DIR: one subfolder per spec
    allow_plan_failure: bool = False         # `plan`/`explain` show a failing plan instead of refusing
    spec_bytes: bytes | None = None          # the spec's content instead of the file's (`fix` checks patches)


@dataclass(frozen=True)
class Compilation:
    path: str
    options: Options = Options()
    # Any, not the IR types: None until their pass has run, and every later pass reads them.
    spec: Any = None                      # ir.spec.Spec
    lock: dict | None = None
    lock_digest: str | None = None        # sha256 of the lock file's bytes (None: no lock)
    models: tuple = ()                    # ir.facts.ModelFacts per deployment
    hardware: Any = None                  # ir.facts.HardwareFacts
    devices: tuple = ()                   # pinned device ids per deployment (None = any `count`)
    plans: tuple = ()                     # ir.plan.Plan per deployment
    lowered: tuple = ()                   # ir.lowered.LoweredDeployment per deployment
    artifacts: tuple = ()                 # ir.artifact.Artifact
    warnings: tuple[Diagnostic, ...] = field(default=())
    # User errors of the resolve passes, held until both have run so one run reports every one.
    errors: tuple[Diagnostic, ...] = field(default=())


def parse(c: Compilation) -> Compilation:
    from vllm_compile.parse import parse_spec

    return dataclasses.replace(c, spec=parse_spec(c.path, c.options.spec_bytes))


def read_lock(c: Compilation) -> Compilation:
    from vllm_compile.resolve.models import load_lock

    lock = load_lock(c.path)
    return dataclasses.replace(c, lock=lock, lock_digest=None if lock is None else _file_digest(c.path + ".lock"))


def resolve_models(c: Compilation) -> Compilation:
    from vllm_compile.resolve.models import resolve_model

    spec, models, errors = c.spec, [], list[Diagnostic]()
    for dep in spec.deployments:
        try:
            facts = resolve_model(dep.spec.model, spec_dir=spec.directory, source=spec.source,
                                  key_prefix=dep.key_prefix, lock=c.lock)
        except CompileError as exc:
            errors += exc.diagnostics
            continue
        draft, problem = _resolve_drafter(c, dep)
        if problem is not None:
            errors.append(problem)
        models.append(dataclasses.replace(facts, speculative_draft=draft) if draft is not None else facts)
    if errors:
        return dataclasses.replace(c, errors=c.errors + tuple(errors))
    notes = tuple(spec.source.warning(dep.key_prefix + "model", w, code="VC330")
                  for dep, m in zip(spec.deployments, models) for w in m.warnings)
    return dataclasses.replace(c, models=tuple(models), warnings=c.warnings + notes)


def _resolve_drafter(c: Compilation, dep):
    """The EAGLE head or draft model `--speculative-config` names in engine.extra_args, resolved
    like the target (lock, HF cache, catalog, or a folder beside the spec); (facts, None), or
    (None, a diagnostic at engine.extra_args) when it cannot be found."""
    from vllm_compile.plan import SPECULATIVE_KEY
    from vllm_compile.plan.assign import _engine_args, located_key, speculative_request
    from vllm_compile.resolve.models import resolve_model

    values = _engine_args(dep.spec, getattr(dep, "engine_args", None)).values()
    found = speculative_request(values.get("speculative_config"), values.get("speculative_model"),
                                values.get("num_speculative_tokens"))
    if found is None or found[3] is None:
        return None, None
    ref = found[3]
    local = os.path.isdir(os.path.join(c.spec.directory, ref))
    from vllm_compile.ir.spec import ModelSpec  # validates the reference (pydantic: only for a drafter)

    try:
        model = ModelSpec(id=None if local else ref, path=ref if local else None)
        return resolve_model(model, spec_dir=c.spec.directory, source=c.spec.source, key_prefix=dep.key_prefix,
                             lock=c.lock), None
    except (CompileError, ValueError) as exc:
        why = "; ".join(d.message for d in exc.diagnostics) if isinstance(exc, CompileError) else str(exc)
        return None, c.spec.source.error(
            located_key(dep.key_prefix, dep.spec, SPECULATIVE_KEY, getattr(dep, "engine_args", None)),
            f"speculative draft model {ref!r} cannot be resolved: {why}",
            fix="name a model the lock file, the HF cache or the catalog has, or a folder holding its config.json",
            code="VC326")


def resolve_hardware(c: Compilation) -> Compilation:
    from vllm_compile.resolve.hardware import resolve_hardware as resolve

    lock_hw = (c.lock or {}).get("hardware")
    try:
        hardware = resolve(c.spec.hardware, source=c.spec.source, key_prefix="", lock_hardware=lock_hw)
    except CompileError as exc:
        raise CompileError(c.errors + exc.diagnostics) from None
    if c.errors:
        raise CompileError(c.errors)
    notes = tuple(c.spec.source.warning("hardware", w, code="VC331") for w in hardware.warnings)
    return dataclasses.replace(c, hardware=hardware, warnings=c.warnings + notes)


def plan(c: Compilation) -> Compilation:
    from vllm_compile.plan.assign import plan_host
    from vllm_compile.resolve.hardware import catalog

    # The catalog goes in as data: a fix that names another GPU type is planned on its facts.
    plans, devices, notes = plan_host(c.spec, c.models, c.hardware, allow_failure=c.options.allow_plan_failure,
                                      catalog=catalog(), release_flags=_release_flags)
    return dataclasses.replace(c, plans=plans, devices=devices, warnings=c.warnings + notes)


def lower(c: Compilation) -> Compilation:
    from vllm_compile.lower import lower_deployment

    spec, lowered, errors = c.spec, [], list[Diagnostic]()
    for index, dep in enumerate(spec.deployments):
        # Deployments sharing a GPU start one after another so each profiles after the last allocated.
        waits = [spec.deployments[j].spec for j in range(index) if _shares_gpu(c.devices[j], c.devices[index])]
        try:
            lowered.append(lower_deployment(
                dep.spec, c.plans[index], c.models[index], c.hardware, spec=spec, key_prefix=dep.key_prefix,
                device_ids=c.devices[index], depends_on_healthy=tuple(w.name for w in waits[-1:]),
                depends_on_ports=tuple(w.server.port for w in waits[-1:]),
                output_dir=_output_dir(c, dep), formats=c.options.formats, engine_args=dep.engine_args))
        except CompileError as exc:
            errors += exc.diagnostics
    if errors:
        # A host-wide key (hardware.*) refused for every deployment is reported once.
        raise CompileError(list(dict.fromkeys(errors)))
    notes = tuple(note for dep, low in zip(spec.deployments, lowered) for note in (
        *([spec.source.warning(dep.key_prefix + "engine.version", low.release_warning, code="VC520")]
          if low.release_warning else []),
        *(spec.source.warning("hardware.device_ids", w, code="VC610") for w in low.warnings)))
    notes += tuple(spec.source.warning(dep.key_prefix + key, w, code="VC617")
                   for dep, low in zip(spec.deployments, lowered) for key, w in low.notes)
    return dataclasses.replace(c, lowered=tuple(lowered), warnings=c.warnings + notes)


def emit(c: Compilation) -> Compilation:
    from vllm_compile.emit import emit_artifacts

    artifacts = emit_artifacts(c.lowered, c.options.formats, host_output_dir=_host_output_dir(c),
                               seal_inputs=_seal_inputs(c))
    return dataclasses.replace(c, artifacts=tuple(artifacts))


def _seal_inputs(c: Compilation) -> str | None:
    """What `check` can recompute from the raw inputs (vllm_compile/freshness.py), when the
    compile read nothing else; None leaves the artifacts unsealed (check then always compiles)."""
    from vllm_compile.freshness import inputs_digest, sealable

    sources = [m.source for m in c.models] + [a.source.split(":")[0] for m in c.models for a in m.lora_adapters]
    sources += ["speculative-draft" for m in c.models if m.speculative_draft is not None]  # resolved from extra_args
    if not sealable(sources, c.spec.hardware.gpu, c.lock):
        return None
    return inputs_digest(os.path.basename(c.spec.path), c.spec.digest, c.lock_digest, c.options.formats)


def _file_digest(path: str) -> str:
    from vllm_compile.sha import hexdigest

    with open(path, "rb") as handle:
        return hexdigest(handle.read())


PASSES = (parse, read_lock, resolve_models, resolve_hardware, plan, lower, emit)


def run(path: str, options: Options = Options(), until=None) -> Compilation:
    compilation = Compilation(path=path, options=options)
    for step in PASSES:
        compilation = step(compilation)
        if step is until:
            break
    return compilation


def _release_flags(version: str) -> frozenset[str]:
    """The flags vLLM `version` accepts (its flag manifest): multi-node planning chooses a launch
    the release has. Handed to the planner as data, like the GPU catalog."""
    from vllm_compile.flags import load_manifest

    return frozenset(load_manifest(version).flags)


def _shares_gpu(a, b) -> bool:
    return a is not None and b is not None and bool(set(a) & set(b))


def _override_dir(c: Compilation, name: str) -> str | None:
    if c.options.output_dir is None:
        return None
    target = os.path.join(c.options.output_dir, name) if c.options.nest_output else c.options.output_dir
    return os.path.relpath(os.path.abspath(target), c.spec.directory).replace(os.sep, "/")


def _host_output_dir(c: Compilation) -> str:
    spec = c.spec
    # With several specs sharing -o DIR, each gets DIR/<deployment name> (multi-deployment: DIR/<spec stem>).
    label = os.path.splitext(os.path.basename(spec.path))[0] if spec.multi else spec.deployments[0].spec.name
    override = _override_dir(c, label)
    if override is not None:
        return override
    if spec.multi:
        return spec.output.dir or "deploy"
    dep = spec.deployments[0].spec
    return dep.output.dir or f"deploy/{dep.name}"


def _output_dir(c: Compilation, dep) -> str | None:
    if not c.spec.multi:
        return _override_dir(c, dep.spec.name)
    return f"{_host_output_dir(c)}/{dep.spec.name}"
