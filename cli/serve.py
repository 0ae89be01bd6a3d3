"""`serve`: own a store and answer its clients over a Unix socket; `status`: ask how it is.

`serve` runs in the foreground until SIGTERM or Ctrl+C (exit 0), logging to stderr; what it
keeps true is in `quarterdeck.server.serve`. It follows `[serve] follow` and `--follow` paths.
`status` asks the server of the store `--db` names for its pid, uptime, memory, WAL size,
the follower (its rate, and each followed file's lag: bytes not yet stored, seconds since its
last line was stored), last trigger evaluation, clients and what is in flight; with no server
there it exits 1.
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
from quarterdeck.printable import printable


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
    # watchfiles says "N changes detected" at INFO on every write to a followed file: several
    # lines a second that bury what the server itself reports
    logging.getLogger("watchfiles").setLevel(logging.WARNING)
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
        if key == "follow" and value:
            _show_follow(value)
        else:
            print(f"{key:<12} {_show(value)}")
    return EXIT_OK


def _show_follow(follow: dict[str, Any]) -> None:
    """The follower on one line, then each followed file: how far behind it is."""
    lag = (
        f", lag p50 {follow['lag_p50_s']:.2f}s p95 {follow['lag_p95_s']:.2f}s"
        if follow.get("lag_p50_s") is not None
        else ""
    )
    print(
        f"{'follow':<12} {follow['rate_per_s']:,.1f} events/s{lag}; {follow['events']:,} events, "
        f"{follow['duplicates']:,} duplicates, {follow['quarantined']:,} quarantined "
        f"from {', '.join(follow['paths'])}"
    )
    error = follow.get("error")
    if error:
        print(
            f"{'':<12}   FAILING since {error['since']} ({error['failures']:,} tries, "
            f"retrying): {printable(error['message'])}"
        )
    for file in follow.get("followed", []):
        idle = file["idle_s"]
        stored = "nothing stored yet" if idle is None else f"last line stored {idle:.1f}s ago"
        print(
            f"{'':<12}   {printable(file['path'])}: {file['behind_bytes']:,} bytes behind, {stored}"
        )


def _show(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {_show(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_show(v) for v in value) if value else "none"
    return "-" if value is None else str(value)
