"""Checks 1-2 against a fake Docker Engine API on a real unix socket (and TCP), and the real host."""
import os
import socket

import pytest

from doctor_fakes import FakeDocker, daemon_info, fake_cli
from vllm_compile.doctor import Context
from vllm_compile.doctor.docker import check_docker, check_toolkit, endpoint


@pytest.fixture
def sock_path(tmp_path):
    # AF_UNIX paths are limited to ~107 bytes; pytest's tmp_path can be longer.
    import tempfile

    folder = tempfile.mkdtemp(prefix="dk", dir="/tmp")
    yield os.path.join(folder, "docker.sock")
    for name in os.listdir(folder):
        os.unlink(os.path.join(folder, name))
    os.rmdir(folder)


def ctx_for(address, which=lambda name: None, formats=("docker-run",), **env):
    return Context(environ={"DOCKER_HOST": address, **env}, which=which, formats=formats)


def with_cli(tmp_path, compose_rc=0):
    cli = fake_cli(str(tmp_path), compose_rc=compose_rc)
    return lambda name: cli if name == "docker" else None


def test_endpoints():
    assert endpoint({}, "/var/run/docker.sock").address == "/var/run/docker.sock"
    assert endpoint({"DOCKER_HOST": "unix:///run/user/1000/docker.sock"}, "x").address == "/run/user/1000/docker.sock"
    plain = endpoint({"DOCKER_HOST": "tcp://10.0.0.5"}, "x")
    assert (plain.kind, plain.address, plain.tls) == ("tcp", "10.0.0.5:2375", False)
    tls = endpoint({"DOCKER_HOST": "tcp://10.0.0.5", "DOCKER_TLS_VERIFY": "1"}, "x")
    assert (tls.address, tls.tls) == ("10.0.0.5:2376", True)
    assert endpoint({"DOCKER_HOST": "tcp://[::1]:2999"}, "x").address == "[::1]:2999"
    assert endpoint({"DOCKER_HOST": "ssh://me@gpu-box"}, "x").kind == "unsupported"


def test_daemon_with_nvidia_runtime_passes(sock_path, tmp_path):
    with FakeDocker(sock_path) as daemon:
        ctx = ctx_for(daemon.address, which=with_cli(tmp_path), formats=("compose", "docker-run"))
        docker, toolkit = check_docker(ctx), check_toolkit(ctx)
    assert docker.status == "ok" and "Docker 27.3.1" in docker.found and "compose 2.29.7" in docker.found
    assert toolkit.status == "ok" and "/usr/bin/nvidia-container-runtime" in toolkit.found
    # Both checks share one probe of the daemon.
    assert daemon.requests == ["/_ping", "/info"]


def test_daemon_over_tcp(tmp_path):
    with FakeDocker(tcp=True) as daemon:
        finding = check_docker(ctx_for(daemon.address, which=with_cli(tmp_path)))
    assert finding.status == "ok" and daemon.address in finding.found


def test_cdi_devices_count_as_toolkit(sock_path):
    info = daemon_info(runtimes=("runc",), cdi_dirs=("/etc/cdi",), devices=("nvidia.com/gpu=0", "nvidia.com/gpu=all"))
    with FakeDocker(sock_path, info=info) as daemon:
        finding = check_toolkit(ctx_for(daemon.address))
    assert finding.status == "ok" and "nvidia.com/gpu=0" in finding.found


def test_cdi_spec_file_counts_as_toolkit(sock_path, tmp_path):
    cdi = tmp_path / "cdi"
    cdi.mkdir()
    (cdi / "nvidia.yaml").write_text("cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: '0'\n")
    with FakeDocker(sock_path, info=daemon_info(runtimes=("runc",), cdi_dirs=(str(cdi),))) as daemon:
        finding = check_toolkit(ctx_for(daemon.address))
    assert finding.status == "ok" and str(cdi / "nvidia.yaml") in finding.found


@pytest.mark.parametrize("cdi_dirs, says", [((), "CDI is disabled"), (("/nonexistent/cdi",), "hold no NVIDIA spec")])
def test_no_runtime_no_cdi_fails_with_install_advice(sock_path, cdi_dirs, says):
    with FakeDocker(sock_path, info=daemon_info(runtimes=("io.containerd.runc.v2", "runc"), cdi_dirs=cdi_dirs)) as daemon:
        finding = check_toolkit(ctx_for(daemon.address))
    assert finding.status == "fail"
    assert "io.containerd.runc.v2, runc" in finding.found and says in finding.found
    assert "nvidia-ctk runtime configure --runtime=docker" in finding.fix


def test_missing_socket_fails(tmp_path):
    finding = check_docker(ctx_for(f"unix://{tmp_path}/none.sock"))
    assert finding.status == "fail" and "no Docker socket" in finding.found and "no docker CLI" in finding.found
    assert "systemctl" in finding.fix


def test_socket_nobody_listens_on(sock_path):
    # A bound but never listening unix socket refuses connections, like a dead daemon's leftover.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(sock_path)
        finding = check_docker(ctx_for(f"unix://{sock_path}"))
    assert finding.status == "fail" and "nothing listens" in finding.found
    assert finding.fix == "start Docker: sudo systemctl start docker"


def test_unhealthy_daemon(sock_path):
    with FakeDocker(sock_path, ping=(500, b"boom")) as daemon:
        finding = check_docker(ctx_for(daemon.address))
    assert finding.status == "fail" and "HTTP 500" in finding.found


def test_daemon_without_cli_or_compose(sock_path, tmp_path):
    with FakeDocker(sock_path) as daemon:
        no_cli = check_docker(ctx_for(daemon.address))
        no_compose = check_docker(ctx_for(daemon.address, which=with_cli(tmp_path, compose_rc=1), formats=("compose",)))
        run_only = check_docker(ctx_for(daemon.address, which=with_cli(tmp_path, compose_rc=1), formats=("docker-run",)))
    assert no_cli.status == "fail" and "no docker CLI on PATH" in no_cli.found
    assert no_compose.status == "fail" and "compose` is missing" in no_compose.found
    assert run_only.status == "ok"


def test_ssh_docker_host_is_not_checked():
    finding = check_docker(ctx_for("ssh://me@gpu-box"))
    assert finding.status == "fail" and "ssh://me@gpu-box" in finding.found and "Docker host itself" in finding.fix


def test_unreachable_daemon_but_toolkit_installed_warns(tmp_path):
    binary = str(tmp_path / "nvidia-ctk")
    finding = check_toolkit(ctx_for(f"unix://{tmp_path}/none.sock", which=lambda n: binary if n == "nvidia-ctk" else None))
    assert finding.status == "warn" and binary in finding.found


def test_serve_only_needs_no_docker(sock_path):
    with FakeDocker(sock_path) as daemon:
        ctx = ctx_for(daemon.address, formats=("serve",))
        findings = [check_docker(ctx), check_toolkit(ctx)]
    assert [f.status for f in findings] == ["ok", "ok"] and "not needed" in findings[0].found
    assert daemon.requests == []


@pytest.mark.skipif(os.path.exists("/var/run/docker.sock"), reason="this machine runs a Docker daemon")
def test_this_machine_has_no_daemon():
    ctx = Context(environ={k: v for k, v in os.environ.items() if k != "DOCKER_HOST"})
    docker, toolkit = check_docker(ctx), check_toolkit(ctx)
    assert docker.status == "fail" and "/var/run/docker.sock" in docker.found
    assert toolkit.status in ("fail", "warn") and "cannot ask the daemon" in toolkit.found
