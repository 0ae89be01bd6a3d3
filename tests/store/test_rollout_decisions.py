"""Rollout decisions: promote, rollback-version and pause-rollout, through authority, the
journal, the outbox and a real runner's acknowledgement, to the weights in the store."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import decisions
from quarterdeck.queries.decisions import Operator, Paths, Refused
from quarterdeck.queries.versions import weights
from quarterdeck.runner.live import LiveFleet
from support.events import published, rollout, started, write_jsonl

NOW = datetime(2026, 11, 20, 9, 0)
RM = Operator("rita", frozenset({"release-manager"}))


@pytest.fixture
def canary(store, tmp_path: Path):
    """invoice-posting: 1.4.0 stable at 90 %, 1.5.0 a canary at 10 % (steps 10, 50, 100)."""
    lines = [
        published("1.4.0", "2026-11-20T07:00:00Z"),
        published("1.5.0", "2026-11-20T08:00:00Z", rollout={"steps": [10, 50, 100]}),
        rollout("1.4.0", 90, "2026-11-20T08:00:00Z"),
        started("r-1"),
    ]
    load_paths(store.con, [write_jsonl(tmp_path / "logs" / "releases.jsonl", lines)])
    return store


def _plan(store, action: str, operator: Operator = RM, **target):
    return decisions.plan(store.con, operator, action, now=NOW, **target)


def _weights(store, at: datetime = NOW) -> dict[str, int]:
    return {w.version: w.weight for w in weights(store.con, at=at)}


def test_rollout_decisions_need_the_rollout_role(canary) -> None:
    operator = Operator("olga", frozenset({"operator"}))
    with pytest.raises(Refused, match="needs the role 'release-manager'"):
        _plan(canary, "promote", operator, workflow="invoice-posting")
    roles = {"invoice-posting": "deployer"}
    with pytest.raises(Refused, match="needs the role 'deployer'"):
        decisions.plan(
            canary.con, RM, "promote", now=NOW, workflow="invoice-posting", rollout_roles=roles
        )
    deployer = Operator("dee", frozenset({"deployer"}))
    plan = decisions.plan(
        canary.con, deployer, "promote", now=NOW, workflow="invoice-posting", rollout_roles=roles
    )
    assert plan.details["rollout"] == {"version": "1.5.0", "weights": {"1.5.0": 50, "1.4.0": 50}}


def test_what_each_rollout_decision_would_do_and_what_is_refused(canary) -> None:
    wf = {"workflow": "invoice-posting"}
    assert (
        _plan(canary, "promote", **wf).summary
        == "promote 1.5.0 of invoice-posting from 10 % to 50 %"
    )
    back = _plan(canary, "rollback-version", **wf)
    assert back.details["rollout"] == {"version": "1.4.0", "weights": {"1.4.0": 100, "1.5.0": 0}}
    assert back.runs == () and back.target_kind == "workflow"
    held = _plan(canary, "pause-rollout", **wf)
    assert held.details["rollout"] == {"version": "1.5.0", "weights": {"1.5.0": 10}}
    with pytest.raises(Refused, match="no published version '9.9'"):
        _plan(canary, "rollback-version", version="9.9", **wf)
    with pytest.raises(Refused, match="--to goes with rollback-version"):
        _plan(canary, "promote", version="1.4.0", **wf)
    with pytest.raises(Refused, match="takes a workflow"):
        _plan(canary, "promote", run_id="r-1")
    with pytest.raises(Refused, match="no published version in the store"):
        _plan(canary, "promote", workflow="crm-enrichment")


def test_a_rollout_decision_reaches_the_runner_and_the_weights_move(canary, tmp_path) -> None:
    paths = Paths(journal=tmp_path / "journal.jsonl", outbox=tmp_path / "outbox.jsonl")
    runner = LiveFleet(tmp_path / "live", rate=10, burst_every=0, outbox=paths.outbox)
    runner.weights["invoice-posting"] = {"1.4.0": 90, "1.5.0": 10}

    def decide(action: str, **target: str) -> dict:
        plan = _plan(canary, action, workflow="invoice-posting", **target)
        rec = decisions.record(
            canary.con, plan, operator=RM, reason="canary fails", source="cli", paths=paths,
            now=datetime.now(),
        )  # fmt: skip
        runner.take_decisions()
        load_paths(canary.con, [tmp_path / "live"])
        return rec

    rec = decide("promote")
    message = json.loads(paths.outbox.read_text().splitlines()[-1])
    assert message["rollout"] == rec["rollout"] == {
        "version": "1.5.0", "weights": {"1.5.0": 50, "1.4.0": 50}
    }  # fmt: skip
    later = datetime(2100, 1, 1)
    assert _weights(canary, later) == {"1.4.0": 50, "1.5.0": 50}
    assert runner.weights["invoice-posting"] == {"1.4.0": 50, "1.5.0": 50}
    listed = decisions.decisions(canary.con).to_pylist()[0]
    assert (listed["action"], listed["state"]) == ("promote", "applied")
    assert "1.5.0 10 → 50 %" in listed["detail"]
    # the runner's answer names no run: it is the workflow's, one outcome with no run
    assert listed["answers"] == "applied: 1.4.0 90 → 50 %, 1.5.0 10 → 50 %"
    assert listed["outcomes"] == [
        {"run_id": None, "outcome": "applied", "detail": "1.4.0 90 → 50 %, 1.5.0 10 → 50 %"}
    ]
    (row,) = decisions.outcomes(canary.con, rec["decision_id"]).to_pylist()
    assert (row["run_id"], row["workflow"], row["outcome"], row["named"]) == (
        None, "invoice-posting", "applied", True
    )  # fmt: skip

    decide("rollback-version", version="1.4.0")
    assert _weights(canary, later) == {"1.4.0": 100, "1.5.0": 0}
    changed = canary.con.execute(
        "SELECT version, weight, changed_by, reason FROM rollout_changes "
        "WHERE changed_by = 'rita' ORDER BY ts, version"
    ).fetchall()
    assert changed[-2:] == [
        ("1.4.0", 100, "rita", "canary fails"),
        ("1.5.0", 0, "rita", "canary fails"),
    ]
    assert decisions.verify(canary.con, paths.journal).first_bad_seq is None
