"""The kubernetes target: documents by hand, strict kubernetes-validate, argv against the manifest."""
from __future__ import annotations

import copy

import pytest

import lower_builders as b
import validators as v
from emit_cases import CASES
from vllm_compile.emit import compose, kubernetes
from vllm_compile.emit.header import Header
from vllm_compile.engine_args import parse_serve_args
from vllm_compile.flags import load_manifest

HEADER = Header("9.9.9", "specs/llama.yaml", "ab" * 32)


def render(dep, tmp_path):
    path = tmp_path / "kubernetes.yaml"
    path.write_bytes(kubernetes.render((dep,), HEADER))
    return path


def by_kind(documents):
    return {d["kind"]: d for d in documents}


def pod(documents):
    return by_kind(documents)["Deployment"]["spec"]["template"]["spec"]


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_document_passes_strict_validation(case, tmp_path):
    dep = CASES[case]
    if any(vol.kind == "local-model" for vol in dep.volumes):
        with pytest.raises(ValueError, match="cannot be mounted into a pod"):
            kubernetes.render((dep,), HEADER)
        return
    documents = v.check_kubernetes(render(dep, tmp_path))
    assert [d["kind"] for d in documents] == ["PersistentVolumeClaim", "Deployment", "Service"]


def test_the_validator_is_a_real_check(tmp_path):
    documents = v.kubernetes_documents(render(CASES["basic"], tmp_path))
    typo = copy.deepcopy(documents[1])
    typo["spec"]["template"]["spec"]["containers"][0]["startupprobe"] = {}   # unknown field: strict refuses it
    with pytest.raises(AssertionError, match="startupprobe"):
        v.check_kubernetes_document(typo)
    wrong_type = copy.deepcopy(documents[2])
    wrong_type["spec"]["ports"][0]["port"] = "8000"
    with pytest.raises(AssertionError, match="spec.ports.0.port"):
        v.check_kubernetes_document(wrong_type)


def test_container_runs_the_compose_argv_and_it_parses_for_the_release(tmp_path):
    for name in ("basic", "pinned-tp2", "tp4-old-release"):
        dep = CASES[name]
        [container] = pod(v.kubernetes_documents(render(dep, tmp_path)))["containers"]
        assert container["args"] == compose.service(dep)["command"] == list(dep.args)
        version = dep.image.rsplit(":v", 1)[1]
        model, _, problems = parse_serve_args(["vllm", "serve", *container["args"]], load_manifest(version))
        assert problems == () and model == "meta-llama/Llama-3.1-8B-Instruct"


def test_deployment_by_hand(tmp_path):
    dep = CASES["pinned-tp2"]     # TP 2, API key, own token variable, port 9001
    documents = v.kubernetes_documents(render(dep, tmp_path))
    claim, deployment, service = (by_kind(documents)[k] for k in ("PersistentVolumeClaim", "Deployment", "Service"))
    assert deployment["apiVersion"] == "apps/v1" and deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert deployment["spec"]["replicas"] == 1
    spec = deployment["spec"]["template"]["spec"]
    [container] = spec["containers"]
    assert container["image"] == "vllm/vllm-openai:v0.18.1"
    assert container["resources"] == {"limits": {"nvidia.com/gpu": 2}}
    # Pinned host GPUs do not apply: the device plugin picks two.
    assert spec["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}
    env = {e["name"]: e for e in container["env"]}
    assert env["HF_TOKEN"]["valueFrom"]["secretKeyRef"] == {"name": "hf-token", "key": "token", "optional": False}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "vllm-api-key", "key": "api-key",
                                                                "optional": False}
    assert all("value" not in e for e in env.values())
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"model-cache": "/root/.cache/huggingface", "dshm": "/dev/shm"}
    volumes = {vol["name"]: vol for vol in spec["volumes"]}
    assert volumes["dshm"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "4Gi"}   # 2 GiB per GPU
    assert volumes["model-cache"]["persistentVolumeClaim"] == {"claimName": "llama-chat-model-cache"}
    # Llama-3.1-8B: 16.06 GB = 14.96 GiB of bf16 weights; twice that in 10 GiB steps is 30 GiB.
    assert claim["spec"]["resources"] == {"requests": {"storage": "30Gi"}}
    assert claim["spec"]["accessModes"] == ["ReadWriteOnce"] and "storageClassName" not in claim["spec"]
    # 16.06 GB of weights: 300 s + 10 s/GiB x 14.96 GiB = 450 s -> 480 s (as compose's start_period).
    startup = container["startupProbe"]
    assert startup["httpGet"] == {"path": "/health", "port": "http"}
    assert startup["failureThreshold"] * startup["periodSeconds"] == 480
    assert container["livenessProbe"]["periodSeconds"] == 30 and container["readinessProbe"]["failureThreshold"] == 3
    assert service["spec"]["ports"] == [{"name": "http", "port": 9001, "targetPort": "http", "protocol": "TCP"}]
    selector = {"app.kubernetes.io/name": "vllm", "app.kubernetes.io/instance": "llama-chat"}
    assert service["spec"]["selector"] == selector == deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert labels["app.kubernetes.io/version"] == "0.18.1" and labels["app.kubernetes.io/managed-by"] == "vllm-compile"
    assert all(d["metadata"]["labels"] == labels for d in documents)
    assert all("namespace" not in d["metadata"] for d in documents)


