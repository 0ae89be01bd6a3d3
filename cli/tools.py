"""`sample` and `schema`: what a producer of run logs needs — a realistic fleet to try things
on (the same seed and end, the same files), and the JSON Schema of the v1 event log.

Neither opens a store.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC
from pathlib import Path

from quarterdeck import config as config_mod
from quarterdeck.cli.errors import EXIT_OK
from quarterdeck.cli.options import Commands, add_command, parse_since, positive_int


def register(commands: Commands) -> None:
    sample = add_command(
        commands, "sample", "write a realistic sample fleet of run logs", cmd_sample
    )
    sample.add_argument("--out", required=True, metavar="DIR", help="folder to write into")
    sample.add_argument("--runs", type=positive_int, default=300, metavar="N")
    sample.add_argument("--seed", type=int, default=7, metavar="S")
    sample.add_argument(
        "--days",
        type=float,
        default=5,
        metavar="D",
        help="spread the runs over the D days before --end",
    )
    sample.add_argument("--end", metavar="WHEN", help="the fleet's 'now' (default: now)")
    sample.add_argument(
        "--no-bad-lines", action="store_true", help="leave out the handful of broken lines"
    )
    sample.add_argument(
        "--no-gzip", action="store_true", help="leave the oldest day's files uncompressed"
    )

    schema = add_command(
        commands, "schema", "print the JSON Schema of the run-event log v1", cmd_schema
    )
    schema.add_argument("--out", metavar="FILE", help="write it to FILE instead")


def cmd_sample(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    from quarterdeck.runner.fleet import generate

    end = None
    if args.end:
        end = parse_since(args.end).replace(tzinfo=UTC)
    started = time.perf_counter()
    summary = generate(
        Path(args.out),
        runs=args.runs,
        seed=args.seed,
        days=args.days,
        end=end,
        bad_lines=not args.no_bad_lines,
        gzip_oldest=not args.no_gzip,
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
