"""Named read queries about runs: the run history and one run's detail.

Every function takes the moment `now` (UTC, naive) that status is derived at, so the console,
the CLI and the tests agree on what "stale" and "expired" mean at a given instant.

Run status (DESIGN §2): the latest `run.finished` status wins (at one instant the worse,
`qd_finish_order`; `conflicting_finish` when the run's finishes disagree); otherwise
`paused` (the latest applied pause/resume was a pause), then `awaiting_approval` (a
pending, unexpired approval), then `stale` (no event for `stale_seconds`), then `running`.
Events are ordered by their timestamps, never by file order.

`duration_s` is finished − started for a finished run, the time since the start for a run
still going, and last event − started for a stale one and for a paused one: a paused run's
latest event is its runner's acknowledgement of the pause, so its duration stops there (the
time it ran until paused) instead of ticking while nothing runs; resumed, it goes on from its
start, the pause included. A run that finished before it started has `clock_skew` (its hosts'
clocks differ): its negative duration is no fact.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from quarterdeck.queries import matching
from quarterdeck.queries.columns import RUNS

DEFAULT_STALE_SECONDS = 15 * 60

RUN_STATUSES = (
    "running",
    "awaiting_approval",
    "paused",
    "stale",
    "succeeded",
    "failed",
    "cancelled",
    "rolled_back",
)

#: Columns the run history can be sorted by (the console's column sort, `--sort`): the
#: sortable ones of its one definition, each a column of `run_history`'s result.
SORTABLE = tuple(c.key for c in RUNS if c.sortable)

# What a run is as of $now, from its summary row `s` and its pending approvals `p`: the
# columns of the history that are not stored. Only a run not finished (no outcome) needs `p`
# and $now for its status; a finished run's status is its outcome.
_STATUS = "qd_run_status(s.outcome, s.paused, coalesce(p.n, 0), s.last_event_at, $now, $stale)"
_DERIVED = {
    "status": _STATUS,
    "pending_approvals": "coalesce(p.n, 0)",
    "duration_s": f"""round(epoch(CASE
           WHEN s.outcome IS NOT NULL THEN s.finished_at
           WHEN {_STATUS} IN ('stale', 'paused') THEN s.last_event_at
           ELSE greatest($now, s.last_event_at) END - s.started_at), 3)""",
}

# A run that finished before it started (its hosts' clocks differ): its duration, negative,
# is no fact (`formats.duration` shows it as `⚠ skew -5s`). Only a finish can be earlier than
# the start: every other duration ends at its last event or now.
_CLOCK_SKEW = "coalesce(s.finished_at < s.started_at, false)"

# Unknown (NULL) for a run with touches that was never seen starting: its scope is not known,
# so none of its touches has been checked; they are not "0 out of scope". (Sorted by, it is
# the stored count: such a run sorts among the zeros.)
_OUT_OF_SCOPE = "CASE WHEN s.has_start OR s.touched = 0 THEN s.out_of_scope END"

#: The statuses a finished run can have (its `outcome`); the others depend on $now.
_OUTCOMES = frozenset(("succeeded", "failed", "cancelled", "rolled_back"))

# Filter, sort and cut the page on run_summary's own columns, then work out status, duration
# and pending approvals for the page's rows only: DuckDB keeps a top-N of the sort key, skips
# the row groups it cannot reach (run_summary is kept in started_at order) and reads the other
# columns for the rows it keeps (588k runs at 10M events: every run's status first, as this
# statement did before, cost ~100 ms of a `runs` command). A filter or a sort on a column
# worked out here joins the pending approvals (`p`) before the page is cut: for the runs not
# finished only when the status filter names no outcome, else for every run. Only the
# conditions in use are put in the statement (as in `queries.touches`).
_HISTORY = f"""
WITH pending AS (
    SELECT run_id, count(*) AS n FROM qd_approvals($now, pending_only := true)
    GROUP BY run_id
), page AS (
    SELECT s.* FROM run_summary s {{join}}
    WHERE {{where}}
    ORDER BY {{order}} NULLS LAST, s.started_at DESC, s.run_id
    LIMIT $limit OFFSET $offset
)
SELECT s.run_id, s.workflow, s.workflow_version, s.identity, s.environment,
       {_STATUS} AS status, s.started_at, s.finished_at, {_DERIVED["duration_s"]} AS duration_s,
       s.steps, s.step_errors, s.touched, s.reads, s.creates, s.updates, s.deletes, s.exports,
       {_OUT_OF_SCOPE} AS out_of_scope,
       {_DERIVED["pending_approvals"]} AS pending_approvals, s.last_event_at,
       s.trigger_kind, s.trigger_by, s.outcome_error AS error, s.tokens_in, s.tokens_out,
       round(s.cost_usd, 6) AS cost_usd, s.events, s.session_id, s.user_id,
       {_CLOCK_SKEW} AS clock_skew,
       coalesce(s.conflicting_finish, false) AS conflicting_finish,
       coalesce(s.conflicting_start, false) AS conflicting_start
