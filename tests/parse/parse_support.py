"""Helpers for the parse-stage tests: parse YAML text, collect diagnostics."""
from __future__ import annotations

import textwrap

import pytest

from vllm_compile.diagnostics import CompileError
from vllm_compile.parse import parse_spec

SPEC_PATH = "specs/test.vllm.yaml"

# The smallest valid single-deployment spec.
MINIMAL = """\
version: 1
name: llama-chat
model:
  id: meta-llama/Llama-3.1-8B-Instruct
hardware:
  gpu: H100-80GB
engine:
  version: "0.33.0"
"""


def parse_text(text: str, path: str = SPEC_PATH):
    return parse_spec(path, textwrap.dedent(text).encode("utf-8"))


def errors_of(text: str | bytes, path: str = SPEC_PATH):
    """The diagnostics parse_spec raises for `text` (fails the test if it parses)."""
    data = text if isinstance(text, bytes) else textwrap.dedent(text).encode("utf-8")
    with pytest.raises(CompileError) as info:
        parse_spec(path, data)
    diagnostics = info.value.diagnostics
    assert diagnostics, "CompileError without diagnostics"
    return diagnostics


def everything_printed(diagnostics) -> str:
    """All text a user could see for these diagnostics (formatted, JSON fields, exception text)."""
    parts = [d.format() for d in diagnostics]
    parts += [str(v) for d in diagnostics for v in d.as_json().values() if v is not None]
    parts.append(str(CompileError(diagnostics)))
    return "\n".join(parts)


def by_key(diagnostics) -> dict:
    out: dict = {}
    for d in diagnostics:
        out.setdefault(d.key, []).append(d)
    return out
