"""Named read queries about approvals, merged from events and approval-system records.

The merge (by `approval_id`; latest state wins; a decided request never returns to pending;
a pending request past `expires_at` is `expired`) is the `qd_approvals` macro in
`queries.macros`.
"""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from quarterdeck.queries import matching

# Filter and cut the page on the approvals alone, then join the runs' workflow to the page
# (as `queries.touches` does): a join of every approval with run_summary cost ~100 ms at
# 10M events. `pending_only` is put in the statement as a constant, so that DuckDB checks
# it as it reads `decided_state` (qd_approvals); only the conditions in use are put in.
_ORDER = """a.status <> 'pending', CASE WHEN a.status = 'pending' THEN a.expires_at END NULLS LAST,
         a.decided_at DESC NULLS LAST, a.requested_at DESC NULLS LAST, a.approval_id"""
_APPROVALS = f"""
WITH page AS (
    SELECT * FROM qd_approvals($now, pending_only := {{pending}}) a
    WHERE {{where}}
    ORDER BY {_ORDER}
    LIMIT $limit OFFSET $offset
)
SELECT a.approval_id, a.run_id, s.workflow, a.action, a.risk, a.required_role,
       a.requested_by, a.requested_at, a.expires_at, a.status, a.decided_by, a.decided_at,
       a.reason, a.sources,
       CASE WHEN a.status = 'pending' AND a.expires_at IS NOT NULL
            THEN round(epoch(a.expires_at - $now), 0) END AS seconds_left,
       round(epoch($now - a.requested_at), 0) AS age_s
FROM page a LEFT JOIN (
    SELECT run_id, workflow FROM run_summary WHERE run_id IN (SELECT run_id FROM page)
) s USING (run_id)
ORDER BY {_ORDER}
"""
_CONDITIONS = {
    "run_id": "a.run_id = $run_id",
    "approval_id": "a.approval_id = $approval_id",
    "text": """coalesce(
        a.action ILIKE $text ESCAPE '\\' OR a.run_id ILIKE $text ESCAPE '\\'
        OR a.run_id IN (SELECT run_id FROM run_summary WHERE workflow ILIKE $text ESCAPE '\\')
        OR a.required_role ILIKE $text ESCAPE '\\'
        OR a.requested_by ILIKE $text ESCAPE '\\' OR a.status ILIKE $text ESCAPE '\\'
        OR a.approval_id ILIKE $text ESCAPE '\\', false) <> $invert""",
}


def approvals(
    con: duckdb.DuckDBPyConnection,
    *,
    now: datetime,
    pending_only: bool = False,
    run_id: str | None = None,
    approval_id: str | None = None,
    text: str | None = None,
    invert: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> pa.Table:
    """Pending requests first (soonest to expire first), then decided ones, newest first.
    `text` matches action, run, workflow, role, requester, status or id (`*` wildcards);
    `offset` skips that many rows (the next page)."""
    given = {
        "run_id": run_id,
        "approval_id": approval_id,
        "text": matching.contains(text) if text else None,
    }
    params: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    conditions = [_CONDITIONS[name] for name in params]
    if "text" in params:
        params["invert"] = invert
    sql = _APPROVALS.format(
        pending="true" if pending_only else "false",
        where=" AND ".join(conditions) or "true",
    )
    params |= {"now": now, "limit": limit if limit is not None else 2**62, "offset": offset}
    return con.execute(sql, params).to_arrow_table()


_STATES = """
SELECT state, state_at, source FROM qd_approval_states()
WHERE approval_id = $approval_id
ORDER BY state_at, state <> 'pending', source
"""


def approval(
    con: duckdb.DuckDBPyConnection, approval_id: str, *, now: datetime
) -> dict[str, object] | None:
    """One request as the Approvals pane lists it, with its `context`, `expires_in_s`
    (seconds until `expires_at` as of `now`; negative once past) and `states`: every state
    the merge saw for it, oldest first, each with its source (`event`, or `record:` and the
    approval-system file it was read from). None when the id is unknown."""
    found = approvals(con, now=now, approval_id=approval_id).to_pylist()
    if not found:
        return None
    expires = found[0]["expires_at"]
    (context,) = con.execute(
        "SELECT context FROM approval_summary WHERE approval_id = ?", [approval_id]
    ).fetchone() or (None,)
    return {
        **found[0],
        "context": context,
        "expires_in_s": (expires - now).total_seconds() if expires is not None else None,
        "states": con.execute(_STATES, {"approval_id": approval_id}).to_arrow_table().to_pylist(),
    }
