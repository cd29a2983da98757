"""The planner's release rules and fitted constants are one data file
(vllm_compile/data/planner-rules.json): every fitted constant names the real calibration cases it
was fitted on, every era resolves to constants that exist, and a bench refit (`overridden`)
changes the plan only while it is active."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from vllm_compile.plan import overheads, releases, rules_data

REPO = Path(__file__).resolve().parents[2]
CASES = {json.loads(line)["id"] for line in (REPO / "bench" / "data" / "calibration" / "vllm-startups.jsonl")
         .read_text().splitlines() if line.strip()}


def test_every_constant_says_where_it_comes_from_and_every_fitted_case_exists():
    constants = rules_data.data()["constants"]
    for name, c in constants.items():
        assert ("fitted_on" in c) != ("source" in c), name      # fitted on cases, or taken from a source
        assert c["means"], name
        if "fitted_on" in c:
            assert set(c["fitted_on"]) <= CASES, (name, set(c["fitted_on"]) - CASES)
            lo, hi = c["range"]
            assert lo <= c["value"] <= hi, name
    for era, names in rules_data.data()["eras"].items():
        assert set(names.values()) <= set(constants), era
        overheads.era_constants(era)


def test_release_rows_come_from_the_data_file_in_ascending_order():
    changes = rules_data.data()["releases"]["changes"]
    keys = [releases.release_key(c["from"]) for c in changes]
    assert keys == sorted(keys)
    assert releases.rules_for("0.6.3").engine == "v0" and releases.rules_for("0.8.0").engine == "v1"
    assert releases.rules_for("0.21.0").default_utilization == 0.92
    assert releases.rules_for("0.20.9").default_utilization == 0.90


def test_an_override_changes_the_overheads_only_while_active():
    before = overheads.non_torch_bytes(1, 1)
    with rules_data.overridden({"non_torch_base_gib": 0.5}):
        assert overheads.non_torch_bytes(1, 1) == int(0.5 * rules_data.GIB)
    assert overheads.non_torch_bytes(1, 1) == before == int(0.15 * rules_data.GIB)
    with pytest.raises(KeyError, match="nccl_capture_mib"):
        with rules_data.overridden({"nccl_capture_mib": 1.0}):   # from a source, not refitted
            pass
