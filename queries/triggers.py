"""Rollback triggers: a metric over a time window, compared with a threshold (DESIGN §5).

The window of an evaluation as of `at` is (at − window, at]: an event counts when its `ts` is
after the start and at or before `at`. The runs a rule looks at are those of its `workflow`
(all when unset) and `environment` (all when unset). What each metric is, exactly:

- `failed_run_ratio`: runs whose latest `run.finished` in the window says `failed`, over all
  runs with a `run.finished` in the window (those are its runs in window, for `min_runs`);
- `failed_step_ratio`: steps whose `step.finished` in the window says `error` (recovered or
  not: an agent may go on after a tool failed), over all steps finished in the window; its
  runs in window are the runs with a step finished in it;
- `out_of_scope_touches`: `data.touched` events in the window that no grant of the run covers;
- `deletes`: `data.touched` events in the window with action `delete`;
- `records_touched`: records touched in the window (a touch counts its `record_count`, else 1);
- `rejected_approvals`: approval requests of the runs that reached `rejected` in the window
  (from events, approval-system records or decisions);
- `approval_wait_p95`: the 95th percentile (continuous) of decided − requested, in seconds,
  over the requests decided in the window;
- `stale_runs`: runs whose latest event by `at` is in the window but older than `stale_after`,
  with no `run.finished` by `at`;
- `metric:NAME`: the mean `value` of `metric` events named NAME in the window (its runs in
  window: the runs with such an event).

For the others, the runs in window (for `min_runs`) are the runs with any event in it.

Per version (Argo's canary analysis): `version` narrows a rule to the runs of one version of
its workflow: `"canary"` is the most recently published version with a weight strictly
between 0 and 100 as of `at`, `"stable"` the one with the largest weight
(`queries.versions.canary_and_stable`), anything else a version by name. With
`compare = "stable"` the value is the version's minus the stable version's, both over the
same window, and the rule is Inconclusive until both have `min_runs` runs in it (or while
there is no canary, or no stable version beside it). `on_trip = "rollback_version"` rolls the
workflow back to its stable version (a `rollback-version` decision).

Phases: **Inconclusive** when fewer than `min_runs` runs are in the window, or the value is
undefined (no finished run for a ratio, no metric event); else **Tripped** when the value is
above the threshold (below it, with `below`); else **Warning** when it is at 80 % of the
threshold or more (with `below`: at most 125 % of it; a threshold of 0 has no warning band);
else **OK**. **Error** when the rule
could not be evaluated, with the reason. A value exactly at the threshold does not trip.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa

METRICS = (
    "failed_run_ratio",
    "failed_step_ratio",
    "out_of_scope_touches",
    "deletes",
    "records_touched",
    "rejected_approvals",
    "approval_wait_p95",
    "stale_runs",
)
PHASES = ("ok", "warning", "tripped", "inconclusive", "error")
WARNING_SHARE = 0.8


@dataclass(frozen=True)
class Rule:
    name: str
    metric: str
    window_s: float
    threshold: float
    workflow: str | None = None
    environment: str | None = None
    below: bool = False
    min_runs: int = 1
    on_trip: str = "pause"  # pause | rollback | rollback_version
    auto: bool = False
    version: str | None = None  # canary | stable | a version's name: only its runs
    compare: str | None = None  # stable: the value minus the stable version's

    @property
    def action(self) -> str:
        """The decision a trip takes: `rollback_version` is the decision `rollback-version`."""
        return self.on_trip.replace("_", "-")

    @property
    def decides_stale(self) -> bool:
        """Its trip's decision covers the workflow's stale runs too. Only a `stale_runs` rule
        is about them; any other rule weighed finished runs, and a decision never sweeps in
        stale history unless asked (a stale run's runner has most likely gone)."""
        return self.metric == "stale_runs"


@dataclass(frozen=True)
class Evaluation:
    name: str
    phase: str
    value: float | None
    threshold: float
    window_s: float
    runs_in_window: int
    at: datetime
    reason: str | None = None  # why Error or Inconclusive
    evidence_runs: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "phase": self.phase,
            "value": self.value,
            "threshold": self.threshold,
            "window": window_text(self.window_s),
            "window_s": self.window_s,
            "runs_in_window": self.runs_in_window,
            "at": self.at,
            "reason": self.reason,
            "evidence_runs": list(self.evidence_runs),
        }


def valid_metric(metric: str) -> bool:
    return metric in METRICS or (metric.startswith("metric:") and len(metric) > 7)


