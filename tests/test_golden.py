"""Golden tests: each tests/golden/<case>/ holds a spec and the artifacts it must compile to.

`make goldens` (VLLM_COMPILE_REGEN=1) rewrites expected/ from the compiler; every expected file is
also checked here by the independent validators (the real Docker Compose v2 loader, the Compose
Specification schema, bash -n, shellcheck, and a shlex round trip of the argv), so a regenerated
golden is never trusted on the compiler's word alone.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from validators import check_compose, check_script, command_words
from vllm_compile.cli import cli

GOLDEN = Path(__file__).resolve().parent / "golden"
CASES = sorted(p.name for p in GOLDEN.iterdir() if (p / "spec.yaml").exists())
REGEN = os.environ.get("VLLM_COMPILE_REGEN") == "1"


REPO = GOLDEN.parent.parent


def _compile(case: str, out: Path) -> None:
    # Run from the repository root with a relative spec path, as users and CI do: the artifacts'
    # headers name the spec as given.
    os.chdir(REPO)
    result = CliRunner().invoke(cli, ["compile", f"tests/golden/{case}/spec.yaml", "-o", str(out)])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("case", CASES)
def test_compiles_to_expected(case, tmp_path):
    expected = GOLDEN / case / "expected"
    _compile(case, tmp_path)
    produced = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    if REGEN:
        shutil.rmtree(expected, ignore_errors=True)
        shutil.copytree(tmp_path, expected)
    wanted = sorted(p.relative_to(expected).as_posix() for p in expected.rglob("*") if p.is_file())
    assert produced == wanted
    for name in produced:
        assert (tmp_path / name).read_bytes() == (expected / name).read_bytes(), f"{case}/{name} differs"


@pytest.mark.parametrize("case", CASES)
def test_expected_passes_validators(case, tmp_path):
    expected = GOLDEN / case / "expected"
    composes = list(expected.rglob("compose.yaml"))
    scripts = list(expected.rglob("*.sh"))
    assert composes or scripts
    for compose in composes:
        config = check_compose(compose, env={"HF_TOKEN": "dummy", "VLLM_API_KEY": "dummy"})
        for name, service in config["services"].items():
            devices = service["deploy"]["resources"]["reservations"]["devices"]
            assert all(("count" in d) != ("device_ids" in d) for d in devices), "count and device_ids both set"
            assert "serve" not in service["command"], "the image's entrypoint already runs the server"
            assert service["command"][0] == "--model"
    for script in scripts:
        check_script(script)
        assert os.access(script, os.X_OK) or REGEN is False
    for compose in composes:
        config = check_compose(compose, env={"HF_TOKEN": "dummy", "VLLM_API_KEY": "dummy"})
        for name, service in config["services"].items():
            run = next((s for s in scripts if s.parent.name in (name, compose.parent.name)
                        and s.name == "docker-run.sh"), None)
            if run is None:
                continue
            words = command_words(run.read_text(), "exec docker run")
            image_at = words.index(service["image"])
            # The docker run argv after the image is exactly the compose command.
            assert words[image_at + 1:] == service["command"]
