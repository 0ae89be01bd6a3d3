"""Named read queries about touched data: every touch, and one record's lineage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

from quarterdeck.queries import matching, runs
from quarterdeck.queries.statements import one_row

ACTIONS = ("read", "create", "update", "delete", "export")


@dataclass(frozen=True)
class TouchFilter:
    run_id: str | None = None
    workflow: str | None = None
    system: str | None = None
    object: str | None = None
    record_id: str | None = None
    actions: tuple[str, ...] = ()
    out_of_scope: bool = False
    since: datetime | None = None
    until: datetime | None = None
    text: str | None = None  # matches system, object, record, run, workflow, action
    invert: bool = False


# Filter and cut the page on the touches alone, then join the run's workflow and identity to
# the page: the join costs a page, not the store. Only the conditions in use are put in the
# statement; `($x IS NULL OR …)` forms kept DuckDB from its fast top-N (59 → 41 ms at 1M).
_CONDITIONS = {
    "run_id": "t.run_id = $run_id",
    "workflow": "t.run_id IN (SELECT run_id FROM run_summary WHERE workflow = $workflow)",
    "system": "t.system = $system",
    "object": "t.object = $object",
    "record_id": "t.record_id = $record_id",
    "actions": "list_contains($actions, t.action)",
    "out_of_scope": "t.in_scope = false",  # and read from out_of_scope_touches
    "since": "t.ts >= $since",
    "until": "t.ts <= $until",
    "text": """coalesce(
        t.system ILIKE $text ESCAPE '\\' OR t.object ILIKE $text ESCAPE '\\'
        OR t.record_id ILIKE $text ESCAPE '\\'
        OR t.run_id ILIKE $text ESCAPE '\\' OR t.action ILIKE $text ESCAPE '\\'
        OR t.run_id IN (SELECT run_id FROM run_summary WHERE workflow ILIKE $text ESCAPE '\\'),
        false) <> $invert""",
}

# A run's touches lie within the time span of its events, which its summary holds once the
# derived facts cover them: bounding `ts` by it lets DuckDB skip the row groups (a stretch of
# time of one log file each) that cannot hold them (a scan of every touch's run id took
# ~80 ms at 10M events). The span is read first and given as values: DuckDB prunes row
# groups by values, not by subqueries. Only asked for when no touch waits for a refresh
# (`_pending_after`); a run the summary does not know has no touches then.
_RUN_SPAN = "t.ts BETWEEN $first AND $last"

# The next page, after the last row of this one (`after`): a condition on the sort key, so
# each page is a top-N that skips the row groups already read. LIMIT … OFFSET (or a larger
# LIMIT) holds every earlier row too; past DuckDB's top-N threshold it sorts the whole table
# (a page at 45,000 rows: ~35 ms this way against ~800 ms with OFFSET, at 10M events).
_AFTER = {
    "DESC": "t.ts <= $after_ts AND (t.ts < $after_ts OR t.event_id > $after_id)",
    "ASC": "t.ts >= $after_ts AND (t.ts > $after_ts OR t.event_id > $after_id)",
}

# A record's touches (system, object and record id all given) come from `record_touches`,
# clustered by `record_key` so that DuckDB reads the row group or two that can hold them.
# Touches stored since the derived facts' last refresh are not there yet: while there are
# any (a load or a follower between its commit and its refresh), they are read from the
# events past the mark as well, less any a refresh copied meanwhile. That costs a scan of
# the events (DuckDB prunes no row group by `rowid` beside other filters), so it is only
# asked for then.
_RECORD_TOUCHES = """
    SELECT * EXCLUDE (record_key) FROM record_touches
    WHERE record_key = hash($system, $object, $record_id)
"""
_RECORD_SOURCE = "(" + _RECORD_TOUCHES + ")"
_RECORD_AND_PENDING_SOURCE = f"""(
    {_RECORD_TOUCHES}
    UNION ALL
    SELECT event_id, run_id, step_id, ts, actor, system, object, record_id, action, fields,
           before, after, record_count, classification, in_scope
    FROM events
    WHERE rowid > $mark AND type = 'data.touched' AND event_id NOT IN (
        SELECT event_id FROM record_touches WHERE record_key = hash($system, $object, $record_id)
    )
)"""

_TOUCHES = """
WITH page AS (
    SELECT * FROM {source} t
    WHERE {where}
    ORDER BY t.ts {direction}, t.event_id
    LIMIT $limit
)
SELECT p.run_id, s.workflow, s.identity, p.ts, p.system, p.object, p.record_id, p.action,
       p.in_scope, qd_needed_grant(p.in_scope, p.system, p.object, p.action) AS needed_grant,
       p.step_id, p.fields, p.before, p.after, p.record_count, p.classification,
       p.actor, p.event_id
