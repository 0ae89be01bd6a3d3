"""Named read queries about touched data: every touch, and one record's lineage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa

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
    text: str | None = None  # matches system, object, record, run, workflow, action
    invert: bool = False


_TOUCHES = """
SELECT t.run_id, s.workflow, s.identity, t.ts, t.system, t.object, t.record_id, t.action,
       t.in_scope, t.step_id, t.fields, t.before, t.after, t.record_count, t.classification,
       t.actor, t.event_id
FROM touches t LEFT JOIN run_summary s USING (run_id)
WHERE ($run_id IS NULL OR t.run_id = $run_id)
  AND ($workflow IS NULL OR s.workflow = $workflow)
  AND ($system IS NULL OR t.system = $system)
  AND ($object IS NULL OR t.object = $object)
  AND ($record_id IS NULL OR t.record_id = $record_id)
  AND ($actions IS NULL OR list_contains($actions, t.action))
  AND (NOT $out_of_scope OR t.in_scope = false)
  AND ($since IS NULL OR t.ts >= $since)
  AND ($text IS NULL OR coalesce(
        t.system ILIKE $text OR t.object ILIKE $text OR t.record_id ILIKE $text
        OR t.run_id ILIKE $text OR s.workflow ILIKE $text OR t.action ILIKE $text,
        false) <> $invert)
ORDER BY t.ts {direction}, t.event_id
LIMIT $limit
"""


def touches(
    con: duckdb.DuckDBPyConnection,
    *,
    where: TouchFilter = TouchFilter(),
    limit: int | None = None,
    oldest_first: bool = False,
) -> pa.Table:
    """Touches across runs, newest first (a record's lineage reads oldest first)."""
    params = {
        "run_id": where.run_id,
        "workflow": where.workflow,
        "system": where.system,
        "object": where.object,
        "record_id": where.record_id,
        "actions": list(where.actions) or None,
        "out_of_scope": where.out_of_scope,
        "since": where.since,
        "text": "%" + where.text.replace("*", "%") + "%" if where.text else None,
        "invert": where.invert,
        "limit": limit if limit is not None else 2**62,
    }
    sql = _TOUCHES.format(direction="ASC" if oldest_first else "DESC")
    return con.execute(sql, params).to_arrow_table()


def lineage(
    con: duckdb.DuckDBPyConnection, system: str, obj: str, record_id: str
) -> pa.Table:
    """Every touch of one record, across runs, in time order."""
    return touches(
        con, where=TouchFilter(system=system, object=obj, record_id=record_id),
        oldest_first=True,
    )


def parse_record(text: str) -> tuple[str, str, str]:
    """`SYSTEM/OBJECT/ID` → its parts (the id may itself contain slashes)."""
    parts = text.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise ValueError(f"{text!r} is not SYSTEM/OBJECT/ID (e.g. crm/Contact/C-00042)")
    return parts[0], parts[1], parts[2]


def touch_detail(con: duckdb.DuckDBPyConnection, event_id: str) -> dict[str, object] | None:
    """One touch with its step's name and its run's scope (to say what covered it)."""
    rows = con.execute(
        """
        SELECT t.event_id, t.run_id, s.workflow, s.identity, s.scope, t.ts, t.system,
               t.object, t.record_id, t.action, t.in_scope, t.step_id, t.fields, t.before,
               t.after, t.record_count, t.classification, t.actor,
               (SELECT arg_max(name, ts) FROM steps st
                WHERE st.run_id = t.run_id AND st.step_id = t.step_id) AS step_name,
               list_filter(s.scope, lambda g: qd_grant_covers(g, t.system, t.object,
                                                               t.action)) AS covered_by
        FROM touches t LEFT JOIN run_summary s USING (run_id)
        WHERE t.event_id = ?
        """,
        [event_id],
    ).to_arrow_table().to_pylist()
    return rows[0] if rows else None
