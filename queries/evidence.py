"""What a run leaves behind, gathered for an evidence bundle: the run, as whom it ran, its scope,
every step, every event, every touch with before/after, in_scope and the grant it lacked, its
approvals (who decided and why), the decisions taken on it (with their chain hashes), the
trigger phases at the time, its version's record (who published it, who approved it, the
identity and scope it was published with; none when the version was never published) and the
findings about the run and its version.

Every event and every touch points back at the logs: the file it was read from (`source`, as
the store names it: relative to the folder that was ingested or followed), its line and its
byte offset, so a reviewer can open the very line (`sed -n LINEp`, `tail -c +OFFSET+1`);
`sources` names, for each file, the folder its name is relative to (`root`, as the process
that read it saw it; null for a file loaded before Quarterdeck remembered roots) and what it
is (`kind`): `log`, read from disk (followed, or ingested from a folder or a file), or
`upload`, a file a client sent the server (`upload:<who>:<name>`; no log is named so).

`queries.evidence` only reads; writing the bundle's files is `quarterdeck.bundle`'s job.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from quarterdeck.queries import approvals, decisions, findings, loading, runs


def run_ids(con: duckdb.DuckDBPyConnection, *, workflow: str, since: datetime) -> list[str]:
    """The runs of a workflow started since a moment, oldest first."""
    rows = con.execute(
        "SELECT run_id FROM run_summary WHERE workflow = ? AND started_at >= ? "
        "ORDER BY started_at, run_id",
        [workflow, since],
    ).fetchall()
    return [r[0] for r in rows]


def collect(
    con: duckdb.DuckDBPyConnection,
    run_id: str,
    *,
    now: datetime,
    stale_seconds: int = runs.DEFAULT_STALE_SECONDS,
    publish_rules: tuple[findings.PublishRule, ...] = (),
) -> dict[str, Any] | None:
    """Everything about one run, as plain data (JSON-ready once times are strings)."""
    overview = runs.run_overview(con, run_id, now=now, stale_seconds=stale_seconds)
    if overview is None:
        return None
    events = [
        {
            "event_id": e["event_id"],
            "type": e["type"],
            "ts": e["ts"],
            "step_id": e["step_id"],
            "actor": e["actor"],
            "source": e["source"],
            "line": e["line_no"],
            "byte_offset": e["byte_offset"],
        }
        for e in runs.run_events(con, run_id).to_pylist()
    ]
    where = {e["event_id"]: e for e in events}
    touched = runs.run_touches(con, run_id).to_pylist()
    for touch in touched:
        for key in ("before", "after"):
            touch[key] = json.loads(touch[key]) if touch[key] is not None else None
        for key in ("source", "line", "byte_offset"):
            touch[key] = where[touch["event_id"]][key]
    names = sorted({e["source"] for e in events})
    roots = dict(
        con.execute(
            "SELECT source, root FROM source_roots WHERE list_contains($names, source)",
            {"names": names},
        ).fetchall()
    )
    return {
        "run": overview,
        "sources": [
            {"source": name, "kind": loading.source_kind(name), "root": roots.get(name)}
            for name in names
        ],
        "steps": runs.run_steps(con, run_id).to_pylist(),
        "events": events,
        "touches": touched,
        "approvals": approvals.approvals(con, now=now, run_id=run_id).to_pylist(),
        "decisions": _decisions(con, run_id),
        "triggers": _trigger_phases(con, overview),
        "version": _version(con, overview),
        "findings": _findings(con, overview, publish_rules),
    }


def _version(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> dict[str, Any] | None:
    """The first publish of the run's version: who, approved by whom, as whom, with what."""
    rows: list[dict[str, Any]] = (
        con.execute(
            """
        SELECT version, ts AS published_at, publisher, approved_by, identity, scope,
               source_ref, rollout_steps, event_id, source, line_no AS line
        FROM publications WHERE workflow = ? AND version = ?
        ORDER BY ts, event_id LIMIT 1
        """,
            [run["workflow"], run.get("workflow_version")],
        )
        .to_arrow_table()
        .to_pylist()
    )
    return rows[0] if rows else None


