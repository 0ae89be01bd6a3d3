"""`decide`, `approve`, `reject`: take a decision; `decisions`: list them with how far each got
(and, with `--outcomes`, one decision's outcome run by run).

A decision needs a reason. It is taken by the server that serves the store, else in-process
(`source.decide`): the store is first brought level with the decisions journal (what the
journal holds and the store does not is stored and delivered), then the decision is planned
against the store as it is now (authority, the runs it covers), recorded in the journal, the
store and the outbox in that order, and printed with where it went. A refusal records
nothing and exits 3.
"""

from __future__ import annotations

import argparse

from quarterdeck import config as config_mod
from quarterdeck import formats
from quarterdeck.cli import source
from quarterdeck.cli.errors import EXIT_OK, Failed, UsageError
from quarterdeck.cli.options import Commands, add_command, format_option, row_limit
from quarterdeck.printable import printable
from quarterdeck.queries import columns
from quarterdeck.queries.decisions import checked_reason
from quarterdeck.queries.decisions.authority import ROLLOUT


def register(commands: Commands) -> None:
    decide = add_command(
        commands,
        "decide",
        "pause, resume or roll back a run or a whole workflow; promote, roll back or pause "
        "a workflow's rollout",
        cmd_decide,
    )
    decide.add_argument("action", choices=("pause", "resume", "rollback", *ROLLOUT))
    target = decide.add_mutually_exclusive_group(required=True)
    target.add_argument("--run", metavar="ID", help="one run")
    target.add_argument(
        "--workflow",
        metavar="NAME",
        help="a workflow's live runs: running or awaiting approval (and paused, to roll back; "
        "paused, to resume)",
    )
    decide.add_argument(
        "--include-stale",
        action="store_true",
        help="with --workflow: its stale runs too (no event for [store] stale_after)",
    )
    decide.add_argument(
        "--to",
        metavar="VERSION",
        help="rollback-version: the version to put back at 100 %% (default: the stable one)",
    )
    decide.add_argument(
        "--reason", required=True, metavar="TEXT", help="why (recorded with the decision; required)"
    )
    for name, verb in (("approve", "approve"), ("reject", "reject")):
        sub = add_command(commands, name, f"{verb} a pending approval request", cmd_decide_approval)
        sub.add_argument("approval_id", metavar="APPROVAL_ID")
        sub.add_argument(
            "--reason",
            required=True,
            metavar="TEXT",
            help="why (recorded with the decision; required)",
        )
        sub.set_defaults(action=name)

    decisions = add_command(
        commands,
        "decisions",
        "print the decisions, newest first, with "
        "their lifecycle (recorded → delivered → applied/refused)",
        cmd_decisions,
    )
    format_option(decisions)
    decisions.add_argument("--run", metavar="ID", help="only decisions covering this run")
    decisions.add_argument("--limit", type=row_limit, metavar="N")
    decisions.add_argument(
        "--outcomes",
        metavar="DECISION",
        help="one decision's outcome per run (applied, refused and why, not acknowledged); "
        "DECISION is its id or its # number",
    )


def cmd_decide(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    if args.include_stale and not args.workflow:
        raise UsageError("--include-stale goes with --workflow (a run named with --run is taken)")
    if args.action in ROLLOUT and not args.workflow:
        raise UsageError(f"{args.action} takes --workflow (a rollout is a workflow's)")
    if args.to is not None and args.action != "rollback-version":
        raise UsageError("--to goes with rollback-version")
    target = {"run_id": args.run} if args.run else {"workflow": args.workflow}
    if args.to is not None:
        target["version"] = args.to
    return _decide(args, settings, **target)


def cmd_decide_approval(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    return _decide(args, settings, approval_id=args.approval_id)


def _decide(args: argparse.Namespace, settings: config_mod.Settings, **target: str) -> int:
    # the same limit the server applies, checked before anything is asked of either
    reason = checked_reason(args.reason)
    done = source.decide(args, settings, reason, **target)
    rec = done.record
    print(
        printable(
            f"recorded #{rec['seq']} ({rec['decision_id']}): {done.summary}, by {done.operator}"
        )
    )
    print(f"  journal {done.journal} · delivered to {done.outbox}")
    return EXIT_OK


def cmd_decisions(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    if args.outcomes is not None:
        if args.run or args.limit:
            raise UsageError("--outcomes names one decision: it takes no --run or --limit")
        table = source.query(args, settings, "decision_outcomes", decision=args.outcomes)
        if not table.num_rows:
            raise Failed(
                f"no run answers for decision {args.outcomes!r}: no decision has that id or # "
                "number, or it names no run and no runner has acknowledged it"
            )
        formats.write(table, args.format, columns=columns.DECISION_OUTCOMES)
        return EXIT_OK
    table = source.query(args, settings, "decisions", run_id=args.run, limit=args.limit)
    formats.write(table, args.format, columns=columns.DECISIONS)
    return EXIT_OK
