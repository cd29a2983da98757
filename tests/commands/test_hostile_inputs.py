"""Issue 11: the hostile inputs that broke `compile`, `check` and `diff`, one test per defect.

Each reproduces the defect as it was found (and fails on the main before the fix)."""
from __future__ import annotations

import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from vllm_compile.cli import cli
from vllm_compile.codes import CODES

REPO = Path(__file__).resolve().parents[2]
LLAMA = (REPO / "specs" / "llama.yaml").read_text()
CONFIGS = REPO / "vllm_compile" / "data" / "model-configs"
OUT = Path("deploy") / "llama-chat"
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz012345"
GH = "github_pat_" + "11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"


def invoke(*args):
    return CliRunner().invoke(cli, list(args))


def write(path: Path | str, text: str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def spec_with(old: str, new: str, base: str = LLAMA) -> str:
    assert base.count(old) == 1, old
    return base.replace(old, new)


def assert_refused(result, *, line: int | None = None, secret: str | None = None, written: Path | None = OUT):
    """Exit 2 with a file:line:col location, no internal error, no secret echoed, nothing written."""
    assert result.exit_code == 2, result.output
    assert "internal error" not in result.output and "Traceback" not in result.output, result.output
    first = result.output.splitlines()[0]
    located = re.match(r"^(.*):(\d+):(\d+): error\[(VC\d{3})\]: ", first)
    assert located is not None and located.group(4) in CODES, first
    parts = list(located.groups()[:3])
    if line is not None:
        assert int(parts[1]) == line, first
    if secret is not None:
        assert secret not in result.output
    if written is not None:
        assert not written.exists()


# 1. An alias bomb appended to a compiled artifact --------------------------------------------

def _bomb() -> str:
    lines = ['x-a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    names = "abcdefghi"
    for previous, name in zip(names, names[1:]):
        lines.append(f"x-{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("command", ["check", "diff"])
def test_alias_bomb_in_an_artifact_is_drift_not_a_crash(workdir, command):
    write("llama.yaml", LLAMA)
    assert invoke("compile", "llama.yaml").exit_code == 0
    compose = OUT / "compose.yaml"
    compose.write_text(compose.read_text() + _bomb())
    result = invoke(command, "llama.yaml")
    assert result.exit_code == 1, result.output
    assert "compose.yaml: holds what vllm-compile never writes" in result.output
    assert "anchor 'a'" in result.output


def test_tagged_artifact_is_drift(workdir):
    write("llama.yaml", LLAMA)
    assert invoke("compile", "llama.yaml").exit_code == 0
    compose = OUT / "compose.yaml"
    compose.write_text(compose.read_text() + "x-p: !!python/object/apply:os.system [echo]\n")
    result = invoke("check", "llama.yaml")
    assert result.exit_code == 1 and "YAML tag '!!python/object/apply:os.system'" in result.output


# 2. Inline secrets are refused wherever they stand, and never echoed ---------------------------

@pytest.mark.parametrize("old, new", [
    ("engine:\n  version: \"0.33.0\"\n", f"engine:\n  version: \"0.33.0\"\n  extra_args: [\"--chat-template={HF}\"]\n"),
    ("engine:\n  version: \"0.33.0\"\n",
     "engine:\n  version: \"0.33.0\"\n  extra_args: ['--override-generation-config={\"x\": \"" + HF + "\"}']\n"),
    ("engine:\n  version: \"0.33.0\"\n",
     "engine:\n  version: \"0.33.0\"\n  extra_args: ['--override-generation-config={\"x\": \"a " + HF + "\"}']\n"),
    ("  served_model_name: llama\n", f"  served_model_name: {HF}\n"),
    ("  served_model_name: llama\n", f"  served_model_name: llama\n  revision: {HF}\n"),
    ("  served_model_name: llama\n", f"  served_model_name: llama\n  revision: {GH}\n"),
    ("engine:\n  version: \"0.33.0\"\n", f"engine:\n  version: \"0.33.0\"\n  image: vllm/vllm-openai:{HF}\n"),
    ("  count: 1\n", f"  count: 1\n  device_ids: [{HF}]\n"),
    ("  served_model_name: llama\n", "  served_model_name: sk-proj-AbCdEfGhIjKlMnOpQrStUv\n"),
    ("  served_model_name: llama\n", "  served_model_name: AKIAIOSFODNN7EXAMPLE\n"),
    ("  served_model_name: llama\n", "  served_model_name: eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0.c2lnbmF0dXJlX2hlcmU\n"),
    ("  served_model_name: llama\n", "  served_model_name: 'x7Kq9ZpL2mWvB4nR8tYc3Hd6Jf'\n"),
])
def test_inline_secret_refused_and_never_echoed(workdir, old, new):
    text = spec_with(old, new)
    write("llama.yaml", text)
    result = invoke("compile", "llama.yaml")
    secret = next(word for word in (HF, GH, "AbCdEfGhIjKlMnOpQrStUv", "IOSFODNN7EXAMPLE", "c2lnbmF0dXJl",
                                    "x7Kq9ZpL2mWvB4nR8tYc3Hd6Jf") if word in text)
    assert_refused(result, secret=secret)
    assert "looks like" in result.output


def test_model_ids_digests_and_uuids_are_not_secrets(workdir):
    text = spec_with("  count: 1\n", "  count: 1\n  device_ids: [GPU-0f6c2a1e-9d3b-4c1e-8f2a-1b2c3d4e5f60]\n")
    text = spec_with("  served_model_name: llama\n",
                     "  served_model_name: llama\n  revision: 0e9e39f249a16976918f6564b8830bc894c89659\n", text)
    write("llama.yaml", text)
    result = invoke("plan", "llama.yaml")
    assert "looks like" not in result.output, result.output


def test_a_message_echoing_a_value_is_redacted():
    from vllm_compile.diagnostics import Diagnostic

    diagnostic = Diagnostic(f"unknown flag --x={HF}", file="a.yaml", line=1, column=1, found=HF, code="VC501",
                            fixes=({"set": {"engine.extra_args": [f"--x={HF}"]}, "label": HF},))
    shown = diagnostic.format()
    assert HF not in shown and "redacted" in shown
    # `--format json` too: message, found and the structured fixes' strings.
    import json

    as_json = json.dumps(diagnostic.as_json())
    assert HF not in as_json and "redacted" in as_json and diagnostic.as_json()["code"] == "VC501"


# 3. No artifact may replace the spec or its lock ----------------------------------------------

@pytest.mark.parametrize("name", ["compose.yaml", "docker-run.sh"])
def test_spec_is_never_overwritten_by_its_own_artifact(workdir, name):
    text = spec_with("name: llama-chat\n", "name: llama-chat\noutput: {dir: .}\n")
    spec = write(name, text)
    result = invoke("compile", name)
    assert_refused(result, written=None)
    assert "would overwrite the spec" in result.output
    assert spec.read_text() == text
    assert not Path("docker-run.sh" if name == "compose.yaml" else "compose.yaml").exists()


def test_output_option_onto_the_spec_folder_is_refused(workdir):
    spec = write("conf/compose.yaml", LLAMA)
    result = invoke("compile", "conf/compose.yaml", "-o", "conf")
    assert result.exit_code == 2 and "<command line>" in result.output
    assert spec.read_text() == LLAMA


# 4. Env var names the shell treats specially ---------------------------------------------------

@pytest.mark.parametrize("name", ['"_"', "A"])
def test_shell_special_env_names_refused(workdir, name):
    write("llama.yaml", spec_with("  api_key_env: VLLM_API_KEY\n", f"  api_key_env: {name}\n"))
    assert_refused(invoke("compile", "llama.yaml"), line=18)


@pytest.mark.parametrize("extra", ["", "  hf_token_env: MY_TOKEN\n"])
def test_api_key_env_that_is_the_hf_token_variable_is_refused(workdir, extra):
    # The server would take the Hugging Face token as its API key.
    name = "MY_TOKEN" if extra else "HF_TOKEN"
    write("llama.yaml", spec_with("  api_key_env: VLLM_API_KEY\n", f"  api_key_env: {name}\n{extra}"))
    result = invoke("compile", "llama.yaml")
    assert_refused(result, line=18)
    assert "error[VC221]" in result.output and "server.api_key_env" in result.output


# 7. Deep nesting: early, located, bounded ------------------------------------------------------

@pytest.mark.parametrize("depth", [300, 20000])
def test_deep_nesting_is_a_located_error(workdir, depth):
    write("deep.yaml", "version: 1\nx: " + "[" * depth + "]" * depth + "\n")
    result = invoke("compile", "deep.yaml")
    assert_refused(result, line=2)
    assert "nesting deeper than" in result.output


# 9. A symlinked output folder ------------------------------------------------------------------

def test_symlinked_output_folder_outside_the_tree_is_refused(workdir):
    project, elsewhere = workdir / "project", workdir / "elsewhere"
    elsewhere.mkdir()
    write(project / "llama.yaml", LLAMA)
    (project / "deploy").symlink_to(elsewhere)
    result = invoke("compile", str(project / "llama.yaml"))
    assert_refused(result, written=None)
    assert "outside the spec's folder tree" in result.output
    assert list(elsewhere.iterdir()) == []


# 10. All or nothing; concurrent compiles into one folder -----------------------------------------

def test_a_failed_write_leaves_the_previous_set_whole(workdir, monkeypatch):
    write("llama.yaml", LLAMA)
    assert invoke("compile", "llama.yaml").exit_code == 0
    before = {p.name: p.read_bytes() for p in OUT.iterdir()}
    write("llama.yaml", spec_with("  port: 8000\n", "  port: 8001\n"))
    real_replace, calls = os.replace, []

    def full_disk_on_second(src, dst):
        if str(src).rsplit("/", 1)[-1].startswith(".vllm-compile-") and "-old-" not in str(src):
            calls.append(dst)
            if len(calls) == 2:
                raise OSError(28, "No space left on device")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", full_disk_on_second)
    result = invoke("compile", "llama.yaml")
    assert result.exit_code == 2, result.output
    assert "No space left on device" in result.output and os.path.basename(calls[1]) in result.output
    assert {p.name: p.read_bytes() for p in OUT.iterdir()} == before  # no temp files, no half set


def test_a_set_waits_for_the_folder_lock(tmp_path):
    import fcntl

    from vllm_compile.writer import Target, write_set

    target = tmp_path / "compose.yaml"
    fd = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    worker = threading.Thread(target=write_set, args=([Target(str(target), b"x: 1\n")],))
    worker.start()
    worker.join(0.5)
    assert worker.is_alive() and not target.exists()  # blocked while another compile holds the folder
    os.close(fd)
    worker.join()
    assert target.read_bytes() == b"x: 1\n"


# 11. Only regular files, bounded ----------------------------------------------------------------

def test_spec_that_is_a_device_is_refused(workdir):
    result = invoke("compile", "/dev/zero")
    assert_refused(result, written=None)
    assert "not a regular file" in result.output


def test_spec_that_is_a_fifo_is_refused_without_hanging(workdir):
    os.mkfifo("spec.yaml")
    result = invoke("compile", "spec.yaml")
    assert_refused(result, written=None)
    assert "FIFO" in result.output


def _local_model(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(CONFIGS / "meta-llama" / "Llama-3.1-8B-Instruct" / "config.json", folder / "config.json")
    return folder


LOCAL = spec_with("  id: meta-llama/Llama-3.1-8B-Instruct\n", "  path: models/llama\n")


@pytest.mark.parametrize("name", ["hf_quant_config.json", "model.safetensors.index.json", "config.json"])
def test_model_file_linked_to_a_device_is_refused(workdir, name):
    folder = _local_model(workdir / "models" / "llama")
    (folder / name).unlink(missing_ok=True)
    (folder / name).symlink_to("/dev/zero")
    write("llama.yaml", LOCAL)
    result = invoke("compile", "llama.yaml")
    assert_refused(result)
    assert "not a regular file" in result.output


@pytest.mark.parametrize("kind", ["folder", "device", "fifo"])
def test_artifact_that_is_not_a_file_is_drift(workdir, kind):
    write("llama.yaml", LLAMA)
    assert invoke("compile", "llama.yaml").exit_code == 0
    compose = OUT / "compose.yaml"
    compose.unlink()
    if kind == "folder":
        compose.mkdir()
    elif kind == "device":
        compose.symlink_to("/dev/zero")
    else:
        os.mkfifo(compose)
    for command in ("check", "diff"):
        result = invoke(command, "llama.yaml")
        assert result.exit_code == 1, result.output
        assert "not a regular file" in result.output and "Traceback" not in result.output


# 12. NUL in the output folder ---------------------------------------------------------------

def test_nul_in_output_dir_is_a_located_error(workdir):
    write("llama.yaml", spec_with("name: llama-chat\n", 'name: llama-chat\noutput: {dir: "deploy/a\\0b"}\n'))
    assert_refused(invoke("compile", "llama.yaml"), line=5)


@pytest.mark.parametrize("args", [["llama.yaml", "-o", "out\0x"], ["llama\0.yaml"]])
def test_nul_on_the_command_line(workdir, args):
    write("llama.yaml", LLAMA)
    result = invoke("compile", *args)
    assert result.exit_code == 2 and "cannot hold a NUL byte" in result.output, result.output
    assert not OUT.exists() and not Path("out").exists()


# 13. Internal errors with no location ---------------------------------------------------------

@pytest.mark.parametrize("text, line", [
    ("version: 1\nhardware: {gpu: H100-80GB}\ndeployments: null\n", 3),
    (spec_with("  served_model_name: llama\n", "  served_model_name: !!python/object/apply:os.system [ls]\n"), 7),
    (spec_with("model:\n  id: meta-llama/Llama-3.1-8B-Instruct\n  served_model_name: llama\n",
               "model: !!omap [{id: meta-llama/Llama-3.1-8B-Instruct}]\n"), 5),
])
def test_no_internal_error_without_location(workdir, text, line):
    write("spec.yaml", text)
    assert_refused(invoke("compile", "spec.yaml"), line=line)


def test_spec_file_name_not_utf8(workdir):
    name = os.fsdecode(b"sp\xffec.yaml")
    write(name, LLAMA)
    result = invoke("compile", name)
    assert_refused(result)
    assert "not UTF-8" in result.output


def test_deeply_nested_lock_file(workdir):
    write("llama.yaml", LLAMA)
    write("llama.yaml.lock", "[" * 100000 + "]" * 100000)
    result = invoke("compile", "llama.yaml")
    assert_refused(result)
    assert "nests deeper" in result.output


# 14. Values Compose or docker would read differently --------------------------------------------

@pytest.mark.parametrize("path, quoted", [("m:/etc:rw", "./m:/etc:rw"), ("m\\x", "m\\\\x")])
def test_model_path_compose_reads_differently(workdir, path, quoted):
    _local_model(workdir / path)  # the folder exists, so only the mount syntax is at stake
    write("llama.yaml", spec_with("  id: meta-llama/Llama-3.1-8B-Instruct\n", f'  path: "{quoted}"\n'))
    assert_refused(invoke("compile", "llama.yaml"), line=6)


def test_spec_file_name_with_a_control_character(workdir):
    write("a\x1bb.yaml", LLAMA)
    result = invoke("compile", "a\x1bb.yaml")
    assert_refused(result)
    assert "\x1b" not in result.output


@pytest.mark.parametrize("value", ['"--chat-template=a\\Nb"', "--chat-template=a\u0085b"])
def test_next_line_character_in_extra_args(workdir, value):
    write("llama.yaml", spec_with('  version: "0.33.0"\n', f'  version: "0.33.0"\n  extra_args: [{value}]\n'))
    assert_refused(invoke("compile", "llama.yaml"), line=16)


# 15. A NUL byte is reported where it stands -------------------------------------------------

def test_nul_byte_reported_at_its_line(workdir):
    Path("llama.yaml").write_bytes(spec_with("  concurrency: 8\n", "  concurrency: 8\0\n").encode())
    result = invoke("compile", "llama.yaml")
    assert_refused(result, line=13)
    assert "llama.yaml:13:17:" in result.output


# 16. model.path policy --------------------------------------------------------------------

def test_absolute_model_path_refused(workdir):
    folder = _local_model(workdir / "models" / "llama")
    write("llama.yaml", spec_with("  id: meta-llama/Llama-3.1-8B-Instruct\n", f"  path: {folder}\n"))
    result = invoke("compile", "llama.yaml")
    assert_refused(result, line=6)
    assert "absolute" in result.output


def test_model_path_outside_the_tree_mounted_read_only_relative_to_the_output(workdir):
    _local_model(workdir / "models" / "llama")
    write("project/llama.yaml", spec_with("  id: meta-llama/Llama-3.1-8B-Instruct\n", "  path: ../models/llama\n"))
    result = invoke("compile", "project/llama.yaml")
    assert result.exit_code == 0, result.output
    compose = (workdir / "project" / OUT / "compose.yaml").read_text()
    assert "../../../models/llama:/models/llama:ro" in compose
    assert str(workdir) not in compose
