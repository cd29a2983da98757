"""The `vllm-compile` command line.

Each subcommand lives in `vllm_compile/commands/<name>.py` and exposes a click command named
`command`; it is imported only when invoked so that `--version` and compiles stay fast.
`vllm-compile SPEC...` is short for `vllm-compile compile SPEC...`.
"""
from __future__ import annotations

import importlib
import sys

import click

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
    "lock": "Resolve a spec's model over the network and write <spec>.lock.",
    "gpus": "List the GPU catalog.",
    "detect": "Detect this host's GPUs through NVML.",
    "doctor": "Check that this host can run the deployment.",
    "schema": "Print the JSON Schema of the spec.",
}


GROUP_OPTIONS = ("--version", "-h", "--help")


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx, name):
        if name not in COMMANDS or not _available(name):
            return None
        module = importlib.import_module(f"vllm_compile.commands.{name.replace('-', '_')}")
        return module.command

    def format_commands(self, ctx, formatter):
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        if not rows:
            return
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def parse_args(self, ctx, args):
        # `vllm-compile specs/a.yaml` (or `vllm-compile -o out specs/a.yaml`) means
        # `vllm-compile compile ...`; a near miss of a command name is a typo, not a spec.
        if args and args[0] not in COMMANDS and args[0] not in GROUP_OPTIONS:
            word = args[0]
            if not word.startswith("-") and "." not in word and "/" not in word:
                from difflib import get_close_matches

                near = get_close_matches(word, list(COMMANDS), n=1, cutoff=0.75)
                if near:
                    ctx.fail(f"no such command {word!r}; did you mean {near[0]!r}?")
            args = ["compile", *args]
        return super().parse_args(ctx, args)


def _available(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"vllm_compile.commands.{name.replace('-', '_')}") is not None


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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG)
@click.version_option(__version__, "--version", prog_name="vllm-compile", message="%(prog)s %(version)s")
def cli():
    """Compile a vLLM deployment intent (deployment.vllm.yaml) into docker-compose files and
    docker run scripts, with a planner that predicts vLLM's start-up memory."""


def main(argv=None):
    try:
        cli.main(args=argv, prog_name="vllm-compile", standalone_mode=True)
    except KeyboardInterrupt:  # pragma: no cover
        sys.exit(130)
