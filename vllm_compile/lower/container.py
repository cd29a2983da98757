"""A planned deployment -> what its container needs to run: image, argv, env, volumes, GPUs.

Secrets never appear as values: the Hugging Face token and the API key are references (to host
environment variables, and by role to where a target keeps secrets). Paths are relative to the
folder the artifacts are written to (compose resolves bind mounts against the compose file's
folder; the scripts against their own location), so nothing of the compiling machine leaks into
the output. How a runtime spells these needs is each emit target's business.
"""
from __future__ import annotations

import json
import math
import posixpath
import re
from dataclasses import asdict, fields
from typing import TYPE_CHECKING

from vllm_compile import __version__
from vllm_compile.diagnostics import CompileError, SourceMap
from vllm_compile.sha import hexdigest
from vllm_compile.ir.lowered import (
    Accelerators, EnvVar, Healthcheck, KubernetesOptions, LoweredDeployment, SecretKey, Ulimit, Volume)
from vllm_compile.lower.args import lower_args
from vllm_compile.flags import load_manifest
from vllm_compile.versions import release_key

if TYPE_CHECKING:  # annotations only: the pydantic spec model is costly to import
    from vllm_compile.ir.engine_args import EngineArgs
    from vllm_compile.ir.facts import HardwareFacts, ModelFacts
    from vllm_compile.ir.plan import Plan
    from vllm_compile.ir.spec import DeploymentSpec, Spec

IMAGE_REPOSITORY = "vllm/vllm-openai"
# vLLM's own ROCm image, tagged v<release> like the CUDA one. vLLM's ROCm install guide
# (docs/getting_started/installation/gpu.rocm.inc.md) says the official images exist since
# 20 January 2026, the release of 0.14.0 (the first release with ROCm wheels too); before,
# only AMD's own rocm/vllm builds existed, tagged by date rather than by vLLM release.
ROCM_IMAGE_REPOSITORY = "vllm/vllm-openai-rocm"
ROCM_IMAGE_SINCE = "0.14.0"
CONTAINER_PORT = 8000
HF_CACHE_CONTAINER = "/root/.cache/huggingface"
MODELS_DIR = "/models"
ADAPTERS_DIR = "/adapters"
# Shared memory per GPU: vLLM's Kubernetes guide gives one GPU a 2 GiB /dev/shm, and its
# LeaderWorkerSet example 15 GiB to eight GPUs (NCCL/RCCL buffers and the workers' shm broadcast
# queue grow with the number of ranks).
SHM_BYTES_PER_GPU = 2 * 2**30
# The model-cache volume holds the checkpoint twice (a new revision downloads beside the old
# one), in whole 10 GiB steps.
CACHE_STEP_BYTES = 10 * 2**30

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
# The limits NVIDIA's container guides give GPU containers running NCCL (`--ulimit memlock=-1
# --ulimit stack=67108864`): NCCL pins (mlocks) its host buffers, and its proxy threads want large
# stacks. Docker's defaults (memlock 8 MiB on many hosts) break multi-GPU communication at scale.
NVIDIA_ULIMITS = (Ulimit("memlock", -1, -1), Ulimit("stack", 64 * 2**20, 64 * 2**20))
# Formats whose artifacts publish the server's port on the deploying host.
HOST_PUBLISHED = ("compose", "docker-run", "ray", "serve")
LOOPBACK = "127.0.0.1"


def start_period_seconds(weight_bytes: int) -> int:
    seconds = STARTUP_ALLOWANCE_S + SECONDS_PER_GIB * weight_bytes / 2**30
    return int(math.ceil(seconds / 60) * 60)


