"""The decisions list: newest first, each decision with where it is in its lifecycle.

recorded (journal and store) → delivered (written to the control outbox) → applied, partly
applied or refused, from the runners' `control.applied` acknowledgements. An approve or reject
counts as applied once the approval's decision shows in the logs (from five seconds before it
was decided, for clock skew). Reads only; the CLI's `decisions`, the console and evidence
bundles all list decisions through this one query, so they never disagree.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

_DECISIONS = """
WITH acks AS (
    SELECT decision_id, count(*) FILTER (WHERE result = 'applied') AS applied,
           count(*) FILTER (WHERE result <> 'applied') AS refused,
           max(ts) AS acked_at,
           string_agg(DISTINCT detail, '; ') FILTER (WHERE detail IS NOT NULL) AS detail
    FROM controls WHERE decision_id IN (SELECT decision_id FROM decisions)
    GROUP BY decision_id
), answered AS (  -- an approve/reject is applied when the runner logs the decision
    SELECT d.decision_id, min(e.ts) AS at
    FROM decisions d JOIN approval_events e
      ON e.approval_id = d.approval_id AND e.state <> 'pending' AND e.ts >= d.decided_at
         - INTERVAL 5 SECOND
    GROUP BY d.decision_id
), sent AS (
    SELECT decision_id, min(delivered_at) AS delivered_at FROM deliveries GROUP BY decision_id
)
SELECT d.seq, d.decision_id, d.decided_at, d.operator, d.action, d.target_kind, d.target,
       d.runs, d.approval_id, d.reason, d.source, s.delivered_at,
       coalesce(a.applied, 0) + CASE WHEN w.at IS NOT NULL THEN len(d.runs) ELSE 0 END
           AS applied_runs,
       coalesce(a.refused, 0) AS refused_runs, coalesce(a.acked_at, w.at) AS acked_at,
       a.detail,
       CASE WHEN w.at IS NOT NULL OR coalesce(a.applied, 0) >= greatest(len(d.runs), 1)
                THEN 'applied'
            WHEN coalesce(a.applied, 0) > 0 THEN 'partly applied'
            WHEN coalesce(a.refused, 0) > 0 THEN 'refused'
            WHEN s.delivered_at IS NOT NULL THEN 'delivered'
            ELSE 'recorded' END AS state,
       d.prev_hash, d.hash
FROM decisions d LEFT JOIN acks a USING (decision_id) LEFT JOIN answered w USING (decision_id)
LEFT JOIN sent s USING (decision_id)
WHERE ($run_id IS NULL OR list_contains(d.runs, $run_id))
ORDER BY d.seq DESC
LIMIT $limit
"""


def decisions(
    con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, limit: int | None = None
) -> pa.Table:
    """Decisions, newest first, each with its lifecycle: recorded → delivered → applied (or
    refused, from the runners' `control.applied`)."""
    return con.execute(
        _DECISIONS, {"run_id": run_id, "limit": limit if limit is not None else 2**62}
    ).to_arrow_table()
