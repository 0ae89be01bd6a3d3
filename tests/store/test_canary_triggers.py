"""Triggers per version: the canary against the stable version (Argo's analysis), at the
threshold's boundary, with too few runs on either side, and the automatic rollback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from quarterdeck import config as config_mod
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import decisions, triggers
from quarterdeck.queries.triggers import Rule
from support.events import event, published, rollout, started, write_jsonl

AT = datetime(2026, 11, 20, 10, 0)  # windows of 1h: (09:00, 10:00]
RULE = Rule(
    "canary-failures",
    "failed_run_ratio",
    3600,
    0.2,
    workflow="invoice-posting",
    min_runs=2,
    version="canary",
    compare="stable",
    on_trip="rollback_version",
)


def _fleet(store, tmp_path: Path, canary: list[str], stable: list[str]) -> None:
    """1.4.0 stable at 90 %, 1.5.0 the canary at 10 %; runs of each ending as listed."""
    lines = [
        published("1.4.0", "2026-11-20T07:00:00Z"),
        published("1.5.0", "2026-11-20T08:00:00Z", rollout={"steps": [10, 50, 100]}),
        rollout("1.4.0", 90, "2026-11-20T08:00:00Z"),
    ]
    for version, outcomes in (("1.5.0", canary), ("1.4.0", stable)):
        for n, status in enumerate(outcomes):
            run = f"r-{version}-{n}"
            lines.append(started(run, f"2026-11-20T09:1{n}:00Z", workflow_version=version))
            lines.append(event("run.finished", f"2026-11-20T09:2{n}:00Z", run, status=status))
    load_paths(store.con, [write_jsonl(tmp_path / "logs" / "w.jsonl", lines)])


@pytest.mark.parametrize(
    ("canary", "stable", "phase", "value"),
    [
        # 1 of 2 failed against 1 of 4: 0.5 - 0.25 = 0.25 > 0.2
        (["failed", "succeeded"], ["failed", "succeeded", "succeeded", "succeeded"],
         "tripped", 0.25),
        # 2 of 5 against 1 of 5: exactly the threshold, 0.2, does not trip (a warning)
        (["failed", "failed", "succeeded", "succeeded", "succeeded"],
         ["failed", "succeeded", "succeeded", "succeeded", "succeeded"], "warning", 0.2),
        # the canary fails less than the stable version: a negative difference, OK
        (["succeeded", "succeeded"], ["failed", "succeeded"], "ok", -0.5),
    ],
)  # fmt: skip
def test_the_canary_against_the_stable_version(store, tmp_path, canary, stable, phase, value):
    _fleet(store, tmp_path, canary, stable)
    ev = triggers.evaluate(store.con, RULE, at=AT)
    assert (ev.phase, ev.value, ev.runs_in_window) == (phase, pytest.approx(value), len(canary))
    assert set(ev.evidence_runs) <= {f"r-1.5.0-{n}" for n in range(len(canary))}


def test_too_few_runs_on_either_side_is_inconclusive(store, tmp_path) -> None:
    _fleet(store, tmp_path, ["failed"], ["succeeded", "succeeded"])
    ev = triggers.evaluate(store.con, RULE, at=AT)
    assert ev.phase == "inconclusive" and ev.reason is not None
    assert ev.reason.startswith("1.5.0: 1 run in the window, fewer than min_runs = 2")
    load_paths(store.con, [write_jsonl(tmp_path / "more" / "w.jsonl", [
        started("r-c2", "2026-11-20T09:30:00Z", workflow_version="1.5.0"),
        event("run.finished", "2026-11-20T09:31:00Z", "r-c2", status="failed"),
    ])])  # fmt: skip
    ev = triggers.evaluate(store.con, RULE, at=AT)  # two canary runs now: enough
    assert ev.phase == "tripped" and ev.value == pytest.approx(1.0)
    three = triggers.evaluate(store.con, Rule(**{**RULE.__dict__, "min_runs": 3}), at=AT)
    assert three.phase == "inconclusive"
    assert "2 runs in the window, fewer than min_runs = 3" in (three.reason or "")


def test_the_stable_side_with_too_few_runs_is_inconclusive(store, tmp_path) -> None:
    _fleet(store, tmp_path, ["failed", "failed"], ["succeeded"])
    ev = triggers.evaluate(store.con, RULE, at=AT)
    assert ev.phase == "inconclusive"
    assert ev.reason == ("1 run of the stable version 1.4.0 in the window, fewer than min_runs = 2")


def test_no_canary_is_inconclusive(store, tmp_path) -> None:
    lines = [published("1.4.0", "2026-11-20T07:00:00Z")]
    load_paths(store.con, [write_jsonl(tmp_path / "logs" / "w.jsonl", lines)])
    ev = triggers.evaluate(store.con, RULE, at=AT)
    assert (ev.phase, ev.reason) == ("inconclusive", "invoice-posting has no canary version now")


def test_a_trip_rolls_the_canary_back_by_itself(store, tmp_path) -> None:
    from quarterdeck.desk import DecisionDesk
    from quarterdeck.queries.decisions import Operator, Paths
    from quarterdeck.watch import TriggerWatch

    _fleet(store, tmp_path, ["failed", "failed"], ["succeeded", "succeeded"])
    paths = Paths(journal=tmp_path / "journal.jsonl", outbox=tmp_path / "outbox.jsonl")
    desk = DecisionDesk(store, Operator("ops"), paths, stale_seconds=900, clock=lambda: AT)
    auto = Rule(**{**RULE.__dict__, "auto": True})
    watch = TriggerWatch(store, [auto], desk=desk, stale_seconds=900, clock=lambda: AT)
    (trip,) = watch.evaluate()
    assert trip.decision is not None, trip.refused
    assert trip.decision["action"] == "rollback-version"
    assert trip.decision["rollout"] == {"version": "1.4.0", "weights": {"1.4.0": 100, "1.5.0": 0}}
    assert trip.decision["operator"] == "trigger:canary-failures"
    listed = decisions.decisions(store.con).to_pylist()[0]
    assert listed["state"] == "delivered"


@pytest.mark.parametrize(
    ("rule", "error"),
    [
        ({"version": "canary"}, "version needs a workflow"),
        ({"workflow": "w", "compare": "stable"}, "compare needs a version"),
        ({"on_trip": "rollback_version"}, "rollback_version needs a workflow"),
        ({"workflow": "w", "version": "canary", "compare": "newest"}, "compare"),
    ],
)
def test_rule_validation_names_the_field(tmp_path, rule, error) -> None:
    fields = {"name": "c", "metric": "failed_run_ratio", "window": "1h", "threshold": 0.2, **rule}
    body = "[[trigger]]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in fields.items())
    path = tmp_path / "quarterdeck.toml"
    path.write_text(body)
    with pytest.raises(config_mod.ConfigError, match=error):
        config_mod.load(str(path))
