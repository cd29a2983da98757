"""The command line as users run it: the click group in-process, then the real `vllm-compile`
console script and `python -m vllm_compile` in subprocesses (few, each one a different command)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli

REPO = Path(__file__).resolve().parents[1]
SCRIPT = str(Path(sys.executable).parent / "vllm-compile")
MODULE = [sys.executable, "-m", "vllm_compile"]
COMMANDS = ("check", "compile", "detect", "diff", "doctor", "explain", "gpus", "inspect", "lock", "models", "plan",
            "predict", "schema")


def test_version_is_the_installed_distributions():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.stdout == f"vllm-compile {version('vllm-compile')}\n"


def test_help_lists_every_command_with_examples_and_exit_codes():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    listed = result.stdout.split("Commands:", 1)[1]
    for name in COMMANDS:
        assert f"\n  {name} " in listed, name
    assert "Examples:" in result.stdout and "vllm-compile specs/llama.yaml" in result.stdout
    assert "Exit codes:" in result.stdout


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_loads_and_has_help(name):
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {name} ")   # the runner names the group after its function


def test_unknown_option_is_a_usage_error():
    result = CliRunner().invoke(cli, ["compile", "--no-such-option", "x.yaml"])
    assert result.exit_code == 2
    assert "No such option" in result.stderr


@pytest.mark.parametrize("typo,near", [("compil", "compile"), ("chek", "check"), ("predcit", "predict")])
def test_a_mistyped_command_is_named_not_compiled(typo, near):
    result = CliRunner().invoke(cli, [typo, "specs/llama.yaml"])
    assert result.exit_code == 2
    assert f"no such command {typo!r}; did you mean {near!r}?" in result.stderr


def test_the_compile_shorthand_takes_options_before_the_spec(tmp_path):
    shutil.copy(REPO / "specs" / "llama.yaml", tmp_path / "llama.yaml")
    result = CliRunner().invoke(cli, ["-o", str(tmp_path / "out"), str(tmp_path / "llama.yaml")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "compose.yaml").is_file()


# --- real processes --------------------------------------------------------------------------

@pytest.fixture
def ws(tmp_path):
    for name in ("llama.yaml",):
        shutil.copy(REPO / "specs" / name, tmp_path / name)
    (tmp_path / "big.yaml").write_text(
        "version: 1\nname: big\nmodel:\n  id: meta-llama/Llama-3.1-70B-Instruct\nhardware:\n  gpu: L4\n"
        "engine:\n  version: \"0.33.0\"\n")
    return tmp_path


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(cwd), "HF_HOME": str(cwd / "hf-home"),
           "HF_HUB_OFFLINE": "1", "LC_ALL": "C.UTF-8"}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def test_version_from_script_and_module(tmp_path):
    expected = f"vllm-compile {version('vllm-compile')}\n"
    assert run([SCRIPT, "--version"], tmp_path).stdout == expected
    assert run([*MODULE, "--version"], tmp_path).stdout == expected


def test_compile_check_diff_round_trip(ws):
    compiled = run([SCRIPT, "llama.yaml"], ws)            # the `vllm-compile SPEC` shorthand
    assert compiled.returncode == 0, compiled.stderr
    assert compiled.stdout.splitlines() == ["wrote deploy/llama-chat/compose.yaml", "wrote deploy/llama-chat/docker-run.sh"]
    assert os.access(ws / "deploy" / "llama-chat" / "docker-run.sh", os.X_OK)
    clean = run([*MODULE, "check", "llama.yaml"], ws)
    assert (clean.returncode, clean.stdout, clean.stderr) == (0, "", "")
    spec = ws / "llama.yaml"
    spec.write_text(spec.read_text().replace("port: 8000", "port: 8010"))
    drift = run([SCRIPT, "diff", "llama.yaml"], ws)
    assert drift.returncode == 1
    assert "services.llama-chat.ports[0]: '8000:8000' -> '8010:8000'" in drift.stdout


def test_plan_json_and_explain(ws):
    plan = run([*MODULE, "plan", "llama.yaml", "--format", "json"], ws)
    assert plan.returncode == 0, plan.stderr
    assert json.loads(plan.stdout)["per_gpu"]["kv_bytes_per_token"] == 131_072
    explain = run([SCRIPT, "explain", "big.yaml"], ws)
    assert explain.returncode == 1
    assert "weights_do_not_fit" in explain.stdout


def test_predict_failure(tmp_path):
    result = run([SCRIPT, "predict", "--gpu", "L4", "--", "vllm", "serve", "Qwen/Qwen3-8B", "--max-model-len", "40960"],
                 tmp_path)
    assert result.returncode == 1
    assert "kv_too_small" in result.stdout


def test_schema(tmp_path):
    result = run([*MODULE, "schema"], tmp_path)
    assert result.returncode == 0
    assert json.loads(result.stdout) == json.loads((REPO / "schemas" / "deployment.vllm.schema.json").read_text())


@pytest.mark.parametrize("argv", [["missing.yaml"], ["compile", "big.yaml"], ["plan", "bad.yaml"]])
def test_user_errors_exit_2_without_traceback(ws, argv):
    (ws / "bad.yaml").write_text("version: 1\nname: [x\n")
    result = run([SCRIPT, *argv], ws)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{argv[-1]}:" in result.stderr and "error:" in result.stderr and "fix:" in result.stderr
    assert not (ws / "deploy").exists()


def test_shell_completion_as_the_readme_documents_it(tmp_path):
    readme = (REPO / "README.md").read_text()
    assert 'eval "$(_VLLM_COMPILE_COMPLETE=bash_source vllm-compile)"' in readme
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LC_ALL": "C.UTF-8"}
    source = subprocess.run([SCRIPT], env={**env, "_VLLM_COMPILE_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60)
    assert source.returncode == 0 and "complete " in source.stdout and "_vllm_compile_completion" in source.stdout

    def complete(words: str) -> list[str]:
        out = subprocess.run([SCRIPT], env={**env, "_VLLM_COMPILE_COMPLETE": "bash_complete", "COMP_WORDS": words,
                                            "COMP_CWORD": str(len(words.split()) - 1)},
                             capture_output=True, text=True, timeout=60)
        return [line.split(",", 1)[1] for line in out.stdout.splitlines()]

    assert complete("vllm-compile ex") == ["explain"]         # lazily loaded commands complete too
    assert complete("vllm-compile explain --f") == ["--format"]
