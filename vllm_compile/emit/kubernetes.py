"""`kubernetes.yaml`: one file of documents per deployment — the model-cache PersistentVolumeClaim,
a Deployment (apps/v1) running the same vLLM argv as compose, and a Service.

Secrets are referenced by name and key (secretKeyRef), never created. The GPUs are whole devices
from the cluster's device plugin (`nvidia.com/gpu`, `amd.com/gpu`); which ones is the plugin's
choice, so pinned device ids do not apply here.
"""
from __future__ import annotations

import io
import math
from typing import Sequence

from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import EnvVar, KubernetesOptions, LoweredDeployment

NAME = "kubernetes"
FILENAME = "kubernetes.yaml"
KIND = "yaml"
SCOPE = "deployment"   # one file of documents per deployment, in its own output folder
RUNTIME = "kubernetes"
DESCRIPTION = "kubernetes.yaml: Deployment, Service, model-cache PVC"

CONTAINER = "vllm"
PORT_NAME = "http"
CACHE_VOLUME = "model-cache"
SHM_VOLUME = "dshm"
GPU_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu"}
# NVIDIA GPU feature discovery labels each GPU node with the product name nvidia-smi shows,
# spaces as dashes (e.g. NVIDIA-H100-80GB-HBM3).
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"
STARTUP_PERIOD_S = 10
READINESS_PERIOD_S = 10
READINESS_FAILURES = 3


def quantity(size_bytes: int) -> str:
    """Bytes as a Kubernetes binary quantity, rounded up to whole MiB (whole GiB when exact)."""
    if size_bytes % 2**30 == 0:
        return f"{size_bytes // 2**30}Gi"
    return f"{math.ceil(size_bytes / 2**20)}Mi"


def escape(value: str) -> str:
    """A value made literal for Kubernetes, which expands `$(VAR)` in args and env values and
    turns `$$` into `$`."""
    return value.replace("$", "$$")


def labels(dep: LoweredDeployment) -> dict[str, str]:
    return {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": dep.name}


def _all_labels(dep: LoweredDeployment, options: KubernetesOptions) -> dict[str, str]:
    # The recommended app.kubernetes.io/* labels win over extra labels of the same key: the
    # Service and the Deployment select the pod by them.
    out = dict(options.labels)
    out.update(labels(dep))
    out["app.kubernetes.io/component"] = dep.role
    if dep.engine_version:
        out["app.kubernetes.io/version"] = dep.engine_version
    out["app.kubernetes.io/managed-by"] = "vllm-compile"
    return dict(sorted(out.items()))


def _metadata(name: str, dep: LoweredDeployment, options: KubernetesOptions) -> dict:
    out: dict = {"name": name}
    if options.namespace:
        out["namespace"] = options.namespace
    out["labels"] = _all_labels(dep, options)
    if options.annotations:
        out["annotations"] = dict(options.annotations)
    return out


def _env(var: EnvVar, options: KubernetesOptions) -> dict:
    if var.value is not None:
        return {"name": var.name, "value": escape(var.value)}
    secrets = dict(options.secrets)
    if var.secret not in secrets:
        raise ValueError(f"env {var.name} is read from the host ({var.from_env}), which a pod cannot do")
    ref = secrets[var.secret]
    # An optional reference lets the pod start without the Secret (an ungated model needs no token).
    return {"name": var.name, "valueFrom": {"secretKeyRef": {
        "name": ref.name, "key": ref.key, "optional": not var.required}}}


def _probe(dep: LoweredDeployment, period: int, failures: int) -> dict:
    return {"httpGet": {"path": dep.healthcheck.path, "port": PORT_NAME}, "periodSeconds": period,
            "timeoutSeconds": dep.healthcheck.timeout_s, "failureThreshold": failures}


def _scheduling(dep: LoweredDeployment, options: KubernetesOptions) -> dict:
    out: dict = {}
    if options.node_selector is not None:
        if options.node_selector:
            out["nodeSelector"] = dict(options.node_selector)
    elif dep.accelerators.vendor == "nvidia" and dep.accelerators.product_names:
        values = sorted({name.replace(" ", "-") for name in dep.accelerators.product_names})
        if len(values) == 1:
            out["nodeSelector"] = {GPU_PRODUCT_LABEL: values[0]}
        else:   # one GPU model known under several names: any of them
            out["affinity"] = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": [
                    {"key": GPU_PRODUCT_LABEL, "operator": "In", "values": values}]}]}}}
    if options.tolerations:
        out["tolerations"] = [{_camel(key): value for key, value in toleration}
                              for toleration in options.tolerations]
    return out


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _volumes(dep: LoweredDeployment) -> tuple[list[dict], list[dict]]:
    """(volumeMounts, volumes) of the pod."""
    mounts, volumes = [], []
    for volume in dep.volumes:
        if volume.kind != "model-cache":
            raise ValueError(f"a {volume.kind} volume ({volume.container}) cannot be mounted into a pod")
        mounts.append({"name": CACHE_VOLUME, "mountPath": volume.container})
        volumes.append({"name": CACHE_VOLUME, "persistentVolumeClaim": {"claimName": cache_claim(dep)}})
    mounts.append({"name": SHM_VOLUME, "mountPath": "/dev/shm"})
    volumes.append({"name": SHM_VOLUME, "emptyDir": {"medium": "Memory", "sizeLimit": quantity(dep.shm_bytes)}})
    return mounts, volumes


