"""`quarterdeck` (alias `qd`): the console and its headless commands.

`main` builds the parser from the command modules, each of which adds its own commands
(`register`) in the order `--help` lists them, runs the one asked for (the console when
none is), and turns what it raises into a message and an exit code in one place
(`errors.exit_code`). Global options (`--db`, `--config`, `--operator`, `--read-only`) are
accepted before or after the command.

Only the console imports Textual, and only when it opens: reading, loading and deciding from
the command line never load it.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from quarterdeck import config as config_mod
from quarterdeck.cli import (
    checks,
    console,
    decide,
    errors,
    evidence,
    ingest,
    read,
    serve,
    tools,
)
from quarterdeck.cli.options import global_options

#: The command modules, in the order `--help` lists their commands.
MODULES = (console, ingest, decide, evidence, checks, read, serve, tools)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quarterdeck",
        description="Terminal operations console for governed AI workflow runs.",
        epilog="Run `quarterdeck COMMAND --help` for a command's options. "
        "Exit codes: 0 ok, 1 failure, 2 usage error, 3 refused, 4 a trigger is tripped.",
    )
    global_options(parser, nested=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in MODULES:
        module.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", console.cmd_console)
    try:
        settings = config_mod.load(args.config)
        return handler(args, settings)
    except (Exception, KeyboardInterrupt) as exc:
        code = errors.exit_code(exc, usage=getattr(args, "command_parser", parser))
        if code is None:
            raise  # a bug: its traceback is what helps
        return code


__all__ = ["main"]
