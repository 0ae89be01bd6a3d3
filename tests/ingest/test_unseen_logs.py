"""Run logs in combinations the other tests do not write: a run whose touches are logged but
whose run.started never is (its runner's log lost, or on another host not shipped): neither
its evidence nor its out-of-scope count may say the touches were checked."""

from __future__ import annotations

import io
import re
from pathlib import Path

from quarterdeck import bundle, formats
from quarterdeck.console import cells
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import evidence
from quarterdeck.queries.columns import RUNS, pick
from quarterdeck.queries.runs import run_history
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl


def report(store: Store, tmp_path: Path, run_id: str) -> str:
    collected = evidence.collect(store.con, run_id, now=NOW)
    out = bundle.write(
        tmp_path / run_id, [collected], generated_at=NOW, store=store.path, scope=f"run {run_id}"
    )
    return (out / "report.md").read_text()


def test_a_run_never_seen_starting_has_its_touches_unchecked_not_covered(
    store: Store, tmp_path: Path
) -> None:
    touch = {"system": "crm", "object": "Contact", "record_id": "C-1", "action": "delete"}
    write_jsonl(
        tmp_path / "run.jsonl",
        [
            event("data.touched", "2026-11-20T08:00:01Z", "r-ghost", **touch),
            started("r-seen", scope=["crm:*"]),
            event("data.touched", "2026-11-20T08:00:02Z", "r-seen", **touch),
        ],
    )
    load_paths(store.con, [tmp_path / "run.jsonl"])
    ghost = report(store, tmp_path, "r-ghost")
    assert "never seen starting (no run.started), first event 2026-11-20 08:00:01Z" in ghost
    assert "**Scope** (grants): unknown: no run.started of this run was seen" in ghost
    outside = ghost.split("### Out of scope")[1].split("###")[0]
    assert "1 of its 1 touch(es) could not be checked." in outside
    assert "every touch was covered" not in outside
    seen = report(store, tmp_path, "r-seen")
    assert "started 2026-11-20 08:00:00Z" in seen and "never seen" not in seen
    assert "None: every touch was covered by a grant of the run's scope." in seen


def test_a_run_never_seen_starting_has_no_out_of_scope_count(store: Store, tmp_path: Path) -> None:
    touch = {"system": "crm", "object": "Contact", "record_id": "C-1", "action": "delete"}
    write_jsonl(
        tmp_path / "run.jsonl",
        [
            event("data.touched", "2026-11-20T08:00:01Z", "r-ghost", **touch),
            event("step.finished", "2026-11-20T08:00:01Z", "r-quiet", step_id="s1", status="ok"),
            started("r-seen", scope=["crm:read"]),
            event("data.touched", "2026-11-20T08:00:02Z", "r-seen", **touch),
        ],
    )
    load_paths(store.con, [tmp_path / "run.jsonl"])
    table = run_history(store.con, now=NOW)
    counts = {r["run_id"]: r["out_of_scope"] for r in table.to_pylist()}
    assert counts == {"r-ghost": None, "r-quiet": 0, "r-seen": 1}
    assert cells.out_of_scope(None) == "[bold yellow]unknown[/]"
    printed = io.StringIO()  # the `runs` command's table says so too
    formats.write(table, "table", columns=pick(RUNS, "run_id", "out_of_scope"), out=printed)
    assert re.search(r"r-ghost\s+unknown", printed.getvalue())
