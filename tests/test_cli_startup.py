"""`--version` and `--help` are answered without importing click or anything heavy, and say
exactly what the click group says (issue 16: a pre-commit hook pays the start-up thousands of
times a day)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from vllm_compile import __version__
from vllm_compile.cli import cli, render_help

HEAVY = ("click", "pydantic", "pydantic_core", "ruamel", "jsonschema", "yaml", "deepdiff", "huggingface_hub")
PROBE = """
import json, sys
from vllm_compile.cli import main
main({args!r})
sys.stdout.flush()
sys.stderr.write(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


def _run(args: list[str], columns: int | None = None) -> tuple[str, set[str]]:
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    done = subprocess.run([sys.executable, "-c", PROBE.format(args=args)], capture_output=True, text=True,
                          env=env, check=True)
    return done.stdout, set(json.loads(done.stderr))


@pytest.mark.parametrize("args", [["--version"], ["--help"], ["-h"]])
def test_version_and_help_import_nothing_heavy(args):
    _, modules = _run(args)
    assert not modules & set(HEAVY), sorted(modules & set(HEAVY))


def test_version_text():
    out, _ = _run(["--version"])
    assert out == f"vllm-compile {__version__}\n"


@pytest.mark.parametrize("width", [50, 61, 78, 100, 200])
def test_help_is_what_click_renders(width):
    ctx = click.Context(cli, info_name="vllm-compile", terminal_width=width, **cli.context_settings)
    assert render_help(width) == cli.get_help(ctx) + "\n"


@pytest.mark.parametrize("columns", [40, 64, 80, 300])
def test_help_follows_the_terminal_width_as_click_does(columns):
    fast, _ = _run(["--help"], columns)
    env = {**os.environ, "COLUMNS": str(columns)}
    slow = subprocess.run([sys.executable, "-c", "from vllm_compile.cli import cli; "
                           "cli.main(['--help'], prog_name='vllm-compile')"],
                          capture_output=True, text=True, env=env)
    assert slow.returncode == 0
    assert fast == slow.stdout


def test_other_arguments_still_go_through_click():
    done = subprocess.run([sys.executable, "-m", "vllm_compile", "--version", "--help"], capture_output=True,
                          text=True)
    # Not a lone --version/--help: click parses it (and --version, being eager, answers first).
    assert done.returncode == 0 and done.stdout == f"vllm-compile {__version__}\n"


def test_compile_reads_bundled_data_by_plain_paths_and_stages_only_changed_files(tmp_path):
    # The bundled catalog, GPU list and planner rules are read by path beside the modules:
    # importlib.resources (and the zipfile it brings) stay out of a successful compile.
    spec = tmp_path / "llama.yaml"
    spec.write_text((Path(__file__).parent.parent / "specs" / "llama.yaml").read_text())
    probe = ("import json, sys\nfrom vllm_compile.cli import main\ntry:\n    main(['compile', %r])\n"
             "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n") % str(spec)
    runs = []
    for _ in range(2):
        done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                              env={**os.environ, "HF_HUB_OFFLINE": "1"})
        assert done.returncode == 0, done.stderr
        runs.append((done.stdout, set(json.loads(done.stderr.rpartition("\nMODULES ")[2]))))
    (first_out, first), (again_out, again) = runs
    assert not first & {"importlib.resources", "zipfile"}, sorted(first & {"importlib.resources", "zipfile"})
    # tempfile (with shutil, bz2, lzma, random) is not imported, neither to stage a changed file
    # (the writer creates its staging file itself) nor in the usual pre-commit run, where nothing changed.
    assert first_out.startswith("wrote ") and again_out.startswith("unchanged ")
    assert not (first | again) & {"tempfile", "shutil"}, sorted((first | again) & {"tempfile", "shutil"})


# Imported only when used (issue 16): the emit targets a compile does not emit; OpenSSL (hashlib's
# _hashlib: vllm_compile.sha hashes without it); pathlib with the urllib.parse and ipaddress it
# brings (bundled data and the HF cache are read through os.path; ipaddress only for a server.host
# that is not the default loopback address); the table of diagnostic codes (annotations only);
# importlib.util (the subcommand is imported without a find_spec search first); NVML detection and
# the lock file's hardware section (a spec naming a catalog GPU needs neither); the fixes a failing plan
# offers (vllm_compile.plan.fixes); the vision- and audio-tower tables (a text model needs neither).
LAZY_ON_COMPILE = ("vllm_compile.emit.kubernetes", "vllm_compile.emit.lws", "vllm_compile.emit.ray",
                   "vllm_compile.emit.serve", "hashlib", "_hashlib", "pathlib", "urllib.parse", "ipaddress",
                   "vllm_compile.codes", "importlib.util", "vllm_compile.resolve.hardware.detect",
                   "vllm_compile.resolve.hardware.nvml", "vllm_compile.resolve.hardware.lock", "vllm_compile.plan.fixes",
                   "vllm_compile.resolve.models.vision", "vllm_compile.resolve.models.audio")


