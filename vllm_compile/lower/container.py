"""A planned deployment -> the container a runtime starts: image, argv, env, mounts, devices.

Secrets never appear as values: the Hugging Face token and the API key are references to
host environment variables. Paths are relative to the folder the artifacts are written to
(compose resolves bind mounts against the compose file's folder; the scripts against their
own location), so nothing of the compiling machine leaks into the output.
"""
from __future__ import annotations

import hashlib
import json
import math
import posixpath
import re
from dataclasses import asdict
from typing import TYPE_CHECKING

from vllm_compile import __version__
from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.ir.lowered import EnvVar, Healthcheck, LoweredDeployment, Volume
from vllm_compile.lower.args import lower_args
from vllm_compile.lower.flags import load_manifest

if TYPE_CHECKING:  # annotations only: the pydantic spec model is costly to import
    from vllm_compile.ir.facts import HardwareFacts, ModelFacts
    from vllm_compile.ir.plan import Plan
    from vllm_compile.ir.spec import DeploymentSpec, Spec

IMAGE_REPOSITORY = "vllm/vllm-openai"
CONTAINER_PORT = 8000
HF_CACHE_CONTAINER = "/root/.cache/huggingface"
HF_CACHE_DEFAULT = "~/.cache/huggingface"
MODELS_DIR = "/models"

# Healthcheck start period: failures inside it do not count, so it must cover a cold start.
# A first start downloads the weights (budget 10 s per GiB, about 100 MiB/s) and every start
# reads them, profiles memory, runs torch.compile and captures CUDA graphs (budget 300 s; logs
# show loads of 4-15 s for 15 GiB from a warm disk and 12-60 s of compile/capture). The sum is
# rounded up to whole minutes. Example: 16 GB of weights -> 300 + 150 = 450 s -> 480 s.
STARTUP_ALLOWANCE_S = 300
SECONDS_PER_GIB = 10
HEALTH_INTERVAL_S = 30
HEALTH_TIMEOUT_S = 10
HEALTH_RETRIES = 5


def start_period_seconds(weight_bytes: int) -> int:
    seconds = STARTUP_ALLOWANCE_S + SECONDS_PER_GIB * weight_bytes / 2**30
    return int(math.ceil(seconds / 60) * 60)


def container_image(dep: DeploymentSpec, source: SourceMap, key_prefix: str) -> str:
    """`vllm/vllm-openai:v<version>`, or the spec's image when it names a tag other than latest
    or pins a digest."""
    image = dep.engine.image
    if image is None:
        return f"{IMAGE_REPOSITORY}:v{dep.engine.version}"
    name, _, digest = image.partition("@")
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if tag == "latest" or (tag is None and not digest):
        fixed = f"{name.rsplit(':', 1)[0] if tag else name}:v{dep.engine.version}"
        raise CompileError([source.error(
            key_prefix + "engine.image", "a floating `latest` image makes the deployment irreproducible",
            found=image, expected="an image with a version tag or a @sha256: digest",
            fix=f"use {fixed} (or pin a digest: {name}@sha256:...)")])
    return image


def _output_dir(dep: DeploymentSpec, source: SourceMap, key_prefix: str, given: str | None) -> str:
    if given is not None:
        return posixpath.normpath(given.replace("\\", "/"))
    raw = dep.output.dir or f"deploy/{dep.name}"
    out = posixpath.normpath(raw.replace("\\", "/"))
    if out.startswith("/") or out == ".." or out.startswith("../"):
        raise CompileError([source.error(
            key_prefix + "output.dir", "the output folder must lie inside the spec's folder",
            found=raw, expected="a relative path without leading ..",
            fix=f"use a folder under the spec's folder, e.g. deploy/{dep.name}")])
    return out


def _model_mount(dep: DeploymentSpec, spec: Spec, output_dir: str) -> tuple[str, Volume | None]:
    """(the model as vLLM sees it, the read-only mount of a local model folder)."""
    if not dep.model.path:
        return dep.model.id or "", None
    path = dep.model.path.replace("\\", "/")
    base = posixpath.basename(posixpath.normpath(path))
    name = re.sub(r"[^A-Za-z0-9._-]", "-", base).strip(".-") or dep.name
    if posixpath.isabs(path):
        host = posixpath.normpath(path)
    else:
        root = spec.directory.replace("\\", "/")
        host = posixpath.relpath(posixpath.join(root, path), posixpath.join(root, output_dir))
        host = host if host.startswith(".") else f"./{host}"
    container = f"{MODELS_DIR}/{name}"
    return container, Volume(host=host, host_env=None, host_default=host, container=container, read_only=True)


