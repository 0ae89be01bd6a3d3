"""`triggers` and `verify`: commands whose exit code is the verdict, for cron and CI.

`triggers` evaluates every rollback rule in the config (the server's, when a server serves
the store: this config then needs none) as of a moment (now, or `--at`),
prints each with its phase, and exits 4 when any is tripped; it records nothing. `verify`
checks the decisions journal's hash chain and that the store holds what the journal says,
and exits 1 naming the first bad record.
"""

from __future__ import annotations

import argparse

from quarterdeck import client, formats
from quarterdeck import config as config_mod
from quarterdeck.cli import source
from quarterdeck.cli.errors import EXIT_OK, EXIT_TRIPPED, Failed, UsageError
from quarterdeck.cli.options import (
    Commands,
    add_command,
    format_option,
    parse_since,
    store_path,
)
from quarterdeck.queries import columns
from quarterdeck.queries.store import utc_now

#: An evaluation as the command prints it: the rule's state now (the console's Triggers pane
#: shows its configuration and history as well).
TRIGGER_COLUMNS = columns.without(
    columns.TRIGGERS, "metric", "min_runs", "history", "evaluated_at", "changed_at", "on_trip"
)


def register(commands: Commands) -> None:
    triggers = add_command(
        commands,
        "triggers",
        "evaluate every rollback trigger; exit 4 when any is tripped",
        cmd_triggers,
    )
    format_option(triggers)
    triggers.add_argument(
        "--at",
        metavar="WHEN",
        help="evaluate as of this moment (windows end there): a timestamp, or a duration ago (2h)",
    )

    add_command(
        commands,
        "verify",
        "check the decisions journal's hash chain and compare it "
        "with the store; exit 1 at the first bad record",
        cmd_verify,
    )


def cmd_triggers(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    # against a server its rules are evaluated, not this config's (which may have none)
    if client.find(store_path(args, settings)) is None and not settings.rules():
        raise UsageError(
            f"no [[trigger]] rules in {settings.source or 'the config'} (see "
            "README: Rollback triggers)"
        )
    at = parse_since(args.at, option="--at") if args.at else utc_now()
    table = source.query(args, settings, "triggers", at=at)
    formats.write(table, args.format, columns=TRIGGER_COLUMNS)
    tripped = table.num_rows and "tripped" in table.column("phase").to_pylist()
    return EXIT_TRIPPED if tripped else EXIT_OK


def cmd_verify(args: argparse.Namespace, settings: config_mod.Settings) -> int:
    result = source.query(args, settings, "verify").to_pylist()[0]
    if result["problem"] is not None:
        raise Failed(
            f"FAILED at seq {result['first_bad_seq']}: {result['problem']}",
            program="quarterdeck verify",
        )
    print(
        f"verified: {result['records']:,} decisions in {result['journal']}, hash chain whole, "
        "journal and store agree"
    )
    return EXIT_OK
