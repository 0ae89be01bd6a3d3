"""The shipped sample fleet is what the demo promises: realistic, varied, a little broken."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from quarterdeck.queries.runs import run_history
from support.layout import SAMPLE_LOGS


def test_sample_logs_load_as_a_realistic_fleet(store, ingest) -> None:
    summary = ingest(SAMPLE_LOGS)
    assert summary.events > 4000 and summary.approval_records > 0
    assert 5 <= summary.quarantined <= 20  # a handful of bad lines, each explained
    runs = run_history(store.con, now=datetime(2026, 11, 27, 6, 30)).to_pylist()
    assert len(runs) >= 300
    assert len({r["workflow"] for r in runs}) >= 3
    statuses = {r["status"] for r in runs}
    assert {"succeeded", "failed"} <= statuses
    assert "awaiting_approval" in statuses or any(r["pending_approvals"] for r in runs)
    assert any(r["out_of_scope"] for r in runs)
    days = {r["started_at"].date() for r in runs}
    assert len(days) >= 4
    decided = store.con.execute(
        "SELECT count(*) FROM qd_approvals(TIMESTAMP '2026-11-27 06:30') "
        "WHERE status IN ('approved', 'rejected')"
    ).fetchone()[0]
    assert decided > 0
    assert any(p.suffix == ".gz" for p in SAMPLE_LOGS.rglob("*"))


def test_sample_logs_publish_every_workflow_and_break_each_publish_rule(store, ingest) -> None:
    from quarterdeck.config import load
    from quarterdeck.queries.findings import KINDS, findings

    ingest(SAMPLE_LOGS)
    published = {r[0] for r in store.con.execute("SELECT workflow FROM publications").fetchall()}
    ran = {r[0] for r in store.con.execute("SELECT DISTINCT workflow FROM run_summary").fetchall()}
    assert ran <= published
    rules = load(str(SAMPLE_LOGS / "quarterdeck.toml")).publish_rules()
    kinds = findings(store.con, rules).column("kind").to_pylist()
    assert set(kinds) == set(KINDS)
    assert len(kinds) < 20  # a case of each, not a fleet of them


def test_sample_generator_is_reproducible(tmp_path: Path) -> None:

    from quarterdeck.runner.fleet import generate

    end = datetime(2026, 11, 27, 6, 0, tzinfo=UTC)
    generate(tmp_path / "a", runs=30, seed=5, end=end)
    generate(tmp_path / "b", runs=30, seed=5, end=end)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*.jsonl"))
    assert files
    for rel in files:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes()