FROM page s LEFT JOIN pending p USING (run_id)
ORDER BY {{order}} NULLS LAST, s.started_at DESC, s.run_id
"""

_CONDITIONS = {
    "workflow": "s.workflow = $workflow",
    "since": "s.started_at >= $since",
    "run_id": "s.run_id = $run_id",
    "run_ids": "list_contains($run_ids, s.run_id)",
    "session": "s.session_id = $session",
    "user": "s.user_id = $user",
    "text": f"""coalesce(
        s.run_id ILIKE $text ESCAPE '\\' OR s.workflow ILIKE $text ESCAPE '\\'
        OR replace({_STATUS}, '_', ' ') ILIKE $text ESCAPE '\\'
        OR {_STATUS} ILIKE $text ESCAPE '\\'
        OR s.identity ILIKE $text ESCAPE '\\' OR s.environment ILIKE $text ESCAPE '\\'
        OR s.session_id ILIKE $text ESCAPE '\\' OR s.user_id ILIKE $text ESCAPE '\\',
        false) <> $invert""",
}


def _status_condition(statuses: tuple[str, ...]) -> tuple[str, bool]:
    """The condition for a status filter, and whether it needs the pending approvals: a
    finished run's status is its outcome (DuckDB filters the column as it reads it); the
    others are worked out, for the runs not finished only when no outcome is asked for."""
    if set(statuses) <= _OUTCOMES:
        return "list_contains($status, s.outcome)", False
    if not set(statuses) & _OUTCOMES:
        return f"s.outcome IS NULL AND list_contains($status, {_STATUS})", True
    return f"list_contains($status, {_STATUS})", True


@dataclass(frozen=True)
class RunFilter:
    """What the run history shows. `text` matches run, workflow, status, identity,
    environment, session and user (case-insensitive, `*` wildcards allowed); `invert` shows
    the rest. `session` and `user` are exact: a session's (conversation's) runs, a user's."""

    status: tuple[str, ...] = ()  # as RUN_STATUSES spells them
    workflow: str | None = None
    since: datetime | None = None
    text: str | None = None
    invert: bool = False
    run_id: str | None = None
    run_ids: tuple[str, ...] = ()  # only these runs
    session: str | None = None
    user: str | None = None


