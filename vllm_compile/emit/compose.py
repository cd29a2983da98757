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
    if not deployments:
        raise ValueError("compose needs at least one deployment")
    data = {"services": {dep.name: service(dep) for dep in deployments}}
    text = block_yaml(data)
    if text is None:
        text = ruamel_yaml(data)
    return ("\n".join(header.comment_lines()) + "\n" + text).encode("utf-8")


def ruamel_yaml(data: dict) -> str:
    """`data` as ruamel.yaml's round-trip dumper writes it in compose.yaml's layout."""
    from ruamel.yaml import YAML

    yaml = YAML()
    yaml.default_flow_style = False
    yaml.width = 1 << 16          # never fold a long argument across lines
    yaml.indent(mapping=2, sequence=4, offset=2)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    return buffer.getvalue()


# What compose.yaml holds is a small subset of YAML: non-empty block mappings and sequences of
# printable ASCII strings and integers. `block_yaml` writes that subset with the bytes ruamel.yaml's
# round-trip dumper (`ruamel_yaml`) writes, without running its representer, serializer and
# emitter (a few milliseconds of a compile, issue 16). Scalar styles follow the emitter's own rules
# (`Emitter.analyze_scalar`, `choose_scalar_style`) and its resolver decides which texts would
# read back as something else than a string; whatever falls outside the subset (an empty
# collection, a boolean, a float, a key of 128 characters or more, a text that is not printable
# ASCII or would need double quotes) returns None, and ruamel.yaml writes the whole document.
# tests/emit/test_compose_yaml.py compares the two on every example and on generated documents.
_INDICATORS = frozenset("#,[]{}&*!|>'\"%@`")
_STR_TAG = "tag:yaml.org,2002:str"


class _Outside(Exception):
    """A value outside the subset `block_yaml` writes."""


def _plain_allowed(text: str) -> bool:
    """Whether ruamel's emitter may write `text` (non-empty printable ASCII) as a block plain
    scalar: no document marker, no indicator where it would start a token, no edge spaces."""
    if text.startswith(("---", "...")) or text[0] in _INDICATORS or text[0] == " " or text[-1] == " ":
        return False
    if text[0] in "-?:" and (len(text) == 1 or text[1] == " "):
        return False
    return not (": " in text or text.endswith(":") or " #" in text)


def _scalar(value, resolve) -> str:
    from ruamel.yaml.scalarstring import DoubleQuotedScalarString

    if value.__class__ is int:
        return str(value)
    if value.__class__ is DoubleQuotedScalarString:
        if not value or not value.isascii() or not value.isprintable() or '"' in value or "\\" in value:
            raise _Outside
        return f'"{value}"'
    if value.__class__ is not str or not value or not value.isascii() or not value.isprintable():
        raise _Outside
    if _plain_allowed(value) and resolve(value) == _STR_TAG:
        return value
    if "'" in value:
        raise _Outside  # the emitter double-quotes it
    return f"'{value}'"


def block_yaml(data: dict) -> str | None:
    """`data` in compose.yaml's layout, byte for byte as `ruamel_yaml` writes it; None when it
    holds something outside the subset written here."""
    from ruamel.yaml.nodes import ScalarNode
    from ruamel.yaml.resolver import VersionedResolver

    resolver = VersionedResolver()

    def resolve(text: str) -> str:
        return str(resolver.resolve(ScalarNode, text, (True, False)))

    lines: list[str] = []

    def key_of(key) -> str:
        if key.__class__ is not str or len(key) >= 128:
            raise _Outside
        return _scalar(key, resolve)

    def mapping(value: dict, indent: int, first: str) -> None:
        if not value:
            raise _Outside
        prefix = first
        for key, item in value.items():
            head = prefix + key_of(key) + ":"
            prefix = " " * indent
            if isinstance(item, dict):
                lines.append(head)
                mapping(item, indent + 2, " " * (indent + 2))
            elif isinstance(item, list):
                lines.append(head)
                sequence(item, indent + 2)
            else:
                lines.append(head + " " + _scalar(item, resolve))

    def sequence(value: list, dash: int) -> None:
        if not value:
            raise _Outside
        for item in value:
            if isinstance(item, dict):
                mapping(item, dash + 2, " " * dash + "- ")
            elif isinstance(item, list):
                raise _Outside
            else:
                lines.append(" " * dash + "- " + _scalar(item, resolve))

    try:
        mapping(data, 0, "")
    except _Outside:
        return None
    return "\n".join(lines) + "\n"
