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
