"""Decisions: authority rules, the hash-chained journal, crash safety, and `verify` catching an
edited, a deleted and a reordered record."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import decisions
from quarterdeck.queries.decisions import Operator, Paths, Refused, journal, recording
from quarterdeck.queries.store import Store
from quarterdeck.runner.live import LiveFleet
from support.desks import decided
from support.events import started, write_jsonl

NOW = datetime(2026, 11, 20, 9, 0, 0)
ANNA = Operator("anna", frozenset({"operator", "finance-approver"}))


def request(
    approval_id: str = "apr-1",
    run_id: str = "r-1",
    *,
    expires: str = "2030-01-01T00:00:00Z",
    requested_by: str = "svc-agent",
) -> dict:
    return {
        "type": "approval.requested",
        "ts": "2026-11-20T08:10:00Z",
        "run_id": run_id,
        "event_id": f"{approval_id}-req",
        "approval_id": approval_id,
        "action": "post 40 invoices",
        "risk": "high",
        "required_role": "finance-approver",
        "requested_by": requested_by,
        "expires_at": expires,
    }


@pytest.fixture
def fleet(store: Store, tmp_path: Path) -> Store:
    write_jsonl(
        tmp_path / "logs" / "a.jsonl",
        [
            started("r-1"),
            started("r-2"),
            {
                "type": "run.finished",
                "ts": "2026-11-20T08:30:00Z",
                "run_id": "r-2",
                "event_id": "r-2-end",
                "status": "succeeded",
            },
            started("r-3", ts="2026-11-20T08:40:00Z", workflow="crm-enrichment"),
            request(),
            request("apr-old", expires="2026-11-20T08:30:00Z"),
        ],
    )
    load_paths(store.con, [tmp_path / "logs"])
    return store


def decide(
    store: Store, paths: Paths, action: str, operator: Operator = ANNA, **given: str
) -> dict:
    return decided(store, paths, action, operator, **given)


# --- authority ------------------------------------------------------------------------------


def test_approving_needs_the_required_role(fleet: Store) -> None:
    nobody = Operator("bob", frozenset({"operator"}))
    with pytest.raises(Refused, match="needs the role 'finance-approver'; bob has operator"):
        decisions.plan(fleet.con, nobody, "approve", approval_id="apr-1", now=NOW)


def test_the_requester_cannot_decide_its_own_request(fleet: Store) -> None:
    itself = Operator("svc-agent", frozenset({"finance-approver"}))
    with pytest.raises(Refused, match="separation of duties"):
        decisions.plan(fleet.con, itself, "approve", approval_id="apr-1", now=NOW)


def test_an_expired_request_cannot_be_approved(fleet: Store) -> None:
    with pytest.raises(Refused, match="expired at 2026-11-20 08:30:00Z"):
        decisions.plan(fleet.con, ANNA, "approve", approval_id="apr-old", now=NOW)


def test_read_only_refuses_everything(fleet: Store) -> None:
    viewer = Operator("anna", ANNA.roles, read_only=True)
    for action, target in (("pause", {"run_id": "r-1"}), ("approve", {"approval_id": "apr-1"})):
        with pytest.raises(Refused, match="read-only"):
            decisions.plan(fleet.con, viewer, action, now=NOW, **target)


def test_control_needs_the_operator_role_and_an_active_run(fleet: Store) -> None:
    approver = Operator("li", frozenset({"finance-approver"}))
    with pytest.raises(Refused, match="needs the role 'operator'"):
        decisions.plan(fleet.con, approver, "pause", run_id="r-1", now=NOW)
    with pytest.raises(Refused, match="succeeded: only an active run can be paused"):
        decisions.plan(fleet.con, ANNA, "pause", run_id="r-2", now=NOW)
    with pytest.raises(Refused, match="not paused: nothing to resume"):
        decisions.plan(fleet.con, ANNA, "resume", run_id="r-1", now=NOW)


def ack(run_id: str, decision_id: str, action: str, result: str, detail: str = "") -> dict:
    return {
        "type": "control.applied",
        "ts": "2026-11-20T08:59:00Z",
        "run_id": run_id,
        "event_id": f"ack-{run_id}-{decision_id}",
        "decision_id": decision_id,
        "action": action,
        "result": result,
        "detail": detail or None,
    }


@pytest.fixture
def workflow_fleet(store: Store, tmp_path: Path) -> Store:
    """invoice-posting with a running run, one awaiting approval, a paused one, and two stale
    ones from five days ago (their runner is gone); r-9 is another workflow's."""
    recent = "2026-11-20T08:55:00Z"
    write_jsonl(
        tmp_path / "logs" / "w.jsonl",
        [
            started("r-run", ts=recent),
            started("r-wait", ts=recent),
            {**request("apr-w", "r-wait"), "ts": "2026-11-20T08:56:00Z"},
            started("r-paused", ts=recent),
            ack("r-paused", "d-0", "pause", "applied"),
            started("r-old-1", ts="2026-11-15T08:00:00Z"),
            started("r-old-2", ts="2026-11-15T08:05:00Z"),
            started("r-9", ts=recent, workflow="crm-enrichment"),
        ],
    )
    load_paths(store.con, [tmp_path / "logs"])
    return store