FROM page p LEFT JOIN (
    -- the page's runs picked first: a plain join probed all of run_summary (588k runs at
    -- 10M events: 140-190 ms the first time in a process, where this takes 35-90)
    SELECT run_id, workflow, identity FROM run_summary WHERE run_id IN (SELECT run_id FROM page)
) s USING (run_id)
ORDER BY p.ts {direction}, p.event_id
"""


def touches(
    con: duckdb.DuckDBPyConnection,
    *,
    where: TouchFilter = TouchFilter(),
    limit: int | None = None,
    oldest_first: bool = False,
    after: tuple[datetime, str] | None = None,
) -> pa.Table:
    """Touches across runs, newest first (a record's lineage reads oldest first). `after`,
    the (ts, event_id) of the last row of a page, asks for the page that follows it."""
    given = {
        "run_id": where.run_id,
        "workflow": where.workflow,
        "system": where.system,
        "object": where.object,
        "record_id": where.record_id,
        "actions": list(where.actions) or None,
        "out_of_scope": where.out_of_scope or None,
        "since": where.since,
        "until": where.until,
        "text": matching.contains(where.text) if where.text else None,
    }
    used = {name: value for name, value in given.items() if value is not None}
    params: dict[str, object] = {k: v for k, v in used.items() if k != "out_of_scope"}
    if "text" in used:
        params["invert"] = where.invert
    params["limit"] = limit if limit is not None else 2**62
    direction = "ASC" if oldest_first else "DESC"
    conditions = [_CONDITIONS[name] for name in used]
    if after is not None:
        conditions.append(_AFTER[direction])
        params["after_ts"], params["after_id"] = after
    record = {"system", "object", "record_id"} <= used.keys()
    mark = _pending_after(con) if record or "run_id" in used else None
    if "run_id" in used and mark is None:
        conditions.append(_RUN_SPAN)
        span = runs.run_span(con, where.run_id or "")
        params["first"], params["last"] = span["first"], span["last"]
    if "out_of_scope" in used:
        source = "out_of_scope_touches"
    elif record:
        source = _RECORD_SOURCE if mark is None else _RECORD_AND_PENDING_SOURCE
        if mark is not None:
            params["mark"] = mark
    else:
        source = "touches"
    sql = _TOUCHES.format(
        where=" AND ".join(conditions) or "true", direction=direction, source=source
    )
    return con.execute(sql, params).to_arrow_table()


def _pending_after(con: duckdb.DuckDBPyConnection) -> int | None:
    """The derived facts' mark on `events` when touches past it may wait for a refresh, else
    None. `events` only ever grows (rows are never deleted, so rowids run 0 … count - 1),
    and its count is kept with the table: a lookup, where `max(rowid)` reads every row group."""
    mark, rows = one_row(
        con, "SELECT (SELECT events_rowid FROM derived_marks), (SELECT count(*) FROM events)"
    )
    return int(mark) if rows - 1 > mark else None


def lineage(con: duckdb.DuckDBPyConnection, system: str, obj: str, record_id: str) -> pa.Table:
    """Every touch of one record, across runs, in time order."""
    return touches(
        con,
        where=TouchFilter(system=system, object=obj, record_id=record_id),
        oldest_first=True,
    )


def parse_record(text: str) -> tuple[str, str, str]:
    """`SYSTEM/OBJECT/ID` → its parts (the id may itself contain slashes)."""
    parts = text.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{text!r} is not SYSTEM/OBJECT/ID (e.g. crm/Contact/C-00042)")
    return parts[0], parts[1], parts[2]


def touch_detail(con: duckdb.DuckDBPyConnection, event_id: str) -> dict[str, object] | None:
    """One touch with its step's name and its run's scope: the grants that covered it, or the
    grant that would have (`needed_grant`)."""
    rows = (
        con.execute(
            """
        WITH t AS (  -- the touch and its run, before the run's scope is worked out
            SELECT t.*, s.workflow, s.identity,
                   qd_run_scope(s.has_start, s.scope, s.workflow, s.workflow_version) AS scope
            FROM (SELECT * FROM touches WHERE event_id = ?) t
            LEFT JOIN run_summary s USING (run_id)
        )
        SELECT t.event_id, t.run_id, t.workflow, t.identity, t.scope, t.ts, t.system,
               t.object, t.record_id, t.action, t.in_scope,
               qd_needed_grant(t.in_scope, t.system, t.object, t.action) AS needed_grant,
               t.step_id, t.fields, t.before,
               t.after, t.record_count, t.classification, t.actor,
               (SELECT arg_max(name, ts) FROM steps st
                WHERE st.run_id = t.run_id AND st.step_id = t.step_id) AS step_name,
               list_filter(t.scope, lambda g: qd_grant_covers(g, t.system, t.object,
                                                               t.action)) AS covered_by
        FROM t
        """,
            [event_id],
        )
        .to_arrow_table()
        .to_pylist()
    )
    return rows[0] if rows else None