def test_a_plain_compile_leaves_the_lazy_modules_unimported(tmp_path):
    spec = tmp_path / "llama.yaml"  # formats: compose and docker-run
    spec.write_text((Path(__file__).parent.parent / "specs" / "llama.yaml").read_text())
    probe = ("import json, sys\nfrom vllm_compile.cli import main\ntry:\n    main(['compile', %r])\n"
             "except SystemExit as exit:\n    assert not exit.code, exit.code\n"
             "sys.stderr.write('\\nMODULES ' + json.dumps(sorted(sys.modules)))\n") % str(spec)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert done.returncode == 0, done.stderr
    modules = set(json.loads(done.stderr.rpartition("\nMODULES ")[2]))
    assert {"vllm_compile.emit.compose", "vllm_compile.emit.docker_run"} <= modules  # the probe sees imports
    assert not modules & set(LAZY_ON_COMPILE), sorted(modules & set(LAZY_ON_COMPILE))


# The console script (main() with no argv) ends its process with os._exit after the command,
# with the garbage collector off (issue 16); main(argv) is an ordinary call. Both must leave the
# same trace: exit status, every byte of stdout and stderr, the files written.
ROUTES = {
    "process": "import sys\nfrom vllm_compile.cli import main\nsys.argv = ['vllm-compile', *{args!r}]\nmain()\n",
    "call": "from vllm_compile.cli import main\nmain({args!r})\n",
}


def _route(route: str, args: list[str], cwd: Path) -> tuple[int, str, str]:
    done = subprocess.run([sys.executable, "-c", ROUTES[route].format(args=args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    return done.returncode, done.stdout, done.stderr


@pytest.mark.parametrize("case", ["compile", "unchanged", "check-drift", "invalid", "usage", "plan-json"])
def test_the_console_script_leaves_what_an_ordinary_call_leaves(tmp_path, case):
    example = (Path(__file__).parent.parent / "specs" / "llama.yaml").read_text()
    results = {}
    for route in ROUTES:
        work = tmp_path / route
        work.mkdir()
        (work / "llama.yaml").write_text(example if case != "invalid" else example.replace("model:", "modle:", 1))
        args = {"compile": ["llama.yaml"], "unchanged": ["llama.yaml"], "check-drift": ["check", "llama.yaml"],
                "invalid": ["compile", "llama.yaml"], "usage": ["compile", "--no-such-option"],
                "plan-json": ["plan", "llama.yaml", "--format", "json"]}[case]
        if case in ("unchanged", "check-drift"):
            assert _route("call", ["compile", "llama.yaml"], work)[0] == 0
        if case == "check-drift":
            artifact = next(p for p in sorted(work.rglob("compose.yaml")))
            artifact.write_text(artifact.read_text() + "# hand edit\n")
        status, out, err = _route(route, args, work)
        files = {str(p.relative_to(work)): p.read_bytes() for p in sorted(work.rglob("*")) if p.is_file()}
        results[route] = (status, out, err, files)
    assert results["process"] == results["call"]
    status, out, err, _ = results["process"]
    expected = {"compile": 0, "unchanged": 0, "check-drift": 1, "invalid": 2, "usage": 2, "plan-json": 0}[case]
    assert status == expected, (out, err)
    assert out or err  # the output was flushed before the process ended


def test_the_console_script_runs_atexit_handlers_and_reports_a_message_exit(tmp_path):
    probe = ("import atexit, sys\nimport vllm_compile.commands._group as group\n"
             "atexit.register(lambda: sys.stdout.write('handler ran\\n'))\n"
             "def stop(**kwargs):\n    raise SystemExit('stopped: a message')\n"
             "group.cli.main = stop\n"
             "from vllm_compile.cli import main\nsys.argv = ['vllm-compile', 'plan', 'x.yaml']\nmain()\n"
             "sys.stdout.write('not reached\\n')\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr) == (1, "handler ran\n", "stopped: a message\n")
