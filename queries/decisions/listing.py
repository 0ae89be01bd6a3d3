"""The decisions list: newest first, each decision with where it is in its lifecycle.

recorded (journal and store) → delivered (written to the control outbox) → applied, partly
applied or refused, from the runners' `control.applied` acknowledgements. An approve or reject
counts as applied once the approval's decision shows in the logs (from five seconds before it
was decided, for clock skew). Reads only; the CLI's `decisions`, the console and evidence
bundles all list decisions through this one query, so they never disagree.

`outcomes` says it per run, for one decision: each run it named, and each run a runner
acknowledged it for (a workflow's runs that started after the decision was planned), as
applied, refused (with what the runner said), or not acknowledged yet. A run's latest
acknowledgement is its outcome. The list's counts and state are the sum of these rows.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

_DECISIONS = """
WITH per_run AS (  -- each run's latest acknowledgement of each decision
    SELECT decision_id, run_id, arg_max(result, ts) AS result, max(ts) AS acked_at,
           arg_max(detail, ts) AS detail
    FROM controls WHERE decision_id IN (SELECT decision_id FROM decisions)
    GROUP BY decision_id, run_id
), acks AS (
    SELECT decision_id, count(*) FILTER (WHERE result = 'applied') AS applied,
           count(*) FILTER (WHERE result <> 'applied') AS refused,
           max(acked_at) AS acked_at,
           string_agg(DISTINCT detail, '; ') FILTER (WHERE detail IS NOT NULL) AS detail,
           list(run_id) AS acked_runs,
           list({'run_id': run_id,
                 'outcome': CASE WHEN result = 'applied' THEN 'applied' ELSE 'refused' END,
                 'detail': detail} ORDER BY run_id) AS acked
    FROM per_run GROUP BY decision_id
), answered AS (  -- an approve/reject is applied when the runner logs the decision
    SELECT d.decision_id, min(e.ts) AS at
    FROM decisions d JOIN approval_events e
      ON e.approval_id = d.approval_id AND e.state <> 'pending' AND e.ts >= d.decided_at
         - INTERVAL 5 SECOND
    GROUP BY d.decision_id
), sent AS (
    SELECT decision_id, min(delivered_at) AS delivered_at FROM deliveries GROUP BY decision_id
), counted AS (
    SELECT d.*, s.delivered_at, w.at AS answered_at, a.acked_at, a.detail, a.acked,
           coalesce(a.applied, 0) + CASE WHEN w.at IS NOT NULL THEN len(d.runs) ELSE 0 END
               AS applied_runs,
           coalesce(a.refused, 0) AS refused_runs,
           CASE WHEN w.at IS NOT NULL THEN []
                ELSE list_filter(d.runs, r -> NOT list_contains(coalesce(a.acked_runs, []), r))
                END AS waiting
    FROM decisions d LEFT JOIN acks a USING (decision_id)
    LEFT JOIN answered w USING (decision_id) LEFT JOIN sent s USING (decision_id)
    WHERE ($run_id IS NULL OR list_contains(d.runs, $run_id))
)
SELECT seq, decision_id, decided_at, operator, action, target_kind, target, runs, approval_id,
       reason, source, delivered_at, applied_runs, refused_runs,
       len(waiting) AS waiting_runs, coalesce(acked_at, answered_at) AS acked_at, detail,
       CASE WHEN answered_at IS NOT NULL OR applied_runs >= greatest(len(runs), 1)
                THEN 'applied'
            WHEN applied_runs > 0 THEN 'partly applied'
            WHEN refused_runs > 0 THEN 'refused'
            WHEN delivered_at IS NOT NULL THEN 'delivered'
            ELSE 'recorded' END AS state,
       concat_ws(', ',
           CASE WHEN applied_runs > 0 THEN applied_runs || ' applied' END,
           CASE WHEN refused_runs > 0 THEN refused_runs || ' refused' END,
           CASE WHEN len(waiting) > 0 THEN len(waiting) || ' not acknowledged' END) AS answers,
       CASE WHEN answered_at IS NOT NULL
                THEN list_transform(runs, r -> {'run_id': r, 'outcome': 'applied',
                                                'detail': NULL::VARCHAR})
            ELSE list_concat(coalesce(acked, []),
                             list_transform(waiting, r -> {'run_id': r,
                                                           'outcome': 'not acknowledged',
                                                           'detail': NULL::VARCHAR}))
            END AS outcomes,
       prev_hash, hash
FROM counted
ORDER BY seq DESC
LIMIT $limit
"""


def decisions(
    con: duckdb.DuckDBPyConnection, *, run_id: str | None = None, limit: int | None = None
) -> pa.Table:
    """Decisions, newest first, each with its lifecycle: recorded → delivered → applied (or
    refused, from the runners' `control.applied`), how many runs answered how (`answers`)
    and each run's outcome (`outcomes`: run_id, outcome, detail)."""
    return con.execute(
        _DECISIONS, {"run_id": run_id, "limit": limit if limit is not None else 2**62}
    ).to_arrow_table()


_OUTCOMES = """
WITH d AS (
    SELECT decision_id, runs, approval_id, decided_at FROM decisions
    WHERE decision_id = $decision OR CAST(seq AS VARCHAR) = $decision
), named AS (
    SELECT unnest(runs) AS run_id FROM d
), acks AS (
    SELECT run_id, arg_max(result, ts) AS result, max(ts) AS acked_at,
           arg_max(detail, ts) AS detail
    FROM controls WHERE decision_id = (SELECT decision_id FROM d)
    GROUP BY run_id
), answered AS (  -- an approve/reject is applied when the runner logs the decision
    SELECT min(e.ts) AS answered_at FROM d JOIN approval_events e
      ON e.approval_id = d.approval_id AND e.state <> 'pending'
         AND e.ts >= d.decided_at - INTERVAL 5 SECOND
)
SELECT * FROM (  -- (run_summary has an `outcome` of its own, the run's: ordered outside)
    SELECT (SELECT decision_id FROM d) AS decision_id, r.run_id,
           n.run_id IS NOT NULL AS named,
           CASE WHEN a.result = 'applied' OR (a.result IS NULL AND w.answered_at IS NOT NULL)
                    THEN 'applied'
                WHEN a.result IS NOT NULL THEN 'refused'
                ELSE 'not acknowledged' END AS outcome,
           coalesce(a.acked_at, w.answered_at) AS acked_at, a.detail, s.workflow
    FROM (SELECT run_id FROM named UNION SELECT run_id FROM acks) r
    LEFT JOIN named n USING (run_id) LEFT JOIN acks a USING (run_id)
    LEFT JOIN run_summary s USING (run_id)
    CROSS JOIN (SELECT max(answered_at) AS answered_at FROM answered) w
)
ORDER BY CASE outcome WHEN 'refused' THEN 0 WHEN 'not acknowledged' THEN 1 ELSE 2 END, run_id
"""


def outcomes(con: duckdb.DuckDBPyConnection, decision: str) -> pa.Table:
    """One decision's outcome per run (by its id, or its `#` seq): refused first, then those
    not acknowledged yet, then applied. Empty if no decision has that id or seq."""
    return con.execute(_OUTCOMES, {"decision": decision.removeprefix("#")}).to_arrow_table()
