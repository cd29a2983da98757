"""`check`'s fast path: sealed artifacts prove a spec up to date without planning, and every change
issue 16 names (a hand edit, a changed spec, lock, bundled catalog or vllm-compile version) still
sends the spec down the full path, which reports it."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

import vllm_compile
from vllm_compile import data_digest, freshness, pipeline
from vllm_compile.cli import cli
from vllm_compile.pipeline import Options

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted(p.name for p in (REPO / "specs").glob("*.yaml"))
GOLDEN = sorted(p.parent.name for p in (REPO / "tests" / "golden").glob("*/spec.yaml"))
OUT = Path("deploy") / "llama-chat"


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} not unique in {path}"
    path.write_text(text.replace(old, new))


@pytest.fixture
def planned(monkeypatch):
    """Counts the specs the pipeline runs on (the full path), and lets it run."""
    seen: list[str] = []
    real = pipeline.run

    def spy(path, *args, **kwargs):
        seen.append(path)
        return real(path, *args, **kwargs)

    monkeypatch.setattr(pipeline, "run", spy)
    return seen


@pytest.fixture
def ws(workdir):
    for name in EXAMPLES:
        shutil.copy(REPO / "specs" / name, workdir / name)
        lock = REPO / "specs" / (name + ".lock")
        if lock.exists():
            shutil.copy(lock, workdir / lock.name)
    result = invoke("compile", *EXAMPLES)
    assert result.exit_code == 0, result.output
    return workdir


def test_every_example_is_proven_without_planning(ws, planned):
    assert {name: freshness.up_to_date(name, Options()) for name in EXAMPLES} == dict.fromkeys(EXAMPLES, True)
    check = invoke("check", *EXAMPLES)
    assert (check.exit_code, check.stdout, check.stderr) == (0, "", "")
    assert planned == []


def test_a_node_script_of_a_multi_node_spec_is_checked(ws):
    spec, script = "llama-405b-2x8.yaml", ws / "deploy" / "llama-405b" / "ray" / "node-1.sh"
    assert freshness.up_to_date(spec, Options())
    script.write_text(script.read_text().replace("docker run", "docker  run", 1))
    assert not freshness.up_to_date(spec, Options())
    assert invoke("check", spec).exit_code == 1
    script.unlink()
    assert not freshness.up_to_date(spec, Options())


def test_spelling_of_the_spec_path_does_not_matter(ws, planned, monkeypatch):
    monkeypatch.chdir(ws.parent)
    assert invoke("check", f"{ws.name}/llama.yaml").exit_code == 0
    assert freshness.up_to_date(str(ws / "llama.yaml"), Options())
    assert planned == []


@pytest.mark.parametrize("case", GOLDEN)
def test_golden_specs_with_output_option(workdir, planned, case):
    source = REPO / "tests" / "golden" / case
    shutil.copytree(source, workdir / case, ignore=shutil.ignore_patterns("expected"))
    spec = f"{case}/spec.yaml"
    assert invoke("compile", spec, "-o", "out").exit_code == 0
    planned.clear()
    assert invoke("check", spec, "-o", "out").exit_code == 0
    assert planned == []
    # The same spec checked against another output folder is not proven (nothing is there).
    assert not freshness.up_to_date(spec, Options(output_dir="elsewhere"))


def test_several_specs_under_one_output_folder(ws, planned):
    assert invoke("compile", "llama.yaml", "qwen3-moe.yaml", "-o", "out").exit_code == 0
    planned.clear()
    assert invoke("check", "llama.yaml", "qwen3-moe.yaml", "-o", "out").exit_code == 0
    assert planned == []


def test_hand_edit_of_an_artifact_is_caught(ws, planned):
    edit(ws / OUT / "compose.yaml", "restart: unless-stopped", "restart: always")
    assert not freshness.up_to_date("llama.yaml", Options())
    check = invoke("check", *EXAMPLES)
    assert check.exit_code == 1
    assert "deploy/llama-chat/compose.yaml: 1 structural change(s)" in check.stderr
    assert planned == ["llama.yaml"]  # only the spec not proven is compiled


def test_edited_seal_only_costs_the_fast_path(ws, planned):
    compose = ws / OUT / "compose.yaml"
    text = compose.read_text()
    start = text.index("# check-digest: sha256:") + len("# check-digest: sha256:")
    compose.write_text(text[:start] + ("0" if text[start] != "0" else "1") + text[start + 1:])
    assert not freshness.up_to_date("llama.yaml", Options())
    assert invoke("check", "llama.yaml").exit_code == 0  # the seal is a cache key, not content
    assert planned == ["llama.yaml"]
    assert invoke("compile", "llama.yaml").stdout.startswith("wrote deploy/llama-chat/compose.yaml")
    assert freshness.up_to_date("llama.yaml", Options())


def test_changed_spec_is_caught(ws, planned):
    edit(ws / "llama.yaml", "port: 8000", "port: 8001")
    assert not freshness.up_to_date("llama.yaml", Options())
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1 and planned == ["llama.yaml"]


def test_comment_only_spec_edit_is_compiled_and_clean(ws, planned):
    (ws / "llama.yaml").write_text((ws / "llama.yaml").read_text() + "# a note\n")
    assert not freshness.up_to_date("llama.yaml", Options())
    assert invoke("check", "llama.yaml").exit_code == 0   # the full path: no artifact changes but the seal
    assert planned == ["llama.yaml"]
    assert invoke("compile", "llama.yaml").exit_code == 0   # which a compile refreshes
    assert freshness.up_to_date("llama.yaml", Options())


def test_changed_lock_is_caught(ws):
    lock = json.loads((REPO / "tests" / "golden" / "mixed-host" / "spec.yaml.lock").read_text())
    edit(ws / "llama.yaml", "gpu: H100-80GB", "gpu: auto")
    (ws / "llama.yaml.lock").write_text(json.dumps({"version": 1, "hardware": lock["hardware"], "models": {}}))
    assert invoke("compile", "llama.yaml").exit_code == 0
    assert freshness.up_to_date("llama.yaml", Options())
    # Another GPU host locked in: the artifacts (device ids, plan) would change.
    lock["hardware"]["gpus"] = lock["hardware"]["gpus"][:1]
    (ws / "llama.yaml.lock").write_text(json.dumps({"version": 1, "hardware": lock["hardware"], "models": {}}))
    assert not freshness.up_to_date("llama.yaml", Options())
    # Even a change that does not alter the artifacts is proven by a compile, not assumed.
    (ws / "llama.yaml.lock").write_text((ws / "llama.yaml.lock").read_text() + "\n")
    assert not freshness.up_to_date("llama.yaml", Options())


def test_lock_that_no_longer_matches_is_caught(ws, planned):
    config = json.loads((REPO / "vllm_compile" / "data" / "model-configs" / "meta-llama" /
                         "Llama-3.1-8B-Instruct" / "config.json").read_text())
    (ws / "llama.yaml.lock").write_text(json.dumps({"version": 1, "models": {"meta-llama/Llama-3.1-8B-Instruct": {
        "revision": "main", "commit": "0" * 40, "gated": True, "files": {}, "config": config}}}))
    assert invoke("compile", "llama.yaml").exit_code == 0
    assert freshness.up_to_date("llama.yaml", Options())
    edit(ws / "llama.yaml", "id: meta-llama/Llama-3.1-8B-Instruct", "id: meta-llama/Meta-Llama-3.1-8B")
    assert invoke("compile", "llama.yaml").exit_code == 0
    assert not freshness.up_to_date("llama.yaml", Options())
    assert invoke("check", "llama.yaml").exit_code == 1


def test_changed_bundled_catalog_is_caught(ws, monkeypatch):
    assert freshness.up_to_date("llama.yaml", Options())
    monkeypatch.setattr(data_digest, "DATA_DIGEST", "1" * 64)  # what a new GPU or release manifest does
    assert not freshness.up_to_date("llama.yaml", Options())


def test_new_vllm_compile_version_is_caught(ws, monkeypatch):
    assert freshness.up_to_date("llama.yaml", Options())
    monkeypatch.setattr(vllm_compile, "__version__", "99.0.0")
    assert not freshness.up_to_date("llama.yaml", Options())
    check = invoke("check", "llama.yaml")
    assert check.exit_code == 1 and "deploy/llama-chat/compose.yaml" in check.stderr  # the header names the version


def test_missing_artifact_and_lost_executable_bit_are_caught(ws):
    os.chmod(ws / OUT / "docker-run.sh", 0o644)
    assert not freshness.up_to_date("llama.yaml", Options())
    assert "is not executable" in invoke("check", "llama.yaml").stderr
    (ws / OUT / "docker-run.sh").unlink()
    assert not freshness.up_to_date("llama.yaml", Options())
    assert "missing" in invoke("check", "llama.yaml").stderr


def test_emit_selection_is_an_input(ws, planned):
    assert not freshness.up_to_date("llama.yaml", Options(formats=("compose",)))
    assert invoke("compile", "llama.yaml", "--emit", "compose").exit_code == 0
    assert freshness.up_to_date("llama.yaml", Options(formats=("compose",)))
    assert not freshness.up_to_date("llama.yaml", Options())  # compose.yaml was rewritten for --emit compose


def test_model_now_in_the_hugging_face_cache_is_not_assumed(ws, monkeypatch):
    cache = ws / "hub"
    snapshot = cache / "models--meta-llama--Llama-3.1-8B-Instruct" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (cache / "models--meta-llama--Llama-3.1-8B-Instruct" / "refs").mkdir()
    (cache / "models--meta-llama--Llama-3.1-8B-Instruct" / "refs" / "main").write_text("a" * 40)
    shutil.copy(REPO / "vllm_compile" / "data" / "model-configs" / "meta-llama" / "Llama-3.1-8B-Instruct" /
                "config.json", snapshot / "config.json")
    assert freshness.up_to_date("llama.yaml", Options())
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert not freshness.up_to_date("llama.yaml", Options())


def test_local_model_folder_is_never_sealed(workdir):
    model = workdir / "models" / "llama"
    model.mkdir(parents=True)
    shutil.copy(REPO / "vllm_compile" / "data" / "model-configs" / "meta-llama" / "Llama-3.1-8B-Instruct" /
                "config.json", model / "config.json")
    shutil.copy(REPO / "specs" / "llama.yaml", workdir / "llama.yaml")
    edit(workdir / "llama.yaml", "id: meta-llama/Llama-3.1-8B-Instruct", "path: ./models/llama")
    assert invoke("compile", "llama.yaml").exit_code == 0
    assert b"# check-digest:" not in (workdir / OUT / "compose.yaml").read_bytes()
    assert not freshness.up_to_date("llama.yaml", Options())
    assert invoke("check", "llama.yaml").exit_code == 0   # the full path still says it is clean


def test_every_header_names_its_spec_from_the_files_own_folder(ws):
    # ray's scripts sit in ray/: their header must count that folder too.
    import re

    seen = 0
    for artifact in (ws / "deploy").rglob("*"):
        if not artifact.is_file():
            continue
        found = re.search(r"# Made by vllm-compile \S+ from (.+) \(relative to this file\)\.", artifact.read_text())
        assert found, artifact
        target = (artifact.parent / found.group(1)).resolve()
        assert target.parent == ws.resolve() and target.name in EXAMPLES, (artifact, found.group(1))
        seen += 1
    assert seen >= 20


def test_an_artifact_that_is_a_device_is_not_read(ws):
    script = ws / OUT / "docker-run.sh"
    script.unlink()
    script.symlink_to("/dev/zero")  # an unbounded read would never end
    assert not freshness.up_to_date("llama.yaml", Options())
