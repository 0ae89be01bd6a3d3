"""Triggers in the console: the pane, the evidence, a dismissed trip decided from the pane;
auto rules decide once. (A trip in a live failure burst: tests/e2e/test_demo_runner.py.)"""

from __future__ import annotations

import json
import time
from pathlib import Path

from textual import events
from textual.widgets import Button
from textual.widgets._toast import Toast

from quarterdeck.config import ConsoleSettings, Settings, TriggerSettings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.trigger import TriggerScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.triggers_pane import TriggersPane
from quarterdeck.desk import DecisionDesk
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store
from quarterdeck.watch import TriggerWatch
from support.events import NOW
from support.pilot import settle, until

SIZE = (170, 45)

RULES = [
    TriggerSettings(name="oos", metric="out_of_scope_touches", window="2d", threshold=1),
    TriggerSettings(name="quiet", metric="deletes", window="2d", threshold=50),
    TriggerSettings(
        name="scores",
        metric="metric:eval_score",
        window="2d",
        threshold=0.5,
        below=True,
        min_runs=500,
    ),
]


async def test_the_pane_lists_rules_most_urgent_first_and_opens_the_evidence(
    fleet_store: Store, tmp_path: Path
) -> None:
    settings = Settings(trigger=RULES)
    watch = TriggerWatch(fleet_store, settings.rules(), None, stale_seconds=900, clock=lambda: NOW)
    app = make_app(fleet_store, settings, clock=lambda: NOW, watch=watch)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(
            pilot,
            lambda: pane.records is not None and all(r["phase"] for r in pane.records.to_pylist()),
        )
        phases = [(r["name"], r["phase"]) for r in pane.records.to_pylist()]
        assert phases == [("oos", "tripped"), ("scores", "inconclusive"), ("quiet", "ok")]
        assert any("oos" in str(n.message) for n in app._notifications)  # the trip was said
        pane.focus_table()
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TriggerScreen) and app.screen.is_mounted)
        runs = app.screen.query_one("#runs-table", TableView)
        await until(pilot, lambda: bool(runs.keys))
        expected = fleet_store.con.execute(
            "SELECT count(DISTINCT run_id) FROM touches WHERE in_scope = false "
            "AND ts > ?::TIMESTAMP - INTERVAL 2 DAY AND ts <= ?",
            [NOW, NOW],
        ).fetchone()[0]
        assert len(runs.keys) == expected
        assert app.screen.query_one("#touches-table", TableView).keys  # the touches too
        runs.focus_table()
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted
        )


