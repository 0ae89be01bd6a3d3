"""Approvals merge from events and approval-system records by approval_id."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from quarterdeck.queries.approvals import approval, approvals
from quarterdeck.queries.runs import run_steps, run_touches
from support.events import event, started, write_jsonl

NOW = datetime(2026, 11, 20, 9, 0)


def _requested(approval_id: str = "apr-1", expires: str = "2026-11-20T12:00:00Z") -> dict:
    return event(
        "approval.requested",
        "2026-11-20T08:01:00Z",
        event_id=f"{approval_id}-req",
        approval_id=approval_id,
        action="post 48 invoices",
        risk="high",
        required_role="finance-approver",
        requested_by="svc-agent",
        expires_at=expires,
    )


def _record(tmp_path: Path, name: str, rows: list[str]) -> Path:
    path = tmp_path / name
    path.write_text(
        "approval_id,run_id,status,decided_by,decided_at,reason,requested_at\n"
        + "\n".join(rows)
        + "\n"
    )
    return path


def _one(store, now: datetime = NOW) -> dict:
    rows = approvals(store.con, now=now).to_pylist()
    assert len(rows) == 1
    return rows[0]


def test_record_after_event_decides_it(tmp_path: Path, store, ingest) -> None:
    ingest(write_jsonl(tmp_path / "a.jsonl", [started(), _requested()]))
    ingest(_record(tmp_path, "r.csv", ["apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,"]))
    row = _one(store)
    assert (row["status"], row["decided_by"], row["reason"]) == ("approved", "dana", "ok")
    assert row["action"] == "post 48 invoices" and row["workflow"] == "invoice-posting"
    assert row["sources"] == ["event", f"record:{tmp_path / 'r.csv'}"]


def test_event_after_record_and_order_of_loading_does_not_matter(
    tmp_path: Path, store, ingest
) -> None:
    ingest(_record(tmp_path, "r.csv", ["apr-1,r-1,pending,,,,2026-11-20T08:01:00Z"]))
    assert _one(store)["status"] == "pending"
    ingest(
        write_jsonl(
            tmp_path / "a.jsonl",
            [
                started(),
                _requested(),
                event(
                    "approval.decided",
                    "2026-11-20T08:40:00Z",
                    event_id="dec",
                    approval_id="apr-1",
                    decision="rejected",
                    decided_by="li",
                    reason="vendor changed bank details",
                ),
            ],
        )
    )
    row = _one(store)
    assert (row["status"], row["decided_by"]) == ("rejected", "li")


def test_a_late_pending_record_never_reopens_a_decided_request(
    tmp_path: Path, store, ingest
) -> None:
    ingest(write_jsonl(tmp_path / "a.jsonl", [started(), _requested()]))
    ingest(_record(tmp_path, "decided.csv", ["apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,"]))
    late = _record(tmp_path, "late.csv", ["apr-1,r-1,pending,,,,2026-11-20T08:50:00Z"])
    assert ingest(late).approval_records == 1  # stored, a state later than the decision
    row = _one(store)
    assert f"record:{late}" in row["sources"]
    assert (row["status"], row["decided_by"]) == ("approved", "dana")


def test_pending_past_expiry_is_expired_and_counts_down_before(
    tmp_path: Path, store, ingest
) -> None:
    ingest(
        write_jsonl(tmp_path / "a.jsonl", [started(), _requested(expires="2026-11-20T09:30:00Z")])
    )
    row = _one(store)
    assert row["status"] == "pending" and row["seconds_left"] == 30 * 60
    assert _one(store, now=datetime(2026, 11, 20, 10, 0))["status"] == "expired"


def test_pending_first_soonest_expiry_first(tmp_path: Path, store, ingest) -> None:
    ingest(
        write_jsonl(
            tmp_path / "a.jsonl",
            [
                started(),
                _requested("late", "2026-11-20T15:00:00Z"),
                _requested("soon", "2026-11-20T10:00:00Z"),
                _requested("done"),
                event(
                    "approval.decided",
                    "2026-11-20T08:05:00Z",
                    event_id="d",
                    approval_id="done",
                    decision="approved",
                    decided_by="dana",
                ),
            ],
        )
    )
    ids = [r["approval_id"] for r in approvals(store.con, now=NOW).to_pylist()]
    assert ids == ["soon", "late", "done"]
    pending = approvals(store.con, now=NOW, pending_only=True).to_pylist()
    assert [r["approval_id"] for r in pending] == ["soon", "late"]


def test_one_request_keeps_each_state_with_its_source(tmp_path: Path, store, ingest) -> None:
    ingest(
        write_jsonl(tmp_path / "a.jsonl", [started(), _requested(expires="2026-11-20T09:30:00Z")])
    )
    record = _record(tmp_path, "r.csv", ["apr-1,r-1,rejected,li,2026-11-20T08:45:00Z,no PO,"])
    ingest(record)
    found = approval(store.con, "apr-1", now=NOW)
    assert found is not None
    assert (found["status"], found["decided_by"], found["reason"]) == ("rejected", "li", "no PO")
    assert found["expires_in_s"] == 30 * 60
    assert [(s["state"], s["source"]) for s in found["states"]] == [
        ("pending", "event"),
        ("rejected", f"record:{record}"),
    ]
    assert approval(store.con, "apr-unknown", now=NOW) is None


def test_an_expired_request_says_how_long_ago(tmp_path: Path, store, ingest) -> None:
    ingest(
        write_jsonl(tmp_path / "a.jsonl", [started(), _requested(expires="2026-11-20T08:40:00Z")])
    )
    found = approval(store.con, "apr-1", now=NOW)
    assert found is not None and found["status"] == "expired"
    assert found["expires_in_s"] == -20 * 60 and found["seconds_left"] is None


def test_a_runs_latest_steps_and_touches_newest_first(tmp_path: Path, store, ingest) -> None:
    lines = [started()]
    for i in range(5):
        ts = f"2026-11-20T08:0{i}:10Z"
        lines += [
            event("step.started", ts, event_id=f"s{i}", step_id=f"s{i}", name=f"step {i}"),
            event(
                "data.touched",
                ts,
                event_id=f"t{i}",
                step_id=f"s{i}",
                system="ledger",
                object="Invoice",
                record_id=f"INV-{i}",
                action="update",
            ),
        ]
    ingest(write_jsonl(tmp_path / "a.jsonl", lines))
    assert run_steps(store.con, "r-1")["step_id"].to_pylist() == [f"s{i}" for i in range(5)]
    assert run_steps(store.con, "r-1", limit=3, newest_first=True)["step_id"].to_pylist() == [
        "s4",
        "s3",
        "s2",
    ]
    assert run_touches(store.con, "r-1", limit=2, newest_first=True)["event_id"].to_pylist() == [
        "t4",
        "t3",
    ]
    assert run_touches(store.con, "r-1")["event_id"].to_pylist() == [f"t{i}" for i in range(5)]
