"""The decisions list: newest first, each decision with where it is in its lifecycle.

recorded (journal and store) → delivered (written to the control outbox) → applied, partly
applied or refused, from the runners' `control.applied` acknowledgements. An approve or reject
counts as applied once the approval's decision shows in the logs (from five seconds before it
was decided, for clock skew). Reads only; the CLI's `decisions`, the console and evidence
bundles all list decisions through this one query, so they never disagree.

A decision's outcome is said per run, by one set of rules (`_PER_RUN`), which both the list
(its counts, state and `outcomes`) and `outcomes` (one decision's runs, for `decisions
--outcomes` and the console) read: each run it named, and each run a runner acknowledged it
for (a workflow's runs that started after the decision was planned: the runner held them too,
`named` false), as applied, refused (with what the runner said), or not acknowledged yet. A
run's latest acknowledgement is its outcome.

A runner may also answer for the workflow itself, with an acknowledgement that names no run: a
rollout decision's (the weights it moved), or a workflow pause's (it holds the runs that start
later). That answer is one more outcome, with no run (`run_id` null, listed first); it is not
counted among the runs, and a decision that names no run is applied or refused by it alone.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

#: The common table expressions both queries begin with: the decisions asked for ($decision:
#: an id or a seq; $run_id: those naming that run) and every run's outcome of each (`per_run`).
_PER_RUN = """
d AS (
    SELECT * FROM decisions
    WHERE ($decision IS NULL OR decision_id = $decision OR CAST(seq AS VARCHAR) = $decision)
      AND ($run_id IS NULL OR list_contains(runs, $run_id))
), named AS (
    SELECT decision_id, unnest(runs) AS run_id FROM d
), acks AS (  -- each run's latest acknowledgement of each decision (no run: the workflow's)
    SELECT decision_id, run_id, arg_max(result, ts) AS result, max(ts) AS acked_at,
           arg_max(detail, ts) AS detail
    FROM controls WHERE decision_id IN (SELECT decision_id FROM d)
    GROUP BY decision_id, run_id
), answered AS (  -- an approve/reject is applied when the runner logs the decision
    SELECT d.decision_id, min(e.ts) AS answered_at
    FROM d JOIN approval_events e
      ON e.approval_id = d.approval_id AND e.state <> 'pending'
         AND e.ts >= d.decided_at - INTERVAL 5 SECOND
    GROUP BY d.decision_id
), per_run AS (
    SELECT r.decision_id, r.run_id, n.run_id IS NOT NULL AS named,
           CASE WHEN a.result = 'applied' OR (a.result IS NULL AND w.answered_at IS NOT NULL)
                    THEN 'applied'
                WHEN a.result IS NOT NULL THEN 'refused'
                ELSE 'not acknowledged' END AS outcome,
           coalesce(a.acked_at, w.answered_at) AS acked_at, a.detail
    FROM (SELECT decision_id, run_id FROM named
          UNION SELECT decision_id, run_id FROM acks WHERE run_id IS NOT NULL) r
    LEFT JOIN named n USING (decision_id, run_id)
    LEFT JOIN acks a USING (decision_id, run_id)
    LEFT JOIN answered w USING (decision_id)
), outcome AS (  -- per_run, and the workflow's own answer as a row with no run
    SELECT decision_id, run_id, named, outcome, acked_at, detail FROM per_run
    UNION ALL
    SELECT decision_id, NULL, true,
           CASE WHEN result = 'applied' THEN 'applied' ELSE 'refused' END, acked_at, detail
    FROM acks WHERE run_id IS NULL
)
"""

_DECISIONS = (
    "WITH"
    + _PER_RUN
    + """
