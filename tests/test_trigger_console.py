"""Triggers in the console: the pane, the evidence, and — with the demo's runner in a failure
burst — a trip that asks for a pause which the runner then applies; auto rules decide once."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Button

from conftest import NOW, until
from quarterdeck.console.app import make_app
from quarterdeck.config import Settings, TriggerSettings
from quarterdeck.desk import DecisionDesk
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.trigger import TriggerScreen
from quarterdeck.watch import TriggerWatch
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.triggers_pane import TriggersPane
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store

SIZE = (170, 45)

RULES = [
    TriggerSettings(name="oos", metric="out_of_scope_touches", window="2d", threshold=1),
    TriggerSettings(name="quiet", metric="deletes", window="2d", threshold=50),
    TriggerSettings(name="scores", metric="metric:eval_score", window="2d", threshold=0.5,
                    below=True, min_runs=500),
]


async def test_the_pane_lists_rules_most_urgent_first_and_opens_the_evidence(
        fleet_store: Store, tmp_path: Path) -> None:
    settings = Settings(trigger=RULES)
    watch = TriggerWatch(fleet_store, settings.rules(), None, stale_seconds=900,
                         clock=lambda: NOW)
    app = make_app(fleet_store, settings, clock=lambda: NOW, watch=watch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(pilot, lambda: pane.records is not None and all(
            r["phase"] for r in pane.records.to_pylist()))
        phases = [(r["name"], r["phase"]) for r in pane.records.to_pylist()]
        assert phases == [("oos", "tripped"), ("scores", "inconclusive"), ("quiet", "ok")]
        assert any("oos" in str(n.message) for n in app._notifications)  # the trip was said
        pane.focus_table()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen))
        runs = app.screen.query_one("#runs-table", TableView)
        await until(pilot, lambda: bool(runs.keys))
        expected = fleet_store.con.execute(
            "SELECT count(DISTINCT run_id) FROM touches WHERE in_scope = false "
            "AND ts > ?::TIMESTAMP - INTERVAL 2 DAY AND ts <= ?", [NOW, NOW]).fetchone()[0]
        assert len(runs.keys) == expected
        assert app.screen.query_one("#touches-table", TableView).keys  # the touches too
        runs.focus_table()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))


async def test_an_auto_rule_decides_once_per_trip(fleet_store: Store, tmp_path: Path) -> None:
    workflow = fleet_store.con.execute(
        "SELECT workflow FROM run_summary WHERE outcome IS NULL GROUP BY workflow "
        "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    rule = TriggerSettings(name="auto-pause", workflow=workflow, metric="records_touched",
                           window="30d", threshold=0, min_runs=0, on_trip="pause", auto=True)
    paths = Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl")
    desk = DecisionDesk(fleet_store, Operator("anna", frozenset()), paths, stale_seconds=10**9,
                        clock=lambda: NOW)
    watch = TriggerWatch(fleet_store, [rule.rule()], desk, stale_seconds=10**9,
                         clock=lambda: NOW)
    first = watch.evaluate()
    assert len(first) == 1 and first[0].decision is not None
    assert first[0].decision["operator"] == "trigger:auto-pause"
    assert first[0].decision["source"] == "trigger:auto-pause"
    assert watch.evaluate() == [] and watch.evaluate() == []  # the same trip goes on
    assert len(paths.journal.read_text().splitlines()) == 1  # one decision for one trip


async def test_a_burst_trips_the_rule_the_prompt_pauses_and_the_runner_applies(
        tmp_path: Path) -> None:
    from quarterdeck import demo
    from quarterdeck.console.live import LiveFeed
    from quarterdeck.queries.store import utc_now

    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=9)
    paths = Paths(work / "journal.jsonl", work / "control-outbox.jsonl")
    runner = demo.start_runner(logs, seed=9, rate=40, log=work / "runner.log",
                               outbox=paths.outbox, bursts=(60, 60))  # bursting throughout
    settings = Settings(trigger=[demo.DEMO_TRIGGERS[0]],
                        console={"evaluate_every": 1, "refresh": 1})
    store = Store.open(db)
    desk = DecisionDesk(store, Operator("anna", frozenset({"operator"})), paths,
                        stale_seconds=900, clock=utc_now)
    watch = TriggerWatch(store, settings.rules(), desk, stale_seconds=900, clock=utc_now)
    feed = LiveFeed(store, [logs])
    app = make_app(store, settings, feed=feed, desk=desk, watch=watch)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: isinstance(app.screen, DecideScreen)
                        and app.screen.query("#decide-cancel")
                        and app.focused is app.screen.query_one("#decide-cancel"), timeout=60)
            dialog = app.screen
            assert "Trigger triage-failures tripped" in str(
                dialog.query_one("#decide-why").render())
            assert dialog.plan.action == "pause" and dialog.plan.target == "ticket-triage"
            assert "failed_run_ratio" in dialog.reason  # the evidence is the reason
            assert app.focused is dialog.query_one("#decide-cancel", Button)
            await pilot.press("tab")  # from Cancel to Pause, as a person would
            assert app.focused is dialog.query_one("#decide-confirm", Button)
            await pilot.press("enter")
            reader = app.reader

            def outcome() -> str | None:
                rows = reader.decisions().to_pylist()
                return rows[0]["state"] if rows else None

            try:
                await until(pilot, lambda: outcome() in ("applied", "partly applied"),
                            timeout=20)
            except AssertionError:
                print(reader.decisions().to_pylist(), app.screen,
                      [str(n.message) for n in app._notifications])
                print((work / "runner.log").read_text())
                raise
            trip = store.cursor().execute(
                "SELECT decision_id FROM trigger_trips WHERE name = 'triage-failures'"
            ).fetchone()
            assert trip is not None and trip[0] is not None  # the trip is decided
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()


async def test_a_dismissed_trip_can_be_decided_from_the_pane_and_only_once(
        fleet_store: Store, tmp_path: Path) -> None:
    workflow = fleet_store.con.execute(
        "SELECT workflow FROM run_summary WHERE outcome IS NULL GROUP BY workflow "
        "ORDER BY count(*) DESC LIMIT 1").fetchone()[0]
    settings = Settings(trigger=[TriggerSettings(
        name="busy", workflow=workflow, metric="records_touched", window="30d", threshold=0,
        min_runs=0)])
    paths = Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl")
    desk = DecisionDesk(fleet_store, Operator("anna", frozenset({"operator"})), paths,
                        stale_seconds=10**9, clock=lambda: NOW)
    watch = TriggerWatch(fleet_store, settings.rules(), desk, stale_seconds=10**9,
                         clock=lambda: NOW)
    app = make_app(fleet_store, settings, clock=lambda: NOW, watch=watch, desk=desk)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DecideScreen)
                    and bool(app.screen.query("#decide-cancel")))
        await pilot.press("escape")  # dismissed: nothing recorded
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(pilot, lambda: pane.records is not None and pane.records.num_rows == 1)
        pane.focus_table()
        await pilot.press("d")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen)
                    and bool(app.screen.query("#decide-cancel")))
        assert "busy" in app.screen.reason
        await pilot.press("tab", "enter")  # Cancel → the decision button
        await until(pilot, lambda: paths.journal.exists())
        await until(pilot, lambda: fleet_store.cursor().execute(
            "SELECT decision_id FROM trigger_trips").fetchone()[0] is not None)
        await pilot.press("d")
        await until(pilot, lambda: any("decided already" in str(n.message)
                                       for n in app._notifications))
        assert len(paths.journal.read_text().splitlines()) == 1
