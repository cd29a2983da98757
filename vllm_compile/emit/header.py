"""The comment every artifact starts with: who made it, from what, and a digest of its inputs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Header:
    tool_version: str
    spec_path: str      # as the user named it, POSIX separators
    input_digest: str   # hex sha256 of everything the artifact derives from

    def comment_lines(self) -> list[str]:
        spec = " ".join(self.spec_path.split())  # a newline in a path must not end the comment
        return [
            f"# Made by vllm-compile {self.tool_version} from {spec}. Do not edit: change the spec and",
            f"# run `vllm-compile compile {spec}`; `vllm-compile check` reports hand edits.",
            f"# input-digest: sha256:{self.input_digest}",
        ]
