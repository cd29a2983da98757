"""emit_artifacts: target selection, paths, headers, and byte-for-byte determinism."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import lower_builders as b
from emit_cases import CASES
from vllm_compile.diagnostics import CompileError
from vllm_compile.emit import TARGETS, check_formats, emit_artifacts


def test_targets_are_same_shaped_and_ordered():
    assert list(TARGETS) == ["compose", "docker-run", "kubernetes", "lws", "ray", "serve"]
    assert [(t.FILENAME, t.KIND, t.SCOPE, t.RUNTIME) for t in TARGETS.values()] == [
        ("compose.yaml", "yaml", "host", "docker"), ("docker-run.sh", "shell", "deployment", "docker"),
        ("kubernetes.yaml", "yaml", "deployment", "kubernetes"), ("lws.yaml", "yaml", "deployment", "kubernetes"),
        ("ray/node-0.sh", "shell", "deployment", "docker"), ("serve.sh", "shell", "deployment", "host")]
    assert all(callable(t.render) and t.DESCRIPTION for t in TARGETS.values())
    assert [t.NAME for t in TARGETS.values()] == list(TARGETS)  # registry.MODULES names each module's format


def test_default_formats_come_from_the_deployment():
    artifacts = emit_artifacts([CASES["basic"]], tool_version="1.2.3")
    assert [(a.path, a.kind, a.executable) for a in artifacts] == [
        ("deploy/llama-chat/compose.yaml", "yaml", False),
        ("deploy/llama-chat/docker-run.sh", "shell", True)]
    for artifact in artifacts:
        # deploy/llama-chat/ is two folders below the spec: the header names it from there.
        assert b"vllm-compile 1.2.3 from ../../llama.yaml (relative to this file)" in artifact.content
        assert f"input-digest: sha256:{CASES['basic'].input_digest}".encode() in artifact.content


def test_formats_override_selects_targets():
    artifacts = emit_artifacts([CASES["basic"]], ["serve"])
    assert [a.path for a in artifacts] == ["deploy/llama-chat/serve.sh"]
    artifacts = emit_artifacts([CASES["basic"]], ["serve,compose"])
    assert [a.path for a in artifacts] == ["deploy/llama-chat/compose.yaml", "deploy/llama-chat/serve.sh"]
    spec_selected = emit_artifacts([CASES["pinned-tp2"]])
    assert [a.path.rsplit("/", 1)[1] for a in spec_selected] == ["compose.yaml", "docker-run.sh", "serve.sh"]


def test_unknown_format_lists_the_known_ones():
    with pytest.raises(CompileError) as caught:
        check_formats(["compose", "docker_run", "helm"])
    first, second = caught.value.diagnostics
    assert first.found == "docker_run" and "docker-run" in first.fix
    assert "compose, docker-run, kubernetes, lws, ray, serve" in first.expected and second.found == "helm"
    with pytest.raises(CompileError):
        check_formats([])
    assert check_formats(["serve", "compose", "serve"]) == ("compose", "serve")


def test_several_deployments_one_compose_file_and_scripts_each():
    first = CASES["basic"]
    second = b.lowered(dep=b.deployment(name="second", output={"dir": "deploy/second"}, server={"port": 8001}),
                       device_ids=("1",))
    artifacts = emit_artifacts([first, second], host_output_dir="deploy")
    assert [a.path for a in artifacts] == [
        "deploy/compose.yaml", "deploy/llama-chat/docker-run.sh", "deploy/second/docker-run.sh"]
    compose_yaml = artifacts[0].content.decode()
    assert "  llama-chat:\n" in compose_yaml and "  second:\n" in compose_yaml
    # the combined file's digest covers both deployments, so it differs from each one's
    assert first.input_digest not in compose_yaml and second.input_digest not in compose_yaml
    assert first.input_digest in artifacts[1].content.decode()


RENDER_ALL = """
import hashlib, sys
sys.path[:0] = [{tests!r}, {lower!r}, {emit!r}]
from emit_cases import CASES
from vllm_compile.emit import emit_artifacts
for name in sorted(CASES):
    for a in emit_artifacts([CASES[name]], ["compose", "docker-run", "serve"]):
        print(name, a.path, hashlib.sha256(a.content).hexdigest())
"""


def test_byte_for_byte_deterministic_across_seed_locale_and_timezone():
    tests = Path(__file__).parents[1]
    code = RENDER_ALL.format(tests=str(tests), lower=str(tests / "lower"), emit=str(tests / "emit"))
    outputs = set()
    for seed, locale, tz in (("0", "C", "UTC"), ("4242", "C.UTF-8", "America/Los_Angeles"), ("7", "POSIX", "Asia/Kolkata")):
        env = {**os.environ, "PYTHONHASHSEED": seed, "LC_ALL": locale, "LANG": locale, "TZ": tz}
        outputs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                   check=True).stdout)
    assert len(outputs) == 1
    [text] = outputs
    assert len(text.splitlines()) == 3 * len(CASES)


def test_no_absolute_machine_paths_or_timestamps():
    for dep in CASES.values():
        for artifact in emit_artifacts([dep], ["compose", "docker-run", "serve"]):
            text = artifact.content.decode()
            # the spec's folder and the model facts' source path (see lower_builders) stay out
            assert "/work/project" not in text and "/somewhere/absolute" not in text
            assert os.getcwd() not in text and "/tmp" not in text
            assert not re.search(r"20\d\d-\d\d-\d\d", text)


def test_spec_reference_never_names_a_machine_path():
    from vllm_compile.emit.header import spec_reference

    assert spec_reference("a.yaml", "deploy/x") == "../../a.yaml (relative to this file)"
    assert spec_reference("a.yaml", "deploy/host/x") == "../../../a.yaml (relative to this file)"
    # -o outside the spec's tree: only the file name, never /tmp/... or ../../..
    assert spec_reference("a.yaml", "../../../tmp/out") == "a.yaml"


def test_a_new_target_is_one_module(monkeypatch):
    """A module of the registry's shape is all a target needs: emit selects, places and heads it."""
    import types

    from vllm_compile.emit import registry

    module = types.SimpleNamespace(
        NAME="env-file", FILENAME="server.env", KIND="shell", SCOPE="deployment", RUNTIME="docker",
        DESCRIPTION="server.env", render=lambda deps, header: "".join(
            f"{var.name}=${{{var.from_env}}}\n" for var in deps[0].env).encode())
    monkeypatch.setitem(registry.TARGETS, "env-file", module)
    assert check_formats(["env-file"]) == ("env-file",)
    [artifact] = emit_artifacts([CASES["basic"]], ["env-file"])
    assert artifact.path == "deploy/llama-chat/server.env" and artifact.content == b"HF_TOKEN=${HF_TOKEN}\n"
    assert "env-file" in registry.runtime_formats("docker")
