"""Fuzzing `check` and `diff` (issue 11): compiled artifacts tampered with in every way a hand
edit, a bad merge or an attacker can (alias bombs, tags, deep nesting, garbage, folders, FIFOs,
links to /dev/zero or outside the tree, huge files, changed values). Both commands must answer
0 or 1, never crash or hang, and report a tampered file as drift. VLLM_COMPILE_FUZZ_DRIFT sets the
number of examples.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from fuzzing import HOSTILE, REPO, SECRETS, TAMPER, tamper
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vllm_compile.cli import cli

PROGRESS = os.environ.get("VLLM_COMPILE_FUZZ_PROGRESS")  # a file that gets one byte per example (long runs)


def progress() -> None:
    if PROGRESS:
        with open(PROGRESS, "a") as handle:
            handle.write(".")

EXAMPLES = int(os.environ.get("VLLM_COMPILE_FUZZ_DRIFT", "60"))
SPECS = ("llama.yaml", "qwen-k8s.yaml", "host-multi.yaml")
# Tampering that always changes an artifact (the others may leave it as it was).
CERTAIN = {"truncate", "bomb", "tag", "deep", "garbage", "folder", "fifo", "dev-zero", "dangling", "delete",
           "huge", "non-utf8", "nul", "empty"}


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """Every example spec compiled once; each example tampers with a copy."""
    root = tmp_path_factory.mktemp("drift-base")
    cwd = os.getcwd()
    os.environ["HF_HOME"] = str(root / "hf-home")
    try:
        os.chdir(root)
        for name in SPECS:
            shutil.copy(REPO / "specs" / name, root / name)
            result = run("compile", name)
            assert result.exit_code == 0, result.output
    finally:
        os.chdir(cwd)
    return root


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_fuzz_check_and_diff(compiled, data):
    progress()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="fuzz-drift-") as scratch:
        root = Path(scratch) / "tree"
        shutil.copytree(compiled, root, symlinks=True, ignore=shutil.ignore_patterns("hf-home"))
        artifacts = sorted(p for p in (root / "deploy").rglob("*") if p.is_file())
        edits = data.draw(st.lists(st.tuples(st.sampled_from(artifacts), st.sampled_from(TAMPER),
                                             st.sampled_from(HOSTILE + SECRETS)), min_size=1, max_size=3))
        changed = False
        for path, how, text in edits:
            if path.is_file() and not path.is_symlink():
                tamper(path, how, text, Path(scratch) / f"outside-{path.name}")
                changed = changed or how in CERTAIN
                event(how)
        try:
            os.chdir(root)
            for command in ("check", "diff"):
                result = run(command, *SPECS)
                if result.exception is not None and not isinstance(result.exception, SystemExit):
                    import traceback

                    raise AssertionError("".join(traceback.format_exception(result.exception)) + result.output)
                assert result.exit_code in (0, 1), result.output
                assert "Traceback" not in result.output and "internal error" not in result.output, result.output
                if changed:
                    assert result.exit_code == 1, f"{command} missed {edits}:\n{result.output}"
        finally:
            os.chdir(cwd)
