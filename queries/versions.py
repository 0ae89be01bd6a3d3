"""A workflow's versions: their publish records, their weights now, and how each has run.

A version's weight is its share of new runs (0-100). It is set by the latest of, as of a
moment: its `rollout.changed` events; its own publish (the first step of its rollout, 100
when it has none); and a later publish of another version without a rollout, which puts
every earlier version at 0 (it goes live at 100 at once). When a publish and a change have
the same timestamp, the change counts.

The canary of a workflow is its most recently published version with a weight strictly
between 0 and 100; its stable version, the one with the largest weight (the canary aside,
the most recently published on a tie). Rollout decisions and the per-version triggers
(`queries.triggers`) both take them from `canary_and_stable`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import duckdb
import pyarrow as pa

from quarterdeck.queries import findings

# The first publish of each version, as of $at.
_PUBS = """
SELECT * FROM publications WHERE ts <= $at AND ($workflow IS NULL OR workflow = $workflow)
QUALIFY row_number() OVER (PARTITION BY workflow, version ORDER BY ts, event_id) = 1
"""

_WEIGHTS = f"""
WITH pubs AS ({_PUBS}), assigned AS (
    SELECT workflow, version, ts, coalesce(rollout_steps[1], 100) AS weight, 0 AS rank
    FROM pubs
    UNION ALL
    SELECT o.workflow, o.version, p.ts, 0, 0
    FROM pubs p JOIN pubs o
      ON o.workflow = p.workflow AND o.version <> p.version AND o.ts < p.ts
    WHERE p.rollout_steps IS NULL
    UNION ALL
    SELECT c.workflow, c.version, c.ts, c.weight, 1
    FROM rollout_changes c JOIN pubs p USING (workflow, version)
    WHERE c.ts <= $at
)
SELECT p.workflow, p.version, p.ts AS published_at, p.publisher, p.approved_by, p.identity,
       p.scope, p.source_ref, p.rollout_steps, p.event_id,
       arg_max(a.weight, epoch_us(a.ts) * 2 + a.rank) AS weight,
       max(a.ts) AS weight_since
FROM pubs p JOIN assigned a USING (workflow, version)
GROUP BY ALL
ORDER BY p.workflow, p.ts DESC, p.version
"""

_FIGURES = """
SELECT workflow, workflow_version AS version, count(*) AS runs,
       count(*) FILTER (WHERE outcome = 'failed')
           / nullif(count(*) FILTER (WHERE outcome IS NOT NULL), 0) AS failed_ratio,
       sum(out_of_scope)::BIGINT AS out_of_scope,
       quantile_cont(epoch(finished_at - started_at), 0.95)
           FILTER (WHERE outcome IS NOT NULL) AS p95_duration_s
FROM run_summary
WHERE has_start AND started_at > $since AND started_at <= $at
  AND workflow IN (SELECT workflow FROM publications)
  AND ($workflow IS NULL OR workflow = $workflow)
GROUP BY ALL
"""

SCHEMA = pa.schema(
    [
        ("workflow", pa.string()),
        ("version", pa.string()),
        ("role", pa.string()),  # canary | stable | (none)
        ("weight", pa.int64()),
        ("weight_since", pa.timestamp("us")),
        ("publisher", pa.string()),
        ("approved_by", pa.list_(pa.string())),
        ("published_at", pa.timestamp("us")),
        ("source_ref", pa.string()),
        ("identity", pa.string()),
        ("scope", pa.list_(pa.string())),
        ("rollout_steps", pa.list_(pa.int64())),
        ("runs", pa.int64()),
        ("failed_ratio", pa.float64()),
        ("out_of_scope", pa.int64()),
        ("p95_duration_s", pa.float64()),
        ("findings", pa.int64()),
        ("event_id", pa.string()),
    ]
)


@dataclass(frozen=True)
class Weight:
    workflow: str
    version: str
    weight: int
    published_at: datetime
    rollout_steps: tuple[int, ...] | None


def weights(
    con: duckdb.DuckDBPyConnection, *, at: datetime, workflow: str | None = None
) -> list[Weight]:
    """Every published version's weight as of `at`, newest publish first per workflow."""
    rows = con.execute(_WEIGHTS, {"at": at, "workflow": workflow}).fetchall()
    return [
        Weight(r[0], r[1], int(r[10]), r[2], tuple(r[8]) if r[8] is not None else None)
        for r in rows
    ]