def test_a_workflow_decision_covers_its_live_runs_not_stale_history(
    workflow_fleet: Store,
) -> None:
    def plan(action: str, **more: bool) -> decisions.Plan:
        wf = "invoice-posting"
        return decisions.plan(workflow_fleet.con, ANNA, action, workflow=wf, now=NOW, **more)

    pause = plan("pause")
    assert pause.runs == ("r-run", "r-wait")
    assert pause.headline == "pause 2 active runs of invoice-posting"
    assert pause.details["stale_left_out"] == 2
    assert "2 stale runs left out (--include-stale includes them)" in pause.summary
    # the runners hold the workflow: the plan (and what the CLI prints) says so
    assert pause.summary.endswith(
        "runs of invoice-posting that start later are held too: its runners start none "
        "until the workflow is resumed"
    )
    assert plan("rollback").runs == ("r-paused", "r-run", "r-wait")
    resume = plan("resume")
    assert resume.runs == ("r-paused",)
    assert resume.headline == "resume 1 paused run of invoice-posting"
    assert resume.later_note == ""
    asked = plan("pause", include_stale=True)
    assert asked.runs == ("r-old-1", "r-old-2", "r-run", "r-wait")
    assert asked.headline == "pause 4 active runs of invoice-posting (stale ones included)"


def test_a_workflow_of_only_stale_runs_says_how_to_include_them(fleet: Store) -> None:
    with pytest.raises(Refused, match=r"no run to roll back .*1 stale run left out \(--incl"):
        decisions.plan(fleet.con, ANNA, "rollback", workflow="crm-enrichment", now=NOW)
    pause = decisions.plan(fleet.con, ANNA, "pause", workflow="crm-enrichment", now=NOW)
    assert pause.summary == (
        "pause crm-enrichment (no run of it is active now); 1 stale run left out "
        "(--include-stale includes them); runs of crm-enrichment that start later are held "
        "too: its runners start none until the workflow is resumed"
    )


