"""The named read queries a client may ask for: a name, its typed parameters, the answer as an
Arrow table.

This is the store's read surface as the command line and the server share it. A client never
sends SQL: it names a query here and gives parameters its pydantic model validates (unknown
fields are refused), and whoever holds the store runs it — the command line in-process when no
server runs (embedded mode), else `quarterdeck serve`, which answers with the same table as
Arrow IPC. One registry for both is what keeps a command's output the same either way.

What the holder of the store decides, not the client, comes in `Context`: when a run goes
stale, the rollback rules, where the journal is. A query is one short read: it runs on the
cursor it is given and returns its whole result, so no read transaction outlives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field

from quarterdeck.queries import approvals, decisions, quarantine, runs, touches, triggers


@dataclass(frozen=True)
class Context:
    """What the process that holds the store decides for every query it runs."""

    stale_seconds: int
    rules: tuple[triggers.Rule, ...] = ()
    journal: Path | None = None


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunsParams(Params):
    now: datetime
    status: tuple[str, ...] = ()
    workflow: str | None = None
    since: datetime | None = None
    sort: str = "started_at"
    descending: bool = True
    limit: int | None = Field(None, gt=0)


class TouchesParams(Params):
    run_id: str | None = None
    workflow: str | None = None
    system: str | None = None
    object: str | None = None
    record_id: str | None = None
    actions: tuple[str, ...] = ()
    out_of_scope: bool = False
    since: datetime | None = None
    limit: int | None = Field(None, gt=0)
    oldest_first: bool = False


class ApprovalsParams(Params):
    now: datetime
    pending_only: bool = False
    run_id: str | None = None
    limit: int | None = Field(None, gt=0)


class QuarantineParams(Params):
    error_class: str | None = None
    limit: int | None = Field(None, gt=0)


class DecisionsParams(Params):
    run_id: str | None = None
    limit: int | None = Field(None, gt=0)


class TriggersParams(Params):
    at: datetime


class VerifyParams(Params):
    pass


def _runs(con: duckdb.DuckDBPyConnection, p: RunsParams, ctx: Context) -> pa.Table:
    where = runs.RunFilter(status=p.status, workflow=p.workflow, since=p.since)
    return runs.run_history(
        con,
        now=p.now,
        where=where,
        sort=p.sort,
        descending=p.descending,
        limit=p.limit,
        stale_seconds=ctx.stale_seconds,
    )


def _touches(con: duckdb.DuckDBPyConnection, p: TouchesParams, ctx: Context) -> pa.Table:
    where = touches.TouchFilter(
        run_id=p.run_id,
        workflow=p.workflow,
        system=p.system,
        object=p.object,
        record_id=p.record_id,
        actions=p.actions,
        out_of_scope=p.out_of_scope,
        since=p.since,
    )
    return touches.touches(con, where=where, limit=p.limit, oldest_first=p.oldest_first)


def _approvals(con: duckdb.DuckDBPyConnection, p: ApprovalsParams, ctx: Context) -> pa.Table:
    return approvals.approvals(
        con, now=p.now, pending_only=p.pending_only, run_id=p.run_id, limit=p.limit
    )


def _quarantine(con: duckdb.DuckDBPyConnection, p: QuarantineParams, ctx: Context) -> pa.Table:
    return quarantine.quarantined(con, error_class=p.error_class, limit=p.limit)


def _decisions(con: duckdb.DuckDBPyConnection, p: DecisionsParams, ctx: Context) -> pa.Table:
    return decisions.decisions(con, run_id=p.run_id, limit=p.limit)


def _triggers(con: duckdb.DuckDBPyConnection, p: TriggersParams, ctx: Context) -> pa.Table:
    """Every rule evaluated as of `at`, one row each; nothing is recorded."""
    evaluations = triggers.evaluate_all(
        con, list(ctx.rules), at=p.at, stale_seconds=ctx.stale_seconds
    )
    rows = [e.as_dict() for e in evaluations]
    for row in rows:
        row.pop("window_s")
    return pa.Table.from_pylist(rows)


def _verify(con: duckdb.DuckDBPyConnection, p: VerifyParams, ctx: Context) -> pa.Table:
    """One row: how many decisions the journal holds, and the first bad one if any."""
    if ctx.journal is None:
        raise ValueError("verify needs the journal's path")
    result = decisions.verify(con, ctx.journal)
    return pa.table(
        {
            "records": pa.array([result.records], pa.int64()),
            "first_bad_seq": pa.array([result.first_bad_seq], pa.int64()),
            "problem": pa.array([result.problem], pa.string()),
            "journal": pa.array([str(ctx.journal)], pa.string()),
        }
    )


@dataclass(frozen=True)
class Named:
    params: type[Params]
    run: Callable[[duckdb.DuckDBPyConnection, Any, Context], pa.Table] = field(repr=False)


QUERIES: dict[str, Named] = {
    "runs": Named(RunsParams, _runs),
    "touches": Named(TouchesParams, _touches),
    "approvals": Named(ApprovalsParams, _approvals),
    "quarantine": Named(QuarantineParams, _quarantine),
    "decisions": Named(DecisionsParams, _decisions),
    "triggers": Named(TriggersParams, _triggers),
    "verify": Named(VerifyParams, _verify),
}


class UnknownQuery(KeyError):
    """No query has that name."""


def params_for(name: str, values: dict[str, Any]) -> Params:
    """`values` validated as the parameters of query `name` (pydantic's ValidationError if
    they are not; `UnknownQuery` for a name that is not here)."""
    if name not in QUERIES:
        raise UnknownQuery(name)
    return QUERIES[name].params.model_validate(values)


def run(con: duckdb.DuckDBPyConnection, name: str, params: Params, context: Context) -> pa.Table:
    """Query `name` with its validated `params`, on `con`, as the store's holder decides."""
    named = QUERIES[name]
    if not isinstance(params, named.params):
        raise TypeError(f"query {name} takes {named.params.__name__}")
    return named.run(con, params, context)
