"""`ingest`: load logs and approval records once (with a progress bar), or follow them.

A batch load prints a one-line summary on stdout (or the counts as JSON); a progress bar on
stderr appears only in a terminal and only once a load has taken over a second. `--follow`
runs until Ctrl+C or SIGTERM, each stopping it cleanly after the commit under way, with a
status line on stderr at most every `--report-every` seconds.

When `quarterdeck serve` serves the store, the command never opens it: it finds the files
itself (as an embedded load does, so a missing path is exit 2 before anything is sent), reads
them and sends their bytes to the server, which loads them and answers with the same summary
(core/client.py, server/intake.py); the progress bar counts the bytes sent. `--follow` is the
server's own job there (`[serve] follow`, `serve --follow`), so it is refused (exit 2). The
server decides who may load (its own user, and the role `ingest`); `--read-only` (or
`[console] read_only`) refuses an ingest here, served or not (exit 3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.cli.errors import EXIT_OK, Failed, UsageError
from quarterdeck.cli.options import Commands, add_command, store_path
from quarterdeck.printable import printable

if TYPE_CHECKING:
    from quarterdeck.ingest.follow import FollowStats
    from quarterdeck.ingest.load import LoadSummary


def register(commands: Commands) -> None:
    ingest = add_command(
        commands, "ingest", "load run logs and approval records into the store", cmd_ingest
    )
    ingest.add_argument(
        "paths",
        nargs="+",
        metavar="PATH",
        help="files or folders (searched recursively): .jsonl, .jsonl.gz, "
        ".ndjson, and approval records as .csv",
    )
    ingest.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object with the counts instead of a summary line",
    )
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument(
        "--follow",
        action="store_true",
        help="keep watching the paths and load new lines as they are written, "
        "resuming where the last follow stopped (Ctrl+C or SIGTERM stops)",
    )
    ingest.add_argument(
        "--once",
        action="store_true",
        help="with --follow: load what is new since the last follow, then exit",
    )
    ingest.add_argument(
        "--report-every",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="with --follow: a status line on stderr at most this often (default 5)",
    )


def cmd_ingest(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.ingest.load import load_paths
    from quarterdeck.queries.store import Store

    missing = [name for name in args.paths if not Path(name).exists()]
    if missing:  # a usage error, embedded or served, before a store is opened or created
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    if args.read_only or settings.console.read_only:
        from quarterdeck.queries.decisions import Refused

        raise Refused("this session is read-only: ingest loads into the store, so it is refused")
    path = store_path(args, settings)
    server = client.find(path)
    if args.follow:
        if server is not None:
            raise UsageError(
                f"{path} is served by `quarterdeck serve`, and the server follows: add the "
                "paths to `[serve] follow` in its config, or start it with `serve --follow`"
            )
        return _follow(args, path, settings)
    if args.once:
        raise UsageError("--once goes with --follow")
    with _Progress(enabled=not (args.quiet or args.json)) as progress:
        if server is not None:
            summary = _through(server, args.paths, progress)
        else:
            with Store.open(path) as store:
                summary = load_paths(
                    store.con,
                    args.paths,
                    progress=progress.update,
                    tool_map=settings.tool_map(),
                )
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.line())
        if summary.quarantined_new:
            where = f" --db {path}" if args.db else ""
            print(f"  see why with `quarterdeck quarantine{where}`", file=sys.stderr)
    if summary.problems:
        raise Failed(*summary.problems)
    return EXIT_OK


def _through(server: client.Client, paths: list[str], progress: _Progress) -> LoadSummary:
    """Send the files to the server that serves the store; the summary of its load, timed
    from here (sending included)."""
    from quarterdeck.ingest.load import LoadError, LoadSummary, discover

    started = time.perf_counter()
    try:
        sources = discover(paths)
    except LoadError as exc:  # nothing sent: a path that is not there is a usage error
        raise UsageError(str(exc)) from None
    total = sum(source.size for source in sources)
    answer = server.ingest(
        [(source.path, source.kind, source.source, source.root) for source in sources],
        lambda sent: progress.update(min(sent, total), total),
    )
    answer.pop("events_per_second", None)
    answer["seconds"] = time.perf_counter() - started
    return LoadSummary(**answer)


def _follow(args: argparse.Namespace, path: Path, settings: config_mod.Settings) -> int:
    """`ingest --follow`: until Ctrl+C or SIGTERM (or once, with --once)."""
    import signal
    import threading

    from quarterdeck.ingest.follow import FileNotice, Follower
    from quarterdeck.queries.store import Store

    stop = threading.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: stop.set())
    talk = not (args.quiet or args.json)
    last = [time.monotonic()]

    def committed(stats: FollowStats) -> None:
        if talk and time.monotonic() - last[0] >= args.report_every:
            last[0] = time.monotonic()
            print(
                f"{time.strftime('%H:%M:%S')}  {_follow_line(stats)}", file=sys.stderr, flush=True
            )

    def noticed(notice: FileNotice) -> None:
        print(f"quarterdeck: {printable(notice.message)}", file=sys.stderr, flush=True)

    with Store.open(path) as store:
        follower = Follower(
            store.con,
            args.paths,
            on_commit=committed,
            on_notice=noticed,
            tool_map=settings.tool_map(),
        )
        try:
            if args.once:
                follower.poll()
            else:
                if talk:
                    print(
                        f"following {', '.join(map(str, args.paths))} into {path} (Ctrl+C stops)",
                        file=sys.stderr,
                        flush=True,
                    )
                follower.run(stop)
        finally:
            follower.close()
    stats = follower.stats
    if args.json:
        print(
            json.dumps(
                {
                    "files": stats.files,
                    "events": stats.events,
                    "approval_records": stats.records,
                    "duplicates": stats.duplicates,
                    "conflicting_duplicates": stats.conflicting_duplicates,
                    "quarantined": stats.quarantined,
                    "commits": stats.commits,
                    "lag_p50_s": stats.lag(0.5),
                    "lag_p95_s": stats.lag(0.95),
                },
                indent=2,
            )
        )
    else:
        print(_follow_line(stats))
    return EXIT_OK


def _follow_line(stats: FollowStats) -> str:
    from quarterdeck.ingest.load import plural

    line = (
        f"{plural(stats.events, 'event')} stored ({stats.rate():,.0f}/s now), "
        f"{plural(stats.records, 'approval record')}, "
        f"{plural(stats.duplicates, 'duplicate')} skipped, "
        f"{plural(stats.quarantined, 'line')} newly quarantined"
    )
    if stats.conflicting_duplicates:
        line += (
            f" ({plural(stats.conflicting_duplicates, 'conflicting duplicate')}: an id stored "
            "already, with other content)"
        )
    if stats.lag() is not None:
        line += f"; lag p50 {stats.lag(0.5):.2f}s p95 {stats.lag(0.95):.2f}s"
    return line


class _Progress:
    """A rich progress bar on stderr, shown only once a load has taken over a second."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled and sys.stderr.isatty()
        self.started = time.monotonic()
        self.bar = None
        self.task = None

    def update(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.started < 1.0:
                return
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            self.bar = Progress(
                TextColumn("loading"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("load", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()
