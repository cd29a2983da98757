"""The compiler's pass list: order, purity (each pass returns a new frozen Compilation and leaves
its input alone), `run(..., until=...)`, and the rule that stage packages never import each other."""
from __future__ import annotations

import ast
import dataclasses
import shutil
from pathlib import Path

import pytest

from vllm_compile import pipeline
from vllm_compile.diagnostics import CompileError
from vllm_compile.ir.artifact import Artifact
from vllm_compile.ir.facts import HardwareFacts, ModelFacts
from vllm_compile.ir.lowered import LoweredDeployment
from vllm_compile.ir.plan import Plan
from vllm_compile.ir.spec import Spec

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "vllm_compile"
STAGES = ("parse", "resolve", "plan", "lower", "emit")

# What each pass fills in, and the IR type it must hold.
FILLS = {
    "parse": ("spec", Spec),
    "resolve_models": ("models", ModelFacts),
    "resolve_hardware": ("hardware", HardwareFacts),
    "plan": ("plans", Plan),
    "lower": ("lowered", LoweredDeployment),
    "emit": ("artifacts", Artifact),
}


@pytest.fixture
def spec_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    shutil.copy(REPO / "specs" / "llama.yaml", tmp_path / "llama.yaml")
    return "llama.yaml"


def test_passes_in_stage_order():
    names = [step.__name__ for step in pipeline.PASSES]
    assert names == ["parse", "read_lock", "resolve_models", "resolve_hardware", "plan", "lower", "emit"]


def test_each_pass_returns_a_new_frozen_compilation(spec_path):
    current = pipeline.Compilation(path=spec_path)
    for step in pipeline.PASSES:
        snapshot = {f.name: getattr(current, f.name) for f in dataclasses.fields(current)}
        nxt = step(current)
        assert isinstance(nxt, pipeline.Compilation) and nxt is not current, step.__name__
        # The input is untouched: every field still holds the very same object.
        assert all(getattr(current, k) is v for k, v in snapshot.items()), step.__name__
        with pytest.raises(dataclasses.FrozenInstanceError):
            nxt.path = "other.yaml"
        if step.__name__ in FILLS:
            field, kind = FILLS[step.__name__]
            value = getattr(nxt, field)
            items = value if isinstance(value, tuple) else (value,)
            assert items and all(isinstance(item, kind) for item in items), step.__name__
            assert getattr(current, field) in (None, ()), f"{step.__name__} filled {field} twice"
        current = nxt
    assert sorted(a.path for a in current.artifacts) == ["deploy/llama-chat/compose.yaml",
                                                         "deploy/llama-chat/docker-run.sh"]


def test_ir_objects_are_frozen(spec_path):
    done = pipeline.run(spec_path)
    for obj, attr in ((done.spec, "path"), (done.plans[0], "verdict"), (done.lowered[0], "image"),
                      (done.artifacts[0], "content"), (done.models[0], "num_layers")):
        with pytest.raises((dataclasses.FrozenInstanceError, AttributeError)):
            setattr(obj, attr, None)


@pytest.mark.parametrize("until, filled, empty", [
    (pipeline.parse, "spec", "models"),
    (pipeline.resolve_hardware, "hardware", "plans"),
    (pipeline.plan, "plans", "lowered"),
    (pipeline.lower, "lowered", "artifacts"),
])
def test_run_stops_after_until(spec_path, until, filled, empty):
    done = pipeline.run(spec_path, until=until)
    assert getattr(done, filled) not in (None, ())
    assert getattr(done, empty) in (None, ())


def test_run_to_the_end_equals_stepping(spec_path):
    stepped = pipeline.Compilation(path=spec_path)
    for step in pipeline.PASSES:
        stepped = step(stepped)
    assert pipeline.run(spec_path).artifacts == stepped.artifacts


def test_user_error_is_a_compile_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.yaml").write_text("version: 1\nname: x\nhardware:\n  gpu: NoSuchGPU\n"
                                       "model:\n  id: meta-llama/Llama-3.1-8B-Instruct\nengine:\n  version: \"0.33.0\"\n")
    with pytest.raises(CompileError) as caught:
        pipeline.run("bad.yaml")
    assert [(d.file, d.line, d.column, d.key) for d in caught.value.diagnostics] == [("bad.yaml", 4, 3, "hardware.gpu")]


def _imported_stages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "vllm_compile" and len(parts) > 1 and parts[1] in STAGES:
                found.add(parts[1])
    return found


@pytest.mark.parametrize("stage", STAGES)
def test_stage_packages_do_not_import_each_other(stage):
    offenders = {}
    for path in sorted((PACKAGE / stage).rglob("*.py")):
        others = _imported_stages(path) - {stage}
        if others:
            offenders[path.relative_to(REPO).as_posix()] = sorted(others)
    assert offenders == {}


def test_model_and_gpu_errors_are_reported_together(tmp_path):
    from vllm_compile.diagnostics import CompileError

    spec = tmp_path / "s.yaml"
    spec.write_text("version: 1\nname: e\nmodel:\n  id: meta-llama/Llama-3.1-70B-Instruc\nhardware:\n  gpu: H1OO\n"
                    "engine:\n  version: \"0.33.0\"\n")
    with pytest.raises(CompileError) as caught:
        pipeline.run(str(spec))
    assert [d.key for d in caught.value.diagnostics] == ["model.id", "hardware.gpu"]