def test_each_run_of_a_decision_has_its_outcome(
    workflow_fleet: Store, paths: Paths, tmp_path: Path
) -> None:
    rec = decide(workflow_fleet, paths, "rollback", workflow="invoice-posting")
    assert rec["runs"] == ["r-paused", "r-run", "r-wait"]
    d = rec["decision_id"]
    write_jsonl(
        tmp_path / "logs" / "acks.jsonl",
        [
            ack("r-run", d, "rollback", "refused", "the run had already finished"),
            ack("r-paused", d, "rollback", "applied", "rolled back 3 touches"),
            started("r-new", ts="2026-11-20T08:58:00Z"),  # started after the plan
            ack("r-new", d, "rollback", "applied"),
        ],
    )
    load_paths(workflow_fleet.con, [tmp_path / "logs" / "acks.jsonl"])
    listed = decisions.decisions(workflow_fleet.con).to_pylist()[0]
    assert listed["state"] == "partly applied"
    assert listed["answers"] == "2 applied, 1 refused, 1 not acknowledged"
    assert {(o["run_id"], o["outcome"]) for o in listed["outcomes"]} == {
        ("r-run", "refused"),
        ("r-paused", "applied"),
        ("r-new", "applied"),
        ("r-wait", "not acknowledged"),
    }
    for key in (d, str(rec["seq"]), f"#{rec['seq']}"):
        rows = decisions.outcomes(workflow_fleet.con, key).to_pylist()
        assert [(r["run_id"], r["outcome"], r["detail"], r["named"]) for r in rows] == [
            ("r-run", "refused", "the run had already finished", True),
            ("r-wait", "not acknowledged", None, True),
            ("r-new", "applied", None, False),
            ("r-paused", "applied", "rolled back 3 touches", True),
        ]
    assert decisions.outcomes(workflow_fleet.con, "no-such").num_rows == 0


def test_a_reason_is_required_and_a_refusal_is_not_recorded(fleet: Store, paths: Paths) -> None:
    with pytest.raises(Refused, match="a reason is needed"):
        decide(fleet, paths, "reject", reason="  ", approval_id="apr-1")
    assert not paths.journal.exists()
    assert fleet.con.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0


def test_a_decided_request_stays_decided(fleet: Store, paths: Paths) -> None:
    decide(fleet, paths, "approve", approval_id="apr-1", reason="totals match")
    row = fleet.con.execute(
        "SELECT status, decided_by, reason FROM qd_approvals(?) WHERE approval_id = 'apr-1'", [NOW]
    ).fetchone()
    assert row == ("approved", "anna", "totals match")
    with pytest.raises(Refused, match="already approved by anna"):
        decisions.plan(fleet.con, ANNA, "reject", approval_id="apr-1", now=NOW)


# --- recording --------------------------------------------------------------------------------


def test_each_decision_is_journaled_chained_stored_and_delivered(
    fleet: Store, paths: Paths
) -> None:
    first = decide(fleet, paths, "pause", run_id="r-1", reason="investigating")
    second = decide(fleet, paths, "approve", approval_id="apr-1", reason="ok")
    lines = [json.loads(x) for x in paths.journal.read_text().splitlines()]
    assert lines == [first, second]
    assert first["prev_hash"] == journal.GENESIS and second["prev_hash"] == first["hash"]
    assert [r["seq"] for r in lines] == [1, 2]
    assert first["decision_id"][14] == "7"  # a UUIDv7
    outbox = [json.loads(x) for x in paths.outbox.read_text().splitlines()]
    assert [m["decision_id"] for m in outbox] == [first["decision_id"], second["decision_id"]]
    assert outbox[0]["runs"] == ["r-1"] and outbox[0]["action"] == "pause"
    table = decisions.decisions(fleet.con).to_pylist()
    assert [r["state"] for r in table] == ["delivered", "delivered"]


def test_the_runners_acknowledgement_completes_the_lifecycle(
    fleet: Store, paths: Paths, tmp_path: Path
) -> None:
    rec = decide(fleet, paths, "pause", run_id="r-1")
    write_jsonl(
        tmp_path / "logs" / "b.jsonl",
        [
            {
                "type": "control.applied",
                "ts": "2026-11-20T09:00:01Z",
                "run_id": "r-1",
                "event_id": "ack-1",
                "decision_id": rec["decision_id"],
                "action": "pause",
                "result": "applied",
            }
        ],
    )
    load_paths(fleet.con, [tmp_path / "logs" / "b.jsonl"])
    assert decisions.decisions(fleet.con).to_pylist()[0]["state"] == "applied"
    status = fleet.con.execute("SELECT paused FROM run_summary WHERE run_id = 'r-1'").fetchone()
    assert status == (True,)


