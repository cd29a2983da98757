"""The input digest serializes model and hardware facts through container._as_data, which must give
the JSON dataclasses.asdict gave (the digest is in every artifact's header)."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from vllm_compile.diagnostics import CompileError
from vllm_compile.lower.container import _as_data
from vllm_compile.pipeline import resolve_hardware, run

ROOT = Path(__file__).resolve().parent.parent.parent
SPECS = sorted(ROOT.glob("specs/*.yaml")) + sorted(ROOT.glob("tests/golden/*/spec.yaml"))


def _json(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=True)


@pytest.mark.parametrize("spec", SPECS, ids=[p.parent.name if p.name == "spec.yaml" else p.stem for p in SPECS])
def test_same_json_as_asdict(spec):
    try:
        compiled = run(str(spec), until=resolve_hardware)
    except CompileError:  # the golden error cases: nothing to digest
        pytest.skip("does not resolve")
    for value in (*compiled.models, compiled.hardware):
        assert _json(_as_data(value)) == _json(asdict(value))
