"""Rollback triggers: every metric against values worked out by hand, the phase boundaries,
trips remembered once, the rules' validation, and `quarterdeck triggers` exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from quarterdeck import config as config_mod
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import triggers
from quarterdeck.queries.store import Store
from quarterdeck.queries.triggers import Rule
from quarterdeck.watch import reason_for
from support.events import event, started, write_jsonl

AT = datetime(2026, 11, 20, 9, 0, 0)  # windows of 1h: (08:00, 09:00]


def ts(hhmm: str) -> str:
    return f"2026-11-20T{hhmm}Z"


def finished(run_id: str, at: str, status: str) -> dict:
    return event("run.finished", ts(at), run_id, event_id=f"{run_id}-end", status=status)


def touch(run_id: str, at: str, n: int, action: str, obj: str = "Invoice", **extra) -> dict:
    return event(
        "data.touched",
        ts(at),
        run_id,
        event_id=f"{run_id}-t{n}",
        system="ledger",
        object=obj,
        record_id=f"R{n}",
        action=action,
        **extra,
    )


@pytest.fixture
def hand(store: Store, tmp_path: Path) -> Store:
    """Five invoice-posting runs and one crm run, laid out so every metric has a value that
    can be worked out by hand (see each test)."""
    write_jsonl(
        tmp_path / "logs" / "w.jsonl",
        [
            started("r1", ts("08:01:00")),
            finished("r1", "08:30:00", "failed"),
            started("r2", ts("08:02:00")),
            finished("r2", "08:40:00", "succeeded"),
            started("r3", ts("08:03:00")),
            finished("r3", "09:00:00", "failed"),  # at `at`: in
            started("r4", ts("07:00:00")),
            finished("r4", "08:00:00", "failed"),  # at start: out
            started("r5", ts("08:05:00")),  # nothing after 08:05: stale by 09:00
            started("c1", ts("08:10:00"), workflow="crm-enrichment", scope=["crm:read"]),
            # r1 (scope ledger:write:Invoice): in scope, out of scope (a Payment), a delete
            # (out of scope too: write does not cover delete), a bulk read of 10 records
            touch("r1", "08:10:00", 1, "update"),
            touch("r1", "08:11:00", 2, "update", "Payment"),
            touch("r1", "08:12:00", 3, "delete"),
            touch("r1", "08:13:00", 4, "read", record_count=10),
            touch("r4", "07:30:00", 5, "delete"),  # before the window
            event(
                "approval.requested",
                ts("08:00:30"),
                "r2",
                event_id="a1-req",
                approval_id="a1",
                action="post",
                risk="high",
                required_role="finance-approver",
                requested_by="svc-agent",
                expires_at="2030-01-01T00:00:00Z",
            ),
            event(
                "approval.decided",
                ts("08:10:30"),
                "r2",
                event_id="a1-dec",
                approval_id="a1",
                decision="rejected",
                decided_by="dana.k",
                reason="no",
            ),
            event(
                "approval.requested",
                ts("08:20:00"),
                "r3",
                event_id="a2-req",
                approval_id="a2",
                action="post",
                risk="high",
                required_role="finance-approver",
                requested_by="svc-agent",
                expires_at="2030-01-01T00:00:00Z",
            ),
            event(
                "approval.decided",
                ts("08:50:00"),
                "r3",
                event_id="a2-dec",
                approval_id="a2",
                decision="approved",
                decided_by="dana.k",
                reason="ok",
            ),
            event("metric", ts("08:20:00"), "c1", event_id="m1", name="eval_score", value=0.5),
            event("metric", ts("08:21:00"), "c1", event_id="m2", name="eval_score", value=0.9),
        ],
    )
    load_paths(store.con, [tmp_path / "logs"])
    return store


def rule(metric: str, threshold: float = 1.0, **fields) -> Rule:
    return Rule(name=metric, metric=metric, window_s=3600, threshold=threshold, **fields)


def value(store: Store, metric: str, **fields) -> tuple[float | None, int, tuple[str, ...]]:
    ev = triggers.evaluate(store.con, rule(metric, **fields), at=AT, stale_seconds=900)
    assert ev.phase != "error", ev.reason
    return ev.value, ev.runs_in_window, ev.evidence_runs


def test_failed_run_ratio(hand: Store) -> None:
    # finished in (08:00, 09:00]: r1 failed, r2 succeeded, r3 failed (at 09:00 exactly);
    # r4 finished at 08:00 exactly: outside
    assert value(hand, "failed_run_ratio", workflow="invoice-posting") == (
        pytest.approx(2 / 3),
        3,
        ("r1", "r3"),
    )


def test_failed_step_ratio(store: Store, tmp_path: Path) -> None:
    def step(run_id: str, at: str, n: int, status: str) -> dict:
        return event(
            "step.finished", ts(at), run_id, event_id=f"{run_id}-s{n}", step_id=f"s{n}",
            kind="tool", status=status,
        )  # fmt: skip

    write_jsonl(
        tmp_path / "steps.jsonl",
        [
            started("r1", ts("08:01:00")),
            step("r1", "08:02:00", 1, "error"),  # recovered from: the run goes on
            step("r1", "08:03:00", 2, "ok"),
            finished("r1", "08:04:00", "succeeded"),
            started("r2", ts("08:05:00")),
            step("r2", "08:06:00", 1, "ok"),
            step("r2", "08:07:00", 2, "ok"),
            step("r2", "07:59:00", 3, "error"),  # before the window
        ],
    )
    load_paths(store.con, [tmp_path / "steps.jsonl"])
    assert value(store, "failed_step_ratio") == (pytest.approx(1 / 4), 2, ("r1",))


def test_a_trips_reason_and_the_triggers_table_round_for_people(
    hand: Store, tmp_path: Path
) -> None:
    ratio = rule("failed_run_ratio", threshold=0.5, workflow="invoice-posting")
    ev = triggers.evaluate(hand.con, ratio, at=AT)
    assert ev.value == pytest.approx(2 / 3)
    # the dialog's reason, and the decision's recorded one: as the report rounds
    assert "failed_run_ratio = 0.67 > 0.50 over 1h" in reason_for(ratio, ev)
    hand.close()
    config = tmp_path / "qd.toml"
    config.write_text(
        '[[trigger]]\nname = "ratio"\nmetric = "failed_run_ratio"\nwindow = "1h"\n'
        'threshold = 0.5\nworkflow = "invoice-posting"\n'
    )
    shown = subprocess.run(
        [sys.executable, "-m", "quarterdeck.cli", "triggers", "--db", str(hand.path)]
        + ["--config", str(config), "--at", "2026-11-20T09:00:00Z"],
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 4, shown.stderr
    assert " 0.67 " in shown.stdout and "0.666" not in shown.stdout, shown.stdout


def test_touch_metrics(hand: Store) -> None:
    # runs with an event in the window: r1, r2, r3, r5, c1 (r4's only one is at 08:00)
    assert value(hand, "out_of_scope_touches") == (2, 5, ("r1",))
    assert value(hand, "deletes") == (1, 5, ("r1",))  # r4's delete is before the window
    assert value(hand, "records_touched")[0] == 1 + 1 + 1 + 10
    assert value(hand, "records_touched", workflow="crm-enrichment")[:2] == (0, 1)


def test_approval_metrics(hand: Store) -> None:
    assert value(hand, "rejected_approvals") == (1, 5, ("r2",))
    # waits 600 s and 1,800 s: p95 (continuous) = 600 + 0.95 × 1,200
    assert value(hand, "approval_wait_p95")[0] == pytest.approx(1740)


def test_stale_runs(hand: Store) -> None:
    assert value(hand, "stale_runs")[0::2] == (2, ("c1", "r5"))  # c1 ran out at 08:21 too
    assert value(hand, "stale_runs", workflow="invoice-posting")[0::2] == (1, ("r5",))


def test_metric_mean(hand: Store) -> None:
    assert value(hand, "metric:eval_score") == (pytest.approx(0.7), 1, ("c1",))
    assert value(hand, "metric:nothing_logged")[:2] == (None, 0)


def test_phases_at_their_boundaries() -> None:
    above = rule("deletes", threshold=10)
    assert triggers.phase_of(above, 10.0, 1)[0] == "warning"  # exactly at: no trip
    assert triggers.phase_of(above, 10.0001, 1)[0] == "tripped"
    assert triggers.phase_of(above, 8.0, 1)[0] == "warning"  # 80 %
    assert triggers.phase_of(above, 7.99, 1)[0] == "ok"
    any_at_all = rule("deletes", threshold=0)
    assert triggers.phase_of(any_at_all, 0.0, 1)[0] == "ok"  # no warning band at 0
    assert triggers.phase_of(any_at_all, 1.0, 1)[0] == "tripped"
    below = rule("metric:eval_score", threshold=0.8, below=True)
    assert triggers.phase_of(below, 0.8, 1)[0] == "warning"
    assert triggers.phase_of(below, 0.79, 1)[0] == "tripped"
    assert triggers.phase_of(below, 1.0, 1)[0] == "warning"  # 0.8 is 80 % of it
    assert triggers.phase_of(below, 1.01, 1)[0] == "ok"
    needs = rule("deletes", threshold=1, min_runs=3)
    assert triggers.phase_of(needs, 99.0, 3)[0] == "tripped"  # exactly min_runs: judged
    assert triggers.phase_of(needs, 99.0, 2) == (
        "inconclusive",
        "2 runs in the window, fewer than min_runs = 3",
    )


def test_an_empty_window_is_inconclusive_never_a_trip(hand: Store) -> None:
    later = datetime(2026, 12, 1)
    ev = triggers.evaluate(hand.con, rule("failed_run_ratio", threshold=0), at=later)
    assert (ev.phase, ev.runs_in_window) == ("inconclusive", 0)
    ev = triggers.evaluate(hand.con, rule("deletes", threshold=1, min_runs=0), at=later)
    assert (ev.phase, ev.value) == ("ok", 0)  # min_runs 0: judged even when empty


def test_a_rule_that_cannot_be_evaluated_is_an_error_with_the_reason(hand: Store) -> None:
    hand.con.execute("DROP VIEW metrics")
    ev = triggers.evaluate(hand.con, rule("metric:eval_score"), at=AT)
    assert ev.phase == "error" and "metrics" in ev.reason


def test_a_trip_is_remembered_once_and_decided_once(hand: Store) -> None:
    trips = rule("deletes", threshold=0.5, min_runs=0)
    first = triggers.evaluate(hand.con, trips, at=AT)
    assert [e.name for e in triggers.record(hand.con, [first])] == ["deletes"]
    again = triggers.evaluate(hand.con, trips, at=AT.replace(minute=1))
    assert triggers.record(hand.con, [again]) == []  # the same trip goes on
    tripped_at, decision = triggers.open_trip(hand.con, "deletes")
    assert tripped_at == AT and decision is None
    assert triggers.claim_trip(hand.con, "deletes", tripped_at, "d-1")
    assert not triggers.claim_trip(hand.con, "deletes", tripped_at, "d-2")  # never twice
    calm = triggers.evaluate(hand.con, trips, at=datetime(2026, 12, 1))
    triggers.record(hand.con, [calm])
    assert triggers.open_trip(hand.con, "deletes") is None
    history = triggers.status(hand.con, ["deletes"]).to_pylist()[0]
    assert history["phase"] == "ok" and history["history"] == [1.0, 1.0, 0.0]
    assert history["changed_at"] == datetime(2026, 12, 1)


def test_rules_are_validated_with_the_rule_and_field_named(tmp_path: Path) -> None:
    bad = tmp_path / "qd.toml"
    bad.write_text(
        '[[trigger]]\nname = "ok-one"\nmetric = "deletes"\nwindow = "1h"\n'
        'threshold = 1\n\n[[trigger]]\nname = "broken"\nmetric = "deletes"\n'
        'window = "soon"\nthreshold = 1\n'
    )
    with pytest.raises(config_mod.ConfigError, match=r"trigger 2 \(broken\): window: 'soon'"):
        config_mod.load(str(bad))
    bad.write_text('[[trigger]]\nname = "x"\nmetric = "failures"\nwindow = "1h"\nthreshold = 1\n')
    with pytest.raises(config_mod.ConfigError, match=r"trigger 1 \(x\): metric: .*not a metric"):
        config_mod.load(str(bad))
    bad.write_text(
        '[[trigger]]\nname = "x"\nmetric = "deletes"\nwindow = "1h"\nthreshold = 1\nauto = true\n'
    )
    with pytest.raises(config_mod.ConfigError, match="auto = true needs a workflow"):
        config_mod.load(str(bad))


def test_the_triggers_command_exits_4_when_one_is_tripped(hand: Store, tmp_path: Path) -> None:
    hand.close()
    config = tmp_path / "qd.toml"
    config.write_text(
        '[[trigger]]\nname = "deletes"\nmetric = "deletes"\nwindow = "1h"\n'
        'threshold = 0\n\n[[trigger]]\nname = "calm"\nmetric = "deletes"\n'
        'window = "1h"\nthreshold = 5\n'
    )
    base = [
        sys.executable,
        "-m",
        "quarterdeck.cli",
        "triggers",
        "--db",
        str(hand.path),
        "--config",
        str(config),
        "--format",
        "json",
    ]
    tripped = subprocess.run(
        [*base, "--at", "2026-11-20T09:00:00Z"], capture_output=True, text=True
    )
    assert tripped.returncode == 4, tripped.stderr
    rows = {r["name"]: r for r in json.loads(tripped.stdout)}
    assert rows["deletes"]["phase"] == "tripped" and rows["calm"]["phase"] == "ok"
    assert {"name", "phase", "value", "threshold", "window", "runs_in_window"} <= set(
        rows["deletes"]
    )
    quiet = subprocess.run([*base, "--at", "2026-11-25T09:00:00Z"], capture_output=True, text=True)
    assert quiet.returncode == 0
