"""Byte-for-byte determinism: the same specs compiled in separate processes, in different folders,
with different hash seeds, locales and time zones, give identical artifacts that name no path of
the machine."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(sys.executable).parent / "vllm-compile")

# The example specs plus two golden cases: pinned GPUs (all three targets) and a planner-chosen TP.
SOURCES = {**{p.name: p for p in sorted((REPO / "specs").glob("*.yaml"))},
           "pinned-gpus.yaml": REPO / "tests" / "golden" / "pinned-gpus" / "spec.yaml",
           "tp2-qwen32b.yaml": REPO / "tests" / "golden" / "tp2-qwen32b" / "spec.yaml"}

ENVIRONMENTS = [
    {"PYTHONHASHSEED": "0", "LC_ALL": "C.UTF-8", "TZ": "UTC"},
    {"PYTHONHASHSEED": "4242", "LC_ALL": "C", "LANG": "C", "TZ": "Pacific/Chatham"},
    # A locale this machine may lack, a half-hour-offset zone, and a random seed.
    {"PYTHONHASHSEED": "random", "LANG": "de_DE.UTF-8", "LC_NUMERIC": "de_DE.UTF-8", "LC_TIME": "fr_FR.UTF-8",
     "TZ": "America/St_Johns"},
]


def compile_in(folder: Path, env_extra: dict[str, str], absolute: bool = False) -> dict[str, bytes]:
    specs = folder / "specs"
    specs.mkdir(parents=True)
    for name, source in SOURCES.items():
        shutil.copy(source, specs / name)
    names = [str(specs / n) if absolute else f"specs/{n}" for n in sorted(SOURCES)]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(folder), "HF_HOME": str(folder / "hf"),
           "HF_HUB_OFFLINE": "1", **env_extra}
    result = subprocess.run([SCRIPT, "compile", *names], cwd=folder, env=env, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    out = specs / "deploy"
    return {p.relative_to(out).as_posix(): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def machine_paths(folder: Path) -> list[str]:
    return [str(folder), str(folder.resolve()), str(REPO), sys.prefix, "/tmp/"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> list[tuple[Path, dict[str, bytes]]]:
    out = []
    for i, env in enumerate(ENVIRONMENTS):
        folder = tmp_path_factory.mktemp(f"run{i}")
        out.append((folder, compile_in(folder, env)))
    return out


def test_identical_bytes_across_processes_seeds_locales_and_zones(runs):
    first = runs[0][1]
    assert len(first) >= 2 * len(SOURCES) and "mistral-pinned/serve.sh" in first
    for _, artifacts in runs[1:]:
        assert sorted(artifacts) == sorted(first)
        for name, content in first.items():
            assert artifacts[name] == content, name


def test_no_path_of_the_machine_in_any_artifact(runs):
    for folder, artifacts in runs:
        for name, content in artifacts.items():
            text = content.decode()
            for path in machine_paths(folder):
                assert path not in text, f"{name} contains {path}"


def test_spec_given_by_absolute_path_leaves_no_machine_path(tmp_path, runs):
    # `vllm-compile compile $PWD/specs/*.yaml` (common in CI scripts) must give the same artifacts.
    artifacts = compile_in(tmp_path, ENVIRONMENTS[0], absolute=True)
    for name, content in artifacts.items():
        for path in machine_paths(tmp_path):
            assert path not in content.decode(), f"{name} contains {path}"
    assert artifacts == runs[0][1]
