"""The read commands: `runs`, `run`, `touched`, `approvals`, `quarantine`, `findings`,
`workflows`.

Each asks one named query (of the server that serves the store, else of the store opened
read-only: `source.query`), and prints its rows as a table (its
columns as `queries.columns` defines them, less a few left out by key below), as JSON or as
CSV (every field of the rows). Filter values are checked before the store is opened: an
unknown status, action or error class is a usage error that lists the ones there are.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from quarterdeck import config as config_mod
from quarterdeck import formats
from quarterdeck.cli import source
from quarterdeck.cli.errors import EXIT_OK, Failed, UsageError
from quarterdeck.cli.options import (
    Commands,
    add_command,
    format_option,
    parse_since,
    row_limit,
    store_path,
)
from quarterdeck.printable import printable, printable_json
from quarterdeck.queries import columns
from quarterdeck.queries.store import utc_now

#: The tables as printed: every column, less what only the console draws (a touch's change,
#: identity and what it carried; an approval's time left, age and workflow) and a quarantined
#: line as read, which `--format json` and `csv` carry.
RUN_COLUMNS = columns.RUNS
TOUCH_COLUMNS = columns.without(columns.TOUCHES, "identity", "change", "fields", "classification")
APPROVAL_COLUMNS = columns.without(columns.APPROVALS, "seconds_left", "workflow", "age_s")
QUARANTINE_COLUMNS = columns.without(columns.QUARANTINE, "raw_size", "raw")
#: `run RUN_ID`: a run's touches and decisions, as a table (JSON carries every field).
RUN_TOUCH_COLUMNS = columns.pick(
    columns.TOUCHES, "ts", "step_id", "system", "object", "record_id", "action", "in_scope",
    "needed_grant",
)  # fmt: skip
RUN_DECISION_COLUMNS = columns.pick(
    columns.DECISIONS, "seq", "decided_at", "operator", "action", "state", "reason"
)


def register(commands: Commands) -> None:
    runs = add_command(commands, "runs", "print the run history, newest first", cmd_runs)
    format_option(runs)
    runs.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only runs in this status (repeat or comma-separate)",
    )
    runs.add_argument("--workflow", metavar="NAME", help="only this workflow's runs")
    runs.add_argument("--session", metavar="ID", help="only this session's (conversation's) runs")
    runs.add_argument("--user", metavar="ID", help="only the runs made for this user")
    runs.add_argument(
        "--since",
        metavar="WHEN",
        help="only runs started since: a duration (2h, 7d) or a timestamp",
    )
    runs.add_argument("--limit", type=row_limit, metavar="N", help="at most N runs")
    runs.add_argument(
        "--sort",
        default="started_at",
        metavar="COLUMN",
        help="sort by this column (default started_at)",
    )
    runs.add_argument("--asc", action="store_true", help="ascending (default descending)")

    touched = add_command(commands, "touched", "print touched records, newest first", cmd_touched)
    format_option(touched)
    touched.add_argument("--run", metavar="ID", help="only this run's touches")
    touched.add_argument(
        "--record",
        metavar="SYSTEM/OBJECT/ID",
        help="one record's lineage: every run that touched it, oldest first",
    )
    touched.add_argument(
        "--out-of-scope",
        action="store_true",
        help="only touches no grant of the run's scope covers",
    )
    touched.add_argument("--system", metavar="NAME")
    touched.add_argument("--object", metavar="NAME")
    touched.add_argument(
        "--action",
        action="append",
        metavar="ACTION",
        help="read, create, update, delete or export (repeat or comma-separate)",
    )
    touched.add_argument("--workflow", metavar="NAME")
    touched.add_argument("--since", metavar="WHEN", help="a duration (2h, 7d) or a timestamp")
    touched.add_argument("--limit", type=row_limit, metavar="N")

    run = add_command(
        commands,
        "run",
        "print one run: its runs row, steps, touches, approvals and decisions",
        cmd_run,
    )
    run.add_argument("run_id", metavar="RUN_ID")
    run.add_argument("--format", choices=("table", "json"), default="table")

    approvals = add_command(
        commands, "approvals", "print approvals: pending first, then decided", cmd_approvals
    )
    format_option(approvals)
    approvals.add_argument("--pending", action="store_true", help="only pending requests")
    approvals.add_argument("--run", metavar="ID", help="only this run's approvals")
    approvals.add_argument("--limit", type=row_limit, metavar="N")

    quarantine = add_command(
        commands, "quarantine", "print quarantined input lines", cmd_quarantine
    )
    format_option(quarantine)
    quarantine.add_argument(
        "--class",
        dest="error_class",
        metavar="CLASS",
        help="only this error class (e.g. malformed_json)",
    )
    quarantine.add_argument("--limit", type=row_limit, metavar="N")

    findings = add_command(
        commands, "findings", "print what breaks the publish rules, newest first", cmd_findings
    )
    format_option(findings)
    findings.add_argument("--kind", metavar="KIND", help="only this kind of finding")
    findings.add_argument("--workflow", metavar="NAME", help="only this workflow's findings")
    findings.add_argument("--run", metavar="ID", help="only this run's findings")
    findings.add_argument("--limit", type=row_limit, metavar="N")

    workflows = add_command(
        commands,
        "workflows",
        "print each workflow's versions: publish record, weight, runs over a window",
        cmd_workflows,
    )
    format_option(workflows)
    workflows.add_argument("--workflow", metavar="NAME", help="only this workflow")
    workflows.add_argument(
        "--window", default="24h", metavar="DURATION", help="the runs counted (default 24h)"
    )
    workflows.add_argument(
        "--at", metavar="WHEN", help="as of this moment: a timestamp, or a duration ago (2h)"
    )


def cmd_runs(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.runs import RUN_STATUSES, SORTABLE

    statuses = tuple(
        s.strip().lower().replace(" ", "_").replace("-", "_")
        for group in (args.status or [])
        for s in group.split(",")
        if s.strip()
    )
    unknown = [s for s in statuses if s not in RUN_STATUSES]
    if unknown:
        raise UsageError(f"unknown status {', '.join(unknown)}; use {', '.join(RUN_STATUSES)}")
    if args.sort not in SORTABLE:
        raise UsageError(f"cannot sort by {args.sort!r}; use one of {', '.join(SORTABLE)}")
    now = utc_now()
    table = source.query(
        args,
        settings,
        "runs",
        now=now,
        status=statuses,
        workflow=args.workflow,
        session=args.session,
        user=args.user,
        since=parse_since(args.since, now) if args.since else None,
        sort=args.sort,
        descending=not args.asc,
        limit=args.limit,
    )
    formats.write(table, args.format, columns=RUN_COLUMNS)
    return EXIT_OK


def cmd_touched(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.touches import ACTIONS, parse_record

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
    table = source.query(
        args,
        settings,
        "touches",
        run_id=args.run,
        workflow=args.workflow,
        system=system,
        object=obj,
        record_id=record_id,
        actions=actions,
        out_of_scope=args.out_of_scope,
        since=parse_since(args.since) if args.since else None,
        limit=args.limit,
        oldest_first=record_id is not None,
    )
    formats.write(table, args.format, columns=TOUCH_COLUMNS)
    return EXIT_OK


def cmd_approvals(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    table = source.query(
        args,
        settings,
        "approvals",
        now=utc_now(),
        pending_only=args.pending,
        run_id=args.run,
        limit=args.limit,
    )
    formats.write(table, args.format, columns=APPROVAL_COLUMNS)
    return EXIT_OK


def cmd_quarantine(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.ingest.validate import ERROR_CLASSES

    if args.error_class and args.error_class not in ERROR_CLASSES:
        raise UsageError(
            f"unknown error class {args.error_class!r}; use one of {', '.join(ERROR_CLASSES)}"
        )
    table = source.query(
        args, settings, "quarantine", error_class=args.error_class, limit=args.limit
    )
    formats.write(table, args.format, columns=QUARANTINE_COLUMNS)
    return EXIT_OK


def run_detail(collected: dict[str, Any]) -> dict[str, Any]:
    """`run RUN_ID`'s answer from the run's evidence (`queries.evidence.collect`): `run` (the
    runs row, with its scope), `steps` (the STEPS fields), `touches`, `approvals`,
    `decisions`."""
    run = {k: v for k, v in collected["run"].items() if k != "has_start"}
    steps = [
        {**{c.key: s.get(c.key) for c in columns.STEPS}, "clock_skew": s.get("clock_skew")}
        for s in collected["steps"]
    ]
    return {
        "run": run,
        "steps": steps,
        "touches": collected["touches"],
        "approvals": collected["approvals"],
        "decisions": collected["decisions"],
    }


def cmd_run(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    import pyarrow as pa

    from quarterdeck.queries import named

    answer = source.query(args, settings, "evidence", run_id=args.run_id, now=utc_now())
    collected = named.unpack_evidence(answer)
    if collected is None:
        raise Failed(f"no run {args.run_id!r} in the store {store_path(args, settings)}")
    detail = run_detail(collected)
    if args.format == "json":
        text = json.dumps(formats.jsonable(detail), indent=2, ensure_ascii=False)
        print(printable_json(text))
        return EXIT_OK
    formats.write(pa.Table.from_pylist([detail["run"]]), "table", columns=RUN_COLUMNS)
    run = detail["run"]
    facts = [f"{k}: {run[k]}" for k in ("session_id", "user_id") if run.get(k)]
    facts += [f"⚠ {text}" for text in formats.contradictions(run)]
    if run.get("error"):
        facts.append("error: " + formats.trimmed(run["error"]))
    for fact in facts:
        print(printable(fact))
    for title, part, shown in (
        ("steps", "steps", columns.STEPS),
        ("touches", "touches", RUN_TOUCH_COLUMNS),
        ("approvals", "approvals", APPROVAL_COLUMNS),
        ("decisions", "decisions", RUN_DECISION_COLUMNS),
    ):
        rows = detail[part]
        print(f"\n{title}: {len(rows) or 'none'}")
        if rows:
            formats.write(pa.Table.from_pylist(rows), "table", columns=shown)
    return EXIT_OK


#: What `findings --format json|csv` carries of each finding (the issue's fields, in order).
FINDING_FIELDS = ("kind", "workflow", "version", "run_id", "event_id", "detail")


def cmd_findings(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.queries.findings import KINDS

    if args.kind and args.kind not in KINDS:
        raise UsageError(f"unknown kind {args.kind!r}; use one of {', '.join(KINDS)}")
    table = source.query(
        args,
        settings,
        "findings",
        kind=args.kind,
        workflow=args.workflow,
        run_id=args.run,
        limit=args.limit,
    )
    if args.format != "table":
        table = table.select(list(FINDING_FIELDS))
    formats.write(table, args.format, columns=columns.FINDINGS)
    return EXIT_OK


def cmd_workflows(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    try:
        window = config_mod.parse_duration(args.window)
    except ValueError as exc:
        raise UsageError(f"--window {exc}") from None
    if window <= 0:
        raise UsageError("--window must be longer than 0")
    table = source.query(
        args,
        settings,
        "workflows",
        at=parse_since(args.at, option="--at") if args.at else utc_now(),
        window_s=window,
        workflow=args.workflow,
    )
    formats.write(table, args.format, columns=columns.WORKFLOWS)
    return EXIT_OK
