"""`console` (the default command) and `demo`: the Textual console over a store.

Textual and the console are imported inside the functions that open it, never at the top:
every other command loads without them (`quarterdeck runs` starts as fast as a read can).

The mode is chosen by whether a server serves the store (`client.find`, its socket beside
it). Embedded, the console owns the store it is given and closes it, with the follower, when
it exits. As the server's client (`run_console_against`) it opens no store: it reads, decides
and learns of changes through the server, which follows the logs (so `--follow` is refused:
that is `[serve] follow` or `serve --follow`) and says who this operator is.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from quarterdeck import client as client_mod
from quarterdeck import config as config_mod
from quarterdeck.cli.errors import EXIT_OK, Failed, UsageError, exit_code
from quarterdeck.cli.options import Commands, add_command, positive_float, store_path
from quarterdeck.queries.store import utc_now

if TYPE_CHECKING:
    import subprocess

    from quarterdeck.desk import DecisionDesk
    from quarterdeck.queries.store import Store


def register(commands: Commands) -> None:
    console = add_command(commands, "console", "open the console (the default)", cmd_console)
    console.add_argument(
        "--follow",
        nargs="+",
        metavar="PATH",
        help="follow these log files and folders while the console is open",
    )

    demo = add_command(
        commands,
        "demo",
        "open the console on the sample fleet, with a simulated runner writing live events",
        cmd_demo,
    )
    demo.add_argument(
        "--seed",
        type=int,
        default=7,
        metavar="S",
        help="the runner's seed (the same seed, the same runs)",
    )
    demo.add_argument(
        "--rate",
        type=positive_float,
        default=20.0,
        metavar="N",
        help="live events per second (default 20)",
    )
    demo.add_argument(
        "--dir",
        default=None,
        metavar="DIR",
        help="the demo's working folder, made afresh (default .quarterdeck/demo)",
    )
    demo.add_argument(
        "--no-console",
        action="store_true",
        help="run the demo's server and runner without a console, until Ctrl+C "
        "(open consoles and commands from other terminals with --db DIR/demo.duckdb)",
    )


def cmd_console(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.store import Store

    path = store_path(args, settings)
    server = client_mod.find(path)
    if server is not None:
        if getattr(args, "follow", None):
            raise UsageError(
                f"a server serves {path}: it follows the logs, not the console "
                "(`[serve] follow = [...]` in its config, or `quarterdeck serve --follow PATH`)"
            )
        return run_console_against(args, settings, server)
    store = Store.open(path)
    return _run_console(args, settings, store, getattr(args, "follow", None))


def run_console_against(
    args: argparse.Namespace, settings: config_mod.Settings, server: client_mod.Client
) -> int:
    """The console as the client of `server`: no store opened here; `--read-only` (or the
    config's) binds its desk, and `--operator` may only name who the server says we are."""
    from quarterdeck.console.app import make_app
    from quarterdeck.console.live import ServerFeed
    from quarterdeck.queries.decisions import Refused
    from quarterdeck.remote_desk import RemoteDesk, RemoteWatch

    read_only = bool(args.read_only or settings.console.read_only)
    desk = RemoteDesk(server, read_only=read_only)
    asked = getattr(args, "operator", None)
    if asked is not None and asked != desk.operator.name:
        raise Refused(
            f"this server knows you as {desk.operator.name}: --operator {asked} names someone else"
        )
    feed = ServerFeed(server)
    app = make_app(
        server,
        settings,
        read_only=read_only,
        feed=feed,
        desk=desk,
        watch=RemoteWatch(server, clock=utc_now),
    )
    try:
        app.run()
    finally:
        feed.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    """The demo's folder afresh, its runner, `quarterdeck serve` on its store, then the
    console (or, with `--no-console`, nothing until Ctrl+C or SIGTERM); stopping the demo
    stops the server and the runner."""
    from quarterdeck import demo
    from quarterdeck.queries.store import Store

    work = Path(args.dir) if args.dir else demo.DEFAULT_DIR
    db = Path(args.db) if args.db else work / "demo.duckdb"
    print(f"preparing the demo in {work} …", file=sys.stderr, flush=True)
    logs = demo.prepare(work, db, seed=args.seed)
    name = config_mod.operator(settings, getattr(args, "operator", None)).name
    chosen = demo.demo_settings(settings, name)
    outbox = config_mod.decision_paths(chosen, db, [logs]).outbox
    runner = demo.start_runner(
        logs,
        seed=args.seed,
        rate=args.rate,
        log=work / "runner.log",
        outbox=outbox,
        canary_after=demo.CANARY_AFTER,
    )
    try:
        print(f"starting quarterdeck serve on {db} …", file=sys.stderr, flush=True)
        try:
            server = demo.start_server(
                db,
                config=demo.server_config(work, settings, db),
                follow=[logs],
                log=work / "serve.log",
            )
        except demo.ServerFailed as failed:
            said = Failed(str(failed), *(f"  {line}" for line in failed.tail))
            if args.no_console:
                raise said from failed
            exit_code(said, usage=args.command_parser)  # says it; the console opens anyway
            print("opening the console on the store itself instead", file=sys.stderr)
            return _run_console(args, chosen, Store.open(db), [str(logs)])
        try:
            if args.no_console:
                return _serve_demo(db, server, runner, work)
            return _demo_console(args, chosen, db)
        finally:
            demo.stop(server)
    finally:
        demo.stop_runner(runner)


def _demo_console(args: argparse.Namespace, settings: config_mod.Settings, db: Path) -> int:
    """The demo's console: a client of the server the demo started on `db` (`cmd_demo`
    stops the server and the runner when it exits)."""
    server = client_mod.find(db)
    if server is None:
        raise Failed(f"the demo's server is up but its socket beside {db} is gone")
    return run_console_against(args, settings, server)


def _serve_demo(
    db: Path, server: subprocess.Popen[bytes], runner: subprocess.Popen[bytes], work: Path
) -> int:
    """`demo --no-console`: the server and the runner until Ctrl+C or SIGTERM (exit 0), or
    until one of them exits (exit 1, naming its log)."""
    import signal
    import threading

    stopping = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stopping.set())
    print(
        f"the demo is running: quarterdeck serve (pid {server.pid}) serves {db}, the runner "
        f"(pid {runner.pid}) writes live events.\n"
        f"open a console from another terminal: quarterdeck --db {db}\n"
        "Ctrl+C stops the demo",
        file=sys.stderr,
        flush=True,
    )
    while not stopping.wait(0.5):
        for what, process, log in (
            ("server", server, work / "serve.log"),
            ("runner", runner, work / "runner.log"),
        ):
            if process.poll() is not None:
                raise Failed(f"the demo's {what} exited {process.returncode}; see {log}")
    return EXIT_OK


