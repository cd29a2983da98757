"""The click group behind `vllm-compile`: subcommands are imported only when invoked.

The command table, help texts and `main` live in `vllm_compile.cli`, which answers `--version`
and `--help` without importing click (or this module).
"""
from __future__ import annotations

import importlib

import click

from vllm_compile import __version__
from vllm_compile.cli import COMMANDS, DESCRIPTION, EPILOG, GROUP_OPTIONS, available_commands


class LazyGroup(click.Group):
    def list_commands(self, ctx):
        return available_commands()

    def get_command(self, ctx, name):
        if name not in COMMANDS:
            return None
        path = f"vllm_compile.commands.{name.replace('-', '_')}"
        try:  # what _available(name) tells, without importlib.util's search beforehand
            module = importlib.import_module(path)
        except ModuleNotFoundError as exc:
            if exc.name == path:
                return None
            raise
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


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]}, epilog=EPILOG,
             help=DESCRIPTION)
@click.version_option(__version__, "--version", prog_name="vllm-compile", message="%(prog)s %(version)s")
def cli():
    pass