def busiest_open_workflow(store: Store) -> str:
    """The workflow with the most runs not finished: a trip on it has runs to decide."""
    return str(
        store.con.execute(
            "SELECT workflow FROM run_summary WHERE outcome IS NULL GROUP BY workflow "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    )


async def test_an_auto_rule_decides_once_per_trip(fleet_store: Store, tmp_path: Path) -> None:
    workflow = busiest_open_workflow(fleet_store)
    rule = TriggerSettings(
        name="auto-pause",
        workflow=workflow,
        metric="records_touched",
        window="30d",
        threshold=0,
        min_runs=0,
        on_trip="pause",
        auto=True,
    )
    paths = Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl")
    desk = DecisionDesk(
        fleet_store, Operator("anna", frozenset()), paths, stale_seconds=10**9, clock=lambda: NOW
    )
    watch = TriggerWatch(fleet_store, [rule.rule()], desk, stale_seconds=10**9, clock=lambda: NOW)
    first = watch.evaluate()
    assert len(first) == 1 and first[0].decision is not None
    assert first[0].decision["operator"] == "trigger:auto-pause"
    assert first[0].decision["source"] == "trigger:auto-pause"
    assert watch.evaluate() == [] and watch.evaluate() == []  # the same trip goes on
    assert len(paths.journal.read_text().splitlines()) == 1  # one decision for one trip


def watched_console(
    store: Store, settings: Settings, tmp_path: Path
) -> tuple[QuarterdeckApp, Paths]:
    """A console whose watch evaluates `settings`' rules and may decide (role operator)."""
    paths = Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl")
    desk = DecisionDesk(
        store,
        Operator("anna", frozenset({"operator"})),
        paths,
        stale_seconds=10**9,
        clock=lambda: NOW,
    )
    watch = TriggerWatch(store, settings.rules(), desk, stale_seconds=10**9, clock=lambda: NOW)
    return make_app(store, settings, clock=lambda: NOW, watch=watch, desk=desk), paths


async def test_a_dismissed_trip_can_be_decided_from_the_pane_and_only_once(
    fleet_store: Store, tmp_path: Path
) -> None:
    workflow = busiest_open_workflow(fleet_store)
    settings = Settings(
        trigger=[
            TriggerSettings(
                name="busy",
                workflow=workflow,
                metric="records_touched",
                window="30d",
                threshold=0,
                min_runs=0,
            )
        ],
        console=ConsoleSettings(evaluate_every=600),  # evaluated once, at start
    )
    app, paths = watched_console(fleet_store, settings, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DecideScreen) and bool(app.screen.query("#decide-reason"))
            ),
        )
        # It opened by itself: a key pressed before it was on screen is not its (it neither
        # cancels nor confirms it) but goes to the screen below, as if it had not opened...
        dialog = app.screen
        early = events.Key("2", "2")  # pressed a moment before it showed (or now, not yet)
        early.time = (app.unasked.get(dialog) or time.monotonic()) - 0.001
        app.post_message(early)
        main = app.main_screen()
        assert main is not None
        await until(pilot, lambda: main.current_pane().KEY == "2")  # Touched: the key's
        assert not paths.journal.exists() and "busy" in app.triggers_flow.waiting
        # ...and the dialog opens again once the operator pauses
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DecideScreen)
                and app.screen is not dialog
                and app.unasked.get(app.screen) is not None
            ),
        )
        dialog = app.screen
        await pilot.press("escape")  # a key once it is shown is its: dismissed, nothing recorded
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(pilot, lambda: pane.records is not None and pane.records.num_rows == 1)
        # the pane says the trip waits; the rule tripping again opens no second dialog
        assert "undecided" in pane.query_one(TableView).cells("busy")[1]
        app.triggers_flow._tripped([app.triggers_flow.waiting["busy"]], [])
        await pilot.pause()
        assert not isinstance(app.screen, DecideScreen)
        assert any("still waits" in str(n.message) for n in app._notifications)
        pane.focus_table()
        await pilot.press("d")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, DecideScreen) and bool(app.screen.query("#decide-reason"))
            ),
        )
        filled = app.screen.reason
        assert "busy" in filled
        await until(pilot, lambda: app.focused is app.screen.query_one("#decide-reason"))
        # what the operator types adds to the trip's reason, after it
        await pilot.press(*" on call")
        await pilot.press("enter")
        await until(pilot, lambda: paths.journal.exists())
        assert json.loads(paths.journal.read_text())["reason"] == f"{filled} on call"
        # decided: the pane says so as soon as it is recorded, not at the next evaluation
        table = pane.query_one(TableView)
        await until(pilot, lambda: "undecided" not in table.cells("busy")[1], timeout=3)
        # the dialog closed: the Triggers table has the keys again, no Tab needed
        await until(pilot, lambda: app.focused is pane.query_one(TableView).table)
        await until(
            pilot,
            lambda: (
                fleet_store.cursor().execute("SELECT decision_id FROM trigger_trips").fetchone()[0]
                is not None
            ),
        )
        await pilot.press("d")
        await until(
            pilot, lambda: any("decided already" in str(n.message) for n in app._notifications)
        )
        assert len(paths.journal.read_text().splitlines()) == 1


