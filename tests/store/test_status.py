"""Run status is derived from events in time order, never file order; offsets normalise."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from quarterdeck.console import cells
from quarterdeck.queries.runs import RunFilter, run_history
from support.events import NOW, event, started, write_jsonl


def _status(store, now: datetime = NOW, stale_seconds: int = 900) -> dict[str, str]:
    table = run_history(store.con, now=now, stale_seconds=stale_seconds)
    return {r["run_id"]: r["status"] for r in table.to_pylist()}


def _run(run_id: str, *extra: dict) -> list[dict]:
    return [
        started(run_id, "2026-11-20T08:00:00Z"),
        event(
            "step.started",
            "2026-11-20T08:00:01Z",
            run_id,
            event_id=f"{run_id}-s",
            step_id="s1",
            name="work",
            kind="tool",
        ),
        *extra,
    ]


@pytest.mark.parametrize("seed", range(5))
def test_status_ignores_file_order_and_offsets(tmp_path: Path, store, ingest, seed) -> None:
    lines = (
        # finished, written with three different offsets for the same instants
        _run(
            "r-done",
            event(
                "run.finished",
                "2026-11-20T13:40:00+05:30",
                "r-done",
                event_id="d1",
                status="failed",
                error="boom",
            ),
            event(
                "run.finished",
                "2026-11-20T00:20:00-08:00",
                "r-done",
                event_id="d2",
                status="rolled_back",
            ),
        )
        + _run(
            "r-wait",
            event(
                "approval.requested",
                "2026-11-20T08:02:00Z",
                "r-wait",
                event_id="w1",
                approval_id="a-1",
                risk="high",
                expires_at="2026-11-20T12:00:00Z",
            ),
        )
        + _run(
            "r-expired",
            event(
                "approval.requested",
                "2026-11-20T08:02:00Z",
                "r-expired",
                event_id="x1",
                approval_id="a-2",
                expires_at="2026-11-20T08:30:00Z",
            ),
        )
        + _run(
            "r-paused",
            event(
                "control.applied",
                "2026-11-20T08:50:00Z",
                "r-paused",
                event_id="p1",
                decision_id="dec-1",
                action="pause",
                result="applied",
            ),
            event(
                "approval.requested",
                "2026-11-20T08:51:00Z",
                "r-paused",
                event_id="p2",
                approval_id="a-3",
            ),
        )
        + _run(
            "r-resumed",
            event(
                "control.applied",
                "2026-11-20T08:50:00Z",
                "r-resumed",
                event_id="q1",
                decision_id="dec-2",
                action="pause",
                result="applied",
            ),
            event(
                "control.applied",
                "2026-11-20T08:55:00Z",
                "r-resumed",
                event_id="q2",
                decision_id="dec-3",
                action="resume",
                result="applied",
            ),
        )
        + _run(
            "r-live",
            event(
                "step.finished",
                "2026-11-20T08:58:00Z",
                "r-live",
                event_id="l1",
                step_id="s1",
                status="ok",
            ),
        )
    )
    random.Random(seed).shuffle(lines)
    ingest(write_jsonl(tmp_path / "shuffled.jsonl", lines))
    assert _status(store) == {
        "r-done": "rolled_back",  # the later run.finished (08:20Z) wins over 08:10Z
        "r-wait": "awaiting_approval",
        "r-expired": "stale",  # its approval expired; no event for 58 minutes
        "r-paused": "paused",
        "r-resumed": "running",
        "r-live": "running",
    }


def test_stale_threshold_is_configurable(tmp_path: Path, store, ingest) -> None:
    ingest(write_jsonl(tmp_path / "a.jsonl", _run("r-1")))
    assert _status(store, stale_seconds=3600) == {"r-1": "running"}
    assert _status(store, stale_seconds=600) == {"r-1": "stale"}


def test_times_are_normalised_to_utc(tmp_path: Path, store, ingest) -> None:
    ingest(
        write_jsonl(
            tmp_path / "a.jsonl",
            [
                started("r-1", "2026-11-20T13:30:00+05:30"),
                event(
                    "run.finished",
                    "2026-11-20T00:45:00-08:00",
                    "r-1",
                    event_id="f",
                    status="succeeded",
                ),
            ],
        )
    )
    row = run_history(store.con, now=NOW).to_pylist()[0]
    assert row["started_at"] == datetime(2026, 11, 20, 8, 0)
    assert row["finished_at"] == datetime(2026, 11, 20, 8, 45)
    assert row["duration_s"] == 45 * 60


def test_history_filters_sort_and_limit(tmp_path: Path, store, ingest) -> None:
    lines = []
    for i in range(6):
        ts = (datetime(2026, 11, 20, 2) + timedelta(hours=i)).isoformat() + "Z"
        wf = "crm-enrichment" if i % 2 else "invoice-posting"
        lines.append(started(f"r-{i}", ts, workflow=wf))
        lines.append(
            event(
                "run.finished",
                ts,
                f"r-{i}",
                event_id=f"f{i}",
                status="failed" if i == 3 else "succeeded",
            )
        )
    ingest(write_jsonl(tmp_path / "a.jsonl", lines))
    ids = lambda t: [r["run_id"] for r in t.to_pylist()]  # noqa: E731
    assert ids(run_history(store.con, now=NOW)) == [f"r-{i}" for i in range(5, -1, -1)]
    assert ids(run_history(store.con, now=NOW, limit=2)) == ["r-5", "r-4"]
    assert ids(run_history(store.con, now=NOW, where=RunFilter(status=("failed",)))) == ["r-3"]
    assert ids(run_history(store.con, now=NOW, where=RunFilter(workflow="crm-enrichment"))) == [
        "r-5",
        "r-3",
        "r-1",
    ]
    assert ids(
        run_history(store.con, now=NOW, where=RunFilter(since=datetime(2026, 11, 20, 5)))
    ) == ["r-5", "r-4", "r-3"]
    assert ids(run_history(store.con, now=NOW, where=RunFilter(text="crm"))) == [
        "r-5",
        "r-3",
        "r-1",
    ]
    assert ids(run_history(store.con, now=NOW, where=RunFilter(text="crm", invert=True))) == [
        "r-4",
        "r-2",
        "r-0",
    ]
    assert ids(run_history(store.con, now=NOW, sort="run_id", descending=False)) == [
        f"r-{i}" for i in range(6)
    ]


def test_a_paused_runs_duration_stops_at_its_pause(tmp_path: Path, store, ingest) -> None:
    def pause(run_id: str, at: str, action: str = "pause") -> dict:
        return event(
            "control.applied",
            at,
            run_id,
            event_id=f"{run_id}-{action}",
            decision_id=f"dec-{run_id}-{action}",
            action=action,
            result="applied",
        )

    ingest(
        write_jsonl(
            tmp_path / "a.jsonl",
            [
                *_run("r-paused", pause("r-paused", "2026-11-20T08:10:00Z")),
                *_run(
                    "r-resumed",
                    pause("r-resumed", "2026-11-20T08:10:00Z"),
                    pause("r-resumed", "2026-11-20T08:12:00Z", "resume"),
                ),
            ],
        )
    )
    for now in (NOW, NOW + timedelta(minutes=5)):
        found = run_history(store.con, now=now, stale_seconds=3 * 3600).to_pylist()
        rows = {r["run_id"]: r for r in found}
        paused, resumed = rows["r-paused"], rows["r-resumed"]
        assert paused["status"] == "paused"
        assert paused["duration_s"] == 10 * 60  # the time it ran until paused, not ticking
        assert resumed["status"] == "running"  # resumed: it ticks again, from its start
        assert resumed["duration_s"] == (now - datetime(2026, 11, 20, 8)).total_seconds()
    # the console marks only a ticking duration
    assert cells.seconds(600, status="paused") == "10m00s"
    assert cells.seconds(600, status="running") == "10m00s ▸"