def _run_console(
    args: argparse.Namespace,
    settings: config_mod.Settings,
    store: Store,
    follow: Sequence[str] | None,
) -> int:
    from quarterdeck.console.app import make_app
    from quarterdeck.console.live import LiveFeed
    from quarterdeck.desk import DecisionDesk
    from quarterdeck.watch import TriggerWatch

    read_only = args.read_only or settings.console.read_only
    operator = config_mod.operator(settings, getattr(args, "operator", None), read_only=read_only)
    paths = config_mod.decision_paths(settings, store.path, follow or ())
    feed = None
    try:
        desk = DecisionDesk(
            store,
            operator,
            paths,
            stale_seconds=int(settings.store.stale_after),
            clock=utc_now,
            rollout_roles=settings.rollout_roles(),
        )
        notes = [] if read_only else _reconcile_notes(desk)
        feed = LiveFeed(store, follow, settings.tool_map()) if follow else None
        watch = TriggerWatch(
            store,
            settings.rules(),
            desk,
            clock=utc_now,
            stale_seconds=int(settings.store.stale_after),
        )
        app = make_app(
            store, settings, read_only=read_only, feed=feed, desk=desk, watch=watch, notes=notes
        )
        app.run()
    finally:
        if feed is not None:
            feed.stop()
        store.close()
    return EXIT_OK


def _reconcile_notes(desk: DecisionDesk) -> list[str]:
    """Bring the store level with the decisions journal; say what that took."""
    done = desk.reconcile()
    notes = []
    if done.added:
        notes.append(
            f"{len(done.added)} decision(s) found in the journal but not the store "
            f"were stored (seq {', '.join(map(str, done.added))})"
        )
    if done.delivered:
        notes.append(
            f"{len(done.delivered)} decision(s) never delivered were written to the outbox"
        )
    return notes