def container_image(dep: DeploymentSpec, source: SourceMap, key_prefix: str, vendor: str = "nvidia") -> str:
    """`vllm/vllm-openai:v<version>` (ROCm: `vllm/vllm-openai-rocm:v<version>`), or the spec's image
    when it names a tag other than latest or pins a digest."""
    image = dep.engine.image
    if image is None and vendor == "amd":
        version = dep.engine.version
        if release_key(version) < release_key(ROCM_IMAGE_SINCE):
            raise CompileError([source.error(
                key_prefix + "engine.version",
                f"vLLM publishes no ROCm image for {version}: {ROCM_IMAGE_REPOSITORY} starts with {ROCM_IMAGE_SINCE}",
                found=version, expected=f"a release from {ROCM_IMAGE_SINCE} on for AMD GPUs",
                fix=f"pin engine.version {ROCM_IMAGE_SINCE} or newer, or set engine.image to a ROCm build of "
                    f"vLLM {version} (e.g. one of AMD's rocm/vllm tags)", code="VC601")])
        return f"{ROCM_IMAGE_REPOSITORY}:v{version}"
    if image is None:
        return f"{IMAGE_REPOSITORY}:v{dep.engine.version}"
    name, _, digest = image.partition("@")
    tag = name.rsplit(":", 1)[1] if ":" in name.rsplit("/", 1)[-1] else None
    if tag == "latest" or (tag is None and not digest):
        fixed = f"{name.rsplit(':', 1)[0] if tag else name}:v{dep.engine.version}"
        raise CompileError([source.error(
            key_prefix + "engine.image", "a floating `latest` image makes the deployment irreproducible",
            found=image, expected="an image with a version tag or a @sha256: digest",
            fix=f"use {fixed} (or pin a digest: {name}@sha256:...)", code="VC602")])
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
            fix=f"use a folder under the spec's folder, e.g. deploy/{dep.name}", code="VC216")])
    return out


def _host_folder(spec: Spec, output_dir: str, given: str) -> str:
    """A folder of the spec as the artifacts name it: relative to the artifact folder, or absolute."""
    path = given.replace("\\", "/")
    if posixpath.isabs(path):
        return posixpath.normpath(path)
    root = spec.directory.replace("\\", "/")
    host = posixpath.relpath(posixpath.join(root, path), posixpath.join(root, output_dir))
    return host if host.startswith(".") else f"./{host}"


def _model_mount(dep: DeploymentSpec, spec: Spec, output_dir: str) -> tuple[str, Volume | None]:
    """(the model as vLLM sees it, the read-only mount of a local model folder)."""
    if not dep.model.path:
        return dep.model.id or "", None
    base = posixpath.basename(posixpath.normpath(dep.model.path.replace("\\", "/")))
    name = re.sub(r"[^A-Za-z0-9._-]", "-", base).strip(".-") or dep.name
    container = f"{MODELS_DIR}/{name}"
    return container, Volume(kind="local-model", container=container,
                             source=_host_folder(spec, output_dir, dep.model.path), read_only=True)


def _adapter_mounts(dep: DeploymentSpec, spec: Spec, output_dir: str) -> tuple[tuple[str, ...], tuple[Volume, ...]]:
    """(each LoRA adapter as vLLM loads it: its read-only mount, or its repo id; the mounts)."""
    refs, volumes, taken = [], [], set()
    for i, adapter in enumerate(dep.model.lora_adapters):
        if adapter.path is None:
            refs.append(adapter.id or "")
            continue
        name = re.sub(r"[^A-Za-z0-9._-]", "-", adapter.name).strip(".-") or f"adapter-{i}"
        container = f"{ADAPTERS_DIR}/{name}" if name not in taken else f"{ADAPTERS_DIR}/{name}-{i}"
        taken.add(name)
        refs.append(container)
        volumes.append(Volume(kind="local-adapter", container=container,
                              source=_host_folder(spec, output_dir, adapter.path), read_only=True))
    return tuple(refs), tuple(volumes)


def _environment(dep: DeploymentSpec, model: ModelFacts) -> tuple[EnvVar, ...]:
    server = dep.server
    gated = dep.model.gated if dep.model.gated is not None else model.gated
    shown = dep.model.id or model.model_id
    env = [EnvVar("HF_TOKEN", from_env=server.hf_token_env, secret="hf_token",
                  required=bool(gated and not dep.model.path),
                  required_message=f"set {server.hf_token_env} to a Hugging Face token with access to {shown}")]
    if server.api_key_env:
        env.append(EnvVar("VLLM_API_KEY", from_env=server.api_key_env, secret="api_key", required=True,
                          required_message=f"set {server.api_key_env} to the API key clients must send"))
    return tuple(sorted(env, key=lambda e: e.name))


