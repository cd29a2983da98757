"""The comment every artifact starts with: who made it, from what, and a digest of its inputs."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Header:
    tool_version: str
    spec_path: str      # the spec as the artifact names it (see spec_reference)
    input_digest: str   # hex sha256 of everything the artifact derives from

    def comment_lines(self) -> list[str]:
        spec = " ".join(self.spec_path.split())  # a newline in a path must not end the comment
        return [
            f"# Made by vllm-compile {self.tool_version} from {spec}. Do not edit:",
            "# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.",
            f"# input-digest: sha256:{self.input_digest}",
        ]


def spec_reference(spec_name: str, folder: str) -> str:
    """How an artifact in `folder` (relative to the spec's folder) names the spec: a relative path
    when the folder lies inside the spec's tree — the same whatever the working directory or
    however the spec path was typed — else just the file name, never a path of this machine."""
    import posixpath

    if folder.startswith("..") or posixpath.isabs(folder):
        return spec_name
    return f"{posixpath.relpath(spec_name, folder or '.')} (relative to this file)"
