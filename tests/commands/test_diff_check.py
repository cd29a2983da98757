"""`vllm-compile diff` and `vllm-compile check`: drift between a spec and the files on disk."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from vllm_compile.cli import cli
from vllm_compile.resolve.models.lockfile import write_lock

REPO = Path(__file__).resolve().parents[2]
OUT = Path("deploy") / "llama-chat"


@pytest.fixture
def ws(workdir):
    for name in ("llama.yaml", "qwen3-moe.yaml"):
        shutil.copy(REPO / "specs" / name, workdir / name)
    result = invoke("compile", "llama.yaml")
    assert result.exit_code == 0, result.output
    return workdir


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not unique in {path}"
    path.write_text(text.replace(old, new))


def test_clean_tree(ws):
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 0
    assert check.stdout == "" and check.stderr == ""
    diff = invoke("diff", "llama.yaml")
    assert diff.exit_code == 0
    assert diff.stdout.strip() == "up to date"


def test_missing_file_is_drift(ws):
    (ws / OUT / "docker-run.sh").unlink()
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1
    assert check.stderr.splitlines()[0].startswith("deploy/llama-chat/docker-run.sh: missing")
    assert check.stdout == ""
    diff = invoke("diff", "llama.yaml")
    assert diff.exit_code == 1 and "deploy/llama-chat/docker-run.sh: missing" in diff.stdout


def test_compose_hand_edit_reports_key_paths(ws):
    compose = ws / OUT / "compose.yaml"
    command = YAML(typ="safe", pure=True).load(compose.read_text())["services"]["llama-chat"]["command"]
    index = command.index("--max-num-batched-tokens") + 1
    assert command[index] == "8192"
    edit(compose, "      - '8192'\n", "      - '4096'\n")
    edit(compose, "restart: unless-stopped", "restart: always")
    edit(compose, "    ipc: host\n", "")
    result = invoke("diff", "llama.yaml")
    assert result.exit_code == 1
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "deploy/llama-chat/compose.yaml: 3 structural change(s)" in lines
    assert f"services.llama-chat.command[{index}]: '4096' -> '8192'" in lines
    assert "services.llama-chat.restart: 'always' -> 'unless-stopped'" in lines
    assert any(line.startswith("services.llama-chat.ipc:") and "host" in line for line in lines)
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1 and "deploy/llama-chat/compose.yaml" in check.stderr


def test_script_hand_edit_is_a_unified_diff(ws):
    edit(ws / OUT / "docker-run.sh", "--max-num-seqs 1024 \\\n", "--max-num-seqs 512 \\\n")
    result = invoke("diff", "llama.yaml")
    assert result.exit_code == 1
    lines = [line[2:] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert "--- deploy/llama-chat/docker-run.sh (on disk)" in lines
    assert "+++ deploy/llama-chat/docker-run.sh (generated)" in lines
    assert "-  --max-num-seqs 512 \\" in lines
    assert "+  --max-num-seqs 1024 \\" in lines
    assert any(line.startswith("@@ ") for line in lines)


def test_comment_only_edit_is_reported(ws):
    compose = ws / OUT / "compose.yaml"
    compose.write_text("# reviewed by ops\n" + compose.read_text())
    diff = invoke("diff", "llama.yaml")
    assert diff.exit_code == 1
    assert "deploy/llama-chat/compose.yaml: comments or formatting differ" in diff.stdout
    assert "-# reviewed by ops" in diff.stdout
    assert invoke("check", "llama.yaml").exit_code == 1


def test_lost_executable_bit_is_drift(ws):
    (ws / OUT / "docker-run.sh").chmod(0o644)
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1 and "docker-run.sh" in check.stderr


def test_spec_edit_without_recompiling_is_drift(ws):
    edit(ws / "llama.yaml", "max_model_len: 32768", "max_model_len: 16384")
    result = invoke("diff", "llama.yaml")
    assert result.exit_code == 1
    assert "'32768' -> '16384'" in result.stdout


def test_output_option_is_honoured(ws):
    assert invoke("compile", "llama.yaml", "qwen3-moe.yaml", "-o", "out").exit_code == 0
    assert invoke("check", "llama.yaml", "qwen3-moe.yaml", "-o", "out").exit_code == 0
    assert invoke("check", "llama.yaml", "-o", "out/llama-chat").exit_code == 0
    # Without -o, qwen3-moe's own output.dir was never written.
    result = invoke("check", "llama.yaml", "qwen3-moe.yaml")
    assert result.exit_code == 1
    assert "deploy/qwen3-moe/compose.yaml: missing" in result.stderr
    assert "llama-chat" not in result.stderr
    edit(ws / "out" / "qwen3-moe" / "compose.yaml", "restart: unless-stopped", "restart: always")
    diff = invoke("diff", "llama.yaml", "qwen3-moe.yaml", "-o", "out")
    assert diff.exit_code == 1
    assert "out/qwen3-moe/compose.yaml: 1 structural change(s)" in diff.stdout


def test_emit_selection_limits_what_is_checked(ws):
    (ws / OUT / "docker-run.sh").unlink()
    assert invoke("check", "llama.yaml", "--emit", "compose").exit_code == 0
    assert invoke("check", "llama.yaml", "--emit", "compose,docker-run").exit_code == 1


def test_lock_for_another_model_is_drift(ws):
    # A lock made for the spec's model, with that model's real config (vendored from the Hub).
    config = json.loads((REPO / "vllm_compile" / "data" / "model-configs" / "meta-llama" /
                         "Llama-3.1-8B-Instruct" / "config.json").read_text())
    write_lock("llama.yaml", {"meta-llama/Llama-3.1-8B-Instruct": {
        "revision": "main", "commit": "0" * 40, "gated": True, "files": {}, "config": config}})
    assert invoke("compile", "llama.yaml").exit_code == 0
    assert invoke("check", "llama.yaml").exit_code == 0
    # The spec moves to another model and the artifacts are recompiled, but the lock is not redone.
    edit(ws / "llama.yaml", "id: meta-llama/Llama-3.1-8B-Instruct", "id: meta-llama/Meta-Llama-3.1-8B")
    assert invoke("compile", "llama.yaml").exit_code == 0
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1
    assert check.stderr.splitlines()[0].startswith("llama.yaml.lock: no longer matches deployment 'llama-chat'")
    assert "vllm-compile lock llama.yaml" in check.stderr


def test_bad_spec_is_exit_2_not_drift(ws):
    edit(ws / "llama.yaml", "gpu: H100-80GB", "gpu: H100-80G")
    for command in ("check", "diff"):
        result = invoke(command, "llama.yaml")
        assert result.exit_code == 2
        assert "llama.yaml:9:3: error[VC310]: hardware.gpu: unknown GPU" in result.stderr
        assert "Traceback" not in result.output


def test_check_does_not_depend_on_how_the_spec_path_is_spelled(ws, monkeypatch):
    # The artifacts were compiled as `vllm-compile compile llama.yaml` from the spec's folder. Checking
    # the same spec from its parent folder (as a CI job or pre-commit at a repository root does), or
    # through an absolute path, compares the same spec with the same artifacts: no drift.
    monkeypatch.chdir(ws.parent)
    relative = invoke("check", f"{ws.name}/llama.yaml")
    absolute = invoke("check", str(ws / "llama.yaml"))
    assert (relative.exit_code, relative.stderr) == (0, "")
    assert (absolute.exit_code, absolute.stderr) == (0, "")


def test_kubernetes_manifest_compared_per_kind_and_name(workdir):
    shutil.copy(REPO / "specs" / "qwen-k8s.yaml", workdir / "qwen-k8s.yaml")
    assert invoke("compile", "qwen-k8s.yaml").exit_code == 0
    manifest = workdir / "deploy" / "qwen-32b" / "kubernetes.yaml"
    assert invoke("check", "qwen-k8s.yaml").exit_code == 0
    header, *documents = manifest.read_text().split("---\n")
    # The same objects in another order: no structural change, only the bytes differ.
    manifest.write_text(header + "---\n" + "---\n".join(reversed(documents)))
    diff = invoke("diff", "qwen-k8s.yaml")
    assert diff.exit_code == 1
    assert "deploy/qwen-32b/kubernetes.yaml: comments or formatting differ" in diff.stdout
    # A hand edit names the object it is in.
    manifest.write_text(header + "---\n" + "---\n".join(documents).replace("failureThreshold: 96", "failureThreshold: 30")
                        .replace("storage: 130Gi", "storage: 50Gi"))
    diff = invoke("diff", "qwen-k8s.yaml")
    lines = [line.strip() for line in diff.stdout.splitlines()]
    assert "deploy/qwen-32b/kubernetes.yaml: 2 structural change(s)" in lines
    assert ("Deployment/qwen-32b.spec.template.spec.containers[0].startupProbe.failureThreshold: 30 -> 96"
            in lines)
    assert "PersistentVolumeClaim/qwen-32b-model-cache.spec.resources.requests.storage: '50Gi' -> '130Gi'" in lines
    check = invoke("check", "qwen-k8s.yaml")
    assert check.exit_code == 1 and "deploy/qwen-32b/kubernetes.yaml" in check.stderr


def test_hardware_only_lock_is_no_model_drift(ws):
    # A lock holding only the host's hardware (no models section) says nothing about the model:
    # check must not ask to re-lock it.
    lock = json.loads((REPO / "tests" / "golden" / "mixed-host" / "spec.yaml.lock").read_text())
    assert not lock["models"]
    edit(ws / "llama.yaml", "gpu: H100-80GB", "gpu: auto")
    (ws / "llama.yaml.lock").write_text(json.dumps({"version": 1, "hardware": lock["hardware"], "models": {}}))
    assert invoke("compile", "llama.yaml").exit_code == 0
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 0, check.stderr