def _bind_address(dep: DeploymentSpec, formats: tuple[str, ...]) -> tuple[str | None, tuple[tuple[str, str], ...]]:
    """(the host address the port binds to, None = every interface; warnings keyed by spec key).
    Secure by default: without an API key the port is published on the loopback address only,
    and every interface needs `server.host` written out."""
    server = dep.server
    if server.host is not None:
        host: str | None = server.host
    else:
        host = None if server.api_key_env else LOOPBACK
    if server.api_key_env or not any(f in HOST_PUBLISHED for f in formats):
        return host, ()
    if host is not None and _loopback(host):
        return host, (("server.api_key_env",
                       f"no API key (server.api_key_env is unset): port {server.port} is published on {host} only, "
                       "so only this host reaches the server; to serve other hosts, set server.api_key_env to the "
                       "name of a variable holding a key"),)
    where = "every interface" if host is None or _unspecified(host) else host
    return host, (("server.host",
                   f"port {server.port} is published on {where} without an API key: anyone who reaches this host "
                   "can use the server; set server.api_key_env to the name of a variable holding a key"),)


def _loopback(host: str) -> bool:
    if host == LOOPBACK:  # the default: no need to load ipaddress to know
        return True
    import ipaddress

    return ipaddress.ip_address(host).is_loopback


def _unspecified(host: str) -> bool:
    import ipaddress

    return ipaddress.ip_address(host).is_unspecified


def _devices(spec: Spec, key_prefix: str, count: int, given: tuple[str, ...] | None,
             vendor: str = "nvidia") -> tuple[tuple[str, ...] | None, list[str]]:
    pinned = given if given is not None else (None if spec.multi else spec.hardware.device_ids)
    if pinned is None:
        return None, []
    if vendor == "amd" and not all(p.isdigit() for p in pinned):
        # HIP_VISIBLE_DEVICES, which pins ROCm GPUs inside the container, takes indexes only.
        raise CompileError([spec.source.error(
            "hardware.device_ids", "AMD GPUs are pinned by index (HIP_VISIBLE_DEVICES takes no UUIDs)",
            found=", ".join(pinned), expected="GPU indexes like '0', '1'",
            fix="list the GPUs' indexes as amd-smi (or rocm-smi) shows them", code="VC603")])
    if len(pinned) < count:
        raise CompileError([spec.source.error(
            "hardware.device_ids" if given is None else key_prefix + "name",
            f"the plan needs {count} GPUs but only {len(pinned)} are pinned",
            found=", ".join(pinned), expected=f"{count} device ids",
            fix=f"pin {count} GPUs in hardware.device_ids, or lower the parallelism", code="VC604")])
    notes = [f"{len(pinned)} GPUs are pinned but the plan uses {count}; giving the container the first "
             f"{count}: {', '.join(pinned[:count])}"] if len(pinned) > count else []
    return tuple(pinned[:count]), notes


def _digest(dep: DeploymentSpec, spec: Spec, plan: Plan, model: ModelFacts, hardware: HardwareFacts,
            manifest_version: str, extra: dict) -> str:
    """sha256 over every input the artifacts derive from (not the spec file's bytes, so that
    editing a comment in the spec is not drift). Machine-specific paths are left out."""
    facts = _as_data(model)
    facts.pop("source", None)
    facts.pop("warnings", None)
    # Without adapters, the digests stay what they were before adapters existed.
    for entry in (facts, *facts.get("lighter_variants", ())):
        if not entry.get("lora_adapters"):
            entry.pop("lora_adapters", None)
        # Likewise without sparse attention (the fields DeepSeek-V3.2's indexer added).
        for layer in (*entry.get("layers", ()), *entry.get("mtp_layers", ())):
            if not layer.get("index_key_bytes"):
                layer.pop("index_key_bytes", None)
        if entry.get("mla") and not entry["mla"].get("index_topk"):
            for key in ("index_topk", "index_n_heads", "index_head_dim"):
                entry["mla"].pop(key, None)
    hw = _as_data(hardware)
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
    return hexdigest(text.encode())


