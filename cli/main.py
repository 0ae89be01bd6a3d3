"""`quarterdeck` (alias `qd`): the console and its headless commands.

Exit codes: 0 ok, 1 failure, 2 usage error, 3 refused (locked store, read-only, authority),
4 a trigger is tripped (`triggers`).
Global options (`--db`, `--config`, `--read-only`) are accepted before or after the command.
A message that can name something from the logs or the store (an id, a workflow, a file, an
error quoting them) is printed `printable`; tables, JSON and CSV are `formats`' to write.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from quarterdeck import config as config_mod

if TYPE_CHECKING:
    from quarterdeck.desk import DecisionDesk
    from quarterdeck.ingest.follow import FollowStats
    from quarterdeck.queries.decisions import Operator, Paths
    from quarterdeck.queries.store import Store
from quarterdeck import formats
from quarterdeck.printable import printable
from quarterdeck.queries.store import utc_now

EXIT_OK, EXIT_FAILURE, EXIT_USAGE, EXIT_REFUSED = 0, 1, 2, 3
EXIT_TRIPPED = 4  # `triggers`: a rule is tripped

RUN_TABLE_COLUMNS = (
    ("run_id", "RUN"),
    ("workflow", "WORKFLOW"),
    ("status", "STATUS"),
    ("started_at", "STARTED (UTC)"),
    ("duration_s", "DURATION"),
    ("steps", "STEPS"),
    ("touched", "TOUCHED"),
    ("out_of_scope", "OUT OF SCOPE"),
    ("pending_approvals", "PENDING"),
    ("environment", "ENV"),
    ("identity", "IDENTITY"),
)

TOUCH_TABLE_COLUMNS = (
    ("ts", "TIME (UTC)"),
    ("run_id", "RUN"),
    ("workflow", "WORKFLOW"),
    ("system", "SYSTEM"),
    ("object", "OBJECT"),
    ("record_id", "RECORD"),
    ("action", "ACTION"),
    ("in_scope", "IN SCOPE"),
    ("step_id", "STEP"),
)

APPROVAL_TABLE_COLUMNS = (
    ("approval_id", "APPROVAL"),
    ("status", "STATUS"),
    ("risk", "RISK"),
    ("action", "ACTION"),
    ("run_id", "RUN"),
    ("required_role", "ROLE"),
    ("requested_by", "REQUESTED BY"),
    ("expires_at", "EXPIRES (UTC)"),
    ("decided_by", "DECIDED BY"),
    ("reason", "REASON"),
)

QUARANTINE_TABLE_COLUMNS = (
    ("source", "SOURCE"),
    ("line", "LINE"),
    ("offset", "OFFSET"),
    ("error_class", "CLASS"),
    ("error", "ERROR"),
)


class UsageError(Exception):
    pass


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`2h`, `3d`, `30m` before now, or an RFC 3339 timestamp (naive means UTC)."""
    try:
        seconds = config_mod.parse_duration(text)
    except ValueError:
        pass
    else:
        return (now or utc_now()) - timedelta(seconds=seconds)
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError as exc:
        raise UsageError(
            f"--since {text!r}: give a duration (30m, 2h, 7d) or a timestamp "
            "(2026-11-20T08:00:00Z)"
        ) from exc
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value


# --- arguments ----------------------------------------------------------------------------