def test_a_crash_between_journal_and_store_loses_nothing(
    fleet: Store, paths: Paths, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*_: object) -> None:
        raise SystemExit("killed")

    monkeypatch.setattr(recording, "_store", crash)
    with pytest.raises(SystemExit):
        decide(fleet, paths, "pause", run_id="r-1", reason="investigating")
    monkeypatch.undo()
    assert fleet.con.execute("SELECT count(*) FROM decisions").fetchone()[0] == 0
    done = decisions.reconcile(fleet.con, paths, now=NOW)
    assert done.added == [1] and done.delivered == [1]
    assert decisions.verify(fleet.con, paths.journal).ok
    again = decisions.reconcile(fleet.con, paths, now=NOW)
    assert again.added == [] and again.delivered == []  # nothing twice


# --- verify -----------------------------------------------------------------------------------


@pytest.fixture
def three(fleet: Store, paths: Paths) -> Paths:
    decide(fleet, paths, "pause", run_id="r-1", reason="one")
    decide(fleet, paths, "approve", approval_id="apr-1", reason="two")
    decide(fleet, paths, "pause", run_id="r-3", reason="three")
    assert decisions.verify(fleet.con, paths.journal).ok
    return paths


def _rewrite(path: Path, change) -> None:
    lines = path.read_text().splitlines()
    path.write_text("\n".join(change(lines)) + "\n")


def test_verify_names_an_edited_record(fleet: Store, three: Paths) -> None:
    def edit(lines: list[str]) -> list[str]:
        record = json.loads(lines[1])
        record["reason"] = "something nicer"
        return [lines[0], json.dumps(record), lines[2]]

    _rewrite(three.journal, edit)
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 2 and "altered" in result.problem


def test_verify_names_a_deleted_record(fleet: Store, three: Paths) -> None:
    _rewrite(three.journal, lambda lines: [lines[0], lines[2]])
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 3


def test_verify_names_a_reordered_record(fleet: Store, three: Paths) -> None:
    _rewrite(three.journal, lambda lines: [lines[0], lines[2], lines[1]])
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 3


def test_verify_finds_a_decision_the_journal_lost_at_its_end(fleet: Store, three: Paths) -> None:
    _rewrite(three.journal, lambda lines: lines[:2])  # the chain of what is left is whole
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 3
    assert "in the store but not in the journal" in result.problem


def test_verify_finds_a_store_that_differs_from_the_journal(fleet: Store, three: Paths) -> None:
    fleet.con.execute("DELETE FROM decisions WHERE seq = 2")
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 2 and "not in the store" in result.problem


#: Each column of a stored decision, and a value someone could write into it behind
#: Quarterdeck's back (seq 2 is the approval of apr-1).
EDITS = {
    "reason": "'something nicer'",
    "operator": "'mallory'",
    "action": "'reject'",
    "target_kind": "'run'",
    "target": "'apr-2'",
    "runs": "['r-2']",
    "approval_id": "'apr-old'",
    "source": "'console'",
    "decided_at": "TIMESTAMP '2026-11-20 08:00:00'",
    "prev_hash": "repeat('1', 64)",
    "hash": "repeat('2', 64)",
    "record": "replace(record, '\"roles\"', '\"rolez\"')",
}


@pytest.mark.parametrize("column", sorted(EDITS))
def test_verify_names_each_field_edited_in_the_store(
    fleet: Store, three: Paths, column: str
) -> None:
    """What `decisions` shows is what was journaled: an edit to any column is caught."""
    fleet.con.execute(f"UPDATE decisions SET {column} = {EDITS[column]} WHERE seq = 2")
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 2
    if column == "record":
        assert "journal line stored with the decision differs" in result.problem
    else:
        assert f"the store's {column} differs from the journal's" in result.problem


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("decided_state", "'rejected'"),
        ("decided_by", "'mallory'"),
        ("reason", "'nicer'"),
        ("decided_at", "TIMESTAMP '2026-11-20 08:00:00'"),
    ],
)
def test_verify_names_an_approval_state_edited_in_the_store(
    fleet: Store, three: Paths, field: str, value: str
) -> None:
    fleet.con.execute(f"UPDATE approval_summary SET {field} = {value} WHERE approval_id = 'apr-1'")
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and result.first_bad_seq == 2
    assert f"approval 'apr-1''s {field} differs from the decision's" in result.problem


