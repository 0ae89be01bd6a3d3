"""The Workflows pane (5): versions with their weights and figures, a version opened, and
findings marked in the Runs pane and the run's detail."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.config import Settings, WorkflowSettings
from quarterdeck.console.app import make_app
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.version import VersionScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.workflows_pane import WorkflowsPane
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import NOW, event, published, rollout, started, write_jsonl
from support.pilot import until

SIZE = (170, 45)


def _releases(store: Store, tmp_path: Path) -> None:
    lines = [
        published("1.4.0", "2026-11-20T07:00:00Z"),
        published("1.5.0", "2026-11-20T08:00:00Z", publisher="mallory",
                  rollout={"steps": [10, 50, 100]}),
        rollout("1.4.0", 90, "2026-11-20T08:00:00Z"),
        started("r-stable", "2026-11-20T08:10:00Z", workflow_version="1.4.0"),
        event("run.finished", "2026-11-20T08:11:00Z", "r-stable", status="succeeded"),
        started("r-canary", "2026-11-20T08:20:00Z", workflow_version="1.5.0",
                scope=["ledger:write:Invoice", "bank:export"]),
        event("data.touched", "2026-11-20T08:20:30Z", "r-canary", event_id="t-borrowed",
              system="ledger", object="Invoice", record_id="INV-9", action="update",
              identity="human:dana"),
        event("run.finished", "2026-11-20T08:21:00Z", "r-canary", status="failed"),
    ]  # fmt: skip
    load_paths(store.con, [write_jsonl(tmp_path / "releases" / "r.jsonl", lines)])


async def test_the_workflows_pane_opens_a_version_and_findings_stand_out(
    store: Store, tmp_path: Path
) -> None:
    _releases(store, tmp_path)
    rules = {"invoice-posting": WorkflowSettings(publishers=["alice"])}
    app = make_app(store, Settings(workflows=rules), clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        runs = app.screen.query_one(RunsPane)
        await until(pilot, lambda: runs.records is not None and runs.records.num_rows == 2)
        flagged = {r["run_id"]: r["findings"] for r in runs.records.to_pylist()}
        assert sorted(flagged["r-canary"]) == ["borrowed_identity", "scope_exceeds_published"]
        assert flagged["r-stable"] is None
        table = runs.query_one(TableView)
        assert "⚑" in " ".join(table.cells("r-canary") or [])
        assert "⚑" not in " ".join(table.cells("r-stable") or [])

        await pilot.press("5")
        pane = app.screen.query_one(WorkflowsPane)
        await until(pilot, lambda: pane.records is not None and pane.records.num_rows == 2)
        shown = [(r["version"], r["role"], r["weight"], r["runs"], r["findings"])
                 for r in pane.records.to_pylist()]  # fmt: skip
        assert shown == [("1.5.0", "canary", 10, 1, 3), ("1.4.0", "stable", 90, 1, 0)]
        pane.focus_table()
        await pilot.press("enter")  # the canary, on the first row
        await until(pilot, lambda: isinstance(app.screen, VersionScreen) and app.screen.is_mounted)
        version_runs = app.screen.query_one("#runs-table", TableView)
        await until(pilot, lambda: version_runs.keys == ["r-canary"])
        facts = str(app.screen.query_one("#version-facts").render())
        assert "by mallory" in facts and "beyond: bank:export" in facts
        assert "unauthorized_publisher" in facts and "scope_exceeds_published" in facts
        version_runs.focus_table()
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted
        )
        detail = app.screen
        await until(pilot, lambda: getattr(detail, "detail", None) is not None)
        assert "⚑ scope_exceeds_published" in str(detail.query_one("#run-facts").render())
        touches = detail.query_one("#touches-table", TableView)
        assert "⚑" in (touches.cells("t-borrowed") or [""])[0]


async def test_a_canary_trip_asks_to_roll_the_version_back(store: Store, tmp_path: Path) -> None:
    from quarterdeck.config import TriggerSettings
    from quarterdeck.console.screens.decide import DecideScreen
    from quarterdeck.queries import decisions
    from quarterdeck.watch import TriggerWatch
    from support.desks import desk_for
    from support.pilot import type_into

    _releases(store, tmp_path)
    rule = TriggerSettings(
        name="canary", workflow="invoice-posting", metric="failed_run_ratio", window="2h",
        threshold=0.2, version="canary", compare="stable", on_trip="rollback_version",
    )  # fmt: skip
    settings = Settings(trigger=[rule])
    desk = desk_for(store, tmp_path, {"release-manager"})
    watch = TriggerWatch(store, settings.rules(), desk, stale_seconds=900, clock=lambda: NOW)
    app = make_app(store, settings, clock=lambda: NOW, watch=watch, desk=desk)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DecideScreen)
                and app.screen.is_mounted
                and app.unasked.get(app.screen) is not None
            ),
        )
        dialog = app.screen
        assert dialog.plan.action == "rollback-version"
        what = str(dialog.query_one("#decide-what").render())
        assert "1.4.0 at 100 %" in what and "1.5.0 at 0 %" in what
        await type_into(pilot, "#decide-name", "invoice-posting")
        await pilot.press("enter")
        await until(pilot, lambda: decisions.decisions(store.con).num_rows == 1)
    record = decisions.decisions(store.con).to_pylist()[0]
    assert (record["action"], record["operator"]) == ("rollback-version", "anna")
    sent = json.loads(desk.paths.outbox.read_text().splitlines()[-1])
    assert sent["rollout"] == {"version": "1.4.0", "weights": {"1.4.0": 100, "1.5.0": 0}}
