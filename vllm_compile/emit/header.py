"""The comment every artifact starts with: who made it, from what, and a digest of its inputs."""
from __future__ import annotations

from vllm_compile.fastclass import dataclass

# How an artifact names its spec; defined beside the check digest, which records it.
from vllm_compile.freshness import spec_reference  # noqa: F401


@dataclass(frozen=True, slots=True)
class Header:
    tool_version: str
    spec_path: str      # the spec as the artifact names it (see spec_reference)
    input_digest: str   # hex sha256 of everything the artifact derives from
    sealed: bool = False  # carries a check-digest line (filled in by emit_artifacts; see freshness.py)

    def comment_lines(self) -> list[str]:
        from vllm_compile.freshness import PLACEHOLDER

        spec = " ".join(self.spec_path.split())  # a newline in a path must not end the comment
        return [
            f"# Made by vllm-compile {self.tool_version} from {spec}. Do not edit:",
            "# change the spec and run `vllm-compile compile` on it; `vllm-compile check` reports hand edits.",
            f"# input-digest: sha256:{self.input_digest}",
            *([PLACEHOLDER.decode()] if self.sealed else []),
        ]
