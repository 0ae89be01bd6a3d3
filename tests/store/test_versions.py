"""A workflow's versions: weights as publishes and rollout changes set them, canary and stable,
and each version's figures over a window."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.findings import PublishRule
from quarterdeck.queries.versions import canary_and_stable, versions, weights
from support.events import event, published, rollout, started, write_jsonl

AT = datetime(2026, 11, 20, 12, 0)


def _load(store, tmp_path: Path, lines: list[dict]) -> None:
    load_paths(store.con, [write_jsonl(tmp_path / "logs" / "releases.jsonl", lines)])


def _weights(store, at: datetime = AT) -> dict[str, int]:
    return {w.version: w.weight for w in weights(store.con, at=at)}


def test_weights_follow_publishes_and_changes(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", "2026-11-20T07:00:00Z"),
            published("1.1.0", "2026-11-20T08:00:00Z", rollout={"steps": [10, 50, 100]}),
            rollout("1.0.0", 90, "2026-11-20T08:00:00Z"),
            rollout("1.1.0", 50, "2026-11-20T09:00:00Z"),
            rollout("1.0.0", 50, "2026-11-20T09:00:00Z"),
            published("2.0.0", "2026-11-20T10:00:00Z"),  # no rollout: 100 at once
            rollout("9.9.9", 40, "2026-11-20T10:00:00Z"),  # never published: not a version
        ],
    )
    assert _weights(store, datetime(2026, 11, 20, 7, 30)) == {"1.0.0": 100}
    assert _weights(store, datetime(2026, 11, 20, 8, 30)) == {"1.0.0": 90, "1.1.0": 10}
    assert _weights(store, datetime(2026, 11, 20, 9, 30)) == {"1.0.0": 50, "1.1.0": 50}
    assert _weights(store) == {"1.0.0": 0, "1.1.0": 0, "2.0.0": 100}
    canary, stable = canary_and_stable(weights(store.con, at=datetime(2026, 11, 20, 8, 30)))[
        "invoice-posting"
    ]
    assert canary is not None and canary.version == "1.1.0"
    assert stable is not None and stable.version == "1.0.0"
    canary, stable = canary_and_stable(weights(store.con, at=AT))["invoice-posting"]
    assert canary is None and stable is not None and stable.version == "2.0.0"


def test_versions_with_their_figures_over_the_window(store, tmp_path) -> None:
    lines: list[dict] = [
        published("1.0.0", "2026-11-20T07:00:00Z"),
        published("1.1.0", "2026-11-20T08:00:00Z", publisher="mallory",
                  rollout={"steps": [10, 100]}),
        rollout("1.0.0", 90, "2026-11-20T08:00:00Z"),
    ]  # fmt: skip
    for n, (version, status, seconds) in enumerate(
        [("1.0.0", "succeeded", 10), ("1.0.0", "succeeded", 20), ("1.1.0", "failed", 30),
         ("1.1.0", "succeeded", 40), ("0.9.0", "succeeded", 5)]
    ):  # fmt: skip
        run = f"r-{n}"
        lines.append(started(run, f"2026-11-20T11:00:1{n}Z", workflow_version=version))
        lines.append(
            event("run.finished", f"2026-11-20T11:00:{10 + n + seconds:02d}Z", run, status=status)
        )
    lines.append(started("r-old", "2026-11-19T11:00:00Z"))  # outside the window
    _load(store, tmp_path, lines)
    rule = PublishRule("invoice-posting", publishers=("alice",))
    rows = {
        r["version"]: r
        for r in versions(store.con, at=AT, window_s=3600, rules=(rule,)).to_pylist()
    }
    assert list(rows) == ["1.1.0", "1.0.0", "0.9.0"]
    canary, stable, never = rows["1.1.0"], rows["1.0.0"], rows["0.9.0"]
    assert (canary["role"], canary["weight"], canary["runs"]) == ("canary", 10, 2)
    assert canary["failed_ratio"] == 0.5 and canary["publisher"] == "mallory"
    assert canary["findings"] == 1  # unauthorized_publisher
    assert (stable["role"], stable["weight"], stable["runs"], stable["failed_ratio"]) == (
        "stable",
        90,
        2,
        0.0,
    )
    assert stable["p95_duration_s"] == 10 + 0.95 * 10
    assert stable["findings"] == 1  # r-old ran it before it was published (any time)
    assert (never["weight"], never["runs"], never["publisher"], never["findings"]) == (
        None, 1, None, 1
    )  # fmt: skip
