"""Filters match what a person typed, literally: SQL's `%` and `_` and the escape `\\` mean
themselves; only `*` stands for anything."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import approvals, runs, touches
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl

NOW = datetime(2026, 11, 20, 9, 0, 0)
RUNS = ["r_tic-1", "rxtic-2", "r-100%-3", "r-1000-4", "r-a\\b-5", "r-ab-6"]


@pytest.fixture
def odd_names(store: Store, tmp_path: Path) -> Store:
    lines = []
    for n, run_id in enumerate(RUNS):
        lines.append(started(run_id, ts=f"2026-11-20T08:0{n}:00Z"))
        lines.append(
            event(
                "data.touched",
                f"2026-11-20T08:0{n}:01Z",
                run_id,
                event_id=f"t{n}",
                system="crm",
                object="Contact",
                record_id=f"C-{run_id}",
                action="read",
            )
        )
        lines.append(
            event(
                "approval.requested",
                f"2026-11-20T08:0{n}:02Z",
                run_id,
                event_id=f"a{n}",
                approval_id=f"apr-{run_id}",
                risk="low",
            )
        )
    write_jsonl(tmp_path / "logs" / "odd.jsonl", lines)
    load_paths(store.con, [tmp_path / "logs"])
    return store


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("r_tic", ["r_tic-1"]),  # `_` is an underscore, not any one character
        ("%", ["r-100%-3"]),  # `%` is a percent sign, not everything
        ("100%", ["r-100%-3"]),
        ("a\\b", ["r-a\\b-5"]),  # a backslash is itself
        ("r*tic", ["r_tic-1", "rxtic-2"]),  # `*` is the one wildcard
    ],
)
def test_filters_match_the_text_literally(
    odd_names: Store, typed: str, expected: list[str]
) -> None:
    con = odd_names.con
    found_runs = runs.run_history(con, now=NOW, where=runs.RunFilter(text=typed))
    assert sorted(found_runs.column("run_id").to_pylist()) == expected
    found_touches = touches.touches(con, where=touches.TouchFilter(text=typed))
    assert sorted(set(found_touches.column("run_id").to_pylist())) == expected
    found_approvals = approvals.approvals(con, now=NOW, text=typed)
    assert sorted(set(found_approvals.column("run_id").to_pylist())) == expected
