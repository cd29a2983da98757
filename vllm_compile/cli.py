"""The `vllm-compile` command line.

Each subcommand lives in `vllm_compile/commands/<name>.py` and exposes a click command named
`command`; it is imported only when invoked so that `--version` and compiles stay fast.
`vllm-compile SPEC...` is short for `vllm-compile compile SPEC...`.

This module does not import click: `--version` and `--help` are answered here, from the same
texts the click group (`vllm_compile.commands._group`, also reachable as `vllm_compile.cli.cli`)
shows, because importing click costs more than Python's own start-up.
"""
from __future__ import annotations

import sys

from vllm_compile import __version__

COMMANDS = {
    "compile": "Compile specs into deployment artifacts (the default command).",
    "plan": "Show the per-GPU memory ledger, chosen knobs and verdict.",
    "explain": "The ledger as a table and bar chart, and every knob with its reason.",
    "fix": "List the checked fixes for a spec that does not compile, or apply one in place.",
    "predict": "Predict what an existing `vllm serve` command line will do on a GPU.",
    "diff": "Show how generated artifacts differ from the files on disk.",
    "check": "Exit 1 when artifacts on disk drifted from their spec (pre-commit/CI).",
    "inspect": "Print the architecture facts of a model (repo id or local folder).",
    "models": "List the bundled model catalog (what resolves offline).",
    "lock": "Resolve a spec's model over the network and write <spec>.lock.",
    "gpus": "List the GPU catalog.",
    "detect": "Detect this host's GPUs through NVML.",
    "doctor": "Check that this host can run the deployment.",
    "schema": "Print the JSON Schema of the spec.",
}


GROUP_OPTIONS = ("--version", "-h", "--help")
OPTIONS = (("--version", "Show the version and exit."), ("-h, --help", "Show this message and exit."))
DESCRIPTION = """Compile a vLLM deployment intent (deployment.vllm.yaml) into docker-compose files and
docker run scripts, with a planner that predicts vLLM's start-up memory."""


def _available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"vllm_compile.commands.{name.replace('-', '_')}") is not None


def available_commands() -> list[str]:
    return sorted(name for name in COMMANDS if _available(name))


EPILOG = """\b
Examples:
  vllm-compile specs/llama.yaml              compile into the spec's output.dir
  vllm-compile plan specs/llama.yaml         per-GPU memory ledger and verdict
  vllm-compile check specs/*.yaml            exit 1 if committed artifacts drifted
  vllm-compile predict --gpu L4 -- vllm serve Qwen/Qwen3-8B --max-model-len 32768
  vllm-compile inspect meta-llama/Llama-3.1-8B-Instruct

\b
Exit codes: 0 success / up to date; 1 drift (diff, check) or predicted failure (plan, predict);
2 invalid input or a plan that would not start.
"""


def __getattr__(name: str) -> object:
    if name == "cli":  # the click group, built on first use
        from vllm_compile.commands._group import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def help_width() -> int:
    """The width click's help formatter uses: the terminal's (COLUMNS first), at most 80, less 2."""
    import os

    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
        columns = columns or 80
    return max(min(columns, 80) - 2, 50)


def render_help(width: int) -> str:
    """`vllm-compile --help` laid out as click lays out the group's help (a test compares the two)."""
    import textwrap

    def fill(text: str, size: int, indent: str = "", first: str | None = None) -> list[str]:
        wrapper = textwrap.TextWrapper(size, initial_indent=indent if first is None else first,
                                       subsequent_indent=indent, replace_whitespace=False)
        return wrapper.wrap(" ".join(text.splitlines())) or [""]

    def definitions(rows) -> list[str]:
        first = min(max(len(term) for term, _ in rows), 30) + 2
        out = []
        for term, text in rows:
            lines = fill(text, max(width - first - 2, 10))
            head = f"  {term}" + (" " * (first - len(term)) if len(term) <= first - 2 else "\n" + " " * (first + 2))
            out.append(head + lines[0])
            out += [" " * (first + 2) + line for line in lines[1:]]
        return out

    usage = "Usage: vllm-compile "
    out = fill("[OPTIONS] COMMAND [ARGS]...", width, " " * len(usage), first=usage)
    out += ["", *fill(DESCRIPTION, width, "  "), "", "Options:", *definitions(OPTIONS)]
    commands = [(name, COMMANDS[name]) for name in available_commands()]
    if commands:
        out += ["", "Commands:", *definitions(commands)]
    paragraphs = []
    for block in EPILOG.strip("\n").split("\n\n"):
        if block.startswith("\b\n"):
            paragraphs.append(["  " + line for line in block[2:].splitlines()])
        else:
            paragraphs.append(fill(block, width, "  "))
    for paragraph in paragraphs:
        out += ["", *paragraph]
    return "\n".join(out) + "\n"


def main(argv=None):
    args = sys.argv[1:] if argv is None else list(argv)
    if args == ["--version"]:
        sys.stdout.write(f"vllm-compile {__version__}\n")
        return
    if len(args) == 1 and args[0] in ("-h", "--help"):
        sys.stdout.write(render_help(help_width()))
        return
    if argv is None:  # the console script or `python -m vllm_compile`: this process is ours
        return _run_as_process(args)  # never returns
    from vllm_compile.commands._group import cli

    try:
        cli.main(args=argv, prog_name="vllm-compile", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)


def _run_as_process(args: list[str]) -> None:
    """Run the command, then end the process without Python's clean-up, as mypy does.

    A run is short and what it allocates dies with it: the cyclic garbage collector would only
    re-walk the objects of the modules just imported, and the interpreter's shutdown would then
    tear every module down object by object. Together that is about a tenth of a cold compile
    (issue 16), spent on memory the operating system frees at once. So the collector is off for
    the run, and the process ends with `os._exit` once stdout and stderr are flushed. Nothing of
    ours needs a finalizer: every file is written, closed and renamed before the command returns
    (vllm_compile/writer.py). Handlers a library registered with atexit (logging's flush) still
    run. An exception other than SystemExit ends the process the usual way, traceback and all.
    Called as `main(argv)` (tests, other Python code), none of this applies.
    """
    import atexit
    import gc
    import os

    gc.disable()
    from vllm_compile.commands._group import cli

    try:
        cli.main(args=args, prog_name="vllm-compile", standalone_mode=True)
        status: object = 0
    except SystemExit as done:
        status = done.code
    except KeyboardInterrupt:  # pragma: no cover
        status = 130
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status
    else:  # what sys.exit("message") does: the message on stderr, exit status 1
        sys.stderr.write(f"{status}\n")
        code = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: Python's own exit status for it is 120
            code = code or 120
    os._exit(code)
