"""Checks 1-2: the Docker daemon and the NVIDIA Container Toolkit, asked over the Engine API.

The daemon is reached the way the docker CLI reaches it: `DOCKER_HOST` (unix:// or tcp://, TLS
when DOCKER_TLS_VERIFY is set) or the default socket. Only two read-only calls are made:
`GET /_ping` and `GET /info` (for `ServerVersion`, `Runtimes`, `CDISpecDirs`, `DiscoveredDevices`).
"""
from __future__ import annotations

import glob
import http.client
import json
import os
import socket
import subprocess
from dataclasses import field
from vllm_compile.fastclass import dataclass
from typing import Mapping

from vllm_compile.doctor.base import Context, Finding

TIMEOUT_S = 3.0
INSTALL_DOCKER = "install Docker Engine (https://docs.docker.com/engine/install/) and start it: sudo systemctl enable --now docker"
INSTALL_TOOLKIT = ("install the NVIDIA Container Toolkit (https://docs.nvidia.com/datacenter/cloud-native/container-toolkit/"
                   "latest/install-guide.html), then `sudo nvidia-ctk runtime configure --runtime=docker && "
                   "sudo systemctl restart docker`")
TOOLKIT_BINARIES = ("nvidia-ctk", "nvidia-container-runtime", "nvidia-container-runtime-hook")
NOT_NEEDED = "not needed: no Docker artifact is emitted (only serve.sh or kubernetes.yaml)"


@dataclass(frozen=True, slots=True)
class Endpoint:
    kind: str            # "unix" | "tcp" | "unsupported"
    address: str         # socket path, or host:port
    label: str           # as the user would write it
    tls: bool = False


@dataclass(frozen=True, slots=True)
class DockerState:
    endpoint: Endpoint
    reachable: bool
    info: dict = field(default_factory=dict)
    error: str = ""
    fix: str = ""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float):
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def endpoint(environ: Mapping[str, str], default_socket: str) -> Endpoint:
    host = environ.get("DOCKER_HOST", "").strip()
    if not host:
        return Endpoint("unix", default_socket, f"unix://{default_socket}")
    scheme, sep, rest = host.partition("://")
    if sep and scheme == "unix":
        return Endpoint("unix", rest, host)
    if sep and scheme == "tcp":
        tls = bool(environ.get("DOCKER_TLS_VERIFY"))
        address = rest.rstrip("/")
        if ":" not in address.rsplit("]", 1)[-1]:
            address += ":2376" if tls else ":2375"
        return Endpoint("tcp", address, host, tls)
    return Endpoint("unsupported", host, host)


def _connection(ep: Endpoint, environ: Mapping[str, str], timeout: float) -> http.client.HTTPConnection:
    if ep.kind == "unix":
        return _UnixConnection(ep.address, timeout)
    host, _, port = ep.address.rpartition(":")
    if not ep.tls:
        return http.client.HTTPConnection(host.strip("[]"), int(port), timeout=timeout)
    import ssl

    certs = environ.get("DOCKER_CERT_PATH") or os.path.join(os.path.expanduser("~"), ".docker")
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    return http.client.HTTPSConnection(host.strip("[]"), int(port), timeout=timeout, context=context)


def _get(ep: Endpoint, environ: Mapping[str, str], path: str, timeout: float) -> tuple[int, bytes]:
    conn = _connection(ep, environ, timeout)
    try:
        conn.request("GET", path, headers={"Host": "docker"})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def probe(environ: Mapping[str, str], default_socket: str, timeout: float = TIMEOUT_S) -> DockerState:
    """Ping the daemon and read /info; every failure becomes (error, fix) text."""
    ep = endpoint(environ, default_socket)
    if ep.kind == "unsupported":
        return DockerState(ep, False, error=f"DOCKER_HOST={ep.label} is not a unix:// or tcp:// address doctor can check",
                           fix="run `vllm-compile doctor` on the Docker host itself")
    where = ep.address if ep.kind == "unix" else ep.label
    try:
        status, body = _get(ep, environ, "/_ping", timeout)
        if status != 200:
            return DockerState(ep, False, error=f"the daemon at {where} answered /_ping with HTTP {status}",
                               fix="check `sudo journalctl -u docker` and restart it: sudo systemctl restart docker")
        status, body = _get(ep, environ, "/info", timeout)
        info = json.loads(body) if status == 200 else None
        if not isinstance(info, dict):
            raise ValueError(f"/info answered HTTP {status}")
        return DockerState(ep, True, info=info)
    except FileNotFoundError:
        return DockerState(ep, False, error=f"no Docker socket at {where}", fix=INSTALL_DOCKER)
    except PermissionError:
        return DockerState(ep, False, error=f"permission denied on {where}",
                           fix="add this user to the docker group (sudo usermod -aG docker $USER, then log in again) or run as root")
    except ConnectionRefusedError:
        return DockerState(ep, False, error=f"nothing listens at {where} (daemon stopped?)",
                           fix="start Docker: sudo systemctl start docker")
    except (socket.timeout, TimeoutError):
        return DockerState(ep, False, error=f"the daemon at {where} did not answer within {timeout:g} s",
                           fix="check `sudo systemctl status docker`; restart it if it hangs")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return DockerState(ep, False, error=f"cannot talk to the Docker daemon at {where}: {exc}",
                           fix="check DOCKER_HOST and `docker info`")


