"""`vllm-compile compile` (and the `vllm-compile SPEC` shorthand) through click's runner.

Specs are written into a temporary folder and compiled with that folder as the working
directory, the way a user runs the tool from their repository root. Expected positions
(line:column) and values are read off the spec text written here, never off the compiler.
"""
from __future__ import annotations

import os
import re
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from ruamel.yaml import YAML

from vllm_compile.cli import cli

SPECS = Path(__file__).resolve().parents[2] / "specs"
OLD = 1_000_000_000  # an mtime far in the past, so "unchanged" cannot be a same-second coincidence


@pytest.fixture
def ws(workdir):
    for name in ("llama.yaml", "qwen3-moe.yaml"):
        shutil.copy(SPECS / name, workdir / name)
    return workdir


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def load_yaml(path: Path):
    return YAML(typ="safe", pure=True).load(path.read_text())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


SPEC_TEMPLATE = """\
version: 1
name: {name}
model:
  id: {model}
hardware:
  gpu: {gpu}
  count: {count}
engine:
  version: "0.33.0"
"""


def write_spec(folder: Path, filename: str, name="demo", model="meta-llama/Llama-3.1-8B-Instruct",
               gpu="H100-80GB", count=1, extra="") -> str:
    (folder / filename).write_text(SPEC_TEMPLATE.format(name=name, model=model, gpu=gpu, count=count) + extra)
    return filename


# --- writing ---------------------------------------------------------------------------------

def test_compile_writes_compose_and_script(ws):
    result = invoke("compile", "llama.yaml")
    assert result.exit_code == 0, result.output
    out = ws / "deploy" / "llama-chat"          # output.dir defaults to deploy/<name>
    assert files(out) == ["compose.yaml", "docker-run.sh"]
    assert result.stdout.splitlines() == ["wrote deploy/llama-chat/compose.yaml", "wrote deploy/llama-chat/docker-run.sh"]
    compose = load_yaml(out / "compose.yaml")
    service = compose["services"]["llama-chat"]
    assert service["image"] == "vllm/vllm-openai:v0.33.0"
    assert service["command"][:2] == ["--model", "meta-llama/Llama-3.1-8B-Instruct"]
    assert service["command"][service["command"].index("--max-model-len") + 1] == "32768"
    assert mode(out / "docker-run.sh") == 0o755
    assert mode(out / "compose.yaml") == 0o644
    # Atomic writes go through temp files in the target folder; none may be left behind.
    assert not [p for p in ws.rglob("*") if p.name.startswith(".")]


def test_shorthand_equals_compile(ws):
    assert invoke("compile", "llama.yaml", "-o", "a").exit_code == 0
    result = invoke("llama.yaml", "-o", "b")
    assert result.exit_code == 0, result.output
    assert files(ws / "a") == files(ws / "b") == ["compose.yaml", "docker-run.sh"]
    for name in files(ws / "a"):
        assert (ws / "a" / name).read_bytes() == (ws / "b" / name).read_bytes()


def test_unchanged_files_keep_their_mtime_and_inode(ws):
    assert invoke("llama.yaml").exit_code == 0
    out = ws / "deploy" / "llama-chat"
    for path in out.iterdir():
        os.utime(path, (OLD, OLD))
    inodes = {p.name: p.stat().st_ino for p in out.iterdir()}
    result = invoke("llama.yaml")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == ["unchanged deploy/llama-chat/compose.yaml",
                                          "unchanged deploy/llama-chat/docker-run.sh"]
    for path in out.iterdir():
        assert path.stat().st_mtime == OLD, path.name
        assert path.stat().st_ino == inodes[path.name]


def test_changed_file_is_replaced_by_rename(ws):
    assert invoke("llama.yaml").exit_code == 0
    compose = ws / "deploy" / "llama-chat" / "compose.yaml"
    before = compose.stat().st_ino
    old_bytes = compose.read_bytes()
    # A hard link keeps the old inode's bytes: an in-place rewrite would change them too.
    os.link(compose, ws / "compose.keep")
    spec = ws / "llama.yaml"
    spec.write_text(spec.read_text().replace("port: 8000", "port: 8010"))
    result = invoke("llama.yaml")
    assert result.exit_code == 0, result.output
    assert "wrote deploy/llama-chat/compose.yaml" in result.stdout.splitlines()
    assert compose.stat().st_ino != before
    assert (ws / "compose.keep").read_bytes() == old_bytes
    assert "8010:8000" in compose.read_text()
    assert not [p for p in compose.parent.iterdir() if p.name.startswith(".")]


