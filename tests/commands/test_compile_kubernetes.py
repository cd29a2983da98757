"""`compile` with the kubernetes format and with AMD GPUs: files written, user errors at their keys.
Positions (line:column) are read off the spec text written here."""
from __future__ import annotations

import shutil
from pathlib import Path

from click.testing import CliRunner

import validators as v
from vllm_compile.cli import cli

SPECS = Path(__file__).resolve().parents[2] / "specs"


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def test_emit_kubernetes_writes_one_manifest(workdir):
    shutil.copy(SPECS / "llama.yaml", workdir / "llama.yaml")
    result = invoke("compile", "llama.yaml", "--emit", "kubernetes", "-o", "out")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (workdir / "out").iterdir()) == ["kubernetes.yaml"]
    kinds = [d["kind"] for d in v.check_kubernetes(workdir / "out" / "kubernetes.yaml")]
    assert kinds == ["PersistentVolumeClaim", "Deployment", "Service"]


def test_several_deployments_one_manifest_each(workdir):
    (workdir / "host.yaml").write_text("""version: 1
hardware:
  gpu: H100-80GB
  count: 2
kubernetes: {namespace: llm, storage_class: fast}
deployments:
  - name: chat
    model: {id: meta-llama/Llama-3.1-8B-Instruct}
    engine: {version: "0.33.0"}
    output: {formats: [kubernetes]}
    kubernetes: {namespace: chat}
  - name: coder
    model: {id: Qwen/Qwen2.5-7B-Instruct}
    engine: {version: "0.33.0"}
    server: {port: 8001}
    output: {formats: [kubernetes]}
""")
    result = invoke("compile", "host.yaml")
    assert result.exit_code == 0, result.output
    chat = v.check_kubernetes(workdir / "deploy" / "chat" / "kubernetes.yaml")
    coder = v.check_kubernetes(workdir / "deploy" / "coder" / "kubernetes.yaml")
    assert {d["metadata"]["name"] for d in chat} == {"chat", "chat-model-cache"}
    # The block beside deployments: is each one's default; a deployment's own keys win one by one.
    assert all(d["metadata"]["namespace"] == "chat" for d in chat)
    assert all(d["metadata"]["namespace"] == "llm" for d in coder)
    claims = [d for d in chat + coder if d["kind"] == "PersistentVolumeClaim"]
    assert [c["spec"]["storageClassName"] for c in claims] == ["fast", "fast"]
    [service] = [d for d in coder if d["kind"] == "Service"]
    assert service["spec"]["ports"][0]["port"] == 8001
    assert not (workdir / "deploy" / "compose.yaml").exists()


def test_local_model_cannot_go_to_kubernetes(workdir):
    model = workdir / "models" / "llama"
    model.mkdir(parents=True)
    shutil.copy(Path(__file__).resolve().parents[2] / "vllm_compile" / "data" / "model-configs" / "meta-llama"
                / "Llama-3.1-8B-Instruct" / "config.json", model / "config.json")
    (workdir / "local.yaml").write_text("""version: 1
name: local
model:
  path: ./models/llama
hardware:
  gpu: H100-80GB
engine:
  version: "0.33.0"
""")
    assert invoke("compile", "local.yaml", "-o", "ok").exit_code == 0   # compose and docker-run mount it
    result = invoke("compile", "local.yaml", "--emit", "compose,kubernetes", "-o", "out")
    assert result.exit_code == 2
    assert "local.yaml:4:3: error" in result.stderr and "model.path" in result.stderr
    assert "cannot be mounted into a Kubernetes pod" in result.stderr
    assert not (workdir / "out").exists()


def test_bad_kubernetes_block_reported_at_each_key(workdir):
    (workdir / "bad.yaml").write_text("""version: 1
name: chat
model:
  id: meta-llama/Llama-3.1-8B-Instruct
hardware:
  gpu: H100-80GB
engine:
  version: "0.33.0"
kubernetes:
  labels:
    "bad key!": x
    team: "a b"
  cache_size: 100GB
""")
    result = invoke("compile", "bad.yaml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "bad.yaml:11:5: error[VC204]: kubernetes.labels.bad key!: key has the wrong form" in result.stderr
    assert "bad.yaml:12:5: error[VC204]: kubernetes.labels.team: value has the wrong form" in result.stderr
    assert "bad.yaml:13:3: error[VC204]: kubernetes.cache_size: value has the wrong form" in result.stderr
    assert "3 error(s); nothing written" in result.stderr


def test_amd_gpu_on_a_release_without_rocm_image_is_refused(workdir):
    (workdir / "amd.yaml").write_text("""version: 1
name: amd
model:
  id: Qwen/Qwen2.5-7B-Instruct
hardware:
  gpu: MI300X
engine:
  version: "0.11.0"
""")
    result = invoke("compile", "amd.yaml")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "amd.yaml:8:3: error" in result.stderr and "engine.version" in result.stderr
    assert "vllm/vllm-openai-rocm starts with 0.14.0" in result.stderr
    assert not (workdir / "deploy").exists()


def test_amd_gpu_compiles_to_rocm_artifacts(workdir):
    (workdir / "amd.yaml").write_text("""version: 1
name: amd
model:
  id: Qwen/Qwen2.5-7B-Instruct
hardware:
  gpu: MI300X
engine:
  version: "0.33.0"
""")
    result = invoke("compile", "amd.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    config = v.check_compose(workdir / "out" / "compose.yaml")
    service = config["services"]["amd"]
    assert service["image"] == "vllm/vllm-openai-rocm:v0.33.0" and "deploy" not in service
    assert "--device /dev/kfd" in (workdir / "out" / "docker-run.sh").read_text()


def test_shared_gpus_cannot_go_to_kubernetes(workdir):
    (workdir / "shared.yaml").write_text("""version: 1
hardware:
  gpu: H100-80GB
  count: 1
  share_gpus: true
deployments:
  - name: chat
    model: {id: Qwen/Qwen2.5-7B-Instruct}
    engine: {version: "0.33.0"}
    workload: {max_model_len: 8192}
  - name: coder
    model: {id: Qwen/Qwen2.5-1.5B-Instruct}
    engine: {version: "0.33.0"}
    workload: {max_model_len: 8192}
    server: {port: 8001}
""")
    assert invoke("compile", "shared.yaml", "-o", "ok").exit_code == 0   # compose runs them on one GPU
    result = invoke("compile", "shared.yaml", "--emit", "kubernetes", "-o", "out")
    assert result.exit_code == 2
    assert "shared.yaml:5:3: error" in result.stderr and "hardware.share_gpus" in result.stderr
    assert "whole GPUs" in result.stderr and not (workdir / "out").exists()
    assert "1 error(s)" in result.stderr     # once, though both deployments ask for it


def test_service_name_must_start_with_a_letter(workdir):
    (workdir / "digit.yaml").write_text("""version: 1
name: 8b-chat
model:
  id: meta-llama/Llama-3.1-8B-Instruct
hardware:
  gpu: H100-80GB
engine:
  version: "0.33.0"
""")
    assert invoke("compile", "digit.yaml", "-o", "ok").exit_code == 0   # a fine compose service name
    result = invoke("compile", "digit.yaml", "--emit", "kubernetes", "-o", "out")
    assert result.exit_code == 2
    assert "digit.yaml:2:1: error[VC606]: name: a Kubernetes Service name must start with a letter" in result.stderr
    assert "vllm-8b-chat" in result.stderr