def _findings(
    con: duckdb.DuckDBPyConnection, run: dict[str, Any], rules: tuple[findings.PublishRule, ...]
) -> list[dict[str, Any]]:
    """The findings that name the run, then those about its version's publish."""
    mine = findings.findings(con, rules, where=findings.FindingFilter(run_id=run["run_id"]))
    rows: list[dict[str, Any]] = mine.to_pylist()
    if run.get("workflow_version") is not None:
        about = findings.FindingFilter(workflow=run["workflow"], version=run["workflow_version"])
        rows += [
            r
            for r in findings.findings(con, rules, where=about).to_pylist()
            if r["kind"] in findings.PUBLISH_KINDS
        ]
    return rows


def _decisions(con: duckdb.DuckDBPyConnection, run_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = decisions.decisions(con, run_id=run_id).to_pylist()
    records = {
        r[0]: json.loads(r[1])
        for r in con.execute(
            "SELECT decision_id, record FROM decisions WHERE list_contains(runs, ?)", [run_id]
        ).fetchall()
    }
    for row in rows:
        row["journal_record"] = records.get(row["decision_id"])
    return rows


def _trigger_phases(con: duckdb.DuckDBPyConnection, run: dict[str, Any]) -> list[dict[str, Any]]:
    """Each trigger's latest evaluation at or before the run's end (or now, if it goes on)."""
    until = run.get("finished_at") or run.get("last_event_at")
    phases: list[dict[str, Any]] = (
        con.execute(
            """
        SELECT name, arg_max(phase, evaluated_at) AS phase,
               arg_max(value, evaluated_at) AS value,
               arg_max(threshold, evaluated_at) AS threshold,
               max(evaluated_at) AS evaluated_at
        FROM trigger_evaluations WHERE evaluated_at <= ?
        GROUP BY name ORDER BY name
        """,
            [until],
        )
        .to_arrow_table()
        .to_pylist()
    )
    return phases


def touches_table(collected: list[dict[str, Any]]) -> pa.Table:
    """One row per touch across the collected runs (before/after as JSON text)."""
    rows = []
    for item in collected:
        run = item["run"]
        for t in item["touches"]:
            rows.append(
                {
                    "run_id": run["run_id"],
                    "workflow": run["workflow"],
                    "identity": run.get("identity"),
                    "ts": t["ts"],
                    "step_id": t["step_id"],
                    "system": t["system"],
                    "object": t["object"],
                    "record_id": t["record_id"],
                    "action": t["action"],
                    "in_scope": t["in_scope"],
                    "needed_grant": t["needed_grant"],
                    "fields": ",".join(t["fields"] or []),
                    "record_count": t["record_count"],
                    "classification": t["classification"],
                    "before": json.dumps(t["before"], sort_keys=True)
                    if t["before"] is not None
                    else None,
                    "after": json.dumps(t["after"], sort_keys=True)
                    if t["after"] is not None
                    else None,
                    "event_id": t["event_id"],
                    "source": t["source"],
                    "line": t["line"],
                    "byte_offset": t["byte_offset"],
                }
            )
    return pa.Table.from_pylist(rows, schema=TOUCH_SCHEMA)


TOUCH_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("workflow", pa.string()),
        ("identity", pa.string()),
        ("ts", pa.timestamp("us", tz="UTC")),  # stored as UTC; the zone says so in the file
        ("step_id", pa.string()),
        ("system", pa.string()),
        ("object", pa.string()),
        ("record_id", pa.string()),
        ("action", pa.string()),
        ("in_scope", pa.bool_()),
        ("needed_grant", pa.string()),
        ("fields", pa.string()),
        ("record_count", pa.int64()),
        ("classification", pa.string()),
        ("before", pa.string()),
        ("after", pa.string()),
        ("event_id", pa.string()),
        ("source", pa.string()),
        ("line", pa.int64()),
        ("byte_offset", pa.int64()),
    ]
)