def _global_options(parser: argparse.ArgumentParser, *, nested: bool) -> None:
    """The options every command takes; `nested` copies leave the top level's value alone
    unless given again after the command."""
    unset = argparse.SUPPRESS if nested else None
    parser.add_argument(
        "--db", metavar="PATH", default=unset,
        help="the store (env QUARTERDECK_DB; default .quarterdeck/quarterdeck.duckdb)",
    )
    parser.add_argument(
        "--config", metavar="FILE", default=unset,
        help="the config file (env QUARTERDECK_CONFIG; default ./quarterdeck.toml, then "
        "~/.config/quarterdeck/quarterdeck.toml)",
    )
    parser.add_argument(
        "--operator", metavar="NAME", default=unset,
        help="who decides (default: `operator` in the config, else the login name)",
    )
    parser.add_argument(
        "--read-only", action="store_true", default=argparse.SUPPRESS if nested else False,
        help="a read-only session: no decision actions are offered (READ-ONLY badge)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quarterdeck",
        description="Terminal operations console for governed AI workflow runs.",
        epilog="Run `quarterdeck COMMAND --help` for a command's options. "
        "Exit codes: 0 ok, 1 failure, 2 usage error, 3 refused, 4 a trigger is tripped.",
    )
    _global_options(parser, nested=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, help_text: str, handler: Callable[..., int]) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _global_options(sub, nested=True)
        sub.set_defaults(handler=handler, command_parser=sub)
        return sub

    console = command("console", "open the console (the default)", cmd_console)
    console.add_argument("--follow", nargs="+", metavar="PATH",
                         help="follow these log files and folders while the console is open")

    demo = command("demo", "open the console on the sample fleet, with a simulated runner "
                   "writing live events", cmd_demo)
    demo.add_argument("--seed", type=int, default=7, metavar="S",
                      help="the runner's seed (the same seed, the same runs)")
    demo.add_argument("--rate", type=_positive_float, default=20.0, metavar="N",
                      help="live events per second (default 20)")
    demo.add_argument("--dir", default=None, metavar="DIR",
                      help="the demo's working folder, made afresh (default .quarterdeck/demo)")

    ingest = command("ingest", "load run logs and approval records into the store", cmd_ingest)
    ingest.add_argument("paths", nargs="+", metavar="PATH",
                        help="files or folders (searched recursively): .jsonl, .jsonl.gz, "
                        ".ndjson, and approval records as .csv")
    ingest.add_argument("--json", action="store_true",
                        help="print one JSON object with the counts instead of a summary line")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--follow", action="store_true",
                        help="keep watching the paths and load new lines as they are written, "
                        "resuming where the last follow stopped (Ctrl+C or SIGTERM stops)")
    ingest.add_argument("--once", action="store_true",
                        help="with --follow: load what is new since the last follow, then exit")
    ingest.add_argument("--report-every", type=float, default=5.0, metavar="SECONDS",
                        help="with --follow: a status line on stderr at most this often "
                        "(default 5)")

    decide = command("decide", "pause, resume or roll back a run or a whole workflow",
                     cmd_decide)
    decide.add_argument("action", choices=("pause", "resume", "rollback"))
    target = decide.add_mutually_exclusive_group(required=True)
    target.add_argument("--run", metavar="ID", help="one run")
    target.add_argument("--workflow", metavar="NAME", help="every active run of a workflow")
    decide.add_argument("--reason", required=True, metavar="TEXT",
                        help="why (recorded with the decision; required)")
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        sub = command(name, f"{verb} a pending approval request", cmd_decide_approval)
        sub.add_argument("approval_id", metavar="APPROVAL_ID")
        sub.add_argument("--reason", required=True, metavar="TEXT",
                         help="why (recorded with the decision; required)")
        sub.set_defaults(action=name)

    decisions = command("decisions", "print the decisions, newest first, with their "
                        "lifecycle (recorded → delivered → applied/refused)", cmd_decisions)
    _format_option(decisions)
    decisions.add_argument("--run", metavar="ID", help="only decisions covering this run")
    decisions.add_argument("--limit", type=_positive_int, metavar="N")

    evidence = command("evidence", "write a run's evidence bundle (evidence.json, touched.csv, "
                       "touched.parquet, report.md, MANIFEST), or check one", cmd_evidence)
    evidence.add_argument("run_id", nargs="?", metavar="RUN_ID")
    evidence.add_argument("--out", metavar="DIR",
                          help="the bundle's folder (default evidence/RUN-TIME/); new or empty")
    evidence.add_argument("--workflow", metavar="NAME",
                          help="with --since: every run of the workflow in one bundle")
    evidence.add_argument("--since", metavar="WHEN", help="a duration (7d) or a timestamp")
    evidence.add_argument("--verify", metavar="DIR",
                          help="recompute a bundle's manifest; exit 1 naming what changed")

    triggers = command("triggers", "evaluate every rollback trigger; exit 4 when any is "
                       "tripped", cmd_triggers)
    _format_option(triggers)
    triggers.add_argument("--at", metavar="WHEN",
                          help="evaluate as of this moment (windows end there): a timestamp, "
                          "or a duration ago (2h)")

    command("verify", "check the decisions journal's hash chain and compare it with the "
            "store; exit 1 at the first bad record", cmd_verify)

    runs = command("runs", "print the run history, newest first", cmd_runs)
    _format_option(runs)
    runs.add_argument("--status", action="append", metavar="STATUS",
                      help="only runs in this status (repeat or comma-separate)")
    runs.add_argument("--workflow", metavar="NAME", help="only this workflow's runs")
    runs.add_argument("--since", metavar="WHEN",
                      help="only runs started since: a duration (2h, 7d) or a timestamp")
    runs.add_argument("--limit", type=_positive_int, metavar="N", help="at most N runs")
    runs.add_argument("--sort", default="started_at", metavar="COLUMN",
                      help="sort by this column (default started_at)")
    runs.add_argument("--asc", action="store_true", help="ascending (default descending)")

    touched = command("touched", "print touched records, newest first", cmd_touched)
    _format_option(touched)
    touched.add_argument("--run", metavar="ID", help="only this run's touches")
    touched.add_argument("--record", metavar="SYSTEM/OBJECT/ID",
                         help="one record's lineage: every run that touched it, oldest first")
    touched.add_argument("--out-of-scope", action="store_true",
                         help="only touches no grant of the run's scope covers")
    touched.add_argument("--system", metavar="NAME")
    touched.add_argument("--object", metavar="NAME")
    touched.add_argument("--action", action="append", metavar="ACTION",
                         help="read, create, update, delete or export (repeat or comma-separate)")
    touched.add_argument("--workflow", metavar="NAME")
    touched.add_argument("--since", metavar="WHEN",
                         help="a duration (2h, 7d) or a timestamp")
    touched.add_argument("--limit", type=_positive_int, metavar="N")

    approvals = command("approvals", "print approvals: pending first, then decided",
                        cmd_approvals)
    _format_option(approvals)
    approvals.add_argument("--pending", action="store_true", help="only pending requests")
    approvals.add_argument("--run", metavar="ID", help="only this run's approvals")
    approvals.add_argument("--limit", type=_positive_int, metavar="N")

    quarantine = command("quarantine", "print quarantined input lines", cmd_quarantine)
    _format_option(quarantine)
    quarantine.add_argument("--class", dest="error_class", metavar="CLASS",
                            help="only this error class (e.g. malformed_json)")
    quarantine.add_argument("--limit", type=_positive_int, metavar="N")

    sample = command("sample", "write a realistic sample fleet of run logs", cmd_sample)
    sample.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    sample.add_argument("--runs", type=_positive_int, default=300, metavar="N")
    sample.add_argument("--seed", type=int, default=7, metavar="S")
    sample.add_argument("--days", type=float, default=5, metavar="D",
                        help="spread the runs over the D days before --end")
    sample.add_argument("--end", metavar="WHEN", help="the fleet's 'now' (default: now)")
    sample.add_argument("--no-bad-lines", action="store_true",
                        help="leave out the handful of broken lines")
    sample.add_argument("--no-gzip", action="store_true",
                        help="leave the oldest day's files uncompressed")

    schema = command("schema", "print the JSON Schema of the run-event log v1", cmd_schema)
    schema.add_argument("--out", metavar="FILE", help="write it to FILE instead")
    return parser