def run_history(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime,
    where: RunFilter = RunFilter(),
    sort: str = "started_at",
    descending: bool = True,
    limit: int | None = None,
    offset: int = 0,
    stale_seconds: int = DEFAULT_STALE_SECONDS,
) -> pa.Table:
    """The run history, newest first by default; `offset` skips that many rows (the next
    page: the summary holds one row per run, so skipping costs about what sorting does)."""
    if sort not in SORTABLE:
        raise ValueError(f"cannot sort runs by {sort!r}; choose one of {', '.join(SORTABLE)}")
    given = {
        "workflow": where.workflow,
        "since": where.since,
        "run_id": where.run_id,
        "run_ids": list(where.run_ids) or None,
        "session": where.session,
        "user": where.user,
        "text": matching.contains(where.text) if where.text else None,
    }
    params: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    conditions = [_CONDITIONS[name] for name in params]
    joined = sort in _DERIVED or "text" in params
    if "text" in params:
        params["invert"] = where.invert
    if where.status:
        condition, needs_pending = _status_condition(where.status)
        conditions.append(condition)
        params["status"] = list(where.status)
        joined = joined or needs_pending
    order = f"{_DERIVED.get(sort, f's.{sort}')} {'DESC' if descending else 'ASC'}"
    sql = _HISTORY.format(
        join="LEFT JOIN pending p USING (run_id)" if joined else "",
        where=" AND ".join(conditions) or "true",
        order=order,
    )
    params |= {
        "now": now,
        "stale": stale_seconds,
        "limit": limit if limit is not None else 2**62,
        "offset": offset,
    }
    return con.execute(sql, params).to_arrow_table()


def run_overview(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    now: datetime,
    stale_seconds: int = DEFAULT_STALE_SECONDS,
) -> dict[str, object] | None:
    """One run's row of the history plus its scope (the one its touches are checked against:
    `scope_published` when it is its version's published scope, the run having given none);
    None when the run is unknown."""
    rows = run_history(
        con, now=now, where=RunFilter(run_id=run_id), stale_seconds=stale_seconds
    ).to_pylist()
    if not rows:
        return None
    row: dict[str, object] = rows[0]
    scope = con.execute(
        "SELECT qd_run_scope(has_start, scope, workflow, workflow_version), has_start, "
        "has_start AND scope IS NULL "
        "AND qd_published_scope(workflow, workflow_version) IS NOT NULL "
        "FROM run_summary WHERE run_id = ?",
        [run_id],
    ).fetchone()
    row["scope"] = scope[0] if scope else None
    row["has_start"] = bool(scope[1]) if scope else False
    row["scope_published"] = bool(scope[2]) if scope else False
    return row


def run_span(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, object]:
    """The run id and the time span of all its events, from the summary. Queries that add
    `ts BETWEEN $first AND $last` let DuckDB skip the row groups (each covers a stretch of
    time of one log file) that cannot hold the run: a run's detail reads a few row groups,
    not the whole table."""
    row = con.execute(
        "SELECT first_event_at, last_event_at FROM run_summary WHERE run_id = ?", [run_id]
    ).fetchone()
    first, last = row if row else (None, None)
    return {"run_id": run_id, "first": first, "last": last}


def _ordered(
    con: duckdb.DuckDBPyConnection, sql: str, run_id: str, limit: int | None, newest_first: bool
) -> pa.Table:
    """Run one of the run's queries below: `{direction}` in `sql` is its order; `$limit`
    keeps that many rows."""
    params = {**run_span(con, run_id), "limit": limit if limit is not None else 2**62}
    return con.execute(
        sql.format(direction="DESC" if newest_first else "ASC"), params
    ).to_arrow_table()


_IN_SPAN = "run_id = $run_id AND ts BETWEEN $first AND $last"