def cache_claim(dep: LoweredDeployment) -> str:
    return f"{dep.name}-model-cache"


def documents(dep: LoweredDeployment) -> list[dict]:
    options = dep.kubernetes
    if options is None:
        raise ValueError(f"deployment {dep.name} was lowered without Kubernetes options")
    check = dep.healthcheck
    mounts, volumes = _volumes(dep)
    container = {
        "name": CONTAINER,
        "image": dep.image,
        "args": [escape(arg) for arg in dep.args],
        "env": [_env(var, options) for var in dep.env],
        "ports": [{"name": PORT_NAME, "containerPort": dep.container_port, "protocol": "TCP"}],
        "resources": {"limits": {GPU_RESOURCE[dep.accelerators.vendor]: dep.accelerators.count}},
        "volumeMounts": mounts,
        # Start-up budget as compose's start period: failureThreshold x periodSeconds covers it.
        "startupProbe": _probe(dep, STARTUP_PERIOD_S, math.ceil(check.start_period_s / STARTUP_PERIOD_S)),
        "readinessProbe": _probe(dep, READINESS_PERIOD_S, READINESS_FAILURES),
        "livenessProbe": _probe(dep, check.interval_s, check.retries),
    }
    if not container["env"]:
        del container["env"]
    claim: dict = {"accessModes": ["ReadWriteOnce"]}
    if options.storage_class:
        claim["storageClassName"] = options.storage_class
    claim["resources"] = {"requests": {"storage": options.cache_size}}
    template_metadata: dict = {"labels": _all_labels(dep, options)}
    if options.annotations:
        template_metadata["annotations"] = dict(options.annotations)
    return [
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": _metadata(cache_claim(dep), dep, options), "spec": claim},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(dep.name, dep, options),
         "spec": {
             "replicas": 1,
             # Two pods cannot hold the same GPUs (nor, ReadWriteOnce, the same cache volume):
             # the old pod goes before the new one starts.
             "strategy": {"type": "Recreate"},
             "selector": {"matchLabels": labels(dep)},
             "template": {"metadata": template_metadata, "spec": {
                 **_scheduling(dep, options), "containers": [container], "volumes": volumes}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(dep.name, dep, options),
         "spec": {"type": "ClusterIP", "selector": labels(dep),
                  "ports": [{"name": PORT_NAME, "port": dep.port, "targetPort": PORT_NAME, "protocol": "TCP"}]}},
    ]


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    from ruamel.yaml import YAML

    if len(deployments) != 1:
        raise ValueError(f"the {NAME} target renders one deployment per file, got {len(deployments)}")
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 1 << 16          # never fold a long argument across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    yaml.explicit_start = True
    buffer = io.StringIO()
    yaml.dump_all(documents(deployments[0]), buffer)
    return ("\n".join(header.comment_lines()) + "\n" + buffer.getvalue()).encode("utf-8")