async def test_two_rules_tripping_at_once_open_one_dialog_and_a_cancel_sets_both_aside(
    fleet_store: Store, tmp_path: Path
) -> None:
    """Both trips are planned in workers; the second dialog waits for the first to close
    instead of opening on top of it (where one Esc would dismiss a trip nobody saw). Once the
    operator cancels it, the other does not open in its place (with many rules tripped, Esc
    would only ever lead to the next dialog): both wait in the Triggers pane, counted in the
    status bar, until the operator asks with `d`."""
    workflow = busiest_open_workflow(fleet_store)
    settings = Settings(
        trigger=[
            TriggerSettings(
                name=f"busy-{i}",
                workflow=workflow,
                metric="records_touched",
                window="30d",
                threshold=0,
                min_runs=0,
            )
            for i in range(2)
        ],
        console=ConsoleSettings(evaluate_every=600),  # evaluated once, at start
    )
    app, paths = watched_console(fleet_store, settings, tmp_path)

    def dialogs() -> list[DecideScreen]:
        return [s for s in app.screen_stack if isinstance(s, DecideScreen)]

    def status() -> str:
        main = app.main_screen()
        assert main is not None
        return str(main.query_one("#status-bar").render())

    async with app.run_test(size=(130, 40), notifications=True) as pilot:
        await until(pilot, lambda: bool(dialogs()) and app.unasked.get(dialogs()[0]) is not None)
        first = dialogs()[0]
        assert len(dialogs()) == 1 and len(app.triggers_flow.waiting) == 2
        assert "2 undecided trips (4)" in status()
        # the trips' announcements cover no button of the dialog
        await until(pilot, lambda: any(t.region.area for t in first.query(Toast)))
        buttons = [b.region for b in first.query(Button)]
        assert all(not t.region.overlaps(b) for t in first.query(Toast) for b in buttons)
        await pilot.press("escape")
        await until(pilot, lambda: not dialogs())
        assert app.triggers_flow.set_aside == {"busy-0", "busy-1"}
        assert any(
            "2 tripped triggers left undecided" in str(n.message) for n in app._notifications
        )
        # the other trip's dialog, planned or asked again, stays closed
        for trip in list(app.triggers_flow.waiting.values()):
            app.triggers_flow._ask(trip)
        await settle(pilot)
        await pilot.pause(SEEN_S * 2)  # past the moment it would have opened
        assert not dialogs() and "2 undecided trips (4)" in status()
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(pilot, lambda: pane.records is not None and pane.records.num_rows == 2)
        table = pane.query_one(TableView)
        assert all("undecided" in table.cells(name)[1] for name in ("busy-0", "busy-1"))
        pane.focus_table()
        await pilot.press("d")  # asked for: the trip under the cursor opens
        await until(pilot, lambda: bool(dialogs()) and dialogs()[0].is_mounted)
        assert dialogs()[0] is not first and dialogs()[0].why.startswith("Trigger busy-")
        await pilot.press(*" on call", "enter")
        await until(pilot, lambda: paths.journal.exists())
        await until(pilot, lambda: "1 undecided trip (4)" in status())
        assert not dialogs() and len(app.triggers_flow.waiting) == 1


async def test_a_trip_whose_decision_is_refused_names_its_trigger(
    fleet_store: Store, tmp_path: Path
) -> None:
    # a rollback of a workflow none of whose runs is live is refused when it is planned
    workflow = fleet_store.con.execute(
        "SELECT workflow FROM run_summary GROUP BY workflow "
        "HAVING count(*) FILTER (WHERE outcome IS NULL) = 0 ORDER BY workflow LIMIT 1"
    ).fetchone()[0]
    rule = TriggerSettings(
        name="done-already",
        workflow=workflow,
        metric="records_touched",
        window="30d",
        threshold=0,
        min_runs=0,
        on_trip="rollback",
    )
    settings = Settings(trigger=[rule], console=ConsoleSettings(evaluate_every=600))
    app, paths = watched_console(fleet_store, settings, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("4")
        pane = app.screen.query_one(TriggersPane)
        await until(pilot, lambda: pane.records is not None and pane.records.num_rows == 1)
        pane.focus_table()
        await pilot.press("d")
        said = "trigger done-already: cannot rollback"
        await until(pilot, lambda: any(n.title == said for n in app._notifications))
        assert not isinstance(app.screen, DecideScreen) and not paths.journal.exists()


async def test_enter_pressed_as_a_trips_dialog_shows_decides_nothing(
    fleet_store: Store, tmp_path: Path
) -> None:
    """A trip's dialog opens by itself, its reason filled in: an Enter pressed less than
    `SEEN_S` after it showed was typed by someone doing something else, so it confirms
    nothing (and the dialog says so); once the dialog could be read, Enter confirms."""
    workflow = busiest_open_workflow(fleet_store)
    rule = TriggerSettings(
        name="busy", workflow=workflow, metric="records_touched", window="30d", threshold=0
    )
    settings = Settings(trigger=[rule], console=ConsoleSettings(evaluate_every=600))
    app, paths = watched_console(fleet_store, settings, tmp_path)
    async with app.run_test(size=SIZE) as pilot:
        await until(
            pilot,
            lambda: isinstance(app.screen, DecideScreen) and app.screen.readable_from is not None,
        )
        dialog = app.screen
        assert isinstance(dialog, DecideScreen) and dialog.readable_from is not None
        enter = events.Key("enter", "\r")  # pressed as it showed
        enter.time = dialog.readable_from - SEEN_S / 2
        app.post_message(enter)
        await until(
            pilot, lambda: "decided nothing" in str(dialog.query_one("#decide-note").render())
        )
        assert app.screen is dialog and not paths.journal.exists()
        await until(pilot, lambda: time.monotonic() > dialog.readable_from)
        await pilot.press("enter")  # read, then pressed
        await until(pilot, lambda: paths.journal.exists())
