"""Where a command's data comes from: the store, opened in-process.

Every command that reads or decides asks one function here — `query` for a named query's
table (queries.named), `decide` for a decision — and prints what it gets; where the data
comes from is decided here alone, so another holder of the store can answer the same calls.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from quarterdeck import config as config_mod
from quarterdeck.cli.options import decision_context, store_path
from quarterdeck.queries import named
from quarterdeck.queries.store import utc_now


def query(
    args: argparse.Namespace, settings: config_mod.Settings, name: str, **params: Any
) -> pa.Table:
    """Named query `name` (queries.named) with `params`, from whoever holds the store."""
    path = store_path(args, settings)
    values = named.params_for(name, params)
    from quarterdeck.queries.store import Store

    context = named.Context(
        stale_seconds=int(settings.store.stale_after),
        rules=tuple(settings.rules()),
        journal=config_mod.decision_paths(settings, path).journal,
    )
    with Store.open(path, read_only=True) as store:
        return named.run(store.con, name, values, context)


@dataclass(frozen=True)
class Decided:
    """A recorded decision: the journal record, what it covered, by whom, and where it went."""

    record: dict[str, Any]
    summary: str
    operator: str
    journal: str
    outbox: str


def decide(
    args: argparse.Namespace, settings: config_mod.Settings, reason: str, **target: str
) -> Decided:
    """Take `args.action` on `target` (run_id, workflow or approval_id); raises
    `decisions.Refused` when it may not be taken."""
    path = store_path(args, settings)
    from quarterdeck.queries import decisions
    from quarterdeck.queries.store import Store

    operator, paths = decision_context(args, settings, path)
    with Store.open(path) as store:
        decisions.reconcile(store.con, paths, now=utc_now())
        plan = decisions.plan(
            store.con,
            operator,
            args.action,
            now=utc_now(),
            stale_seconds=int(settings.store.stale_after),
            **target,
        )
        rec = decisions.record(
            store.con,
            plan,
            operator=operator,
            reason=reason,
            source="cli",
            paths=paths,
            now=utc_now(),
        )
    return Decided(rec, plan.summary, operator.name, str(paths.journal), str(paths.outbox))
