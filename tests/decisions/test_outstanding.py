"""A decision its runner has not answered yet is not taken twice: the same pause (resume,
rollback) of the same run or workflow is refused, naming the first, until the runner answers,
another decision supersedes it, or `REPEAT_AFTER` has passed; a workflow's decision leaves out
the runs one is outstanding on; a trigger's automatic decision is refused once per trip. Real
stores, real journals, the runner's answers as real log lines."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.desk import DecisionDesk
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import decisions
from quarterdeck.queries.decisions import Operator, Paths, Refused
from quarterdeck.queries.decisions.outstanding import REPEAT_AFTER
from quarterdeck.queries.store import Store
from quarterdeck.queries.triggers import Rule
from quarterdeck.watch import TriggerWatch
from support.desks import decided
from support.events import NOW, event, started, write_jsonl

ANNA = Operator("anna", frozenset({"operator"}))
BEN = Operator("ben", frozenset({"operator"}))
LIVE = "2026-11-20T08:59:00Z"  # a minute before NOW: running, not stale


@pytest.fixture
def live(store: Store, tmp_path: Path) -> Store:
    """r-1 and r-2 of invoice-posting running; r-old of it stale; r-crm of crm-enrichment."""
    write_jsonl(
        tmp_path / "logs" / "runs.jsonl",
        [
            started("r-1", LIVE),
            started("r-2", LIVE),
            started("r-old", "2026-11-20T07:00:00Z"),
            started("r-crm", LIVE, workflow="crm-enrichment"),
        ],
    )
    load_paths(store.con, [tmp_path / "logs"])
    return store


def decide(
    store: Store, paths: Paths, action: str, operator: Operator = ANNA, **given: Any
) -> dict[str, Any]:
    return decided(store, paths, action, operator, reason="why", **given)


def answer(store: Store, tmp_path: Path, rec: dict[str, Any], result: str = "applied") -> None:
    """The runner's acknowledgement of `rec` for each run it names, as it logs it."""
    lines = [
        event(
            "control.applied",
            f"2026-11-20T08:59:{rec['seq']:02d}Z",  # in the order decided
            run,
            event_id=f"ack-{rec['decision_id']}-{run}",
            decision_id=rec["decision_id"],
            action=rec["action"],
            result=result,
        )
        for run in rec["runs"]
    ]
    load_paths(store.con, [write_jsonl(tmp_path / "acks" / f"{rec['seq']}.jsonl", lines)])


def journaled(paths: Paths) -> list[dict[str, Any]]:
    return [json.loads(line) for line in paths.journal.read_text().splitlines()]


def test_a_second_pause_before_the_first_is_applied_is_refused_naming_it(
    live: Store, paths: Paths, tmp_path: Path
) -> None:
    first = decide(live, paths, "pause", run_id="r-1")
    with pytest.raises(Refused) as refused:
        decide(live, paths, "pause", BEN, run_id="r-1")
    said = str(refused.value)
    assert "run r-1 has a pause outstanding" in said
    assert f"{first['decision_id'][:8]} (#1) by anna at 2026-11-20 09:00:00Z" in said
    assert "not yet acknowledged" in said and "nothing was recorded" in said
    assert "may be repeated from 09:02:00Z (in 120s)" in said
    assert len(journaled(paths)) == 1  # a refusal is not recorded
    # another run, a resume or a rollback of this one: not repeats
    decide(live, paths, "pause", BEN, run_id="r-2")
    rollback = decide(live, paths, "rollback", BEN, run_id="r-1")
    with pytest.raises(Refused, match=r"run r-1 has a rollback outstanding: rollback \w{8} \(#3\)"):
        decide(live, paths, "rollback", run_id="r-1")
    # the runner answered the pause: the run is paused; a resume, then a pause again
    answer(live, tmp_path, first)
    answer(live, tmp_path, rollback, "refused")
    with pytest.raises(Refused, match="already paused"):
        decide(live, paths, "pause", BEN, run_id="r-1")
    resumed = decide(live, paths, "resume", run_id="r-1")
    with pytest.raises(Refused, match="run r-1 has a resume outstanding"):
        decide(live, paths, "resume", BEN, run_id="r-1")
    answer(live, tmp_path, resumed)
    again = decide(live, paths, "pause", BEN, run_id="r-1")
    assert again["seq"] == 5
    decide(live, paths, "rollback", run_id="r-1")  # the refused rollback may be asked again


def test_a_resume_supersedes_an_unapplied_pause_and_a_refused_one_may_be_asked_again(
    live: Store, paths: Paths, tmp_path: Path
) -> None:
    decide(live, paths, "pause", run_id="r-1")
    # an operator who changed their mind before the runner applied it: paused → resumed
    decisions.record(
        live.con,
        decisions.Plan("resume", "run", "r-1", ("r-1",)),
        operator=ANNA,
        reason="changed my mind",
        source="test",
        paths=paths,
        now=NOW,
    )  # fmt: skip  (the run is not paused yet, so `plan` would refuse a resume)
    decide(live, paths, "pause", BEN, run_id="r-1")  # the latest word was the resume
    refused = decide(live, paths, "pause", run_id="r-2")
    answer(live, tmp_path, refused, "refused")
    assert decide(live, paths, "pause", BEN, run_id="r-2")["seq"] == 5


