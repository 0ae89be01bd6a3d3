"""Named read queries about approvals, merged from events and approval-system records.

The merge (by `approval_id`; latest state wins; a decided request never returns to pending;
a pending request past `expires_at` is `expired`) is the `qd_approvals` macro in
`queries.macros`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

_APPROVALS = """
SELECT a.approval_id, a.run_id, s.workflow, a.action, a.risk, a.required_role,
       a.requested_by, a.requested_at, a.expires_at, a.status, a.decided_by, a.decided_at,
       a.reason, a.sources,
       CASE WHEN a.status = 'pending' AND a.expires_at IS NOT NULL
            THEN round(epoch(a.expires_at - $now), 0) END AS seconds_left,
       round(epoch($now - a.requested_at), 0) AS age_s
FROM qd_approvals($now) a LEFT JOIN run_summary s USING (run_id)
WHERE (NOT $pending OR a.status = 'pending')
  AND ($run_id IS NULL OR a.run_id = $run_id)
  AND ($text IS NULL OR coalesce(
        a.action ILIKE $text OR a.run_id ILIKE $text OR s.workflow ILIKE $text
        OR a.required_role ILIKE $text OR a.requested_by ILIKE $text
        OR a.status ILIKE $text OR a.approval_id ILIKE $text, false) <> $invert)
ORDER BY a.status <> 'pending', CASE WHEN a.status = 'pending' THEN a.expires_at END NULLS LAST,
         a.decided_at DESC NULLS LAST, a.requested_at DESC NULLS LAST, a.approval_id
LIMIT $limit
"""


def approvals(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime,
    pending_only: bool = False,
    run_id: str | None = None,
    text: str | None = None,
    invert: bool = False,
    limit: int | None = None,
) -> pa.Table:
    """Pending requests first (soonest to expire first), then decided ones, newest first.
    `text` matches action, run, workflow, role, requester, status or id (`*` wildcards)."""
    return con.execute(
        _APPROVALS,
        {"now": now, "pending": pending_only, "run_id": run_id,
         "text": "%" + text.replace("*", "%") + "%" if text else None, "invert": invert,
         "limit": limit if limit is not None else 2**62},
    ).to_arrow_table()
