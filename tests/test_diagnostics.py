"""Diagnostics carry a code and a position taken from structure, never from message text."""
from __future__ import annotations

import dataclasses
import json
import textwrap
from pathlib import Path

import pytest

from vllm_compile.diagnostics import CompileError, Diagnostic, SourceMap
from vllm_compile.pipeline import run


def _errors(tmp_path: Path, text: str) -> tuple[Diagnostic, ...]:
    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(text))
    with pytest.raises(CompileError) as caught:
        run(str(spec))
    return caught.value.diagnostics


def test_format_shows_the_code():
    d = SourceMap("s.yaml", {"hardware.gpu": (7, 3)}).error("hardware.gpu", "unknown GPU", code="VC310",
                                                             found="'X'", fix="see gpus")
    assert d.format() == "s.yaml:7:3: error[VC310]: hardware.gpu: unknown GPU (found 'X')\n  fix: see gpus"
    w = SourceMap("s.yaml", {}).warning(None, "a note", code="VC410")
    assert w.format() == "s.yaml: warning[VC410]: a note"
    assert Diagnostic("no file", code="VC112").format() == "error[VC112]: no file"


def test_code_is_required():
    with pytest.raises(TypeError):
        Diagnostic("no code")  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        SourceMap("s.yaml").error("name", "no code")  # type: ignore[call-arg]


def test_json_fields():
    d = Diagnostic("m", file="s.yaml", line=2, column=5, key="k", fix="f", code="VC201",
                   fixes=({"set": {"a": 1}, "summary": "s", "verdict": "ok", "max_concurrency": 2.0},))
    assert json.loads(json.dumps(d.as_json())) == {
        "path": "s.yaml", "line": 2, "column": 5, "severity": "error", "code": "VC201", "key": "k", "message": "m",
        "found": None, "expected": None, "fix": "f",
        "fixes": [{"set": {"a": 1}, "summary": "s", "verdict": "ok", "max_concurrency": 2.0}]}


SPEC = """\
    version: 1
    name: chat
    model:
      id: Qwen/Qwen3-8B
    hardware:
      gpu: L4
      count: 1
    workload:
      max_model_len: 8192
      concurrency: 1
    engine:
      version: "0.33.0"
    server:
      port: 8000
    """


def test_duplicate_keys_all_at_once_at_their_repetition_with_the_key_path(tmp_path):
    errors = _errors(tmp_path, SPEC.replace("  count: 1\n", "  count: 1\n      gpu: H100\n")
                     .replace("    server:\n", "    name: other\n    server:\n"))
    found = [(d.code, d.key, d.line, d.column) for d in errors]
    assert found == [("VC107", "hardware.gpu", 8, 3), ("VC107", "name", 14, 1)]
    assert "first given on line 6" in errors[0].message and "first given on line 2" in errors[1].message


def test_duplicate_key_inside_a_list_item(tmp_path):
    text = """\
    version: 1
    hardware: {gpu: L4, count: 2}
    deployments:
      - name: a
        model: {id: Qwen/Qwen3-8B}
      - name: b
        model: {id: Qwen/Qwen3-8B}
        name: c
    """
    (d,) = _errors(tmp_path, text)
    assert (d.code, d.key, d.line, d.column) == ("VC107", "deployments[1].name", 8, 5)


def test_refused_kv_dtype_points_at_the_key_the_planner_names(tmp_path):
    text = SPEC.replace("gpu: L4", "gpu: V100-SXM2-32GB").replace('version: "0.33.0"',
                                                                  'version: "0.33.0"\n      kv_cache_dtype: fp8')
    (d,) = _errors(tmp_path, text)
    assert (d.code, d.key, d.line) == ("VC404", "engine.kv_cache_dtype", 13)


def test_host_key_of_a_deployment_in_a_list_is_the_hosts(tmp_path):
    # An AWQ checkpoint needs compute capability 7.5; the failure is about the host's hardware.gpu,
    # not a key under the deployment.
    text = """\
    version: 1
    hardware: {gpu: V100-SXM2-32GB, count: 1}
    deployments:
      - name: a
        model: {id: twhoool02/Llama-2-7b-chat-hf-AWQ}
        workload: {max_model_len: 4096, concurrency: 1}
        engine: {version: "0.33.0"}
    """
    errors = _errors(tmp_path, text)
    planner = [d for d in errors if d.code == "VC404"]
    assert [(d.key, d.line, d.column) for d in planner] == [("hardware.gpu", 2, 12)]


def test_the_position_follows_failure_key_not_the_reason_text(tmp_path):
    """A reason that mentions other keys does not move the diagnostic: assign reads failure_key."""
    from vllm_compile.ir.plan import Fix
    from vllm_compile.pipeline import Options
    from vllm_compile.pipeline import plan as plan_pass
    from vllm_compile.plan.assign import _failure

    spec = tmp_path / "spec.yaml"
    spec.write_text(textwrap.dedent(SPEC))
    planned = run(str(spec), Options(allow_plan_failure=True), until=plan_pass).plans[0]
    plan = dataclasses.replace(planned, verdict="invalid", failure_key="workload.max_model_len",
                               reasons=("tensor parallel size 3 and kv_cache_dtype fp8 on 2 GPUs, Bfloat16",),
                               fixes=(Fix((("workload.max_model_len", 4096),), "shorter", "ok", 3.0),))
    source = SourceMap("s.yaml", {"deployments[0].workload.max_model_len": (9, 7)})
    d = _failure(source, "deployments[0].", None, plan)
    assert (d.code, d.key, d.line, d.column) == ("VC404", "deployments[0].workload.max_model_len", 9, 7)
    assert d.fixes == ({"set": {"workload.max_model_len": 4096}, "summary": "shorter", "verdict": "ok",
                        "max_concurrency": 3.0},)
