"""The run history cuts its page on run_summary's own columns and works out status, duration
and pending approvals for the page only (issue 17): it answers exactly what working out every
run first did, for every sort, filter and page. And the summary tables it pages are kept in
time order, which is what lets DuckDB skip the row groups a page cannot reach."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from quarterdeck.queries import migrations, runs
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl

# The history as it was computed before: every run's status first, then filter, sort, page.
_WHOLE = """
WITH pending AS (
    SELECT run_id, count(*) AS n FROM qd_approvals($now)
    WHERE status = 'pending' GROUP BY run_id
), r AS (
    SELECT s.*, coalesce(p.n, 0) AS pending_approvals,
           qd_run_status(s.outcome, s.paused, coalesce(p.n, 0), s.last_event_at, $now,
                         $stale) AS status
    FROM run_summary s LEFT JOIN pending p USING (run_id)
)
SELECT run_id, workflow, workflow_version, identity, environment, status,
       started_at, finished_at,
       round(epoch(CASE
           WHEN outcome IS NOT NULL THEN finished_at
           WHEN status IN ('stale', 'paused') THEN last_event_at
           ELSE greatest($now, last_event_at) END - started_at), 3) AS duration_s,
       steps, step_errors, touched, reads, creates, updates, deletes, exports, out_of_scope,
       pending_approvals, last_event_at, trigger_kind, trigger_by, outcome_error AS error,
       tokens_in, tokens_out, round(cost_usd, 6) AS cost_usd, events, session_id, user_id,
       coalesce(finished_at < started_at, false) AS clock_skew,
       coalesce(conflicting_finish, false) AS conflicting_finish,
       coalesce(conflicting_start, false) AS conflicting_start
FROM r
WHERE ($status IS NULL OR list_contains($status, status))
  AND ($workflow IS NULL OR workflow = $workflow)
  AND ($since IS NULL OR started_at >= $since)
  AND ($run_ids IS NULL OR list_contains($run_ids, run_id))
  AND ($text IS NULL OR coalesce(
        run_id ILIKE $text OR workflow ILIKE $text OR replace(status, '_', ' ') ILIKE $text
        OR status ILIKE $text OR identity ILIKE $text OR environment ILIKE $text
        OR session_id ILIKE $text OR user_id ILIKE $text, false) <> $invert)
ORDER BY {order} NULLS LAST, started_at DESC, run_id
LIMIT $limit OFFSET $offset
"""


def _whole(con, *, where, sort, descending, limit, offset):
    params = {
        "now": NOW,
        "stale": runs.DEFAULT_STALE_SECONDS,
        "status": list(where.status) or None,
        "workflow": where.workflow,
        "since": where.since,
        "run_ids": list(where.run_ids) or None,
        "text": f"%{where.text}%" if where.text else None,
        "invert": where.invert,
        "limit": limit,
        "offset": offset,
    }
    order = f"{sort} {'DESC' if descending else 'ASC'}"
    return con.execute(_WHOLE.format(order=order), params).to_arrow_table()


def _open_runs(folder: Path) -> Path:
    """Runs in every status that depends on `NOW`, beside the fleet's finished ones: running,
    stale, awaiting approval, paused (with a pending approval), a failed run whose approval is
    still pending, and two runs started at the same instant (the run id breaks the tie)."""

    def at(minute: int) -> str:
        return f"2026-11-20T08:{minute:02d}:00Z"

    def asked(run_id: str, minute: int, approval: str, **fields) -> dict:
        return event("approval.requested", at(minute), run_id, event_id=f"{approval}-r",
                     approval_id=approval, **fields)  # fmt: skip

    lines = [
        started("r-live", at(50), workflow="crm-enrichment"),
        event("step.started", at(58), "r-live", event_id="l1", step_id="s1", name="x"),
        started("r-gone", at(1)),
        started("r-wait", at(40)),
        asked("r-wait", 41, "a-wait", expires_at="2026-11-20T12:00:00Z"),
        started("r-paused", at(30), workflow="crm-enrichment"),
        event(
            "control.applied",
            at(31),
            "r-paused",
            event_id="p1",
            decision_id="d-1",
            action="pause",
            result="applied",
        ),  # fmt: skip
        asked("r-paused", 32, "a-paused"),
        started("r-failed", at(20)),
        asked("r-failed", 21, "a-failed"),
        event("run.finished", at(22), "r-failed", event_id="f1", status="failed", error="x"),
        started("r-tie-b", at(45)),
        started("r-tie-a", at(45)),
    ]
    return write_jsonl(folder / "open.jsonl", lines)


@pytest.fixture
def history(fleet_store: Store, tmp_path: Path) -> duckdb.DuckDBPyConnection:
    from quarterdeck.ingest.load import load_paths

    load_paths(fleet_store.con, [_open_runs(tmp_path / "logs")])
    return fleet_store.con


_FILTERS = [
    runs.RunFilter(),
    runs.RunFilter(status=("failed",)),
    runs.RunFilter(status=("succeeded", "cancelled")),
    runs.RunFilter(status=("running",)),
    runs.RunFilter(status=("awaiting_approval", "paused")),
    runs.RunFilter(status=("stale", "failed")),
    runs.RunFilter(status=("nonsense",)),
    runs.RunFilter(workflow="crm-enrichment"),
    runs.RunFilter(workflow="crm-enrichment", status=("paused", "running")),
    runs.RunFilter(since=NOW - timedelta(hours=3)),
    runs.RunFilter(text="awaiting approval"),
    runs.RunFilter(text="crm", invert=True),
    runs.RunFilter(run_ids=("r-wait", "r-failed", "r-live", "r-none")),
]


def test_every_page_is_what_the_whole_history_gave(history) -> None:
    statuses = set(runs.run_history(history, now=NOW).column("status").to_pylist())
    assert {"running", "stale", "awaiting_approval", "paused", "failed"} <= statuses
    asked: list[tuple[runs.RunFilter, str, bool, int, int]] = []
    for sort in runs.SORTABLE:
        asked += [(runs.RunFilter(), sort, True, 9, 4), (runs.RunFilter(), sort, False, 9, 0)]
    for where in _FILTERS:
        asked += [(where, "started_at", True, 5, 0), (where, "duration_s", False, 200, 2)]
    for where, sort, descending, limit, offset in asked:
        page = runs.run_history(
            history, now=NOW, where=where, sort=sort, descending=descending,
            limit=limit, offset=offset,
        )  # fmt: skip
        whole = _whole(history, where=where, sort=sort, descending=descending, limit=limit,
                       offset=offset)  # fmt: skip
        assert page.equals(whole), (where, sort, descending, limit, offset)
    failed = runs.run_history(history, now=NOW, where=runs.RunFilter(run_id="r-failed"))
    assert failed.select(["status", "pending_approvals"]).to_pylist() == [
        {"status": "failed", "pending_approvals": 1}
    ]


def _in_time_order(con, table: str, column: str, after: int = -1) -> bool:
    """Whether the table's rows past rowid `after` are stored in `column` order."""
    return bool(
        con.execute(
            f"SELECT coalesce(bool_and(ok), true) FROM (SELECT {column} >= lag({column}) "
            f"OVER (ORDER BY rowid) AS ok FROM {table} WHERE rowid > {after})"
        ).fetchone()[0]
    )


