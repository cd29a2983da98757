"""An emitted file: bytes and where they go."""
from __future__ import annotations

from vllm_compile.fastclass import dataclass


@dataclass(frozen=True, slots=True)
class Artifact:
    path: str          # relative to the spec's folder, POSIX separators
    content: bytes
    executable: bool = False
    kind: str = "text"  # "yaml" | "shell" | "text": how diff compares it
