"""`compose.yaml`: one service per deployment, for Docker Compose v2 (no top-level `version:`)."""
from __future__ import annotations

import io
from typing import Sequence

from vllm_compile.emit import host
from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import LoweredDeployment, Volume

NAME = "compose"
FILENAME = "compose.yaml"
KIND = "yaml"
SCOPE = "host"   # one file for all deployments of a host
RUNTIME = "docker"
DESCRIPTION = "compose.yaml"


def escape(value: str) -> str:
    """A user value made literal for compose, which interpolates `$VAR` everywhere."""
    return value.replace("$", "$$")


def _environment(dep: LoweredDeployment) -> dict[str, str]:
    env = {}
    for var in host.container_env(dep):
        if var.value is not None:
            env[var.name] = escape(var.value)
        elif var.required:
            message = (var.required_message or f"set {var.from_env}").replace("}", ")").replace("$", "$$")
            env[var.name] = f"${{{var.from_env or var.name}:?{message}}}"
        else:
            env[var.name] = f"${{{var.from_env or var.name}:-}}"
    return dict(sorted(env.items()))


def _volume(volume: Volume) -> str:
    # The host side is our own `${VAR:-default}` template when a variable overrides it, else a user path.
    variable, default = host.host_source(volume)
    side = f"${{{variable}:-{default}}}" if variable else escape(default)
    return f"{side}:{volume.container}" + (":ro" if volume.read_only else "")


def service(dep: LoweredDeployment) -> dict:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    check = dep.healthcheck
    out: dict = {
        "image": dep.image,
        "command": [escape(arg) for arg in dep.args],
        "environment": _environment(dep),
        # Quoted: an unquoted a:b of small numbers is a base-60 integer to YAML 1.1 readers.
        "ports": [DoubleQuotedScalarString(host.published_port(dep))],
        "volumes": [_volume(v) for v in dep.volumes],
    }
    # The host's IPC namespace gives the workers all the shared memory they need (dep.shm_bytes).
    out["ipc"] = "host"
    if dep.ulimits:
        out["ulimits"] = {u.name: u.soft if u.soft == u.hard else {"soft": u.soft, "hard": u.hard}
                          for u in dep.ulimits}
    acc = dep.accelerators
    if acc.vendor == "amd":
        out["devices"] = list(host.ROCM_DEVICES)
        out["group_add"] = list(host.ROCM_GROUPS)
        out["security_opt"] = list(host.ROCM_SECURITY_OPTS)
    else:
        device: dict = {"driver": "nvidia"}
        if acc.device_ids is not None:
            device["device_ids"] = list(acc.device_ids)
        else:
            device["count"] = acc.count
        device["capabilities"] = ["gpu"]
        out["deploy"] = {"resources": {"reservations": {"devices": [device]}}}
    out["healthcheck"] = {
        "test": ["CMD", "curl", "-fsS", f"http://localhost:{dep.container_port}{check.path}"],
        "interval": f"{check.interval_s}s",
        "timeout": f"{check.timeout_s}s",
        "retries": check.retries,
        "start_period": f"{check.start_period_s}s",
    }
    out["restart"] = host.RESTART
    out["stop_grace_period"] = f"{host.STOP_GRACE_S}s"
    out["logging"] = {"driver": host.LOG_DRIVER,
                      "options": {key: DoubleQuotedScalarString(value) for key, value in host.log_options()}}
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