def test_a_pause_never_acknowledged_may_be_repeated_after_the_stated_time(
    live: Store, paths: Paths
) -> None:
    first = decide(live, paths, "pause", run_id="r-1")
    just_before = NOW + REPEAT_AFTER - timedelta(seconds=1)
    with pytest.raises(Refused, match=r"in 1s\)"):
        decisions.plan(live.con, BEN, "pause", run_id="r-1", now=just_before)
    later = NOW + REPEAT_AFTER
    plan = decisions.plan(live.con, BEN, "pause", run_id="r-1", now=later)
    assert plan.summary == (
        f"pause run r-1 (repeats pause {first['decision_id'][:8]} (#1) by anna at "
        "2026-11-20 09:00:00Z, never acknowledged)"
    )
    assert decide(live, paths, "pause", BEN, now=later, run_id="r-1")["runs"] == ["r-1"]


def test_workflow_pauses_repeat_nothing_outstanding(live: Store, paths: Paths) -> None:
    run = decide(live, paths, "pause", BEN, run_id="r-1")
    # the workflow's pause leaves out the run whose own pause is on its way
    plan = decisions.plan(live.con, ANNA, "pause", workflow="invoice-posting", now=NOW)
    assert plan.runs == ("r-2",)
    named = f"pause {run['decision_id'][:8]} (#1) by ben at 2026-11-20 09:00:00Z"
    assert plan.details["outstanding"] == {"r-1": named}
    assert "1 run left out, with a pause not yet acknowledged: r-1 (pause " in plan.summary
    workflow = decide(live, paths, "pause", workflow="invoice-posting")
    assert workflow["runs"] == ["r-2"]
    # the same again: refused, naming the first
    with pytest.raises(Refused) as refused:
        decide(live, paths, "pause", BEN, workflow="invoice-posting")
    assert str(refused.value).startswith(
        f"workflow invoice-posting has a pause outstanding: pause of workflow invoice-posting "
        f"{workflow['decision_id'][:8]} (#2) by anna at 2026-11-20 09:00:00Z"
    )
    # a run's pause when the workflow's covers it already
    with pytest.raises(Refused, match="run r-2 has a pause outstanding: pause of workflow"):
        decide(live, paths, "pause", BEN, run_id="r-2")
    # the stale run the first one left out, asked for now: new to it, so no repeat
    stale = decide(live, paths, "pause", BEN, workflow="invoice-posting", include_stale=True)
    assert stale["runs"] == ["r-old"]
    # another workflow is another target
    assert decide(live, paths, "pause", workflow="crm-enrichment")["runs"] == ["r-crm"]
    assert [r["seq"] for r in journaled(paths)] == [1, 2, 3, 4]


def test_a_workflow_rollback_with_every_run_outstanding_says_so(live: Store, paths: Paths) -> None:
    decide(live, paths, "rollback", run_id="r-1")
    decide(live, paths, "rollback", run_id="r-2")
    with pytest.raises(Refused) as refused:
        decide(live, paths, "rollback", BEN, workflow="invoice-posting")
    said = str(refused.value)
    assert "workflow invoice-posting has no run to roll back" in said
    assert "2 have a rollback not yet acknowledged: r-1 (rollback " in said


def test_a_confirmed_dialog_leaves_out_a_run_paused_meanwhile(
    live: Store, paths: Paths, tmp_path: Path
) -> None:
    desk = DecisionDesk(live, ANNA, paths, stale_seconds=15 * 60, clock=lambda: NOW)
    shown = desk.plan("pause", workflow="invoice-posting")  # the dialog opens: r-1, r-2
    assert shown.runs == ("r-1", "r-2")
    decide(live, paths, "pause", BEN, run_id="r-1")  # another operator, meanwhile
    recorded = desk.record(shown, "as confirmed")
    assert recorded["runs"] == ["r-2"]
    with pytest.raises(Refused, match="workflow invoice-posting has a pause outstanding"):
        desk.record(shown, "pressed twice")
    assert len(journaled(paths)) == 2


def test_a_trigger_pause_racing_an_operators_is_refused_once_per_trip(
    live: Store, paths: Paths, tmp_path: Path
) -> None:
    write_jsonl(
        tmp_path / "touch" / "t.jsonl",
        [
            event(
                "data.touched", LIVE, "r-1", event_id="t-1", system="ledger", object="Invoice",
                record_id="INV-1", action="delete",
            )
        ],
    )  # fmt: skip
    load_paths(live.con, [tmp_path / "touch"])
    desk = DecisionDesk(live, ANNA, paths, stale_seconds=15 * 60, clock=lambda: NOW)
    rule = Rule("deletes", "deletes", 3600, 0, workflow="invoice-posting", auto=True)
    clock = [NOW]
    watch = TriggerWatch(live, [rule], desk, stale_seconds=15 * 60, clock=lambda: clock[0])
    mine = decide(live, paths, "pause", workflow="invoice-posting")
    (trip,) = watch.evaluate()
    assert trip.decision is None
    assert trip.refused is not None
    named = f"pause of workflow invoice-posting {mine['decision_id'][:8]} (#1)"
    assert trip.refused.startswith(f"workflow invoice-posting has a pause outstanding: {named}")
    for seconds in (5, 10):  # still tripped: the same trip, nothing said or tried again
        clock[0] = NOW + timedelta(seconds=seconds)
        assert watch.evaluate() == []
    assert len(journaled(paths)) == 1