def window_text(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# --- the SQL ----------------------------------------------------------------------------------
# Each metric is a statement over the window returning (value, population, evidence runs).
# `{runs}` narrows to the rule's workflow/environment (nothing when the rule has neither).

_ACTIVE = """(SELECT count(DISTINCT run_id) FROM events
             WHERE ts > $start AND ts <= $end {runs})"""

_SQL = {
    "failed_run_ratio": """
        WITH ends AS (
            SELECT run_id, arg_max(status, qd_finish_order(ts, status, event_id)) AS status
            FROM run_ends
            WHERE ts > $start AND ts <= $end {runs} GROUP BY run_id
        )
        SELECT count(*) FILTER (WHERE status = 'failed') / nullif(count(*), 0),
               count(*), list(run_id ORDER BY run_id) FILTER (WHERE status = 'failed')
        FROM ends
    """,
    "failed_step_ratio": """
        WITH ended AS (
            SELECT run_id, step_id,
                   arg_max(status, qd_finish_order(ts, status, event_id)) AS status FROM steps
            WHERE phase = 'finished' AND ts > $start AND ts <= $end {runs}
            GROUP BY run_id, step_id
        )
        SELECT count(*) FILTER (WHERE status = 'error') / nullif(count(*), 0),
               count(DISTINCT run_id),
               list(DISTINCT run_id ORDER BY run_id) FILTER (WHERE status = 'error')
        FROM ended
    """,
    "out_of_scope_touches": """
        SELECT count(*), {active}, list(DISTINCT run_id ORDER BY run_id)
        FROM touches WHERE ts > $start AND ts <= $end AND in_scope = false {runs}
    """,
    "deletes": """
        SELECT count(*), {active}, list(DISTINCT run_id ORDER BY run_id)
        FROM touches WHERE ts > $start AND ts <= $end AND action = 'delete' {runs}
    """,
    "records_touched": """
        SELECT coalesce(sum(coalesce(record_count, 1)), 0), {active},
               list(DISTINCT run_id ORDER BY run_id)
        FROM touches WHERE ts > $start AND ts <= $end {runs}
    """,
    "rejected_approvals": """
        SELECT count(DISTINCT approval_id), {active}, list(DISTINCT run_id ORDER BY run_id)
        FROM qd_approval_states()
        WHERE state = 'rejected' AND state_at > $start AND state_at <= $end {runs}
    """,
    "approval_wait_p95": """
        SELECT quantile_cont(epoch(decided_at - requested_at), 0.95), {active},
               list(DISTINCT run_id ORDER BY run_id)
        FROM approval_summary
        WHERE decided_at > $start AND decided_at <= $end AND requested_at IS NOT NULL {runs}
    """,
    "stale_runs": """
        WITH last AS (
            SELECT run_id, max(ts) AS last_ts FROM events
            WHERE ts > $start AND ts <= $end AND run_id IS NOT NULL {runs} GROUP BY run_id
        ), stale AS (
            SELECT l.run_id FROM last l
            WHERE l.last_ts <= $end - to_seconds($stale)
              AND NOT EXISTS (SELECT 1 FROM run_ends e
                              WHERE e.run_id = l.run_id AND e.ts <= $end)
        )
        SELECT count(*), {active}, list(run_id ORDER BY run_id) FROM stale
    """,
    "metric": """
        SELECT avg(value), count(DISTINCT run_id), list(DISTINCT run_id ORDER BY run_id)
        FROM metrics WHERE ts > $start AND ts <= $end AND name = $name {runs}
    """,
}


def _runs_filter(rule: Rule) -> str:
    conditions = []
    if rule.workflow is not None:
        conditions.append("workflow = $workflow")
    if rule.environment is not None:
        conditions.append("environment = $environment")
    if rule.version is not None:
        conditions.append("workflow_version = $version")
    if not conditions:
        return ""
    return f"AND run_id IN (SELECT run_id FROM run_summary WHERE {' AND '.join(conditions)})"


def _params(
    rule: Rule, at: datetime, stale_seconds: int, version: str | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {"start": at - timedelta(seconds=rule.window_s), "end": at}
    if rule.version is not None:
        params["version"] = version
    if rule.workflow is not None:
        params["workflow"] = rule.workflow
    if rule.environment is not None:
        params["environment"] = rule.environment
    if rule.metric == "stale_runs":
        params["stale"] = stale_seconds
    if rule.metric.startswith("metric:"):
        params["name"] = rule.metric.removeprefix("metric:")
    return params


def _statement(rule: Rule) -> str:
    key = "metric" if rule.metric.startswith("metric:") else rule.metric
    runs = _runs_filter(rule)
    return _SQL[key].format(runs=runs, active=_ACTIVE.format(runs=runs))


def phase_of(rule: Rule, value: float | None, runs: int) -> tuple[str, str | None]:
    if runs < rule.min_runs:
        return "inconclusive", (
            f"{runs} run{'s' if runs != 1 else ''} in the window, "
            f"fewer than min_runs = {rule.min_runs}"
        )
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "inconclusive", "no value in the window (nothing to measure)"
    if rule.below:
        if value < rule.threshold:
            return "tripped", None
        if value <= rule.threshold / WARNING_SHARE:
            return "warning", None
        return "ok", None
    if value > rule.threshold:
        return "tripped", None
    if rule.threshold > 0 and value >= rule.threshold * WARNING_SHARE:
        return "warning", None  # (a threshold of 0 has no warning band: any value trips)
    return "ok", None


def _versions(
    con: duckdb.DuckDBPyConnection, rule: Rule, at: datetime
) -> tuple[str | None, str | None, str | None]:
    """(the rule's version, the stable version to compare with, why either is missing)."""
    from quarterdeck.queries import versions

    if rule.version is None:
        return None, None, None
    canary = stable = None
    if rule.version in ("canary", "stable") or rule.compare == "stable":
        known = versions.weights(con, at=at, workflow=rule.workflow)
        roles = versions.canary_and_stable(known).get(rule.workflow or "", (None, None))
        canary = roles[0].version if roles[0] else None
        stable = roles[1].version if roles[1] else None
    mine = {"canary": canary, "stable": stable}.get(rule.version, rule.version)
    if mine is None:
        return None, None, f"{rule.workflow} has no {rule.version} version now"
    if rule.compare == "stable" and stable is None:
        return mine, None, f"{rule.workflow} has no stable version to compare {mine} with"
    return mine, stable if rule.compare == "stable" else None, None


def _measure(
    con: duckdb.DuckDBPyConnection,
    rule: Rule,
    at: datetime,
    stale_seconds: int,
    version: str | None,
) -> tuple[float | None, int, tuple[str, ...]]:
    row = con.execute(_statement(rule), _params(rule, at, stale_seconds, version)).fetchone()
    value, runs, evidence = row if row else (None, 0, [])
    return (float(value) if value is not None else None), int(runs or 0), tuple(evidence or ())


def evaluate(
    con: duckdb.DuckDBPyConnection, rule: Rule, *, at: datetime, stale_seconds: int = 15 * 60
) -> Evaluation:
    """One rule as of `at` (naive UTC). Never raises for a rule that cannot be evaluated:
    that is the Error phase, with the reason."""
    try:
        version, stable, missing = _versions(con, rule, at)
        if missing is not None:
            return Evaluation(
                rule.name, "inconclusive", None, rule.threshold, rule.window_s, 0, at, missing
            )
        value, runs, evidence = _measure(con, rule, at, stale_seconds, version)
        if stable is not None and runs < rule.min_runs:
            value = None  # no difference without enough runs of the canary (said below)
        elif stable is not None:
            base, base_runs, _ = _measure(con, rule, at, stale_seconds, stable)
            if base_runs < rule.min_runs:
                return Evaluation(
                    rule.name,
                    "inconclusive",
                    None,
                    rule.threshold,
                    rule.window_s,
                    runs,
                    at,
                    f"{base_runs} run{'s' if base_runs != 1 else ''} of the stable version "
                    f"{stable} in the window, fewer than min_runs = {rule.min_runs}",
                    evidence,
                )
            value = value - base if value is not None and base is not None else None
    except duckdb.Error as exc:
        return Evaluation(
            rule.name,
            "error",
            None,
            rule.threshold,
            rule.window_s,
            0,
            at,
            reason=str(exc).splitlines()[0],
        )
    phase, reason = phase_of(rule, value, runs)
    if reason is not None and version is not None:
        reason = f"{version}: {reason}"
    return Evaluation(rule.name, phase, value, rule.threshold, rule.window_s, runs, at, reason,
                      evidence)  # fmt: skip


def evaluate_all(
    con: duckdb.DuckDBPyConnection, rules: list[Rule], *, at: datetime, stale_seconds: int = 15 * 60
) -> list[Evaluation]:
    return [evaluate(con, rule, at=at, stale_seconds=stale_seconds) for rule in rules]


# --- evaluations kept, trips remembered ----------------------------------------------------------


def record(con: duckdb.DuckDBPyConnection, evaluations: list[Evaluation]) -> list[Evaluation]:
    """Store the evaluations; returns those that start a new trip (the previous evaluation of
    the rule was not Tripped), each of which opens a row in `trigger_trips`."""
    started: list[Evaluation] = []
    con.execute("BEGIN TRANSACTION")
    try:
        for ev in evaluations:
            last = con.execute(
                "SELECT phase FROM trigger_evaluations WHERE name = ? "
                "ORDER BY evaluated_at DESC LIMIT 1",
                [ev.name],
            ).fetchone()
            con.execute(
                "INSERT INTO trigger_evaluations VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    ev.name,
                    ev.at,
                    ev.phase,
                    ev.value,
                    ev.threshold,
                    ev.window_s,
                    ev.runs_in_window,
                    ev.reason,
                ],
            )
            if ev.phase == "tripped" and (last is None or last[0] != "tripped"):
                con.execute(
                    "INSERT INTO trigger_trips VALUES (?, ?, NULL, ?)",
                    [ev.name, ev.at, list(ev.evidence_runs)],
                )
                started.append(ev)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return started


def open_trip(con: duckdb.DuckDBPyConnection, name: str) -> tuple[datetime, str | None] | None:
    """The rule's current trip (when it began, and the decision taken on it), if it is
    Tripped now."""
    row = con.execute(
        """SELECT t.tripped_at, t.decision_id FROM trigger_trips t
           WHERE t.name = ? AND (SELECT phase FROM trigger_evaluations e WHERE e.name = t.name
                                 ORDER BY evaluated_at DESC LIMIT 1) = 'tripped'
           ORDER BY t.tripped_at DESC LIMIT 1""",
        [name],
    ).fetchone()
    return (row[0], row[1]) if row else None


def trip_decided(con: duckdb.DuckDBPyConnection, name: str, tripped_at: datetime) -> bool:
    """Whether the trip has been decided already (asked before planning a decision on it, so
    a second decision on one trip is refused as that, not as a repeat of the first)."""
    row = con.execute(
        "SELECT decision_id FROM trigger_trips WHERE name = ? AND tripped_at = ?",
        [name, tripped_at],
    ).fetchone()
    return row is not None and row[0] is not None


def claim_trip(
    con: duckdb.DuckDBPyConnection, name: str, tripped_at: datetime, decision_id: str
) -> bool:
    """Mark the trip as decided; False when it was decided already (never twice)."""
    con.execute("BEGIN TRANSACTION")
    try:
        taken = con.execute(
            "SELECT decision_id FROM trigger_trips WHERE name = ? AND tripped_at = ?",
            [name, tripped_at],
        ).fetchone()
        if taken is None or taken[0] is not None:
            con.execute("ROLLBACK")
            return False
        con.execute(
            "UPDATE trigger_trips SET decision_id = ? WHERE name = ? AND tripped_at = ?",
            [decision_id, name, tripped_at],
        )
        con.execute("COMMIT")
        return True
    except BaseException:
        con.execute("ROLLBACK")
        raise


def status(con: duckdb.DuckDBPyConnection, names: list[str], *, history: int = 24) -> pa.Table:
    """For each rule name: its latest evaluation, when its phase last changed, and the last
    `history` values (oldest first) for a sparkline."""
    return con.execute(
        """
        WITH ranked AS (
            SELECT *, row_number() OVER (PARTITION BY name ORDER BY evaluated_at DESC) AS n,
                   lag(phase) OVER (PARTITION BY name ORDER BY evaluated_at) AS before
            FROM trigger_evaluations WHERE name IN (SELECT unnest($names))
        )
        SELECT name,
               any_value(phase) FILTER (WHERE n = 1) AS phase,
               any_value(value) FILTER (WHERE n = 1) AS value,
               any_value(runs_in_window) FILTER (WHERE n = 1) AS runs_in_window,
               any_value(reason) FILTER (WHERE n = 1) AS reason,
               max(evaluated_at) AS evaluated_at,
               max(evaluated_at) FILTER (WHERE before IS DISTINCT FROM phase) AS changed_at,
               list(value ORDER BY evaluated_at) FILTER (WHERE n <= $history) AS history
        FROM ranked GROUP BY name
        """,
        {"names": names, "history": history},
    ).to_arrow_table()


def evidence(
    con: duckdb.DuckDBPyConnection, rule: Rule, ev: Evaluation, *, stale_seconds: int
) -> tuple[pa.Table, pa.Table | None]:
    """What produced the value: its runs (rows of the run history, as of the evaluation) and,
    for the touch metrics, the touches in the window."""
    from quarterdeck.queries import runs, touches

    run_rows = runs.run_history(
        con,
        now=ev.at,
        stale_seconds=stale_seconds,
        where=runs.RunFilter(run_ids=ev.evidence_runs or ("",)),
    )
    kinds = {
        "out_of_scope_touches": {"out_of_scope": True},
        "deletes": {"actions": ("delete",)},
        "records_touched": {},
    }
    if rule.metric not in kinds:
        return run_rows, None
    where = touches.TouchFilter(
        workflow=rule.workflow,
        since=ev.at - timedelta(seconds=rule.window_s),
        until=ev.at,
        **kinds[rule.metric],
    )  # type: ignore[arg-type]
    touch_rows = touches.touches(con, where=where, limit=5000)
    if rule.environment is not None:
        keep = set(run_rows.column("run_id").to_pylist()) if ev.evidence_runs else set()
        touch_rows = touch_rows.filter(
            pa.array([r in keep for r in touch_rows.column("run_id").to_pylist()])
        )
    return run_rows, touch_rows
