"""Fuzzing `compile` in-process (issue 11): mutated example specs, with hostile values, planted
secrets, control characters and deep nesting, compiled in a scratch tree.

The oracle, for every example: the exit code is 0, 1 or 2; no traceback and no internal error;
on 2, the first line is located (`file:line:col`) and nothing is written; no planted secret appears
in any message or written file; nothing is written outside the spec's folder tree (a symlinked
output folder included); a success compiles to the same bytes a second time, and a sample of
successes passes the real validators. VLLM_COMPILE_FUZZ_COMPILE sets the number of examples
(`make fuzz` runs 20,000).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import zlib
from pathlib import Path

from click.testing import CliRunner
from fuzzing import REPO, SECRETS, mutated_specs
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from vllm_compile.cli import cli

PROGRESS = os.environ.get("VLLM_COMPILE_FUZZ_PROGRESS")  # a file that gets one byte per example (long runs)


def progress() -> None:
    if PROGRESS:
        with open(PROGRESS, "a") as handle:
            handle.write(".")

EXAMPLES = int(os.environ.get("VLLM_COMPILE_FUZZ_COMPILE", "150"))
LOCATED = re.compile(r"^(?:[^\n]*:\d+:\d+|<command line>): error: ", re.M)
MODEL = REPO / "vllm_compile" / "data" / "model-configs" / "meta-llama" / "Llama-3.1-8B-Instruct" / "config.json"


def snapshot(root: Path) -> dict[str, bytes | str]:
    out: dict[str, bytes | str] = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(folder) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = path.read_bytes()
            elif path.is_dir():
                out[rel] = "dir"
    return out


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=True)


def check_no_crash(result) -> None:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        import traceback

        raise AssertionError("crash:\n" + "".join(traceback.format_exception(result.exception)) + result.output)
    assert result.exit_code in (0, 1, 2), result.output
    assert "Traceback" not in result.output and "internal error" not in result.output, result.output


def check_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"secret {secret[:6]}… leaked:\n{text[:2000]}"


@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(case=mutated_specs(), symlinked_output=st.booleans())
def test_fuzz_compile(case, symlinked_output):
    seed, data = case
    progress()
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="fuzz-compile-") as scratch:
        root = Path(scratch)
        project, outside = root / "project", root / "outside"
        (root / "models" / "llama").mkdir(parents=True)
        shutil.copy(MODEL, root / "models" / "llama" / "config.json")
        outside.mkdir()
        project.mkdir()
        spec = project / "spec.yaml"
        spec.write_bytes(data)
        if seed.lock is not None:
            (project / "spec.yaml.lock").write_text(seed.lock)
        if symlinked_output:
            (project / "deploy").symlink_to(outside)
        before_root = {k: v for k, v in snapshot(root).items() if not k.startswith("project")}
        before = snapshot(project)
        try:
            os.chdir(root)
            os.environ["HF_HOME"] = str(root / "hf-home")
            result = run("compile", "project/spec.yaml")
            check_no_crash(result)
            event(f"exit {result.exit_code}")
            check_no_secret(result.output)
            after_root = {k: v for k, v in snapshot(root).items() if not k.startswith("project")}
            assert after_root == before_root, "wrote outside the spec's tree: " + \
                ", ".join(sorted(set(after_root) ^ set(before_root)))
            after = snapshot(project)
            if result.exit_code != 0:
                assert LOCATED.search(result.output), result.output
                assert after == before, "written although compile failed: " + ", ".join(sorted(set(after) ^ set(before)))
                return
            for content in after.values():
                if isinstance(content, bytes):
                    check_no_secret(content.decode("utf-8", "replace"))
            again = run("compile", "project/spec.yaml")
            check_no_crash(again)
            assert again.exit_code == 0 and "wrote " not in again.output, again.output
            assert snapshot(project) == after, "a second compile changed the artifacts"
            if zlib.crc32(data) % 8 == 0:
                validate(project, after)
        finally:
            os.chdir(cwd)


def validate(project: Path, files: dict) -> None:
    from validators import check_compose, check_kubernetes, check_script

    for name in files:
        path = project / name
        if path.is_symlink() or not path.is_file() or name == "spec.yaml":
            continue
        if path.name == "compose.yaml":
            # The env vars the file requires (no default), as the deploy host would set them.
            names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?\?|\})", path.read_text(encoding="utf-8")))
            check_compose(path, {name: "dummy" for name in names})
        elif path.name.endswith(".sh"):
            check_script(path)
        elif path.name == "kubernetes.yaml":
            check_kubernetes(path)
