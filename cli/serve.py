"""`serve`: own a store and answer its clients over a Unix socket; `status`: ask how it is.

`serve` runs in the foreground until SIGTERM or Ctrl+C (exit 0), logging to stderr; what it
keeps true is in `quarterdeck.server.serve`. It follows `[serve] follow` and `--follow` paths.
`status` asks the server of the store `--db` names for its pid, uptime, memory, WAL size,
followed files, last trigger evaluation and clients; with no server there it exits 1.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.cli.errors import EXIT_OK, Failed
from quarterdeck.cli.options import Commands, add_command, store_path


def register(commands: Commands) -> None:
    serve = add_command(
        commands,
        "serve",
        "own the store: follow logs, evaluate triggers, record decisions and answer the "
        "commands over a Unix socket beside the store (foreground; logs to stderr)",
        cmd_serve,
    )
    serve.add_argument(
        "--follow",
        nargs="+",
        default=[],
        metavar="PATH",
        help="follow these logs (files or folders) as well as [serve] follow",
    )
    status = add_command(
        commands, "status", "print how the server of the store is doing", cmd_status
    )
    status.add_argument("--format", choices=("table", "json"), default="table")


def cmd_serve(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.server.serve import Server

    logging.basicConfig(
        stream=sys.stderr,
        level=logging.INFO,
        format="%(asctime)s quarterdeck serve: %(levelname)s %(message)s",
    )
    follow = [Path(p) for p in [*settings.serve.follow, *args.follow]]
    return Server(settings, store_path(args, settings), follow).run()


def cmd_status(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    path = store_path(args, settings)
    server = client.find(path)
    if server is None:
        raise Failed(f"no server serves {path} (start one with `quarterdeck serve`)")
    answer = server.status()
    if args.format == "json":
        print(json.dumps(answer, indent=2))
        return EXIT_OK
    for key, value in answer.items():
        print(f"{key:<12} {_show(value)}")
    return EXIT_OK


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_show(v) for v in value) if value else "none"
    return "-" if value is None else str(value)
