"""Where a command's data comes from: the server that serves the store, else the store itself.

Every command that reads or decides asks one function here — `query` for a named query's
table (`reading` for several as one look at the store), `decide` for a decision — and prints
what it gets the same way either way. When
`quarterdeck serve` serves the store (its socket is beside it) the command asks the server and
never opens the DuckDB file; with no socket it opens the store in-process as it always has
(embedded mode). A socket with no server behind it is exit 3 (`client.ServerUnavailable`).

Against a server, who decides is the server's to say: it reads the caller's uid from the
socket and looks up that name's roles in its own config. `--operator` is sent only to be
checked: naming someone else is refused there (exit 3). `--read-only` binds the request.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.cli.options import decision_context, store_path
from quarterdeck.queries import named
from quarterdeck.queries.store import utc_now

#: Asks a named query with its parameters: `ask("runs", now=…)`.
Ask = Callable[..., pa.Table]


def query(
    args: argparse.Namespace, settings: config_mod.Settings, name: str, **params: Any
) -> pa.Table:
    """Named query `name` (queries.named) with `params`, from whoever holds the store."""
    with reading(args, settings) as ask:
        return ask(name, **params)


@contextmanager
def reading(args: argparse.Namespace, settings: config_mod.Settings) -> Iterator[Ask]:
    """An `ask(name, **params)` for the block: the server's answers, or one read-only
    opening of the store for every query asked (embedded)."""
    path = store_path(args, settings)
    server = client.find(path)
    if server is not None:

        def ask_server(name: str, /, **params: Any) -> pa.Table:
            values = named.params_for(name, params)
            return server.query(name, values.model_dump(mode="json"))

        yield ask_server
        return
    from quarterdeck.queries.store import Store

    context = named.Context(
        stale_seconds=int(settings.store.stale_after),
        rules=tuple(settings.rules()),
        journal=config_mod.decision_paths(settings, path).journal,
        publish_rules=settings.publish_rules(),
    )
    with Store.open(path, read_only=True) as store:

        def ask_store(name: str, /, **params: Any) -> pa.Table:
            return named.run(store.con, name, named.params_for(name, params), context)

        yield ask_store


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
    server = client.find(path)
    if server is not None:
        answer = server.decide(
            {
                "action": args.action,
                **target,
                "reason": reason,
                "include_stale": bool(getattr(args, "include_stale", False)),
                "operator": getattr(args, "operator", None),
                "read_only": bool(args.read_only or settings.console.read_only),
            }
        )
        return Decided(**answer)
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
            include_stale=bool(getattr(args, "include_stale", False)),
            rollout_roles=settings.rollout_roles(),
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