def test_verify_finds_an_approval_state_taken_from_its_decision(fleet: Store, three: Paths) -> None:
    fleet.con.execute("UPDATE approval_summary SET sources = ['event'] WHERE approval_id = 'apr-1'")
    result = decisions.verify(fleet.con, three.journal)
    assert not result.ok and "has no state from this decision" in result.problem


def test_decisions_as_json_carry_the_chain(fleet: Store, three: Paths) -> None:
    rows = decisions.decisions(fleet.con).to_pylist()
    records = [json.loads(line) for line in three.journal.read_text().splitlines()]
    by_seq = {r["seq"]: r for r in records}
    assert [(r["prev_hash"], r["hash"]) for r in rows] == [
        (by_seq[r["seq"]]["prev_hash"], by_seq[r["seq"]]["hash"]) for r in rows
    ]


def test_verify_on_the_command_line(tmp_path: Path, fleet: Store, three: Paths) -> None:
    fleet.close()
    config = tmp_path / "qd.toml"
    config.write_text(f'[decisions]\njournal = "{three.journal}"\n')

    def verify() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "quarterdeck.cli",
                "verify",
                "--db",
                str(fleet.path),
                "--config",
                str(config),
            ],
            capture_output=True,
            text=True,
        )

    ok = verify()
    assert ok.returncode == 0 and "verified: 3 decisions" in ok.stdout
    _rewrite(three.journal, lambda lines: [lines[0], lines[2]])
    bad = verify()
    assert bad.returncode == 1 and "FAILED at seq 3" in bad.stderr


def test_decide_on_the_command_line_refuses_with_exit_3(tmp_path: Path, fleet: Store) -> None:
    fleet.close()
    config = tmp_path / "qd.toml"
    config.write_text(
        'operator = "li"\n[operators.li]\nroles = ["finance-approver"]\n'
        f'[decisions]\njournal = "{tmp_path / "j.jsonl"}"\n'
    )
    base = [
        sys.executable,
        "-m",
        "quarterdeck.cli",
        "--db",
        str(fleet.path),
        "--config",
        str(config),
    ]
    refused = subprocess.run(
        [*base, "decide", "pause", "--run", "r-1", "--reason", "x"], capture_output=True, text=True
    )
    assert refused.returncode == 3 and "needs the role 'operator'" in refused.stderr
    ok = subprocess.run(
        [*base, "approve", "apr-1", "--reason", "checked the totals"],
        capture_output=True,
        text=True,
    )
    assert ok.returncode == 0, ok.stderr
    assert "recorded #1" in ok.stdout
    listed = subprocess.run(
        [*base, "decisions", "--format", "json"], capture_output=True, text=True
    )
    rows = json.loads(listed.stdout)
    assert rows[0]["operator"] == "li" and rows[0]["action"] == "approve"
    read_only = subprocess.run(
        [*base, "--read-only", "reject", "apr-1", "--reason", "x"], capture_output=True, text=True
    )
    assert read_only.returncode == 3 and "read-only" in read_only.stderr


def test_uuid7_is_time_ordered() -> None:
    a = decisions.uuid7()
    b = decisions.uuid7()
    assert len(a) == 36 and a[14] == "7" and a[19] in "89ab"
    assert a[:13] <= b[:13]


def test_expiry_is_as_of_now(fleet: Store) -> None:
    later = datetime(2030, 1, 1) + timedelta(seconds=1)
    with pytest.raises(Refused, match="expired"):
        decisions.plan(fleet.con, ANNA, "approve", approval_id="apr-1", now=later)


