"""Facts that contradict each other show as such: a finish before its start (clock skew), two
run.finished events that disagree, a step finished twice, two run.started events that
disagree. Which one counts never depends on the order of the lines in a file."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.console.screens.run_detail import _facts, step_rows
from quarterdeck.formats import contradictions, duration
from quarterdeck.queries.runs import run_history, run_overview, run_steps
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl


def _runs(store: Store) -> dict[str, dict]:
    return {r["run_id"]: r for r in run_history(store.con, now=NOW).to_pylist()}


def _finished(run_id: str, ts: str, event_id: str, status: str, **fields: str) -> dict:
    return event("run.finished", ts, run_id, event_id=event_id, status=status, **fields)


def _step(phase: str, ts: str, event_id: str, **fields: object) -> dict:
    return event(f"step.{phase}", ts, "r-steps", event_id=event_id, step_id="s1", **fields)


def test_a_finish_before_the_start_is_clock_skew_not_a_duration(
    tmp_path: Path, store, ingest
) -> None:
    ingest(
        write_jsonl(
            tmp_path / "skew.jsonl",
            [
                # the finishing host's clock is 5 s behind the starting one's
                _finished("r-skew", "2026-11-20T08:00:00Z", "k1", "succeeded"),
                started("r-skew", "2026-11-20T08:00:05Z"),
                started("r-fine", "2026-11-20T08:00:00Z"),
                _finished("r-fine", "2026-11-20T08:00:07Z", "f1", "succeeded"),
                started("r-steps", "2026-11-20T08:00:00Z"),
                _step("started", "2026-11-20T08:00:03Z", "s-a", name="n", kind="tool"),
                _step("finished", "2026-11-20T08:00:02Z", "s-b", status="ok"),
            ],
        )
    )
    runs = _runs(store)
    assert runs["r-skew"]["duration_s"] == -5
    assert runs["r-skew"]["clock_skew"] is True
    assert runs["r-fine"]["clock_skew"] is False
    assert runs["r-steps"]["clock_skew"] is False  # still running: no finish to doubt
    assert duration(runs["r-skew"]["duration_s"]) == "⚠ skew -5s"
    assert duration(runs["r-fine"]["duration_s"]) == "7s"
    assert "clock skew" in contradictions(runs["r-skew"])[0]
    assert contradictions(runs["r-fine"]) == []
    (step,) = run_steps(store.con, "r-steps").to_pylist()
    assert (step["duration_s"], step["clock_skew"]) == (-1, True)
    # the run detail says so, in its facts and its steps' DURATION
    shown = _facts(run_overview(store.con, "r-skew", now=NOW) or {})
    assert "⚠ skew -5s" in shown and "clock skew: finished before it started" in shown
    labels, rows, _ = step_rows(run_steps(store.con, "r-steps"))
    assert "⚠ skew -1s" in rows[0][labels.index("DURATION")]


@pytest.mark.parametrize("order", ["failed first", "succeeded first"])
def test_two_finishes_at_one_instant_the_worse_counts_whatever_the_order(
    tmp_path: Path, store, ingest, order: str
) -> None:
    failed = _finished("r-tie", "2026-11-20T08:00:09Z", "t2", "failed", error="boom")
    succeeded = _finished("r-tie", "2026-11-20T08:00:09Z", "t3", "succeeded")
    ends = [failed, succeeded] if order == "failed first" else [succeeded, failed]
    ingest(
        write_jsonl(
            tmp_path / "tie.jsonl",
            [
                started("r-tie"),
                *ends,
                # a later finish that disagrees: the latest counts, the conflict still shows
                started("r-later"),
                _finished("r-later", "2026-11-20T08:01:00Z", "l1", "failed", error="x"),
                _finished("r-later", "2026-11-20T08:02:00Z", "l2", "succeeded"),
                # one finish written twice with its own ids: no conflict
                started("r-same"),
                _finished("r-same", "2026-11-20T08:01:00Z", "s1", "succeeded"),
                _finished("r-same", "2026-11-20T08:01:00Z", "s2", "succeeded"),
            ],
        )
    )
    runs = _runs(store)
    tie = runs["r-tie"]
    assert (tie["status"], tie["error"], tie["conflicting_finish"]) == ("failed", "boom", True)
    later = runs["r-later"]
    assert (later["status"], later["error"], later["conflicting_finish"]) == (
        "succeeded",
        None,
        True,
    )
    assert runs["r-same"]["conflicting_finish"] is False
    assert "run.finished events disagree" in contradictions(tie)[0]


def test_a_step_finished_twice_takes_status_and_error_from_one_finish(
    tmp_path: Path, store, ingest
) -> None:
    ingest(
        write_jsonl(
            tmp_path / "twice.jsonl",
            [
                started("r-steps"),
                _step("started", "2026-11-20T08:00:01Z", "b2", name="n", kind="llm"),
                _step(
                    "finished",
                    "2026-11-20T08:00:02Z",
                    "b3",
                    status="error",
                    error="first",
                    tokens_in=10,
                ),
                _step("finished", "2026-11-20T08:00:03Z", "b4", status="ok", tokens_in=5),
                # at one instant, error over ok, whichever line came first
                event(
                    "step.finished",
                    "2026-11-20T08:00:04Z",
                    "r-steps",
                    event_id="c2",
                    step_id="s2",
                    status="ok",
                ),
                event(
                    "step.finished",
                    "2026-11-20T08:00:04Z",
                    "r-steps",
                    event_id="c1",
                    step_id="s2",
                    status="error",
                    error="same instant",
                ),
            ],
        )
    )
    steps = {s["step_id"]: s for s in run_steps(store.con, "r-steps").to_pylist()}
    assert (steps["s1"]["status"], steps["s1"]["error"], steps["s1"]["finishes"]) == (
        "ok",
        None,
        2,
    )
    assert steps["s1"]["tokens_in"] == 15  # each finish reported its own work
    assert (steps["s2"]["status"], steps["s2"]["error"]) == ("error", "same instant")
    labels, rows, _ = step_rows(run_steps(store.con, "r-steps"))
    assert "⚠ finished 2×" in rows[0][labels.index("STATUS")]


def _delete(run_id: str, event_id: str) -> dict:
    return event("data.touched", "2026-11-20T08:00:20Z", run_id, event_id=event_id,
                 system="crm", object="Contact", record_id="C1", action="delete")  # fmt: skip


@pytest.mark.parametrize("loads", ["one load", "the narrower start a load later"])
def test_two_starts_that_disagree_are_named_and_the_narrower_scope_checks(
    tmp_path: Path, store, ingest, loads: str
) -> None:
    first = [
        # the first start allows the delete, the second does not: it is out of scope
        started("r-wide-first", "2026-11-20T08:00:00Z", scope=["crm:*"]),
        _delete("r-wide-first", "w3"),
        started("r-narrow-first", "2026-11-20T08:00:00Z", scope=["crm:read"]),
        started("r-narrow-first", "2026-11-20T08:00:10Z", event_id="n2", scope=["crm:*"]),
        _delete("r-narrow-first", "n3"),
        started("r-one", "2026-11-20T08:00:00Z", scope=["crm:*"]),
        _delete("r-one", "o3"),
    ]
    later = [started("r-wide-first", "2026-11-20T08:00:10Z", event_id="w2", scope=["crm:read"])]
    if loads == "one load":
        ingest(write_jsonl(tmp_path / "starts.jsonl", first + later))
    else:
        ingest(write_jsonl(tmp_path / "starts.jsonl", first))
        assert _runs(store)["r-wide-first"]["out_of_scope"] == 0
        ingest(write_jsonl(tmp_path / "restarted.jsonl", later))
    runs = _runs(store)
    for run_id in ("r-wide-first", "r-narrow-first"):
        assert runs[run_id]["conflicting_start"] is True
        assert runs[run_id]["out_of_scope"] == 1, run_id
    assert (runs["r-one"]["conflicting_start"], runs["r-one"]["out_of_scope"]) == (False, 0)
    assert "run.started events disagree" in contradictions(runs["r-wide-first"])[0]
    needed = store.con.execute(
        "SELECT list(run_id ORDER BY run_id) FROM out_of_scope_touches"
    ).fetchone()[0]
    assert needed == ["r-narrow-first", "r-wide-first"]
    lineage = store.con.execute(  # the record's lineage says the same
        "SELECT list(run_id ORDER BY run_id) FROM record_touches WHERE NOT in_scope"
    ).fetchone()[0]
    assert lineage == needed


def test_a_store_upgraded_gets_the_finish_that_counts(tmp_path: Path, ingest, store) -> None:
    ingest(
        write_jsonl(
            tmp_path / "tie.jsonl",
            [
                started("r-tie"),
                _finished("r-tie", "2026-11-20T08:00:09Z", "t3", "succeeded"),
                _finished("r-tie", "2026-11-20T08:00:09Z", "t2", "failed", error="boom"),
            ],
        )
    )
    # as a store written before V18 left it: the file's last finish, no flags
    store.con.execute(
        "UPDATE run_summary SET outcome = 'succeeded', outcome_error = NULL, "
        "conflicting_finish = NULL, conflicting_start = NULL"
    )
    store.con.execute("DELETE FROM schema_version WHERE version >= 19")  # V19 runs again
    path = store.path
    store.close()
    with Store.open(path) as upgraded:
        tie = _runs(upgraded)["r-tie"]
    assert (tie["status"], tie["error"], tie["conflicting_finish"]) == ("failed", "boom", True)
