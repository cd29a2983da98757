"""`compose.yaml`: one service per deployment, for Docker Compose v2 (no top-level `version:`)."""
from __future__ import annotations

import io
from typing import Sequence

from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import LoweredDeployment

NAME = "compose"
FILENAME = "compose.yaml"
KIND = "yaml"
SCOPE = "host"   # one file for all deployments of a host


def escape(value: str) -> str:
    """A user value made literal for compose, which interpolates `$VAR` everywhere."""
    return value.replace("$", "$$")


def _environment(dep: LoweredDeployment) -> dict[str, str]:
    env = {}
    for var in dep.env:
        if var.value is not None:
            env[var.name] = escape(var.value)
        elif var.required:
            message = (var.required_message or f"set {var.from_env}").replace("}", ")").replace("$", "$$")
            env[var.name] = f"${{{var.from_env or var.name}:?{message}}}"
        else:
            env[var.name] = f"${{{var.from_env or var.name}:-}}"
    return dict(sorted(env.items()))


def _volume(volume) -> str:
    # The host side is our own `${VAR:-default}` template when host_env is set, else a user path.
    host = volume.host if volume.host_env else escape(volume.host)
    return f"{host}:{volume.container}" + (":ro" if volume.read_only else "")


def service(dep: LoweredDeployment) -> dict:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    device: dict = {"driver": "nvidia"}
    if dep.device_ids is not None:
        device["device_ids"] = list(dep.device_ids)
    else:
        device["count"] = dep.gpu_count
    device["capabilities"] = ["gpu"]
    check = dep.healthcheck
    out: dict = {
        "image": dep.image,
        "command": [escape(arg) for arg in dep.args],
        "environment": _environment(dep),
        # Quoted: an unquoted a:b of small numbers is a base-60 integer to YAML 1.1 readers.
        "ports": [DoubleQuotedScalarString(f"{dep.host_port}:{dep.container_port}")],
        "volumes": [_volume(v) for v in dep.volumes],
    }
    if dep.ipc_host:
        out["ipc"] = "host"
    out["deploy"] = {"resources": {"reservations": {"devices": [device]}}}
    out["healthcheck"] = {
        "test": ["CMD", "curl", "-fsS", f"http://localhost:{dep.container_port}{check.path}"],
        "interval": f"{check.interval_s}s",
        "timeout": f"{check.timeout_s}s",
        "retries": check.retries,
        "start_period": f"{check.start_period_s}s",
    }
    out["restart"] = dep.restart
    if dep.depends_on_healthy:
        out["depends_on"] = {name: {"condition": "service_healthy"} for name in sorted(dep.depends_on_healthy)}
    return out


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    from ruamel.yaml import YAML

    if not deployments:
        raise ValueError("compose needs at least one deployment")
    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 1 << 16          # never fold a long argument across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump({"services": {dep.name: service(dep) for dep in deployments}}, buffer)
    return ("\n".join(header.comment_lines()) + "\n" + buffer.getvalue()).encode("utf-8")
