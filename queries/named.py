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

Every read the console makes is here too (its `StoreReader` asks these names, of the server or
in-process), so a console shows the same either way. Answers are tables: a single record (a
run's overview, a touch, an approval) is a one-row table, none when there is no such record;
nested values travel the way Arrow carries them (lists, structs); what is irregular by nature
(a touch's before/after, a journal record) travels as JSON text and is decoded by the reader
(`unpack_evidence`). The parameter `now` (or `at`) is the asker's clock, so one screen is one
moment whoever runs the query.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import duckdb
import pyarrow as pa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from quarterdeck.queries import (
    approvals,
    decisions,
    evidence,
    findings,
    quarantine,
    runs,
    touches,
    triggers,
    versions,
)

#: The most rows a `limit` asks for, from a command or through the server alike: a limit caps
#: the rows shown (leave it out for every row), it is not a way to ask for "all". A larger one
#: is bad input (exit 2), refused with `LIMIT_PROBLEM` before anything is queried.
MAX_LIMIT = 1_000_000
LIMIT_PROBLEM = f"at most {MAX_LIMIT:,} rows (leave the limit out for every row)"
#: The largest `offset` a page takes: DuckDB's BIGINT (a larger one would fail in the store
#: rather than be refused as bad input).
MAX_OFFSET = 2**63 - 1


def _row_cap(value: int | None) -> int | None:
    if value is not None and value > MAX_LIMIT:
        raise ValueError(LIMIT_PROBLEM)
    return value


#: A query's `limit`: 1 to `MAX_LIMIT` rows, or none (every row).
Limit = Annotated[int | None, Field(gt=0), AfterValidator(_row_cap)]


@dataclass(frozen=True)
class Context:
    """What the process that holds the store decides for every query it runs."""

    stale_seconds: int
    rules: tuple[triggers.Rule, ...] = ()
    journal: Path | None = None
    publish_rules: tuple[findings.PublishRule, ...] = ()


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RunsParams(Params):
    now: datetime
    status: tuple[str, ...] = ()
    workflow: str | None = None
    since: datetime | None = None
    text: str | None = None
    invert: bool = False
    run_id: str | None = None
    run_ids: tuple[str, ...] = ()
    session: str | None = None
    user: str | None = None
    sort: str = "started_at"
    descending: bool = True
    limit: Limit = None
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class TouchesParams(Params):
    run_id: str | None = None
    workflow: str | None = None
    system: str | None = None
    object: str | None = None
    record_id: str | None = None
    actions: tuple[str, ...] = ()
    out_of_scope: bool = False
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None
    invert: bool = False
    limit: Limit = None
    oldest_first: bool = False
    after: tuple[datetime, str] | None = None  # keyset: the last row of the page before


class ApprovalsParams(Params):
    now: datetime
    pending_only: bool = False
    run_id: str | None = None
    text: str | None = None
    invert: bool = False
    limit: Limit = None
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class QuarantineParams(Params):
    error_class: str | None = None
    limit: Limit = None


class DecisionsParams(Params):
    run_id: str | None = None
    decision: str | None = None  # only this one: its id, or its seq (`12` or `#12`)
    limit: Limit = None


class OutcomesParams(Params):
    decision: str  # its id, or its seq (`12` or `#12`)


class FindingsParams(Params):
    kind: str | None = None
    workflow: str | None = None
    version: str | None = None
    run_id: str | None = None
    run_ids: tuple[str, ...] = ()
    limit: Limit = None


class WorkflowsParams(Params):
    at: datetime
    window_s: float = Field(24 * 3600, gt=0)
    workflow: str | None = None


class VersionParams(Params):
    workflow: str
    version: str
    at: datetime


class TriggersParams(Params):
    at: datetime


class VerifyParams(Params):
    pass


class RunParams(Params):
    run_id: str
    now: datetime


class RunPartParams(Params):
    run_id: str
    limit: Limit = None
    newest_first: bool = False


class EventsParams(Params):
    run_id: str


class TouchParams(Params):
    event_id: str


class LineageParams(Params):
    system: str
    object: str
    record_id: str


class ApprovalParams(Params):
    approval_id: str
    now: datetime


class NoParams(Params):
    pass


class TriggerEvidenceParams(Params):
    name: str
    at: datetime


class TripsParams(Params):
    now: datetime


class EvidenceParams(Params):
    run_id: str
    now: datetime


class EvidenceRunsParams(Params):
    workflow: str
    since: datetime


def _runs(con: duckdb.DuckDBPyConnection, p: RunsParams, ctx: Context) -> pa.Table:
    where = runs.RunFilter(
        status=p.status,
        workflow=p.workflow,
        since=p.since,
        text=p.text,
        invert=p.invert,
        run_id=p.run_id,
        run_ids=p.run_ids,
        session=p.session,
        user=p.user,
    )
    return runs.run_history(
        con,
        now=p.now,
        where=where,
        sort=p.sort,
        descending=p.descending,
        limit=p.limit,
        offset=p.offset,
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
        until=p.until,
        text=p.text,
        invert=p.invert,
    )
    return touches.touches(
        con, where=where, limit=p.limit, oldest_first=p.oldest_first, after=p.after
    )


def _approvals(con: duckdb.DuckDBPyConnection, p: ApprovalsParams, ctx: Context) -> pa.Table:
    return approvals.approvals(
        con,
        now=p.now,
        pending_only=p.pending_only,
        run_id=p.run_id,
        text=p.text,
        invert=p.invert,
        limit=p.limit,
        offset=p.offset,
    )


def _quarantine(con: duckdb.DuckDBPyConnection, p: QuarantineParams, ctx: Context) -> pa.Table:
    return quarantine.quarantined(con, error_class=p.error_class, limit=p.limit)


def _decisions(con: duckdb.DuckDBPyConnection, p: DecisionsParams, ctx: Context) -> pa.Table:
    return decisions.decisions(con, run_id=p.run_id, decision=p.decision, limit=p.limit)


def _outcomes(con: duckdb.DuckDBPyConnection, p: OutcomesParams, ctx: Context) -> pa.Table:
    return decisions.outcomes(con, p.decision)


def _findings(con: duckdb.DuckDBPyConnection, p: FindingsParams, ctx: Context) -> pa.Table:
    where = findings.FindingFilter(
        kind=p.kind, workflow=p.workflow, version=p.version, run_id=p.run_id, run_ids=p.run_ids
    )
    return findings.findings(con, ctx.publish_rules, where=where, limit=p.limit)


def _workflows(con: duckdb.DuckDBPyConnection, p: WorkflowsParams, ctx: Context) -> pa.Table:
    return versions.versions(
        con, at=p.at, window_s=p.window_s, rules=ctx.publish_rules, workflow=p.workflow
    )


def _version(con: duckdb.DuckDBPyConnection, p: VersionParams, ctx: Context) -> pa.Table:
    """One version: its publish record (null if never published), the scopes its runs used
    (each with the grants beyond the published scope), its findings and its newest runs."""
    return record_table(
        versions.version_detail(con, p.workflow, p.version, at=p.at, rules=ctx.publish_rules)
    )


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


# --- the console's reads ----------------------------------------------------------------------


#: The answer of a query for a single record when there is no such record.
NONE = pa.table({"none": pa.array([], pa.null())})


def record_table(record: dict[str, Any] | None) -> pa.Table:
    """A single record as a one-row table (no rows for None)."""
    return pa.Table.from_pylist([record]) if record is not None else NONE


def first(table: pa.Table) -> dict[str, Any] | None:
    """The record of a one-row table, None for an empty one."""
    if table.num_rows == 0:
        return None
    row: dict[str, Any] = table.slice(0, 1).to_pylist()[0]
    return row


def _nested(table: pa.Table | None) -> pa.Array:
    """A whole table as one value: a list of structs (null for None)."""
    if table is None:
        return pa.array([None], pa.list_(pa.null()))
    rows = pa.StructArray.from_arrays(
        [c.combine_chunks() for c in table.columns], fields=list(table.schema)
    )
    return pa.ListArray.from_arrays(pa.array([0, len(rows)], pa.int32()), rows)


def unnest(table: pa.Table, column: str) -> pa.Table | None:
    """The table nested in `column` of a one-row table (`_nested`'s inverse)."""
    value = table.column(column).combine_chunks()
    if value.is_null()[0].as_py():
        return None
    return pa.Table.from_struct_array(value.flatten())


def _run(con: duckdb.DuckDBPyConnection, p: RunParams, ctx: Context) -> pa.Table:
    """A run's overview: its row of the history, its scope and whether its start was seen."""
    return record_table(
        runs.run_overview(con, p.run_id, now=p.now, stale_seconds=ctx.stale_seconds)
    )


def _run_steps(con: duckdb.DuckDBPyConnection, p: RunPartParams, ctx: Context) -> pa.Table:
    return runs.run_steps(con, p.run_id, limit=p.limit, newest_first=p.newest_first)


def _run_touches(con: duckdb.DuckDBPyConnection, p: RunPartParams, ctx: Context) -> pa.Table:
    return runs.run_touches(con, p.run_id, limit=p.limit, newest_first=p.newest_first)


def _run_events(con: duckdb.DuckDBPyConnection, p: EventsParams, ctx: Context) -> pa.Table:
    return runs.run_events(con, p.run_id)


def _touch(con: duckdb.DuckDBPyConnection, p: TouchParams, ctx: Context) -> pa.Table:
    return record_table(touches.touch_detail(con, p.event_id))


def _lineage(con: duckdb.DuckDBPyConnection, p: LineageParams, ctx: Context) -> pa.Table:
    return touches.lineage(con, p.system, p.object, p.record_id)


def _approval(con: duckdb.DuckDBPyConnection, p: ApprovalParams, ctx: Context) -> pa.Table:
    return record_table(approvals.approval(con, p.approval_id, now=p.now))


def _counts(con: duckdb.DuckDBPyConnection, p: NoParams, ctx: Context) -> pa.Table:
    return pa.table(
        {
            "runs": pa.array([runs.run_count(con)], pa.int64()),
            "quarantined": pa.array([quarantine.quarantine_count(con)], pa.int64()),
        }
    )


def rule_record(rule: triggers.Rule) -> dict[str, Any]:
    return dataclasses.asdict(rule)


def rule_record_fields() -> tuple[str, ...]:
    """The fields of a rule, as `rule_record` and the `trigger_status` rows carry them."""
    return tuple(f.name for f in dataclasses.fields(triggers.Rule))


def _trigger_status(con: duckdb.DuckDBPyConnection, p: NoParams, ctx: Context) -> pa.Table:
    """Every configured rule (the holder's) with its latest stored evaluation and recent
    values; nothing is evaluated here."""
    status = {
        r["name"]: r for r in triggers.status(con, [rule.name for rule in ctx.rules]).to_pylist()
    }
    rows = []
    for rule in ctx.rules:
        row = status.get(rule.name, {})
        rows.append(
            {
                **rule_record(rule),
                "phase": row.get("phase"),
                "value": row.get("value"),
                "runs_in_window": row.get("runs_in_window"),
                "reason": row.get("reason"),
                "evaluated_at": row.get("evaluated_at"),
                "changed_at": row.get("changed_at"),
                "history": row.get("history"),
            }
        )
    return pa.Table.from_pylist(rows, schema=_TRIGGER_STATUS)


def _rule(ctx: Context, name: str) -> triggers.Rule | None:
    return next((r for r in ctx.rules if r.name == name), None)


def _trigger_evidence(
    con: duckdb.DuckDBPyConnection, p: TriggerEvidenceParams, ctx: Context
) -> pa.Table:
    """A rule evaluated at `at` (not stored), with the runs and touches behind its value:
    one row (`rule`, `evaluation`, `runs`, `touches`), none for a rule not configured."""
    rule = _rule(ctx, p.name)
    if rule is None:
        return NONE
    ev = triggers.evaluate(con, rule, at=p.at, stale_seconds=ctx.stale_seconds)
    run_rows, touch_rows = triggers.evidence(con, rule, ev, stale_seconds=ctx.stale_seconds)
    return pa.table(
        {
            "rule": pa.array([rule_record(rule)], _RULE),
            "evaluation": pa.array([dataclasses.asdict(ev)], _EVALUATION),
            "runs": _nested(run_rows),
            "touches": _nested(touch_rows),
        }
    )


_RULE = pa.struct(
    [
        ("name", pa.string()),
        ("metric", pa.string()),
        ("window_s", pa.float64()),
        ("threshold", pa.float64()),
        ("workflow", pa.string()),
        ("environment", pa.string()),
        ("below", pa.bool_()),
        ("min_runs", pa.int64()),
        ("on_trip", pa.string()),
        ("auto", pa.bool_()),
        ("version", pa.string()),
        ("compare", pa.string()),
    ]
)
_TRIGGER_STATUS = pa.schema(
    [
        *_RULE,  # the rule as configured, then its latest stored evaluation
        ("phase", pa.string()),
        ("value", pa.float64()),
        ("runs_in_window", pa.int64()),
        ("reason", pa.string()),
        ("evaluated_at", pa.timestamp("us")),
        ("changed_at", pa.timestamp("us")),
        ("history", pa.list_(pa.float64())),
    ]
)
_EVALUATION = pa.struct(
    [
        ("name", pa.string()),
        ("phase", pa.string()),
        ("value", pa.float64()),
        ("threshold", pa.float64()),
        ("window_s", pa.float64()),
        ("runs_in_window", pa.int64()),
        ("at", pa.timestamp("us")),
        ("reason", pa.string()),
        ("evidence_runs", pa.list_(pa.string())),
    ]
)


def unpack_trigger(row: dict[str, Any]) -> tuple[triggers.Rule, triggers.Evaluation]:
    """The rule and evaluation of a `trigger_evidence` or `trips` row."""
    ev = dict(row["evaluation"])
    ev["evidence_runs"] = tuple(ev["evidence_runs"] or ())
    return triggers.Rule(**row["rule"]), triggers.Evaluation(**ev)


def _trips(con: duckdb.DuckDBPyConnection, p: TripsParams, ctx: Context) -> pa.Table:
    """Each rule tripped now: when its trip began, the decision taken on it (null while nobody
    has decided), and the rule evaluated now as of the trip (its evidence for the dialog)."""
    rows = []
    for rule in ctx.rules:
        trip = triggers.open_trip(con, rule.name)
        if trip is None:
            continue
        tripped_at, decision_id = trip
        ev = triggers.evaluate(con, rule, at=p.now, stale_seconds=ctx.stale_seconds)
        rows.append(
            {
                "name": rule.name,
                "tripped_at": tripped_at,
                "decision_id": decision_id,
                "rule": rule_record(rule),
                "evaluation": {**dataclasses.asdict(ev), "at": tripped_at},
            }
        )
    return pa.Table.from_pylist(
        rows,
        schema=pa.schema(
            [
                ("name", pa.string()),
                ("tripped_at", pa.timestamp("us")),
                ("decision_id", pa.string()),
                ("rule", _RULE),
                ("evaluation", _EVALUATION),
            ]
        ),
    )


#: The parts of a run's evidence (`queries.evidence.collect`) that hold JSON decoded there.
_JSON_PARTS = {"touches": ("before", "after"), "decisions": ("journal_record",)}


def _evidence(con: duckdb.DuckDBPyConnection, p: EvidenceParams, ctx: Context) -> pa.Table:
    """Everything an evidence bundle holds of one run, as one row (none for an unknown run):
    `run` a struct, each other part a list of structs; before/after and journal records as JSON
    text (`unpack_evidence` decodes them)."""
    collected = evidence.collect(
        con,
        p.run_id,
        now=p.now,
        stale_seconds=ctx.stale_seconds,
        publish_rules=ctx.publish_rules,
    )
    if collected is None:
        return NONE
    row: dict[str, Any] = dict(collected)
    for part, keys in _JSON_PARTS.items():
        row[part] = [
            {k: (json.dumps(v) if k in keys and v is not None else v) for k, v in item.items()}
            for item in collected[part]
        ]
    return pa.table({name: pa.array([value]) for name, value in row.items()})


def unpack_evidence(table: pa.Table) -> dict[str, Any] | None:
    """An `evidence` answer → what `queries.evidence.collect` returns (None: no such run)."""
    row = first(table)
    if row is None:
        return None
    for part, keys in _JSON_PARTS.items():
        for item in row[part]:
            for key in keys:
                if item[key] is not None:
                    item[key] = json.loads(item[key])
    return row


def _evidence_runs(con: duckdb.DuckDBPyConnection, p: EvidenceRunsParams, ctx: Context) -> pa.Table:
    ids = evidence.run_ids(con, workflow=p.workflow, since=p.since)
    return pa.table({"run_id": pa.array(ids, pa.string())})


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
    "decision_outcomes": Named(OutcomesParams, _outcomes),
    "triggers": Named(TriggersParams, _triggers),
    "findings": Named(FindingsParams, _findings),
    "workflows": Named(WorkflowsParams, _workflows),
    "version": Named(VersionParams, _version),
    "verify": Named(VerifyParams, _verify),
    # the console's reads
    "run": Named(RunParams, _run),
    "run_steps": Named(RunPartParams, _run_steps),
    "run_touches": Named(RunPartParams, _run_touches),
    "run_events": Named(EventsParams, _run_events),
    "touch": Named(TouchParams, _touch),
    "lineage": Named(LineageParams, _lineage),
    "approval": Named(ApprovalParams, _approval),
    "counts": Named(NoParams, _counts),
    "trigger_status": Named(NoParams, _trigger_status),
    "trigger_evidence": Named(TriggerEvidenceParams, _trigger_evidence),
    "trips": Named(TripsParams, _trips),
    "evidence": Named(EvidenceParams, _evidence),
    "evidence_runs": Named(EvidenceRunsParams, _evidence_runs),
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
