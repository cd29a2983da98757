"""`vllm-compile doctor` end to end: the real host (no daemon, no driver) and a healthy host made
of fakes at the boundaries (Docker socket, NVML adapter, docker CLI on PATH)."""
import ctypes.util
import json
import os
import shutil
import socket
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "doctor"))

from doctor_fakes import FakeDocker, FakeNvml, fake_cli, l4  # noqa: E402
from vllm_compile.cli import cli  # noqa: E402
from vllm_compile.resolve.hardware import nvml  # noqa: E402

SECRET = "hf_DoNotPrintThisTokenValue"
NO_HOST = os.path.exists("/var/run/docker.sock") or ctypes.util.find_library("nvidia-ml") is not None


def run(*args):
    return CliRunner().invoke(cli, ["doctor", *args])


def free_port():
    with socket.socket() as sock:
        sock.bind(("0.0.0.0", 0))
        return sock.getsockname()[1]


def write_spec(folder: Path, port: int, extra: str = "") -> str:
    path = folder / "llama.vllm.yaml"
    path.write_text("version: 1\n"
                    "hardware: {gpu: L4, count: 1}\n"
                    "name: llama\n"
                    "model: {id: meta-llama/Llama-3.1-8B-Instruct}\n"
                    "engine: {version: 0.11.0}\n"
                    + f"server: {{port: {port}}}\n" + extra)
    return str(path)


@pytest.fixture
def healthy_host(tmp_path, monkeypatch):
    """Docker with the nvidia runtime, an L4 with 22 GiB free on driver 570, a token, a cache folder."""
    folder = tempfile.mkdtemp(prefix="dk", dir="/tmp")  # short path for AF_UNIX
    sock = os.path.join(folder, "docker.sock")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake_cli(str(bin_dir))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{sock}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_TOKEN", SECRET)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(nvml, "default_adapter", lambda: FakeNvml([l4(0, 22)], driver="570.86.15"))
    with FakeDocker(sock):
        yield tmp_path
    shutil.rmtree(folder)


def test_healthy_host_passes(healthy_host):
    result = run(write_spec(healthy_host, free_port()))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    names = [line.split()[1] for line in lines[:-1]]
    assert names == ["docker", "nvidia-toolkit", "driver", "gpus", "port", "tokens", "hf-cache", "shm"]
    assert all(line.startswith("ok ") for line in lines[:-1])
    assert lines[-1] == "0 failed, 0 warning(s), 8 ok"
    assert SECRET not in result.output


def test_held_port_fails_and_names_the_holder(healthy_host):
    with socket.socket() as holder:
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = run(write_spec(healthy_host, port), "--format", "json")
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["ok"] is False
    port_check = next(c for c in data["checks"] if c["name"] == "port")
    assert port_check["status"] == "fail" and f"pid {os.getpid()}" in port_check["found"]
    assert {c["status"] for c in data["checks"] if c["name"] != "port"} == {"ok"}


def test_missing_token_for_gated_model_fails(healthy_host, monkeypatch):
    monkeypatch.delenv("HF_TOKEN")
    result = run(write_spec(healthy_host, free_port()))
    assert result.exit_code == 1
    assert "FAIL  tokens" in result.stdout and "meta-llama/Llama-3.1-8B-Instruct is gated" in result.stdout


def test_emit_serve_skips_docker(healthy_host, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = run(write_spec(healthy_host, free_port()), "--emit", "serve")
    assert result.exit_code == 0, result.output
    assert "not needed: no Docker artifact is emitted" in result.stdout


def test_bad_spec_exits_2(tmp_path):
    spec = tmp_path / "bad.vllm.yaml"
    spec.write_text("version: 1\nhardware: {gpu: L4}\nname: x\nmodel: {id: Qwen/Qwen3-8B}\nengine: {version: 0.11.0}\nbogus: 1\n")
    result = run(str(spec))
    assert result.exit_code == 2
    assert "bogus" in result.stderr and "Traceback" not in result.output and result.stdout == ""


def test_unknown_emit_format_exits_2():
    result = run("--emit", "helm")
    assert result.exit_code == 2 and "unknown output format 'helm'" in result.stderr


@pytest.mark.skipif(NO_HOST, reason="this machine has a Docker daemon or an NVIDIA driver")
@pytest.mark.parametrize("fmt", ["text", "json"])
def test_this_machine_fails_cleanly(fmt, monkeypatch, tmp_path):
    monkeypatch.delenv("DOCKER_HOST", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    result = run("--format", fmt)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    if fmt == "json":
        checks = {c["name"]: c["status"] for c in json.loads(result.stdout)["checks"]}
        # Host checks only: no gpus/tokens/shm without a spec.
        assert list(checks) == ["docker", "nvidia-toolkit", "driver", "port", "hf-cache"]
        assert checks["docker"] == checks["driver"] == "fail" and checks["hf-cache"] == "ok"
    else:
        assert "FAIL  docker" in result.stdout and "FAIL  driver" in result.stdout
