"""`vllm-compile explain SPEC`: the ledger, a bar chart, and every knob with its reason."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

SPECS = Path(__file__).resolve().parents[2] / "specs"
KNOBS = ("tensor_parallel_size", "max_model_len", "gpu_memory_utilization", "max_num_seqs", "max_num_batched_tokens")


@pytest.fixture
def ws(workdir):
    for name in ("llama.yaml", "llama-70b.yaml"):
        shutil.copy(SPECS / name, workdir / name)
    return workdir


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def knob_lines(text: str) -> dict[str, str]:
    body = text.split("\n  knobs:\n", 1)[1]
    return {line.split()[0]: line.strip() for line in body.splitlines() if line.strip()}


def test_explain_shows_ledger_chart_and_every_knob(ws):
    result = invoke("explain", "llama.yaml")
    assert result.exit_code == 0, result.output
    text = result.stdout
    plan = invoke("plan", "llama.yaml").stdout
    assert text.startswith(plan.rstrip("\n"))          # the same ledger first
    bar = re.search(r"^  \[([WANGK.]+)\]$", text, re.M)
    assert bar and len(bar.group(1)) == 50
    assert "K" in bar.group(1) and "W" in bar.group(1)
    knobs = knob_lines(text)
    assert set(KNOBS) <= set(knobs)
    # workload.max_model_len is set in the spec; the engine knobs are left to the planner.
    assert knobs["max_model_len"].split()[1:3] == ["32768", "pinned:"]
    assert knobs["tensor_parallel_size"].split()[1:3] == ["1", "chosen:"]
    assert all(len(line.split(":", 1)[1].strip()) > 3 for line in knobs.values()), "every knob has a reason"


def test_pinned_engine_knobs_are_marked_pinned(ws):
    spec = (ws / "llama.yaml").read_text().replace('version: "0.33.0"', 'version: "0.33.0"\n  gpu_memory_utilization: 0.85')
    (ws / "pinned.yaml").write_text(spec)
    knobs = knob_lines(invoke("explain", "pinned.yaml").stdout)
    assert knobs["gpu_memory_utilization"].split()[1:3] == ["0.85", "pinned:"]
    data = json.loads(invoke("plan", "pinned.yaml", "--format", "json").stdout)
    assert data["gpu_memory_utilization"] == 0.85


def test_pipeline_stages_are_listed(ws):
    spec = (ws / "llama-70b.yaml").read_text().replace(
        'version: "0.33.0"', 'version: "0.33.0"\n  tensor_parallel_size: 2\n  pipeline_parallel_size: 2')
    (ws / "pp.yaml").write_text(spec)
    result = invoke("explain", "pp.yaml")
    assert result.exit_code == 0, result.output
    stages = re.findall(r"^\s+(\d)\s+[\d.]+ GiB\s+[\d.]+ GiB$", result.stdout, re.M)
    assert stages == ["0", "1"]


def test_failing_plan_exits_1(ws):
    spec = (ws / "llama-70b.yaml").read_text().replace("gpu: A100-SXM4-80GB", "gpu: L4").replace("count: 4", "count: 1")
    (ws / "small.yaml").write_text(spec)
    result = invoke("explain", "small.yaml")
    assert result.exit_code == 1
    assert "verdict               weights_do_not_fit" in result.stdout
    assert "knobs:" in result.stdout


def test_bad_input_exits_2(ws):
    result = invoke("explain", "missing.yaml")
    assert result.exit_code == 2
    assert result.stderr.startswith("missing.yaml: error: spec file not found")
    assert "Traceback" not in result.output


def test_explain_json_is_plan_json_plus_the_chart_and_stages(ws):
    spec = (ws / "llama-70b.yaml").read_text().replace(
        'version: "0.33.0"', 'version: "0.33.0"\n  tensor_parallel_size: 2\n  pipeline_parallel_size: 2')
    (ws / "pp.yaml").write_text(spec)
    result = invoke("explain", "pp.yaml", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    plan = json.loads(invoke("plan", "pp.yaml", "--format", "json").stdout)
    assert {k: data[k] for k in plan} == plan            # every plan field, unchanged
    assert data["gpus"] == 4 and f"on 4 x {data['gpu']}," in invoke("explain", "pp.yaml").stdout
    led = plan["per_gpu"]
    assert data["memory_shares"]["weights"] == round(led["weights_bytes"] / led["total_bytes"], 4)
    assert data["memory_shares"]["kv_cache"] == round(led["kv_cache_bytes"] / led["total_bytes"], 4)
    assert data["requested_share"] == round(plan["gpu_memory_utilization"], 4)
    assert [s["stage"] for s in data["stages"]] == [0, 1]
    assert all(s["weights_bytes"] > 0 for s in data["stages"])
    assert {c["knob"] for c in data["choices"]} >= set(KNOBS)


def test_explain_json_of_a_failing_plan_exits_1_with_its_fixes(ws):
    spec = (ws / "llama-70b.yaml").read_text().replace("gpu: A100-SXM4-80GB", "gpu: L4").replace("count: 4", "count: 1")
    (ws / "small.yaml").write_text(spec)
    result = invoke("explain", "small.yaml", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["verdict"] == "weights_do_not_fit" and data["stages"] == []
    assert data["fixes"] == json.loads(invoke("plan", "small.yaml", "--format", "json").stdout)["fixes"]


def test_explain_json_of_a_multi_deployment_file_is_keyed_by_name(workdir):
    shutil.copy(SPECS / "host-multi.yaml", workdir / "host-multi.yaml")
    data = json.loads(invoke("explain", "host-multi.yaml", "--format", "json").stdout)
    plan = json.loads(invoke("plan", "host-multi.yaml", "--format", "json").stdout)
    assert sorted(data) == sorted(plan) and len(data) >= 2
    for name in plan:
        assert data[name]["verdict"] == plan[name]["verdict"] and "memory_shares" in data[name]
