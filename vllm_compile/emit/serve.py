"""`serve.sh`: the same server without Docker, as `exec vllm serve MODEL ...` on the host."""
from __future__ import annotations

import shlex
from typing import Sequence

from vllm_compile.emit import host, shell
from vllm_compile.emit.header import Header
from vllm_compile.ir.lowered import LoweredDeployment, serve_words

NAME = "serve"
FILENAME = "serve.sh"
KIND = "shell"
SCOPE = "deployment"
RUNTIME = "host"
DESCRIPTION = "serve.sh, bare metal"


def _on_host(dep: LoweredDeployment, word: str) -> shell.Word:
    """A container path (a mounted local model or adapter, also as the value of `name=path`) as
    the same place on the host."""
    name, eq, value = word.partition("=")
    if eq and value.startswith("/") and not word.startswith("/"):
        side = _on_host(dep, value)
        if side != value:
            return (shell.Expand(shell.Expand.literal(name + eq) + side.text) if isinstance(side, shell.Expand)
                    else name + eq + side)
    for volume in dep.volumes:
        if word == volume.container or word.startswith(volume.container + "/"):
            side = shell.host_path(volume)
            rest = word[len(volume.container):]
            if isinstance(side, shell.Expand):
                return shell.Expand(side.text + shell.Expand.literal(rest))
            return side + rest
    return word


def argv(dep: LoweredDeployment) -> list[shell.Word]:
    """Every word after `vllm serve`: the model positionally (every release's `vllm serve`
    takes `model_tag`; the oldest require it), the container's flags, and the host address and port."""
    listen = ["--host", dep.bind_host] if dep.bind_host is not None else []
    return [*(_on_host(dep, word) for word in serve_words(dep.args)), *listen, "--port", str(dep.port)]


def render(deployments: Sequence[LoweredDeployment], header: Header) -> bytes:
    dep = shell.single(deployments, NAME)
    words = argv(dep)
    setup = [shell.script_dir_line()] if any(isinstance(w, shell.Expand) and shell.SCRIPT_DIR_VAR in w.text
                                              for w in words) else []
    if dep.accelerators.device_ids is not None:
        pinned = ",".join(dep.accelerators.device_ids)
        setup.append(f"export {host.visible_devices_var(dep)}={shlex.quote(pinned)}")
    setup += shell.env_setup(dep.env)
    for name, port in zip(dep.depends_on_healthy, dep.depends_on_ports):
        # Sharing a GPU: start after the earlier server is up, so vLLM's start-up memory check
        # sees what it holds (compose's depends_on does the same).
        setup += [f"# {name} shares a GPU with this deployment: start after it is healthy.",
                  f"until curl -fsS http://localhost:{port}/health >/dev/null 2>&1; do",
                  f"  echo 'waiting for {name} on port {port}...' >&2",
                  "  sleep 10",
                  "done"]
    lines = shell.command_lines(["exec", "vllm", "serve", words[0]], shell.flag_groups(words[1:]))
    return shell.script(header, setup, lines)