def _compose_version(cli: str) -> str | None:
    try:
        done = subprocess.run([cli, "compose", "version", "--short"], capture_output=True, text=True, timeout=15)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or "?"


def check_docker(ctx: Context) -> Finding:
    """1. The Docker daemon answers, and the docker CLI (and compose, when compose.yaml is emitted) exists."""
    name = "docker"
    if not ctx.containers:
        return Finding(name, "ok", NOT_NEEDED)
    cli = ctx.which("docker")
    state = ctx.docker
    cli_text = f"docker CLI {cli}" if cli else "no docker CLI on PATH"
    if not state.reachable:
        return Finding(name, "fail", f"{state.error}; {cli_text}", state.fix)
    version = state.info.get("ServerVersion", "?")
    daemon = f"Docker {version} answers at {state.endpoint.label}"
    if not cli:
        return Finding(name, "fail", f"{daemon}, but {cli_text}",
                       "install the Docker CLI (package docker-ce-cli) with the compose plugin (docker-compose-plugin)")
    if "compose" in ctx.formats:
        compose = _compose_version(cli)
        if compose is None:
            return Finding(name, "fail", f"{daemon}; `{cli} compose` is missing",
                           "install the compose plugin (package docker-compose-plugin), or emit docker-run only")
        return Finding(name, "ok", f"{daemon}; {cli_text}, compose {compose}")
    return Finding(name, "ok", f"{daemon}; {cli_text}")


def _cdi_specs(dirs) -> list[str]:
    """Local CDI spec files that declare NVIDIA GPUs (kind nvidia.com/gpu)."""
    found = []
    for folder in dirs:
        for path in sorted(glob.glob(os.path.join(folder, "*.yaml")) + glob.glob(os.path.join(folder, "*.yml"))
                           + glob.glob(os.path.join(folder, "*.json"))):
            try:
                with open(path, encoding="utf-8", errors="replace") as f:
                    if "nvidia.com/gpu" in f.read(1 << 20):
                        found.append(path)
            except OSError:
                continue
    return found


def check_toolkit(ctx: Context) -> Finding:
    """2. The daemon can hand GPUs to containers: an `nvidia` runtime or NVIDIA CDI devices."""
    name = "nvidia-toolkit"
    if not ctx.containers:
        return Finding(name, "ok", NOT_NEEDED)
    if ctx.amd:
        return Finding(name, "ok", "not needed: AMD GPUs reach containers as /dev/kfd and /dev/dri")
    state = ctx.docker
    if not state.reachable:
        binaries = [path for path in (ctx.which(b) for b in TOOLKIT_BINARIES) if path]
        if binaries:
            return Finding(name, "warn", f"cannot ask the daemon ({state.error}); toolkit binaries found: "
                           + ", ".join(binaries), "start Docker and run doctor again")
        return Finding(name, "fail", f"cannot ask the daemon ({state.error}) and no NVIDIA Container Toolkit "
                       f"binaries ({', '.join(TOOLKIT_BINARIES)}) on PATH", INSTALL_TOOLKIT)
    info = state.info
    runtimes = info.get("Runtimes") or {}
    if "nvidia" in runtimes:
        path = (runtimes["nvidia"] or {}).get("path", "nvidia-container-runtime")
        default = " (the default runtime)" if info.get("DefaultRuntime") == "nvidia" else ""
        return Finding(name, "ok", f"the daemon lists the nvidia runtime: {path}{default}")
    devices = sorted(d.get("ID", "") for d in info.get("DiscoveredDevices") or []
                     if d.get("Source") == "cdi" and str(d.get("ID", "")).startswith("nvidia.com/gpu"))
    if devices:
        return Finding(name, "ok", "the daemon discovered NVIDIA CDI devices: " + ", ".join(devices))
    spec_dirs = info.get("CDISpecDirs") or []
    # The spec folders are only readable here when the daemon runs on this machine.
    specs = _cdi_specs(spec_dirs) if state.endpoint.kind == "unix" else []
    if specs:
        return Finding(name, "ok", "NVIDIA CDI specs in the daemon's CDI folders: " + ", ".join(specs))
    listed = ", ".join(sorted(runtimes)) or "none"
    cdi = f"CDI folders {', '.join(spec_dirs)} hold no NVIDIA spec" if spec_dirs else "CDI is disabled"
    return Finding(name, "fail", f"no nvidia runtime (runtimes: {listed}) and no NVIDIA CDI devices ({cdi})",
                   INSTALL_TOOLKIT)
