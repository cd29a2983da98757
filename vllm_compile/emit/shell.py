"""What the shell-script targets share: quoting, env by reference, one flag per line."""
from __future__ import annotations

import re
import shlex
from vllm_compile.fastclass import dataclass
from typing import Sequence

from vllm_compile.emit.header import Header
from vllm_compile.emit.host import host_source
from vllm_compile.ir.lowered import EnvVar, LoweredDeployment, Volume

SCRIPT_DIR_VAR = "script_dir"
_NEGATIVE_NUMBER = re.compile(r"^-\d+$|^-\d*\.\d+$")


@dataclass(frozen=True, slots=True)
class Expand:
    """A word the shell must expand (variable references), written inside double quotes.

    `text` is the exact text between the quotes: references like `${HF_HOME:-...}` as they
    are, literal parts passed through `Expand.literal`."""

    text: str

    @staticmethod
    def literal(value: str) -> str:
        """`value` made inert inside double quotes."""
        return re.sub(r'([\\$`"])', r"\\\1", value)


Word = str | Expand


def quote(word: Word) -> str:
    return f'"{word.text}"' if isinstance(word, Expand) else shlex.quote(word)


def _is_flag(word: Word) -> bool:
    return isinstance(word, str) and word.startswith("-") and not _NEGATIVE_NUMBER.match(word)


def flag_groups(words: Sequence[Word]) -> list[list[Word]]:
    """Split argv into one group per flag with the values that follow it."""
    groups: list[list[Word]] = []
    for word in words:
        if _is_flag(word) or not groups:
            groups.append([word])
        else:
            groups[-1].append(word)
    return groups


def command_lines(head: Sequence[Word], groups: Sequence[Sequence[Word]]) -> list[str]:
    """`head` on the first line, then each group on its own continued line."""
    lines = [" ".join(quote(w) for w in head)]
    lines += ["  " + " ".join(quote(w) for w in group) for group in groups]
    lines = [line + " \\" for line in lines[:-1]] + [lines[-1]]
    words = [*head, *(w for group in groups for w in group)]
    if any(isinstance(w, str) and re.search(r"[$`]", w) for w in words):
        # A `$` in a user value is data, and single quotes keep it so; tell shellcheck.
        lines.insert(0, "# shellcheck disable=SC2016  # single-quoted $ is literal on purpose")
    return lines


def env_setup(env: Sequence[EnvVar]) -> list[str]:
    """Lines that put each variable in the script's environment under its server-side name,
    read from the host variable it references; required ones stop the script when unset."""
    lines = []
    for var in env:
        if var.value is not None:
            lines.append(f"export {var.name}={shlex.quote(var.value)}")
            continue
        source = var.from_env or var.name
        reference = (f"${{{source}:?{Expand.literal(var.required_message or f'set {source}').replace('}', ')')}}}"
                     if var.required else f"${{{source}:-}}")
        if source == var.name:
            if var.required:
                lines.append(f': "{reference}"')
        else:
            lines.append(f'export {var.name}="{reference}"')
    return lines


def host_path(volume: Volume) -> Word:
    """The host side of a mount as a script writes it: `~` as $HOME, relative paths from the
    script's folder, the override variable (e.g. HF_HOME) first when there is one."""
    variable, default = host_source(volume)
    if default.startswith("~/"):
        text = "$HOME/" + Expand.literal(default[2:])
    elif default.startswith("."):
        text = f"${SCRIPT_DIR_VAR}/" + Expand.literal(default.removeprefix("./"))
    elif variable is None:
        return default
    else:
        text = Expand.literal(default)
    return Expand(f"${{{variable}:-{text}}}" if variable else text)


def needs_script_dir(volumes: Sequence[Volume]) -> bool:
    return any(host_source(v)[0] is None and host_source(v)[1].startswith(".") for v in volumes)


def script(header: Header, setup: Sequence[str], command: Sequence[str]) -> bytes:
    lines = ["#!/usr/bin/env bash", *header.comment_lines(), "set -euo pipefail", ""]
    if setup:
        lines += [*setup, ""]
    lines += command
    return ("\n".join(lines) + "\n").encode("utf-8")


def script_dir_line() -> str:
    # Relative mounts are relative to the script's folder, wherever it is run from.
    return f'{SCRIPT_DIR_VAR}="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"'


def single(deployments: Sequence[LoweredDeployment], target: str) -> LoweredDeployment:
    if len(deployments) != 1:
        raise ValueError(f"the {target} target renders one deployment per script, got {len(deployments)}")
    return deployments[0]