def _format_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--format", choices=formats.FORMATS, default="table")


def _positive(kind: type[int] | type[float]) -> Callable[[str], Any]:
    """An argparse type: a number above 0 (`kind` int or float)."""
    what = "a whole number" if kind is int else "a number"

    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError("must be 1 or more" if kind is int
                                             else f"{text!r} must be above 0")
        return value

    return parse


_positive_int = _positive(int)
_positive_float = _positive(float)


# --- commands -----------------------------------------------------------------------------


def _store_path(args: argparse.Namespace, settings: config_mod.Settings) -> Path:
    from quarterdeck.queries.store import ENV_DB, default_path

    if args.db:
        return Path(args.db)
    if os.environ.get(ENV_DB):
        return Path(os.environ[ENV_DB])
    if settings.store.path:
        return Path(settings.store.path)
    return default_path()


def cmd_console(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.store import Store

    store = Store.open(_store_path(args, settings))
    return _run_console(args, settings, store, getattr(args, "follow", None))


def _run_console(args: argparse.Namespace, settings: config_mod.Settings, store: Store,
                 follow: Sequence[str] | None) -> int:
    from quarterdeck.console.app import make_app
    from quarterdeck.desk import DecisionDesk
    from quarterdeck.console.live import LiveFeed
    from quarterdeck.watch import TriggerWatch

    read_only = args.read_only or settings.console.read_only
    operator = config_mod.operator(settings, getattr(args, "operator", None),
                                   read_only=read_only)
    paths = config_mod.decision_paths(settings, store.path, follow or ())
    feed = None
    try:
        desk = DecisionDesk(store, operator, paths, stale_seconds=int(settings.store.stale_after),
                            clock=utc_now)
        notes = [] if read_only else _reconcile_notes(desk)
        feed = LiveFeed(store, follow) if follow else None
        watch = TriggerWatch(store, settings.rules(), desk, clock=utc_now,
                             stale_seconds=int(settings.store.stale_after))
        app = make_app(store, settings, read_only=read_only, feed=feed, desk=desk, watch=watch,
                       notes=notes)
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
        notes.append(f"{len(done.added)} decision(s) found in the journal but not the store "
                     f"were stored (seq {', '.join(map(str, done.added))})")
    if done.delivered:
        notes.append(f"{len(done.delivered)} decision(s) never delivered were written to the "
                     "outbox")
    return notes


def cmd_demo(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck import demo
    from quarterdeck.queries.store import Store

    work = Path(args.dir) if args.dir else demo.DEFAULT_DIR
    db = Path(args.db) if args.db else work / "demo.duckdb"
    print(f"preparing the demo in {work} …", file=sys.stderr, flush=True)
    logs = demo.prepare(work, db, seed=args.seed)
    name = config_mod.operator(settings, getattr(args, "operator", None)).name
    settings = demo.demo_settings(settings, name)
    outbox = config_mod.decision_paths(settings, db, [logs]).outbox
    runner = demo.start_runner(logs, seed=args.seed, rate=args.rate, log=work / "runner.log",
                               outbox=outbox)
    try:
        return _run_console(args, settings, Store.open(db), [str(logs)])
    finally:
        demo.stop_runner(runner)


def cmd_ingest(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.ingest.load import load_paths
    from quarterdeck.queries.store import Store

    path = _store_path(args, settings)
    if args.follow:
        return _follow(args, path)
    if args.once:
        raise UsageError("--once goes with --follow")
    with Store.open(path) as store:
        with _Progress(enabled=not (args.quiet or args.json)) as progress:
            summary = load_paths(store.con, args.paths, progress=progress.update)
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(summary.line())
        if summary.quarantined_new:
            where = f" --db {path}" if args.db else ""
            print(f"  see why with `quarterdeck quarantine{where}`", file=sys.stderr)
    for problem in summary.problems:
        print(f"quarterdeck: {printable(problem)}", file=sys.stderr)
    return EXIT_FAILURE if summary.problems else EXIT_OK


def _follow(args: argparse.Namespace, path: Path) -> int:
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
            print(f"{time.strftime('%H:%M:%S')}  {_follow_line(stats)}", file=sys.stderr,
                  flush=True)

    def noticed(notice: FileNotice) -> None:
        print(f"quarterdeck: {printable(notice.message)}", file=sys.stderr, flush=True)

    with Store.open(path) as store:
        follower = Follower(store.con, args.paths, on_commit=committed, on_notice=noticed)
        try:
            if args.once:
                follower.poll()
            else:
                if talk:
                    print(f"following {', '.join(map(str, args.paths))} into {path} "
                          "(Ctrl+C stops)", file=sys.stderr, flush=True)
                follower.run(stop)
        finally:
            follower.close()
    stats = follower.stats
    if args.json:
        print(json.dumps({
            "files": stats.files, "events": stats.events, "approval_records": stats.records,
            "duplicates": stats.duplicates, "quarantined": stats.quarantined,
            "commits": stats.commits,
            "lag_p50_s": stats.lag(0.5), "lag_p95_s": stats.lag(0.95),
        }, indent=2))
    else:
        print(_follow_line(stats))
    return EXIT_OK


def _follow_line(stats: FollowStats) -> str:
    from quarterdeck.ingest.load import plural

    line = (f"{plural(stats.events, 'event')} stored ({stats.rate():,.0f}/s now), "
            f"{plural(stats.records, 'approval record')}, "
            f"{plural(stats.duplicates, 'duplicate')} skipped, "
            f"{plural(stats.quarantined, 'line')} newly quarantined")
    if stats.lag() is not None:
        line += f"; lag p50 {stats.lag(0.5):.2f}s p95 {stats.lag(0.95):.2f}s"
    return line


def _decision_context(args: argparse.Namespace, settings: config_mod.Settings,
                      store_path: Path) -> tuple[Operator, Paths]:
    operator = config_mod.operator(settings, getattr(args, "operator", None),
                                   read_only=args.read_only or settings.console.read_only)
    return operator, config_mod.decision_paths(settings, store_path)


def _decide(args: argparse.Namespace, settings: config_mod.Settings, **target: str) -> int:
    from quarterdeck.queries import decisions
    from quarterdeck.queries.store import Store

    path = _store_path(args, settings)
    operator, paths = _decision_context(args, settings, path)
    with Store.open(path) as store:
        decisions.reconcile(store.con, paths, now=utc_now())
        plan = decisions.plan(store.con, operator, args.action, now=utc_now(),
                              stale_seconds=int(settings.store.stale_after), **target)
        rec = decisions.record(store.con, plan, operator=operator, reason=args.reason,
                               source="cli", paths=paths, now=utc_now())
    print(printable(f"recorded #{rec['seq']} ({rec['decision_id']}): {plan.summary}, by "
                    f"{operator.name}"))
    print(f"  journal {paths.journal} · delivered to {paths.outbox}")
    return EXIT_OK


def cmd_decide(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    target = {"run_id": args.run} if args.run else {"workflow": args.workflow}
    return _decide(args, settings, **target)


def cmd_decide_approval(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    return _decide(args, settings, approval_id=args.approval_id)


DECISION_TABLE_COLUMNS = (
    ("seq", "#"),
    ("decided_at", "DECIDED (UTC)"),
    ("operator", "OPERATOR"),
    ("action", "ACTION"),
    ("target", "TARGET"),
    ("runs", "RUNS"),
    ("state", "STATE"),
    ("delivered_at", "DELIVERED (UTC)"),
    ("acked_at", "ANSWERED (UTC)"),
    ("reason", "REASON"),
    ("detail", "RUNNER SAID"),
)


def cmd_decisions(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.decisions import decisions
    from quarterdeck.queries.store import Store

    with Store.open(_store_path(args, settings), read_only=True) as store:
        table = decisions(store.con, run_id=args.run, limit=args.limit)
    formats.write(table, args.format, columns=DECISION_TABLE_COLUMNS)
    return EXIT_OK


def cmd_evidence(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck import bundle
    from quarterdeck.queries import evidence
    from quarterdeck.queries.store import Store

    if args.verify:
        if args.run_id or args.workflow or args.out:
            raise UsageError("--verify DIR takes nothing else")
        problems = bundle.verify(Path(args.verify))
        for problem in problems:
            print(f"quarterdeck evidence: {printable(problem)}", file=sys.stderr)
        if problems:
            return EXIT_FAILURE
        print(f"verified: every file of {args.verify} is as its MANIFEST says")
        return EXIT_OK
    if bool(args.run_id) == bool(args.workflow):
        raise UsageError("give a RUN_ID, or --workflow NAME --since WHEN (or --verify DIR)")
    if args.workflow and not args.since:
        raise UsageError("--workflow needs --since (e.g. --since 7d)")
    now = utc_now()
    path = _store_path(args, settings)
    with Store.open(path, read_only=True) as store:
        if args.run_id:
            ids, scope = [args.run_id], f"run {args.run_id}"
        else:
            since = parse_since(args.since)
            ids = evidence.run_ids(store.con, workflow=args.workflow, since=since)
            scope = f"workflow {args.workflow} since {since:%Y-%m-%d %H:%M:%S}Z"
            if not ids:
                raise UsageError(f"no run of {args.workflow!r} started since {args.since}")
        collected = []
        for run_id in ids:
            item = evidence.collect(store.con, run_id, now=now,
                                    stale_seconds=int(settings.store.stale_after))
            if item is None:
                print(f"quarterdeck: no run {run_id!r} in the store {path}", file=sys.stderr)
                return EXIT_FAILURE
            collected.append(item)
    name = args.run_id or args.workflow
    out = Path(args.out) if args.out else Path("evidence") / f"{name}-{now:%Y%m%dT%H%M%S}"
    try:
        bundle.write(out, collected, generated_at=now, store=path, scope=scope)
    except bundle.BundleError as exc:
        print(f"quarterdeck: {printable(str(exc))}", file=sys.stderr)
        return EXIT_FAILURE
    touches = sum(len(c["touches"]) for c in collected)
    print(f"wrote {printable(str(out))}: {len(collected)} run(s), {touches} touches "
          f"({', '.join(bundle.FILES)}, {bundle.MANIFEST})")
    return EXIT_OK


TRIGGER_TABLE_COLUMNS = (
    ("name", "TRIGGER"),
    ("phase", "PHASE"),
    ("value", "VALUE"),
    ("threshold", "THRESHOLD"),
    ("window", "WINDOW"),
    ("runs_in_window", "RUNS"),
    ("reason", "WHY"),
)


def cmd_triggers(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    import pyarrow as pa

    from quarterdeck.queries.store import Store
    from quarterdeck.queries.triggers import evaluate_all

    rules = settings.rules()
    if not rules:
        raise UsageError(f"no [[trigger]] rules in {settings.source or 'the config'} (see "
                         "README: Rollback triggers)")
    at = parse_since(args.at) if args.at else utc_now()
    with Store.open(_store_path(args, settings), read_only=True) as store:
        evaluations = evaluate_all(store.con, rules, at=at,
                                   stale_seconds=int(settings.store.stale_after))
    rows = [e.as_dict() for e in evaluations]
    for row in rows:
        row.pop("window_s")
    formats.write(pa.Table.from_pylist(rows), args.format, columns=TRIGGER_TABLE_COLUMNS)
    return EXIT_TRIPPED if any(e.phase == "tripped" for e in evaluations) else EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.decisions import verify
    from quarterdeck.queries.store import Store

    path = _store_path(args, settings)
    _, paths = _decision_context(args, settings, path)
    with Store.open(path, read_only=True) as store:
        result = verify(store.con, paths.journal)
    if not result.ok:
        print(f"quarterdeck verify: FAILED at seq {result.first_bad_seq}: "
              f"{printable(result.problem)}",
              file=sys.stderr)
        return EXIT_FAILURE
    print(f"verified: {result.records:,} decisions in {paths.journal}, hash chain whole, "
          "journal and store agree")
    return EXIT_OK


def cmd_runs(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.runs import RUN_STATUSES, SORTABLE, RunFilter, run_history
    from quarterdeck.queries.store import Store

    statuses = tuple(
        s.strip().lower().replace(" ", "_").replace("-", "_")
        for group in (args.status or []) for s in group.split(",") if s.strip()
    )
    unknown = [s for s in statuses if s not in RUN_STATUSES]
    if unknown:
        raise UsageError(f"unknown status {', '.join(unknown)}; use {', '.join(RUN_STATUSES)}")
    if args.sort not in SORTABLE:
        raise UsageError(f"cannot sort by {args.sort!r}; use one of {', '.join(SORTABLE)}")
    now = utc_now()
    where = RunFilter(
        status=statuses,
        workflow=args.workflow,
        since=parse_since(args.since, now) if args.since else None,
    )
    with Store.open(_store_path(args, settings), read_only=True) as store:
        table = run_history(
            store.con, now=now, where=where, sort=args.sort, descending=not args.asc,
            limit=args.limit, stale_seconds=int(settings.store.stale_after),
        )
    formats.write(table, args.format, columns=RUN_TABLE_COLUMNS)
    return EXIT_OK


def cmd_touched(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.store import Store
    from quarterdeck.queries.touches import ACTIONS, TouchFilter, parse_record, touches

    actions = tuple(a.strip() for group in (args.action or []) for a in group.split(",") if a)
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise UsageError(f"unknown action {', '.join(unknown)}; use {', '.join(ACTIONS)}")
    system, obj, record_id = args.system, args.object, None
    if args.record:
        try:
            system, obj, record_id = parse_record(args.record)
        except ValueError as exc:
            raise UsageError(f"--record {exc}") from None
    where = TouchFilter(
        run_id=args.run, workflow=args.workflow, system=system, object=obj,
        record_id=record_id, actions=actions, out_of_scope=args.out_of_scope,
        since=parse_since(args.since) if args.since else None,
    )
    with Store.open(_store_path(args, settings), read_only=True) as store:
        table = touches(store.con, where=where, limit=args.limit,
                        oldest_first=record_id is not None)
    formats.write(table, args.format, columns=TOUCH_TABLE_COLUMNS)
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.approvals import approvals
    from quarterdeck.queries.store import Store

    with Store.open(_store_path(args, settings), read_only=True) as store:
        table = approvals(store.con, now=utc_now(), pending_only=args.pending,
                          run_id=args.run, limit=args.limit)
    formats.write(table, args.format, columns=APPROVAL_TABLE_COLUMNS)
    return EXIT_OK


def cmd_quarantine(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.ingest.validate import ERROR_CLASSES
    from quarterdeck.queries.quarantine import quarantined
    from quarterdeck.queries.store import Store

    if args.error_class and args.error_class not in ERROR_CLASSES:
        raise UsageError(f"unknown error class {args.error_class!r}; use one of "
                         f"{', '.join(ERROR_CLASSES)}")
    with Store.open(_store_path(args, settings), read_only=True) as store:
        table = quarantined(store.con, error_class=args.error_class, limit=args.limit)
    formats.write(table, args.format, columns=QUARANTINE_TABLE_COLUMNS)
    return EXIT_OK


def cmd_sample(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.runner.fleet import generate

    end = None
    if args.end:
        end = parse_since(args.end).replace(tzinfo=UTC)
    started = time.perf_counter()
    summary = generate(
        Path(args.out), runs=args.runs, seed=args.seed, days=args.days, end=end,
        bad_lines=not args.no_bad_lines, gzip_oldest=not args.no_gzip,
    )
    print(
        f"wrote {summary.runs:,} runs, {summary.events:,} events in {summary.files} files "
        f"(+{summary.approval_records:,} approval records, {summary.bad_lines} bad lines) "
        f"to {args.out} in {time.perf_counter() - started:.1f}s"
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.ingest.models import event_json_schema_text

    text = event_json_schema_text() + "\n"
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return EXIT_OK


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
                TextColumn("loading"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                TimeRemainingColumn(), console=Console(stderr=True), transient=True,
            )
            self.bar.start()
            self.task = self.bar.add_task("load", total=total)
        self.bar.update(self.task, completed=done, total=total)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


# --- entry point --------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", cmd_console)
    try:
        settings = config_mod.load(args.config)
        return handler(args, settings)
    except UsageError as exc:
        getattr(args, "command_parser", parser).print_usage(sys.stderr)
        print(f"quarterdeck: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except config_mod.ConfigError as exc:
        print(f"quarterdeck: {printable(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("quarterdeck: interrupted; what was committed is kept", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # the store's and the loader's own errors, one line each
        from quarterdeck.ingest.load import LoadError
        from quarterdeck.queries.decisions import Refused
        from quarterdeck.queries.journal import JournalError
        from quarterdeck.queries.store import StoreError

        if isinstance(exc, StoreError | Refused):
            print(f"quarterdeck: {'refused: ' if isinstance(exc, Refused) else ''}"
                  f"{printable(str(exc))}",
                  file=sys.stderr)
            return exc.exit_code
        if isinstance(exc, JournalError):
            print(f"quarterdeck: {printable(str(exc))}", file=sys.stderr)
            return EXIT_FAILURE
        if isinstance(exc, LoadError):
            print(f"quarterdeck: {printable(str(exc))}", file=sys.stderr)
            return EXIT_FAILURE
        raise


if __name__ == "__main__":
    sys.exit(main())