def test_a_load_appends_its_runs_and_out_of_scope_touches_in_time_order(
    fleet_store: Store, tmp_path: Path
) -> None:
    from quarterdeck.ingest.load import load_paths

    con = fleet_store.con
    assert con.execute("SELECT count(*) FROM out_of_scope_touches").fetchone()[0] > 0
    assert _in_time_order(con, "run_summary", "started_at")
    assert _in_time_order(con, "out_of_scope_touches", "ts")
    before = con.execute("SELECT max(rowid) FROM run_summary").fetchone()[0]
    load_paths(con, [_open_runs(tmp_path / "logs")])  # runs that started before the last
    assert not _in_time_order(con, "run_summary", "started_at")
    assert _in_time_order(con, "run_summary", "started_at", after=before)


def test_the_upgrade_puts_stored_runs_in_time_order_and_keeps_them(tmp_path: Path) -> None:
    path = tmp_path / "v12.duckdb"
    con = duckdb.connect(str(path))
    migrations.migrate(con, migrations.MIGRATIONS[:12])
    columns = [row[0] for row in con.execute("DESCRIBE run_summary").fetchall()]
    rows = [
        {**dict.fromkeys(columns), "run_id": f"r-{n}", "has_start": True, "paused": False,
         "started_at": datetime(2026, 11, 20) + timedelta(minutes=(n * 37) % 101),
         "first_event_at": NOW, "last_event_at": NOW, "cost_usd": 0.5,
         **dict.fromkeys(("events", "steps", "step_errors", "touched", "reads", "creates",
                          "updates", "deletes", "exports", "out_of_scope"), n)}
        for n in range(101)
    ]  # fmt: skip
    stored = pa.Table.from_pylist(rows).select(columns)
    con.execute("INSERT INTO run_summary SELECT * FROM stored")
    assert not _in_time_order(con, "run_summary", "started_at")
    con.close()
    with Store.open(path) as store:
        assert store.migrated[0] == 13  # and those after it
        assert _in_time_order(store.con, "run_summary", "started_at")
        kept = (  # the columns it had (those added since are NULL: no event says otherwise)
            store.con.execute("SELECT * FROM run_summary ORDER BY run_id")
            .to_arrow_table()
            .select(columns)
        )
        assert kept.equals(stored.sort_by("run_id").cast(kept.schema))
        with pytest.raises(duckdb.ConstraintException):  # still its key
            store.con.execute(
                "INSERT INTO run_summary BY NAME SELECT * FROM stored LIMIT 1 OFFSET 3"
            )


def test_a_runs_touches_read_within_its_span_are_all_its_touches(fleet_store: Store) -> None:
    """`touched --run` reads the row groups of the run's span (its summary's first and last
    event): the same rows as reading every touch, for every run and a run not stored."""
    from quarterdeck.queries import touches

    con = fleet_store.con
    assert touches._pending_after(con) is None  # the span is used
    run_ids = [r[0] for r in con.execute("SELECT run_id FROM run_summary").fetchall()]
    for run_id in [*run_ids[::12], "r-unknown"]:  # every 12th: a spread of spans
        scanned = con.execute(
            touches._TOUCHES.format(source="touches", where="t.run_id = $r", direction="DESC"),
            {"r": run_id, "limit": 2**62},
        ).to_arrow_table()
        got = touches.touches(con, where=touches.TouchFilter(run_id=run_id))
        assert got.equals(scanned), run_id
        assert run_id == "r-unknown" or got.num_rows > 0
