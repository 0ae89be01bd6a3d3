"""`evidence`: write a run's (or a workflow's runs') evidence bundle, or verify one.

A bundle goes into a new or empty folder (default `evidence/NAME-TIME/`) and is gathered from
one read-only look at the store, as of one moment — through `quarterdeck serve` when it serves
the store (the named queries `evidence_runs` and `evidence`), else in-process; the bundle is
written here, from the same answers either way, so it is the same bundle. `--verify DIR`
recomputes the manifest and names each file that changed (exit 1); it takes no other option.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from quarterdeck import config as config_mod
from quarterdeck.cli.errors import EXIT_OK, Failed, UsageError
from quarterdeck.cli.options import Commands, add_command, parse_since, store_path
from quarterdeck.printable import printable
from quarterdeck.queries.store import utc_now


def register(commands: Commands) -> None:
    evidence = add_command(
        commands,
        "evidence",
        "write a run's evidence bundle (evidence.json, "
        "touched.csv, touched.parquet, report.md, MANIFEST), or check one",
        cmd_evidence,
    )
    evidence.add_argument("run_id", nargs="?", metavar="RUN_ID")
    evidence.add_argument(
        "--out",
        metavar="DIR",
        help="the bundle's folder (default evidence/RUN-TIME/); new or empty",
    )
    evidence.add_argument(
        "--workflow", metavar="NAME", help="with --since: every run of the workflow in one bundle"
    )
    evidence.add_argument("--since", metavar="WHEN", help="a duration (7d) or a timestamp")
    evidence.add_argument(
        "--verify", metavar="DIR", help="recompute a bundle's manifest; exit 1 naming what changed"
    )


def cmd_evidence(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck import bundle
    from quarterdeck.cli import source
    from quarterdeck.queries import named

    if args.verify:
        if args.run_id or args.workflow or args.out:
            raise UsageError("--verify DIR takes nothing else")
        problems = bundle.verify(Path(args.verify))
        if problems:
            raise Failed(*problems, program="quarterdeck evidence")
        print(f"verified: every file of {args.verify} is as its MANIFEST says")
        return EXIT_OK
    if bool(args.run_id) == bool(args.workflow):
        raise UsageError("give a RUN_ID, or --workflow NAME --since WHEN (or --verify DIR)")
    if args.workflow and not args.since:
        raise UsageError("--workflow needs --since (e.g. --since 7d)")
    now = utc_now()
    path = store_path(args, settings)
    with source.reading(args, settings) as ask:
        if args.run_id:
            ids, scope = [args.run_id], f"run {args.run_id}"
        else:
            since = parse_since(args.since)
            found = ask("evidence_runs", workflow=args.workflow, since=since)
            ids = found.column("run_id").to_pylist()
            scope = f"workflow {args.workflow} since {since:%Y-%m-%d %H:%M:%S}Z"
            if not ids:
                raise UsageError(f"no run of {args.workflow!r} started since {args.since}")
        collected = []
        for run_id in ids:
            item = named.unpack_evidence(ask("evidence", run_id=run_id, now=now))
            if item is None:
                raise Failed(f"no run {run_id!r} in the store {path}")
            collected.append(item)
    name = args.run_id or args.workflow
    out = Path(args.out) if args.out else Path("evidence") / f"{name}-{now:%Y%m%dT%H%M%S}"
    bundle.write(out, collected, generated_at=now, store=path, scope=scope)
    touches = sum(len(c["touches"]) for c in collected)
    print(
        f"wrote {printable(str(out))}: {len(collected)} run(s), {touches} touches "
        f"({', '.join(bundle.FILES)}, {bundle.MANIFEST})"
    )
    return EXIT_OK