def _environment(dep: DeploymentSpec, model: ModelFacts) -> tuple[EnvVar, ...]:
    server = dep.server
    gated = dep.model.gated if dep.model.gated is not None else model.gated
    shown = dep.model.id or model.model_id
    env = [EnvVar("HF_TOKEN", from_env=server.hf_token_env, required=bool(gated and not dep.model.path),
                  required_message=f"set {server.hf_token_env} to a Hugging Face token with access to {shown}")]
    if server.api_key_env:
        env.append(EnvVar("VLLM_API_KEY", from_env=server.api_key_env, required=True,
                          required_message=f"set {server.api_key_env} to the API key clients must send"))
    return tuple(sorted(env, key=lambda e: e.name))


def _devices(spec: Spec, key_prefix: str, count: int, given: tuple[str, ...] | None) -> tuple[tuple[str, ...] | None, list[str]]:
    pinned = given if given is not None else (None if spec.multi else spec.hardware.device_ids)
    if pinned is None:
        return None, []
    if len(pinned) < count:
        raise CompileError([spec.source.error(
            "hardware.device_ids" if given is None else key_prefix + "name",
            f"the plan needs {count} GPUs but only {len(pinned)} are pinned",
            found=", ".join(pinned), expected=f"{count} device ids",
            fix=f"pin {count} GPUs in hardware.device_ids, or lower the parallelism")])
    notes = [f"{len(pinned)} GPUs are pinned but the plan uses {count}; giving the container the first "
             f"{count}: {', '.join(pinned[:count])}"] if len(pinned) > count else []
    return tuple(pinned[:count]), notes


def _digest(dep: DeploymentSpec, spec: Spec, plan: Plan, model: ModelFacts, hardware: HardwareFacts,
            manifest_version: str, extra: dict) -> str:
    """sha256 over every input the artifacts derive from (not the spec file's bytes, so that
    editing a comment in the spec is not drift). Machine-specific paths are left out."""
    facts = asdict(model)
    facts.pop("source", None)
    facts.pop("warnings", None)
    hw = asdict(hardware)
    hw.pop("warnings", None)
    payload = {
        "tool": __version__,
        "flags_manifest": manifest_version,
        "deployment": dep.model_dump(mode="json"),
        "hardware_spec": spec.hardware.model_dump(mode="json"),
        "model": facts,
        "hardware": hw,
        "plan": plan.as_json(),
        **extra,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode()).hexdigest()


def lower_deployment(dep: DeploymentSpec, plan: Plan, model: ModelFacts, hardware: HardwareFacts, *,
                     spec: Spec, key_prefix: str, device_ids: tuple[str, ...] | None = None,
                     depends_on_healthy: tuple[str, ...] = (), output_dir: str | None = None,
                     depends_on_ports: tuple[int, ...] = ()) -> LoweredDeployment:
    """Lower one planned deployment for its pinned vLLM release; raises CompileError on user errors."""
    source = spec.source
    manifest = load_manifest(plan.vllm_version or dep.engine.version)
    image = container_image(dep, source, key_prefix)
    out_dir = _output_dir(dep, source, key_prefix, output_dir)
    model_ref, model_volume = _model_mount(dep, spec, out_dir)
    args = lower_args(dep, plan, model, manifest, source=source, key_prefix=key_prefix, model_ref=model_ref)
    devices, device_notes = _devices(spec, key_prefix, plan.gpus, device_ids)
    volumes = [Volume(host=f"${{HF_HOME:-{HF_CACHE_DEFAULT}}}", host_env="HF_HOME",
                      host_default=HF_CACHE_DEFAULT, container=HF_CACHE_CONTAINER)]
    if model_volume:
        volumes.append(model_volume)
    health = Healthcheck(path="/health", start_period_s=start_period_seconds(model.weight_bytes),
                         interval_s=HEALTH_INTERVAL_S, timeout_s=HEALTH_TIMEOUT_S, retries=HEALTH_RETRIES)
    digest = _digest(dep, spec, plan, model, hardware, manifest.version, {
        "device_ids": devices, "depends_on_healthy": list(depends_on_healthy),
        "image": image, "args": list(args)})
    warnings = tuple(w for w in (manifest.warning, *device_notes) if w)
    return LoweredDeployment(
        name=dep.name, image=image, args=args, model=model_ref, env=_environment(dep, model),
        host_port=dep.server.port, container_port=CONTAINER_PORT, gpu_count=plan.gpus, device_ids=devices,
        ipc_host=True, volumes=tuple(volumes), healthcheck=health, restart="unless-stopped",
        depends_on_healthy=tuple(depends_on_healthy), depends_on_ports=tuple(depends_on_ports), output_dir=out_dir, spec_path=posixpath.basename(spec.path),
        input_digest=digest, formats=tuple(dep.output.formats), warnings=warnings)
