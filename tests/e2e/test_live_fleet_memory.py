"""The live runner's memory is bounded however long it runs (runner/live.py): a finished run is
kept for a rollback for `KEEP_FINISHED_S` of its clock and then forgotten, and at most
`KEEP_WAITING` approval requests wait for an operator. In process, on a clock the test moves:
no waiting, a few thousand events in well under a second.
"""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.runner import live
from quarterdeck.runner.live import LiveFleet


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_finished_runs_are_forgotten_after_the_window_and_waiting_ones_are_capped(
    tmp_path: Path,
) -> None:
    clock = Clock()
    fleet = LiveFleet(tmp_path / "logs", rate=100, clock=clock, burst_every=0, unanswered=1.0)
    for _ in range(20_000):
        fleet.step()
        clock.now += 0.01  # 100 events/s: 200 s of the runner's clock
    finished = [r for r in fleet.runs.values() if r.finished]
    assert len(fleet.waiting) == live.KEEP_WAITING
    assert finished, "the window has not passed yet: every finished run is still kept"
    kept = len(fleet.runs)

    clock.now += live.KEEP_FINISHED_S
    fleet.forget_finished()
    assert not any(r.finished for r in fleet.runs.values())
    assert len(fleet.runs) < kept
    assert {r.run_id for r in fleet.waiting} <= set(fleet.runs)


def test_a_run_finished_within_the_window_can_still_be_rolled_back(tmp_path: Path) -> None:
    clock = Clock()
    outbox = tmp_path / "outbox.jsonl"
    fleet = LiveFleet(tmp_path / "logs", rate=100, clock=clock, burst_every=0, outbox=outbox)
    while not any(r.finished and r.changes for r in fleet.runs.values()):
        fleet.step()
    run = next(r for r in fleet.runs.values() if r.finished and r.changes)
    clock.now += live.KEEP_FINISHED_S - 1
    fleet.forget_finished()
    assert run.run_id in fleet.runs

    decision = {
        "decision_id": "d-1",
        "seq": 1,
        "action": "rollback",
        "target_kind": "run",
        "runs": [run.run_id],
        "reason": "bad writes",
    }
    outbox.write_text(json.dumps(decision) + "\n")
    fleet.take_decisions()
    applied = [
        json.loads(line)
        for path in (tmp_path / "logs").rglob("*.jsonl")
        for line in path.read_text().splitlines()
        if '"control.applied"' in line
    ]
    assert [(a["run_id"], a["result"]) for a in applied] == [(run.run_id, "applied")]

    clock.now += 2
    fleet.forget_finished()
    assert run.run_id not in fleet.runs