def canary_and_stable(versions: list[Weight]) -> dict[str, tuple[Weight | None, Weight | None]]:
    """Per workflow: its canary (most recently published, weight strictly between 0 and 100)
    and its stable version (the largest weight but the canary's), either None."""
    out: dict[str, tuple[Weight | None, Weight | None]] = {}
    for name in dict.fromkeys(v.workflow for v in versions):
        mine = sorted(
            (v for v in versions if v.workflow == name),
            key=lambda v: (v.published_at, v.version),
            reverse=True,
        )
        canary = next((v for v in mine if 0 < v.weight < 100), None)
        others = [v for v in mine if v is not canary and v.weight > 0]
        stable = max(others, key=lambda v: v.weight) if others else None
        out[name] = (canary, stable)
    return out


def versions(
    con: duckdb.DuckDBPyConnection,
    *,
    at: datetime,
    window_s: float,
    rules: tuple[findings.PublishRule, ...] = (),
    workflow: str | None = None,
) -> pa.Table:
    """Every published version (and every unpublished one that ran in the window) of each
    workflow: its publish record, weight and role as of `at`, and its runs in the window
    (at − window, at]: how many, the failed ratio, out-of-scope touches, p95 duration; and how
    many findings name it."""
    params = {"at": at, "workflow": workflow}
    published = con.execute(_WEIGHTS, params).to_arrow_table().to_pylist()
    since = at - timedelta(seconds=window_s)
    figures = {
        (r["workflow"], r["version"]): r
        for r in con.execute(_FIGURES, {**params, "since": since}).to_arrow_table().to_pylist()
    }
    found: dict[tuple[str, str | None], int] = {}
    where = findings.FindingFilter(workflow=workflow)
    for row in findings.findings(con, rules, where=where, starts=False).to_pylist():
        key = (row["workflow"], row["version"])
        found[key] = found.get(key, 0) + 1
    roles = canary_and_stable(
        [
            Weight(p["workflow"], p["version"], p["weight"], p["published_at"], None)
            for p in published
        ]
    )
    rows = []
    for p in published:
        canary, stable = roles[p["workflow"]]
        role = (
            "canary"
            if canary and canary.version == p["version"]
            else "stable"
            if stable and stable.version == p["version"]
            else None
        )
        key = (p["workflow"], p["version"])
        rows.append({**p, **figures.pop(key, {}), "role": role, "findings": found.get(key, 0)})
    for (name, version), fig in figures.items():  # ran, never published
        rows.append({**fig, "workflow": name, "version": version, "weight": None,
                     "findings": found.get((name, version), 0)})  # fmt: skip
    rows.sort(key=lambda r: (r["workflow"], r.get("published_at") is None))
    return pa.Table.from_pylist(
        [{name: r.get(name) for name in SCHEMA.names} for r in rows], schema=SCHEMA
    )


# A run that gave no scope of its own used its version's published one (`qd_run_scope`).
_USED_SCOPES = """
SELECT scope, count(*) AS runs, qd_beyond_scope(scope, $published) AS beyond
FROM (SELECT qd_run_scope(has_start, scope, workflow, workflow_version) AS scope
      FROM run_summary
      WHERE workflow = $workflow AND workflow_version = $version AND has_start)
GROUP BY scope ORDER BY runs DESC
"""


def version_detail(
    con: duckdb.DuckDBPyConnection,
    workflow: str,
    version: str,
    *,
    at: datetime,
    rules: tuple[findings.PublishRule, ...] = (),
    recent: int = 500,
) -> dict[str, object]:
    """One version of a workflow: its publish record (None: never published) with its weight
    as of `at`, the scopes its runs used (how many runs each, and the grants of each beyond
    the published scope), its findings, and its `recent` newest runs' ids."""
    record = next(
        (
            r
            for r in con.execute(_WEIGHTS, {"at": at, "workflow": workflow})
            .to_arrow_table()
            .to_pylist()
            if r["version"] == version
        ),
        None,
    )
    published = record["scope"] if record else []
    scopes = (
        con.execute(
            _USED_SCOPES, {"workflow": workflow, "version": version, "published": published}
        )
        .to_arrow_table()
        .to_pylist()
    )
    if record is None:  # never published: nothing to hold the scopes against
        scopes = [{**s, "beyond": []} for s in scopes]
    where = findings.FindingFilter(workflow=workflow, version=version)
    found = findings.findings(con, rules, where=where).to_pylist()
    run_ids = [
        r[0]
        for r in con.execute(
            "SELECT run_id FROM run_summary WHERE workflow = ? AND workflow_version = ? "
            "ORDER BY started_at DESC, run_id LIMIT ?",
            [workflow, version, recent],
        ).fetchall()
    ]
    return {
        "workflow": workflow,
        "version": version,
        "record": record,
        "scopes": scopes,
        "findings": found,
        "run_ids": run_ids,
    }