, counted AS (
    SELECT decision_id,
           count(run_id) FILTER (WHERE outcome = 'applied') AS applied_runs,
           count(run_id) FILTER (WHERE outcome = 'refused') AS refused_runs,
           count(run_id) FILTER (WHERE outcome = 'not acknowledged') AS waiting_runs,
           any_value(outcome) FILTER (WHERE run_id IS NULL) AS whole,
           any_value(detail) FILTER (WHERE run_id IS NULL) AS whole_detail,
           max(acked_at) AS acked_at,
           string_agg(DISTINCT detail, '; ') FILTER (WHERE detail IS NOT NULL) AS detail,
           list({'run_id': run_id, 'outcome': outcome, 'detail': detail}
                ORDER BY run_id NULLS FIRST) AS outcomes
    FROM outcome GROUP BY decision_id
), sent AS (
    SELECT decision_id, min(delivered_at) AS delivered_at FROM deliveries GROUP BY decision_id
)
SELECT seq, decision_id, decided_at, operator, action, target_kind, target, runs, approval_id,
       reason, source, delivered_at, applied_runs, refused_runs, waiting_runs, acked_at, detail,
       CASE WHEN answered_at IS NOT NULL OR applied_runs >= greatest(len(runs), 1)
                     OR (whole = 'applied' AND len(runs) = 0 AND refused_runs = 0)
                THEN 'applied'
            WHEN applied_runs > 0 THEN 'partly applied'
            WHEN refused_runs > 0 OR whole = 'refused' THEN 'refused'
            WHEN delivered_at IS NOT NULL THEN 'delivered'
            ELSE 'recorded' END AS state,
       concat_ws('; ',  -- the workflow's own answer in the runner's words, then the runs'
           CASE WHEN whole IS NOT NULL THEN concat_ws(': ', whole, whole_detail) END,
           nullif(concat_ws(', ',
               CASE WHEN applied_runs > 0 THEN applied_runs || ' applied' END,
               CASE WHEN refused_runs > 0 THEN refused_runs || ' refused' END,
               CASE WHEN waiting_runs > 0 THEN waiting_runs || ' not acknowledged' END), ''))
           AS answers,
       outcomes, prev_hash, hash
FROM (
    SELECT d.*, s.delivered_at, w.answered_at,
           coalesce(c.applied_runs, 0) AS applied_runs,
           coalesce(c.refused_runs, 0) AS refused_runs,
           coalesce(c.waiting_runs, 0) AS waiting_runs,
           c.whole, c.whole_detail, c.acked_at, c.detail,
           coalesce(c.outcomes, []) AS outcomes
    FROM d LEFT JOIN counted c USING (decision_id)
    LEFT JOIN answered w USING (decision_id) LEFT JOIN sent s USING (decision_id)
)
ORDER BY seq DESC
LIMIT $limit
"""
)


def decisions(
    con: duckdb.DuckDBPyConnection,
    *,
    run_id: str | None = None,
    decision: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Decisions, newest first, each with its lifecycle: recorded → delivered → applied (or
    refused, from the runners' `control.applied`), how many runs answered how (`answers`)
    and each run's outcome (`outcomes`: run_id, outcome, detail). `decision`: only that one
    (its id, or its `#` seq)."""
    return con.execute(
        _DECISIONS,
        {
            "run_id": run_id,
            "decision": decision.removeprefix("#") if decision is not None else None,
            "limit": limit if limit is not None else 2**62,
        },
    ).to_arrow_table()


_OUTCOMES = (
    "WITH"
    + _PER_RUN
    + """
SELECT * FROM (  -- (run_summary has an `outcome` of its own, the run's: ordered outside)
    SELECT o.decision_id, o.run_id, o.named, o.outcome, o.acked_at, o.detail,
           coalesce(s.workflow, CASE WHEN o.run_id IS NULL THEN d.target END) AS workflow
    FROM outcome o JOIN d USING (decision_id) LEFT JOIN run_summary s USING (run_id)
)
ORDER BY run_id IS NOT NULL,  -- the workflow's own answer first
         CASE outcome WHEN 'refused' THEN 0 WHEN 'not acknowledged' THEN 1 ELSE 2 END, run_id
"""
)


def outcomes(con: duckdb.DuckDBPyConnection, decision: str) -> pa.Table:
    """One decision's outcome per run (by its id, or its `#` seq): the workflow's own answer
    first (no `run_id`: a rollout's, a workflow pause's), then refused runs, those not
    acknowledged yet, then applied. Empty if no decision has that id or seq."""
    return con.execute(
        _OUTCOMES, {"decision": decision.removeprefix("#"), "run_id": None}
    ).to_arrow_table()