def test_ungated_model_token_is_optional(tmp_path):
    dep = b.lowered(facts=b.llama_facts(gated=False))
    [container] = pod(v.kubernetes_documents(render(dep, tmp_path)))["containers"]
    assert container["env"] == [{"name": "HF_TOKEN", "valueFrom": {"secretKeyRef": {
        "name": "hf-token", "key": "token", "optional": True}}}]


def test_spec_block_settings(tmp_path):
    block = {"namespace": "llm", "storage_class": "fast-ssd", "cache_size": "500Gi",
             "hf_token_secret": {"name": "hf", "key": "HF_TOKEN"},
             "api_key_secret": {"name": "keys", "key": "llama"},
             "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-h100-80gb"},
             "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                             {"key": "spot", "value": "true", "effect": "NoExecute", "toleration_seconds": 60}],
             "labels": {"team": "search", "app.kubernetes.io/name": "mine"},
             "annotations": {"example.com/owner": "search team <search@example.com>"}}
    dep = b.lowered(dep=b.deployment(server={"api_key_env": "KEY"}, kubernetes=block))
    documents = v.check_kubernetes(render(dep, tmp_path))
    spec = pod(documents)
    assert all(d["metadata"]["namespace"] == "llm" for d in documents)
    assert all(d["metadata"]["annotations"] == block["annotations"] for d in documents)
    claim = by_kind(documents)["PersistentVolumeClaim"]["spec"]
    assert claim["storageClassName"] == "fast-ssd" and claim["resources"]["requests"]["storage"] == "500Gi"
    assert spec["nodeSelector"] == block["node_selector"]
    assert spec["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
                                   {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoExecute",
                                    "tolerationSeconds": 60}]
    env = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in spec["containers"][0]["env"]}
    assert env == {"HF_TOKEN": {"name": "hf", "key": "HF_TOKEN", "optional": False},
                   "VLLM_API_KEY": {"name": "keys", "key": "llama", "optional": False}}
    labels = by_kind(documents)["Deployment"]["metadata"]["labels"]
    # Extra labels are added; the selector's own labels are kept.
    assert labels["team"] == "search" and labels["app.kubernetes.io/name"] == "vllm"


def test_empty_node_selector_selects_nothing(tmp_path):
    dep = b.lowered(dep=b.deployment(kubernetes={"node_selector": {}}))
    spec = pod(v.check_kubernetes(render(dep, tmp_path)))
    assert "nodeSelector" not in spec and "affinity" not in spec


def test_dollar_in_an_argument_stays_literal(tmp_path):
    dep = b.lowered(dep=b.deployment(engine={"extra_args": ["--override-generation-config", '{"stop": ["$(HOME)"]}']}))
    [container] = pod(v.check_kubernetes(render(dep, tmp_path)))["containers"]
    # Kubernetes expands $(VAR) in args and turns $$ into $: every $ is doubled.
    assert container["args"][-1] == '{"stop": ["$$(HOME)"]}'


@pytest.mark.parametrize("size, text", [(2 * 2**30, "2Gi"), (3 * 2**29, "1536Mi"), (2**20 + 1, "2Mi")])
def test_quantity(size, text):
    assert kubernetes.quantity(size) == text
