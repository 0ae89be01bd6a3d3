"""Input that used to be lost, hidden or misreported: each kept, counted or said, with real
files and a real store, loaded in a batch and followed."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl


def _attrs(store: Store) -> dict[str, object]:
    rows = store.con.execute("SELECT event_id, attrs FROM events").fetchall()
    return {event_id: None if attrs is None else json.loads(attrs) for event_id, attrs in rows}


def _classes(store: Store) -> list[tuple[int, str]]:
    return store.con.execute(
        "SELECT line_no, error_class FROM quarantine ORDER BY source, line_no"
    ).fetchall()


# --- unknown top-level fields -----------------------------------------------------------

UNKNOWN = [
    started(priority="p1", attrs={"team": "ap"}),
    event(
        "metric",
        "2026-11-20T08:00:01Z",
        event_id="m1",
        name="score",
        value=0.5,
        labels={"k": [1, None]},
        note=None,
    ),
    # attrs already holds the key the unknown fields would go to: refused, not overwritten
    event(
        "metric",
        "2026-11-20T08:00:02Z",
        event_id="m2",
        name="score",
        value=1,
        extra=1,
        attrs={"_unknown_fields": "mine"},
    ),
    # the key in attrs with no unknown field beside it is the producer's own, kept as it is
    event("metric", "2026-11-20T08:00:03Z", event_id="m3", name="score", value=1,
          attrs={"_unknown_fields": "mine"}),
]  # fmt: skip
KEPT = {
    "r-1-start": {"team": "ap", "_unknown_fields": {"priority": "p1"}},
    "m1": {"_unknown_fields": {"labels": {"k": [1, None]}, "note": None}},
    "m3": {"_unknown_fields": "mine"},
}


def test_unknown_top_level_fields_are_kept_in_attrs_by_a_load(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "logs" / "run.jsonl", UNKNOWN)
    summary = load_paths(store.con, [log])
    assert (summary.events, summary.quarantined) == (3, 1)
    assert _attrs(store) == KEPT
    assert _classes(store) == [(3, "unknown_field")]
    error = store.con.execute("SELECT error FROM quarantine").fetchone()[0]
    assert "'extra'" in error and "attrs._unknown_fields" in error


def test_unknown_top_level_fields_are_kept_in_attrs_when_followed(
    store: Store, tmp_path: Path
) -> None:
    log = write_jsonl(tmp_path / "logs" / "run.jsonl", UNKNOWN)
    follower = Follower(store.cursor(), [log.parent])
    try:
        assert follower.poll() == 3
    finally:
        follower.close()
    assert _attrs(store) == KEPT
    assert _classes(store) == [(3, "unknown_field")]