def _as_data(value):
    """What json.dumps makes of `dataclasses.asdict(value)`, without asdict's deep copy of every
    leaf (the digest only serializes it): dataclasses become dicts of their fields, sequences
    lists, mappings dicts, recursively; any other value is kept as it is."""
    if hasattr(type(value), "__dataclass_fields__"):
        return {f.name: _as_data(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [_as_data(item) for item in value]
    if isinstance(value, dict):
        return {key: _as_data(item) for key, item in value.items()}
    return value


def _cache_size(model: ModelFacts, plan: Plan) -> str:
    checkpoint = model.weight_bytes
    if model.dtype == "float32" and plan.dtype != "float32":
        checkpoint *= 2     # a float32 checkpoint is loaded as 16-bit weights: it is twice their size
    steps = max(1, math.ceil(2 * checkpoint / CACHE_STEP_BYTES))
    return f"{steps * CACHE_STEP_BYTES // 2**30}Gi"


def _kubernetes(dep: DeploymentSpec, model: ModelFacts, plan: Plan) -> KubernetesOptions:
    from vllm_compile.ir.records import build

    k8s = dep.kubernetes or build("KubernetesSpec", {})  # the defaults, without loading pydantic
    tolerations = tuple(tuple((key, value) for key, value in t.model_dump(by_alias=True).items() if value is not None)
                        for t in k8s.tolerations)
    return KubernetesOptions(
        namespace=k8s.namespace, cache_size=k8s.cache_size or _cache_size(model, plan),
        storage_class=k8s.storage_class,
        secrets=(("api_key", SecretKey(k8s.api_key_secret.name, k8s.api_key_secret.key)),
                 ("hf_token", SecretKey(k8s.hf_token_secret.name, k8s.hf_token_secret.key))),
        node_selector=None if k8s.node_selector is None else tuple(sorted(k8s.node_selector.items())),
        tolerations=tolerations, labels=tuple(sorted(k8s.labels.items())),
        annotations=tuple(sorted(k8s.annotations.items())))


# Targets that start a deployment across several nodes.
MULTI_NODE_FORMATS = ("lws", "ray")


def _target_checks(dep: DeploymentSpec, spec: Spec, key_prefix: str, formats: tuple[str, ...]) -> None:
    """What a chosen target cannot express, refused at the spec key that asks for it."""
    source = spec.source
    if "kubernetes" in formats and spec.hardware.share_gpus:
        raise CompileError([source.error(
            "hardware.share_gpus", "Kubernetes hands each pod whole GPUs: deployments cannot share one",
            found="share_gpus: true", expected="share_gpus: false with the kubernetes format",
            fix="drop share_gpus (each deployment gets GPUs of its own), or drop kubernetes from output.formats", code="VC605")])
    nodes = spec.hardware.nodes
    single = [f for f in formats if f not in MULTI_NODE_FORMATS]
    if nodes > 1 and single:
        raise CompileError([source.error(
            key_prefix + "output.formats", f"{', '.join(single)} run(s) the server on one host, but hardware.nodes is "
                                           f"{nodes}", found=", ".join(formats),
            expected="lws (Kubernetes) or ray (Docker hosts) for a deployment across nodes",
            fix="use output.formats [lws] and/or [ray], or set hardware.nodes: 1", code="VC611")])
    multi = [f for f in formats if f in MULTI_NODE_FORMATS]
    if nodes == 1 and multi:
        raise CompileError([source.error(
            "hardware.nodes", f"{', '.join(multi)} start(s) a deployment across nodes, but hardware.nodes is 1",
            found="nodes: 1", expected="hardware.nodes 2 or more for lws and ray",
            fix="set hardware.nodes to the number of nodes, or use kubernetes / docker-run for one node", code="VC612")])
    if any(f in formats for f in ("kubernetes", "lws")) and not dep.name[:1].isalpha():
        # The name is a DNS-1123 label; a Service name must also be a DNS-1035 one.
        raise CompileError([source.error(
            key_prefix + "name", "a Kubernetes Service name must start with a letter",
            found=dep.name, expected="a DNS-1035 label: a lowercase letter first",
            fix=f"rename, e.g. 'vllm-{dep.name}'", code="VC606")])
    local_adapters = [i for i, a in enumerate(dep.model.lora_adapters) if a.path is not None]
    remote = [f for f in ("kubernetes", "lws", "ray") if f in formats]
    if remote and local_adapters:
        i = local_adapters[0]
        raise CompileError([source.error(
            f"{key_prefix}model.lora_adapters[{i}].path",
            "a local adapter folder cannot be mounted into a Kubernetes pod or onto other nodes",
            found=dep.model.lora_adapters[i].path, expected="an adapter by Hugging Face id (vLLM downloads it)",
            fix=f"serve the adapter by its Hugging Face id, or drop {remote[0]} from output.formats", code="VC616")])
    if "ray" in formats and dep.model.path:
        raise CompileError([source.error(
            key_prefix + "model.path", "the ray target starts the model on every node from the Hugging Face cache",
            found=dep.model.path, expected="model.id (each node downloads it, or finds it in its HF_HOME)",
            fix="serve the model by its Hugging Face id (pre-download it into HF_HOME on every node), or drop ray "
                "from output.formats", code="VC613")])
    if any(f in formats for f in ("kubernetes", "lws")) and dep.model.path:
        raise CompileError([source.error(
            key_prefix + "model.path", "a local model folder cannot be mounted into a Kubernetes pod",
            found=dep.model.path, expected="model.id (the pod downloads it into the model-cache volume)",
            fix="serve the model by its Hugging Face id, or drop kubernetes from output.formats", code="VC607")])


def lower_deployment(dep: DeploymentSpec, plan: Plan, model: ModelFacts, hardware: HardwareFacts, *,
                     spec: Spec, key_prefix: str, device_ids: tuple[str, ...] | None = None,
                     depends_on_healthy: tuple[str, ...] = (), output_dir: str | None = None,
                     depends_on_ports: tuple[int, ...] = (), formats: tuple[str, ...] | None = None,
                     engine_args: EngineArgs | None = None) -> LoweredDeployment:
    """Lower one planned deployment for its pinned vLLM release; raises CompileError on user errors.
    `formats` (from --emit) overrides the deployment's output.formats for target-specific checks."""
    source = spec.source
    gpu = hardware.gpu
    _target_checks(dep, spec, key_prefix, tuple(formats if formats is not None else dep.output.formats))
    manifest = load_manifest(plan.vllm_version or dep.engine.version)
    image = container_image(dep, source, key_prefix, gpu.vendor)
    out_dir = _output_dir(dep, source, key_prefix, output_dir)
    model_ref, model_volume = _model_mount(dep, spec, out_dir)
    adapter_refs, adapter_volumes = _adapter_mounts(dep, spec, out_dir)
    args = lower_args(dep, plan, model, manifest, source=source, key_prefix=key_prefix, model_ref=model_ref,
                      engine_args=engine_args, adapter_refs=adapter_refs)
    wanted = tuple(formats if formats is not None else dep.output.formats)
    multinode = None
    if spec.hardware.nodes > 1:
        from vllm_compile.lower.nodes import lower_nodes

        multinode = lower_nodes(dep, spec.hardware, plan, args, manifest, source=source, key_prefix=key_prefix,
                                formats=wanted, engine_args=engine_args)
    per_node = plan.gpus // spec.hardware.nodes
    devices, device_notes = _devices(spec, key_prefix, plan.gpus, device_ids, gpu.vendor)
    volumes = [Volume(kind="model-cache", container=HF_CACHE_CONTAINER)]
    if model_volume:
        volumes.append(model_volume)
    volumes += adapter_volumes
    health = Healthcheck(path="/health", start_period_s=start_period_seconds(model.weight_bytes),
                         interval_s=HEALTH_INTERVAL_S, timeout_s=HEALTH_TIMEOUT_S, retries=HEALTH_RETRIES)
    digest = _digest(dep, spec, plan, model, hardware, manifest.version, {
        "device_ids": devices, "depends_on_healthy": list(depends_on_healthy),
        "image": image, "args": list(args),
        **({"multinode": asdict(multinode)} if multinode else {})})
    warnings = tuple(w for w in device_notes if w)
    bind_host, notes = _bind_address(dep, tuple(formats if formats is not None else dep.output.formats))
    return LoweredDeployment(
        name=dep.name, image=image, args=args, model=model_ref, env=_environment(dep, model),
        port=dep.server.port, container_port=CONTAINER_PORT,
        accelerators=Accelerators(vendor=gpu.vendor, count=per_node, device_ids=devices,
                                  product_names=gpu.nvidia_smi_names),
        shm_bytes=SHM_BYTES_PER_GPU * per_node, volumes=tuple(volumes), healthcheck=health,
        depends_on_healthy=tuple(depends_on_healthy), depends_on_ports=tuple(depends_on_ports), output_dir=out_dir,
        spec_path=posixpath.basename(spec.path), input_digest=digest, formats=tuple(dep.output.formats),
        warnings=warnings, release_warning=manifest.warning or None, kubernetes=_kubernetes(dep, model, plan), engine_version=manifest.requested,
        bind_host=bind_host, ulimits=NVIDIA_ULIMITS if gpu.vendor == "nvidia" else (), notes=notes,
        multinode=multinode)
