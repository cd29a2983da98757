"""`--format json` on compile, check and diff: the diagnostics (and what drift found) as one JSON
object on stdout, with the exit codes of the text output."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.codes import CODES

REPO = Path(__file__).resolve().parents[2]
FIELDS = {"path", "line", "column", "severity", "code", "key", "message", "found", "expected", "fix", "fixes"}


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def output(result) -> dict:
    data = json.loads(result.stdout)
    for d in data["diagnostics"]:
        assert set(d) == FIELDS and d["code"] in CODES
    return data


@pytest.fixture
def ws(workdir):
    shutil.copy(REPO / "specs" / "llama.yaml", workdir / "llama.yaml")
    return workdir


def test_compile_errors_as_json(ws):
    spec = ws / "llama.yaml"
    spec.write_text(spec.read_text().replace("  gpu: H100-80GB", "  gpu: H100-80GB\n  gpuz: 1")
                    .replace("  port: 8000", "  port: 80000"))
    result = invoke("compile", "--format", "json", "llama.yaml")
    assert result.exit_code == 2
    data = output(result)
    found = sorted((d["code"], d["key"], d["path"], d["severity"]) for d in data["diagnostics"])
    assert found == [("VC201", "hardware.gpuz", "llama.yaml", "error"),
                     ("VC205", "server.port", "llama.yaml", "error")]
    lines = spec.read_text().splitlines()
    for d in data["diagnostics"]:
        assert lines[d["line"] - 1][d["column"] - 1:].startswith(d["key"].rsplit(".", 1)[-1])
    assert not (ws / "deploy").exists()
    assert "error" not in result.stderr  # nothing printed as text besides the JSON


def test_compile_success_as_json(ws):
    result = invoke("compile", "--format", "json", "llama.yaml")
    assert result.exit_code == 0, result.output
    data = output(result)
    assert data["diagnostics"] == []
    assert sorted(a["path"] for a in data["artifacts"]) == ["deploy/llama-chat/compose.yaml",
                                                             "deploy/llama-chat/docker-run.sh"]
    assert all(a["changed"] for a in data["artifacts"])
    assert len(data["summaries"]) == 1 and "llama-chat" in data["summaries"][0]
    again = output(invoke("compile", "--format", "json", "llama.yaml"))
    assert not any(a["changed"] for a in again["artifacts"])


def test_failing_plan_carries_its_checked_fixes(ws):
    spec = ws / "llama.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("concurrency: 8", "concurrency: 400"))
    result = invoke("compile", "--format", "json", "llama.yaml")
    assert result.exit_code == 2
    (d,) = output(result)["diagnostics"]
    assert (d["code"], d["key"]) == ("VC405", "workload.concurrency")
    assert text.splitlines()[d["line"] - 1].strip().startswith("concurrency:")
    assert d["fixes"] and all(f["verdict"] == "ok" and f["set"] for f in d["fixes"])


def test_bad_emit_as_json(ws):
    result = invoke("compile", "--format", "json", "--emit", "compost", "llama.yaml")
    assert result.exit_code == 2
    (d,) = output(result)["diagnostics"]
    assert (d["code"], d["key"], d["found"]) == ("VC608", "output.formats", "compost")


@pytest.mark.parametrize("command", ["check", "diff"])
def test_drift_as_json(ws, command):
    assert invoke("compile", "llama.yaml").exit_code == 0
    clean = invoke(command, "--format", "json", "llama.yaml")
    assert clean.exit_code == 0
    assert output(clean) == {"diagnostics": [], "drift": [], "up_to_date": True}

    compose = ws / "deploy" / "llama-chat" / "compose.yaml"
    compose.write_text(compose.read_text().replace('"8000:8000"', '"8001:8000"'))
    (ws / "deploy" / "llama-chat" / "docker-run.sh").unlink()
    stale = invoke(command, "--format", "json", "llama.yaml")
    assert stale.exit_code == 1
    data = output(stale)
    assert data["up_to_date"] is False
    drift = {d["path"]: d for d in data["drift"]}
    assert drift["deploy/llama-chat/docker-run.sh"]["code"] == "VC701"
    changed = drift["deploy/llama-chat/compose.yaml"]
    assert changed["code"] == "VC702" and any("8001:8000" in line for line in changed["details"])


@pytest.mark.parametrize("command", ["check", "diff"])
def test_drift_command_errors_as_json(ws, command):
    spec = ws / "llama.yaml"
    spec.write_text(spec.read_text().replace("gpu: H100-80GB", "gpu: H1000"))
    result = invoke(command, "--format", "json", "llama.yaml")
    assert result.exit_code == 2
    (d,) = output(result)["diagnostics"]
    assert (d["code"], d["key"]) == ("VC310", "hardware.gpu")


def test_warnings_go_into_the_json_not_stderr(ws):
    spec = ws / "llama.yaml"
    spec.write_text(spec.read_text().replace("gpu: H100-80GB", "gpu: L4").replace("max_model_len: 32768",
                                                                                   "max_model_len: null"))
    result = invoke("compile", "--format", "json", "llama.yaml")
    assert result.exit_code == 0, result.output
    (note,) = output(result)["diagnostics"]
    assert (note["severity"], note["code"], note["key"]) == ("warning", "VC410", "workload.max_model_len")
    assert "clamped" in note["message"]
    assert spec.read_text().splitlines()[note["line"] - 1].strip() == "max_model_len: null"
    assert "warning" not in result.stderr


@pytest.mark.parametrize("command", ["check", "diff"])
def test_foreign_artifact_drift_as_json(ws, command):
    # What vllm-compile never writes at an artifact's path (YAML with an alias, a folder) is its own code.
    assert invoke("compile", "llama.yaml").exit_code == 0
    compose = ws / "deploy" / "llama-chat" / "compose.yaml"
    compose.write_text("x: &a [1]\ny: *a\n")
    script = ws / "deploy" / "llama-chat" / "docker-run.sh"
    script.unlink()
    script.mkdir()
    result = invoke(command, "--format", "json", "llama.yaml")
    assert result.exit_code == 1
    drift = {d["path"]: d for d in output(result)["drift"]}
    assert drift["deploy/llama-chat/compose.yaml"]["code"] == "VC705"
    assert drift["deploy/llama-chat/docker-run.sh"]["code"] == "VC705"


def test_spec_path_refusals_have_their_codes(ws):
    # The bounded reader says which refusal it is (InputError.kind); the code follows from that
    # (a folder is refused by the command line's argument type before the reader sees it).
    import os

    (ws / "big.yaml").write_text("#" * (1024 * 1024 + 1))
    os.mkfifo(ws / "pipe.yaml")
    for name, code in [("missing.yaml", "VC101"), ("big.yaml", "VC104"), ("pipe.yaml", "VC103")]:
        result = invoke("compile", "--format", "json", name)
        assert result.exit_code == 2, name
        (d,) = output(result)["diagnostics"]
        assert (d["path"], d["code"]) == (name, code), d
