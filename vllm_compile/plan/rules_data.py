"""The planner's knowledge of vLLM releases as data: `vllm_compile/data/planner-rules.json`.

That one file holds the release rules (what changed at each release boundary), the per-release
defaults and the fitted constants of the overhead model, each constant with the calibration
cases it was fitted on (or the outside measurement it was taken from). `releases.py` and
`overheads.py` read it through this module; `bench/calibrate.py --leave-one-out` refits the
fitted constants through `overridden`.
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

GIB = 1 << 30
MIB = 1 << 20


@cache
def data() -> dict[str, Any]:
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.realpath(__file__))), "data", "planner-rules.json")
    with open(path, encoding="utf-8") as handle:
        return json.loads(handle.read())


_overrides: dict[str, float] = {}


def constant(name: str) -> float:
    """A constant's value (the data file's, unless a bench refit overrides it)."""
    if name in _overrides:
        return _overrides[name]
    return float(data()["constants"][name]["value"])


def gib(name: str) -> int:
    return int(constant(name) * GIB)


def fitted_constants() -> dict[str, dict[str, Any]]:
    """The constants fitted on calibration cases: name -> {value, range, fitted_on, means}."""
    return {name: c for name, c in data()["constants"].items() if c.get("fitted_on")}


@contextmanager
def overridden(values: dict[str, float]) -> Iterator[None]:
    """Plan with other values of some fitted constants (the bench's refits); restored on exit."""
    unknown = sorted(set(values) - set(fitted_constants()))
    if unknown:
        raise KeyError(f"not fitted constants: {', '.join(unknown)}")
    saved = dict(_overrides)
    _overrides.update(values)
    try:
        yield
    finally:
        _overrides.clear()
        _overrides.update(saved)