def test_a_workflow_with_no_active_run_is_held_and_let_go(
    fleet: Store, paths: Paths, tmp_path: Path
) -> None:
    """A workflow pause holds the workflow itself: recorded with no run to pause, the runner
    holds the runs that start later and says so for the workflow, and the outcomes show it.
    A resume with no paused run lets a held workflow go, and is refused once it is not held."""
    runner = LiveFleet(tmp_path / "live", rate=10, burst_every=0, outbox=paths.outbox)
    with pytest.raises(Refused, match="has no paused run and is not held"):
        decisions.plan(fleet.con, ANNA, "resume", workflow="crm-enrichment", now=NOW)
    with pytest.raises(Refused, match="no workflow 'nope'"):
        decisions.plan(fleet.con, ANNA, "pause", workflow="nope", now=NOW)

    def decide_now(action: str) -> dict:
        plan = decisions.plan(fleet.con, ANNA, action, workflow="crm-enrichment", now=NOW)
        assert plan.runs == ()  # r-3 is stale: no run of it is active
        rec = decisions.record(
            fleet.con, plan, operator=ANNA, reason="out of scope", source="cli",
            paths=paths, now=datetime.now(),
        )  # fmt: skip
        runner.take_decisions()
        load_paths(fleet.con, [tmp_path / "live"])
        return rec

    paused = decide_now("pause")
    assert runner.paused_workflows == {"crm-enrichment"}
    listed = decisions.decisions(fleet.con, decision=paused["decision_id"]).to_pylist()[0]
    held = "runs of crm-enrichment that start later are held until a resume"
    assert (listed["state"], listed["answers"]) == ("applied", f"applied: {held}")
    (row,) = decisions.outcomes(fleet.con, paused["decision_id"]).to_pylist()
    assert (row["run_id"], row["workflow"], row["outcome"], row["detail"]) == (
        None, "crm-enrichment", "applied", held
    )  # fmt: skip

    resumed = decide_now("resume")
    assert runner.paused_workflows == set()
    listed = decisions.decisions(fleet.con, decision=resumed["decision_id"]).to_pylist()[0]
    assert listed["answers"] == "applied: runs of crm-enrichment start again"
    with pytest.raises(Refused, match="not held"):
        decisions.plan(fleet.con, ANNA, "resume", workflow="crm-enrichment", now=NOW)


def test_workflow_decisions_and_outcomes_on_the_command_line(
    tmp_path: Path, workflow_fleet: Store
) -> None:
    workflow_fleet.close()
    config = tmp_path / "qd.toml"
    config.write_text(
        'operator = "anna"\n[operators.anna]\nroles = ["operator"]\n'
        f'[decisions]\njournal = "{tmp_path / "j.jsonl"}"\n'
    )
    base = [sys.executable, "-m", "quarterdeck.cli", "--db", str(workflow_fleet.path)]
    base += ["--config", str(config)]

    def qd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*base, *args], capture_output=True, text=True)

    wide = qd("decide", "pause", "--run", "r-run", "--include-stale", "--reason", "x")
    assert wide.returncode == 2 and "--include-stale goes with --workflow" in wide.stderr
    # (the stale runs are five days old at NOW, and older still now)
    live = qd("decide", "pause", "--workflow", "invoice-posting", "--reason", "dup payments")
    assert live.returncode in (0, 3), live.stderr
    stale = qd(
        "decide", "pause", "--workflow", "invoice-posting", "--include-stale", "--reason", "x"
    )
    assert stale.returncode == 0, stale.stderr
    assert "r-old-1" in stale.stdout and "stale ones included" in stale.stdout
    shown = qd("decisions", "--outcomes", "#2", "--format", "json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert {r["run_id"] for r in rows} >= {"r-old-1", "r-old-2"}
    assert {r["outcome"] for r in rows} == {"not acknowledged"}
    missing = qd("decisions", "--outcomes", "nope")
    assert missing.returncode == 1 and "no run answers for decision 'nope'" in missing.stderr