def run_steps(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    limit: int | None = None,
    newest_first: bool = False,
) -> pa.Table:
    """The run's steps as a timeline: one row per step, in start order (or the `limit` most
    recently started, newest first). A step finished more than once (`finishes`) takes its
    status and error together from the finish that counts (`qd_finish_order`: the latest),
    its tokens and cost summed over every event that gave them (each finish reported work);
    `clock_skew` when it finished before it started (its duration is then no fact)."""
    return _ordered(
        con,
        """
        SELECT step_id, name, kind, tool, model, started_at, finished_at, duration_s,
               clock_skew, finish.status AS status, finish.error AS error, finishes,
               tokens_in, tokens_out, cost_usd, effect
        FROM (
        SELECT step_id,
               arg_max(name, ts) FILTER (WHERE name IS NOT NULL) AS name,
               arg_max(kind, ts) FILTER (WHERE kind IS NOT NULL) AS kind,
               arg_max(tool, ts) FILTER (WHERE tool IS NOT NULL) AS tool,
               arg_max(model, ts) FILTER (WHERE model IS NOT NULL) AS model,
               min(ts) FILTER (WHERE phase = 'started') AS started_at,
               max(ts) FILTER (WHERE phase = 'finished') AS finished_at,
               round(epoch(max(ts) FILTER (WHERE phase = 'finished')
                           - min(ts) FILTER (WHERE phase = 'started')), 3) AS duration_s,
               coalesce(max(ts) FILTER (WHERE phase = 'finished')
                        < min(ts) FILTER (WHERE phase = 'started'), false) AS clock_skew,
               -- status and error from one finish, the one that counts (qd_finish_order)
               arg_max(struct_pack(status, error),
                       qd_finish_order(ts, status, event_id))
                   FILTER (WHERE phase = 'finished') AS finish,
               count(*) FILTER (WHERE phase = 'finished') AS finishes,
               sum(tokens_in) AS tokens_in,
               sum(tokens_out) AS tokens_out,
               sum(cost_usd) AS cost_usd,
               -- a trace's tool step the tool map did not know: 'unmapped' (ingest.tools)
               arg_max(attrs->>'$."quarterdeck.effect"', ts)
                   FILTER (WHERE attrs->>'$."quarterdeck.effect"' IS NOT NULL) AS effect,
               coalesce(min(ts) FILTER (WHERE phase = 'started'), min(ts)) AS timeline
        FROM steps WHERE """
        + _IN_SPAN
        + """
        GROUP BY step_id
        )
        ORDER BY timeline {direction}, step_id {direction}
        LIMIT $limit
        """,
        run_id,
        limit,
        newest_first,
    )


def run_events(con: duckdb.DuckDBPyConnection, run_id: str) -> pa.Table:
    """Every event of the run in timestamp order, where it came from, and its own fields
    (`fields`: the non-empty type-specific fields as JSON)."""
    return con.execute(
        """
        SELECT ts, type, step_id, actor, event_id, source, line_no, byte_offset,
               json_object(
                   'workflow', workflow, 'workflow_version', workflow_version,
                   'environment', environment, 'identity', identity,
                   'trigger', CASE WHEN trigger_kind IS NOT NULL
                                   THEN {'kind': trigger_kind, 'by': trigger_by} END,
                   'scope', scope, 'name', name, 'kind', kind, 'tool', tool, 'model', model,
                   'status', status, 'error', error, 'tokens_in', tokens_in,
                   'tokens_out', tokens_out, 'cost_usd', cost_usd, 'system', system,
                   'object', object, 'record_id', record_id, 'action', action,
                   'fields', fields, 'before', before, 'after', after,
                   'record_count', record_count, 'classification', classification,
                   'in_scope', in_scope, 'approval_id', approval_id, 'risk', risk,
                   'required_role', required_role, 'requested_by', requested_by,
                   'expires_at', expires_at, 'context', context, 'decision', decision,
                   'decided_by', decided_by, 'reason', reason, 'decision_id', decision_id,
                   'result', result, 'detail', detail, 'value', value, 'attrs', attrs
               ) AS body
        FROM events WHERE """
        + _IN_SPAN
        + """
        ORDER BY ts, source, line_no
        """,
        run_span(con, run_id),
    ).to_arrow_table()


def run_touches(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    limit: int | None = None,
    newest_first: bool = False,
) -> pa.Table:
    """Every record the run touched, in timestamp order (or the `limit` latest touches,
    newest first), with `in_scope` and, out of scope, the grant that would have covered it."""
    return _ordered(
        con,
        """
        SELECT ts, step_id, system, object, record_id, action, in_scope,
               qd_needed_grant(in_scope, system, object, action) AS needed_grant, fields,
               before, after, record_count, classification, actor, event_id
        FROM touches WHERE """
        + _IN_SPAN
        + """
        ORDER BY ts {direction}, event_id {direction}
        LIMIT $limit
        """,
        run_id,
        limit,
        newest_first,
    )


def run_count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute("SELECT count(*) FROM run_summary").fetchone()
    return int(row[0]) if row else 0