def test_recompile_restores_executable_bit(ws):
    assert invoke("llama.yaml").exit_code == 0
    script = ws / "deploy" / "llama-chat" / "docker-run.sh"
    script.chmod(0o644)
    result = invoke("llama.yaml")
    assert result.exit_code == 0
    assert mode(script) == 0o755


# --- -o and --emit ---------------------------------------------------------------------------

def test_output_dir_for_one_spec(ws):
    result = invoke("compile", "llama.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert files(ws / "out") == ["compose.yaml", "docker-run.sh"]
    assert not (ws / "deploy").exists()


def test_output_dir_is_relative_to_the_working_directory(ws):
    (ws / "sub").mkdir()
    shutil.move(ws / "llama.yaml", ws / "sub" / "llama.yaml")
    result = invoke("compile", "sub/llama.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert files(ws / "out") == ["compose.yaml", "docker-run.sh"]
    assert not (ws / "sub" / "out").exists()


def test_output_dir_for_several_specs_nests_by_name(ws):
    result = invoke("compile", "llama.yaml", "qwen3-moe.yaml", "-o", "out")
    assert result.exit_code == 0, result.output
    assert files(ws / "out") == ["llama-chat/compose.yaml", "llama-chat/docker-run.sh",
                                 "qwen3-moe/compose.yaml", "qwen3-moe/docker-run.sh"]
    assert list(load_yaml(ws / "out" / "qwen3-moe" / "compose.yaml")["services"]) == ["qwen3-moe"]


@pytest.mark.parametrize("formats, expected", [
    ("compose,serve", ["compose.yaml", "serve.sh"]),
    ("docker-run", ["docker-run.sh"]),
    ("serve , compose", ["compose.yaml", "serve.sh"]),
])
def test_emit_selects_artifacts(ws, formats, expected):
    result = invoke("compile", "llama.yaml", "--emit", formats, "-o", "out")
    assert result.exit_code == 0, result.output
    assert files(ws / "out") == expected
    for name in expected:
        assert mode(ws / "out" / name) == (0o755 if name.endswith(".sh") else 0o644)


@pytest.mark.parametrize("formats, hint", [("compose,helm", None), ("composer", "did you mean compose?")])
def test_unknown_emit_format_is_refused(ws, formats, hint):
    result = invoke("compile", "llama.yaml", "--emit", formats, "-o", "out")
    assert result.exit_code == 2
    bad = formats.split(",")[-1]
    assert f"unknown output format '{bad}'" in result.stderr
    assert "compose, docker-run, kubernetes, lws, ray, serve" in result.stderr
    if hint:
        assert hint in result.stderr
    assert "Traceback" not in result.output
    assert not (ws / "out").exists()


# --- all or nothing, every error reported ----------------------------------------------------

def test_one_bad_spec_writes_nothing_for_any(ws):
    write_spec(ws, "bad-gpu.yaml", name="bad-gpu", gpu="H100-80G")     # line 6: "  gpu: H100-80G"
    (ws / "broken.yaml").write_text("version: 1\nname: broken\n  model: [\n")
    result = invoke("compile", "llama.yaml", "bad-gpu.yaml", "qwen3-moe.yaml", "broken.yaml")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert not (ws / "deploy").exists()      # neither llama-chat nor qwen3-moe
    err = result.stderr
    assert "bad-gpu.yaml:6:3: error: hardware.gpu: unknown GPU" in err
    assert "did you mean" in err and "H100-SXM-80GB" in err
    # The scanner stops at the ':' after "  model" (line 3, column 8): a mapping cannot start there.
    assert "broken.yaml:3:8: error: malformed YAML" in err
    assert "2 error(s); nothing written" in err
    assert "Traceback" not in result.output


def test_bad_spec_with_o_writes_nothing(ws):
    write_spec(ws, "bad.yaml", name="bad", gpu="NoSuchGPU")
    result = invoke("compile", "llama.yaml", "bad.yaml", "-o", "out")
    assert result.exit_code == 2
    assert not (ws / "out").exists()


def test_several_errors_of_one_spec_are_all_reported(ws):
    (ws / "many.yaml").write_text(
        "version: 1\n"
        "name: Bad_Name\n"                       # 2:1  not a DNS label
        "model:\n"
        "  id: meta-llama/Llama-3.1-8B-Instruct\n"
        "hardware:\n"
        "  gpu: H100-80GB\n"
        "  count: two\n"                         # 7:3  not an integer
        "engine:\n"
        "  version: \"0.33.0\"\n"
        "  tensor_paralel_size: 2\n")            # 10:3 misspelt key
    result = invoke("many.yaml")
    assert result.exit_code == 2
    err = result.stderr
    assert "many.yaml:2:1: error: name:" in err
    assert "many.yaml:7:3: error: hardware.count:" in err
    assert "many.yaml:10:3: error: engine.tensor_paralel_size: unknown key" in err
    assert "did you mean 'tensor_parallel_size'?" in err
    assert "3 error(s)" in err


def _spec(name, count=1, extra=""):
    return SPEC_TEMPLATE.format(name=name, model="meta-llama/Llama-3.1-8B-Instruct", gpu="H100-80GB",
                                count=count) + extra


# case -> (file name, spec text or None for no file, a fragment the right diagnostic contains)
USER_ERRORS = {
    "missing-file": ("nope.yaml", None, "spec file not found"),
    "malformed": ("m.yaml", "version: 1\nname: [a\n", "malformed YAML"),
    "unknown-gpu": ("g.yaml", SPEC_TEMPLATE.format(name="g", model="meta-llama/Llama-3.1-8B-Instruct",
                                                   gpu="RTX 9999", count=1), "hardware.gpu: unknown GPU"),
    "unknown-model": ("u.yaml", SPEC_TEMPLATE.format(name="u", model="acme/NoSuchModel-7B", gpu="H100-80GB",
                                                     count=1), "model.id: no config.json found for acme/NoSuchModel-7B"),
    "wrong-type": ("t.yaml", _spec("t", count="[1]"), "hardware.count"),
    "unknown-key": ("k.yaml", _spec("k", extra="servr:\n  port: 8000\n"), "unknown key 'servr'"),
    # A token pasted where the *name* of an environment variable belongs.
    "inline-secret": ("s.yaml", _spec("s", extra="server:\n  hf_token_env: hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789\n"),
                      "server.hf_token_env"),
    "output-outside": ("o.yaml", _spec("o", extra="output:\n  dir: ../../elsewhere\n"), "output.dir"),
    "extra-arg-unknown": ("e.yaml", _spec("e", extra='  extra_args: ["--no-such-flag"]\n'),
                          "engine.extra_args[0]: vLLM 0.33.0 has no flag --no-such-flag"),
    # Llama-3.1-8B has 32 attention heads; vLLM's own words (reference section 1.8).
    "tp-not-dividing-heads": ("p.yaml", _spec("p", count=3, extra="  tensor_parallel_size: 3\n"),
                              "Total number of attention heads (32) must be divisible by tensor parallel size (3)"),
    # Llama-3.1-8B's config: max_position_embeddings 131072.
    "context-too-long": ("c.yaml", _spec("c", extra="workload:\n  max_model_len: 262144\n"),
                         "User-specified max_model_len (262144) is greater than the derived max_model_len"),
}


@pytest.mark.parametrize("case", sorted(USER_ERRORS))
def test_user_errors_exit_2_without_traceback(ws, case):
    name, text, fragment = USER_ERRORS[case]
    if text is not None:
        (ws / name).write_text(text)
    result = invoke("compile", name)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert re.search(rf"^{re.escape(name)}(:\d+:\d+)?: error: ", result.stderr, re.M), result.stderr
    assert fragment in result.stderr
    assert "fix: " in result.stderr
    assert "AbCdEfGh" not in result.output          # a secret is never echoed back
    assert "nothing written" in result.stderr
    assert files(ws) == sorted(p for p in ["llama.yaml", "qwen3-moe.yaml", name] if (ws / p).exists())


def test_plan_that_would_not_start_is_refused_with_a_fix(ws):
    # Llama-3.1-70B in bf16 is about 70.6e9 x 2 B = 131 GiB of weights; one L4 has 22.04 GiB.
    write_spec(ws, "big.yaml", name="big", model="meta-llama/Llama-3.1-70B-Instruct", gpu="L4")
    result = invoke("compile", "big.yaml")
    assert result.exit_code == 2
    assert re.search(r"^big\.yaml:\d+:\d+: error: .*weights do not fit", result.stderr, re.M), result.stderr
    # Weights alone need >= 131/21.5 > 6 L4s, and TP must divide the 64 attention heads: at least 8.
    tp = int(re.search(r"fix: .*tensor_parallel_size: (\d+)", result.stderr).group(1))
    assert tp >= 8 and 64 % tp == 0
    assert "Traceback" not in result.output
    assert not (ws / "deploy").exists()


def test_output_path_blocked_by_a_file_is_a_user_error(ws):
    # A user's path mistake (a file where the output folder should be) is reported, not a traceback.
    (ws / "blocker").write_text("")
    result = invoke("compile", "llama.yaml", "-o", "blocker/out")
    assert result.exit_code == 2, result.output
    assert "blocker" in result.stderr and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
