"""A decision names the row the operator saw: a decision key pins the cursor to its row, even
when the newest rows arrive (tail mode) between the moment the key was pressed and the moment
it is handled; Home goes back to following the newest."""

from __future__ import annotations

from pathlib import Path

from textual import events
from textual.pilot import Pilot

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.desks import desk_for
from support.events import NOW, event, started, write_jsonl
from support.pilot import until

SIZE = (170, 40)


def add_run(store: Store, folder: Path, run_id: str, ts: str) -> None:
    write_jsonl(folder / run_id / "runner.jsonl", [started(run_id, ts=ts)])
    load_paths(store.con, [folder / run_id])


def runs(app: QuarterdeckApp) -> TableView:
    return app.screen_stack[1].query_one(RunsPane).query_one(TableView)


def title(app: QuarterdeckApp) -> str:
    pane = app.screen_stack[1].query_one(RunsPane)
    return str(pane.query_one(".pane-title").render())


def two_runs(tmp_path: Path) -> tuple[Store, Path, QuarterdeckApp]:
    """A store with runs r-a and r-b (newer), its logs' folder, and a console on it whose
    operator has the role operator."""
    store = Store.open(tmp_path / "qd.duckdb")
    logs = tmp_path / "logs"
    for run_id, ts in (("r-a", "2026-11-20T08:58:00Z"), ("r-b", "2026-11-20T08:58:30Z")):
        add_run(store, logs, run_id, ts)
    desk = desk_for(store, tmp_path, {"operator"})
    return store, logs, make_app(store, Settings(), clock=lambda: NOW, desk=desk)


async def pin_by_a_decision_key(pilot: Pilot, app: QuarterdeckApp) -> None:
    """`p` on the row under the cursor, then Esc: the row stays pinned."""
    app.screen_stack[1].query_one(RunsPane).switched_at -= SEEN_S
    await pilot.press("p")
    await until(pilot, lambda: isinstance(app.screen, DecideScreen))
    await pilot.press("escape")
    await until(pilot, lambda: not isinstance(app.screen, DecideScreen))


async def test_the_dialog_names_the_row_under_the_cursor_when_the_key_was_pressed(
    tmp_path: Path,
) -> None:
    store = Store.open(tmp_path / "qd.duckdb")
    logs = tmp_path / "logs"
    add_run(store, logs, "r-a", "2026-11-20T08:58:00Z")
    desk = desk_for(store, tmp_path, {"operator"})
    app = make_app(store, Settings(), clock=lambda: NOW, desk=desk)
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = runs(app)
            await until(pilot, lambda: table.keys == ["r-a"] and table.table is not None)
            await until(pilot, lambda: app.focused is table.table)
            # The operator reads r-a on the first row and presses p; before the key is
            # handled a newer run arrives, and the first row (tail mode) follows it.
            pressed = events.Key("p", "p")
            add_run(store, logs, "r-b", "2026-11-20T08:58:30Z")
            app.action_refresh()
            await until(pilot, lambda: table.keys[:1] == ["r-b"] and table.current_key() == "r-b")
            app.post_message(pressed)
            await until(pilot, lambda: isinstance(app.screen, DecideScreen))
            assert app.screen.plan.runs == ("r-a",)  # the row seen, not the row arrived
            assert table.pinned and table.current_key() == "r-a"
            assert "pinned" in title(app) and "Home follows newest" in title(app)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, DecideScreen))

            # pinned: newer rows arrive above and the cursor keeps r-a
            add_run(store, logs, "r-c", "2026-11-20T08:59:00Z")
            app.action_refresh()
            await until(pilot, lambda: table.keys[:1] == ["r-c"])
            assert table.current_key() == "r-a"
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, DecideScreen))
            assert app.screen.plan.runs == ("r-a",)
            await pilot.press("escape")
            await until(pilot, lambda: not isinstance(app.screen, DecideScreen))

            # Home: the top again, following the newest
            await pilot.press("home")
            assert not table.pinned and table.current_key() == "r-c"
            assert "pinned" not in title(app)
            add_run(store, logs, "r-d", "2026-11-20T08:59:30Z")
            app.action_refresh()
            await until(pilot, lambda: table.keys[:1] == ["r-d"])
            assert table.current_key() == "r-d"
    finally:
        store.close()


async def test_a_decision_key_pressed_as_a_pane_comes_up_decides_nothing(tmp_path: Path) -> None:
    """Switched to, a pane shows the rows of its last visit until it has fetched again: a
    decision key pressed with the pane key, before anyone could read a row, is not taken."""
    store = Store.open(tmp_path / "qd.duckdb")
    add_run(store, tmp_path / "logs", "r-a", "2026-11-20T08:58:00Z")
    desk = desk_for(store, tmp_path, {"operator"})
    app = make_app(store, Settings(), clock=lambda: NOW, desk=desk)
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = runs(app)
            await until(pilot, lambda: table.keys == ["r-a"] and app.focused is table.table)
            view = app.screen.query_one(RunsPane).view
            await pilot.press("2", "1")  # Touched, back to Runs
            # pause, pressed with the pane key, and a reason meant for its dialog, all read
            # before the first is handled, as a burst is (whatever the machine's load)
            pane = app.screen_stack[1].query_one(RunsPane)
            burst = [events.Key("p", "p"), events.Key("s", "s"), events.Key("enter", "\r")]
            for key in burst:
                key.time = pane.switched_at
                app.post_message(key)
            await until(
                pilot, lambda: any("nothing decided" in str(n.message) for n in app._notifications)
            )
            # the rest of the burst reached nothing (s sorts, Enter opens the run): it is said
            await until(
                pilot,
                lambda: any(
                    "('s<enter>') was not used" in str(n.message) for n in app._notifications
                ),
            )
            assert app.screen.query_one(RunsPane).view == view
            assert not isinstance(app.screen, DecideScreen | RunDetailScreen)
            # once the pane has been on screen long enough to read, the key is taken
            pane.switched_at -= SEEN_S
            await pilot.press("p")
            await until(pilot, lambda: isinstance(app.screen, DecideScreen))
            assert app.screen.plan.runs == ("r-a",)
    finally:
        store.close()


async def test_a_pinned_row_that_leaves_the_filter_is_said_and_pins_no_other(
    tmp_path: Path,
) -> None:
    """`/running`, `p` on a run then Esc: the run finishes and no longer matches the filter.
    The pane says the pinned row left, and the row now under the cursor is not pinned."""
    store, logs, app = two_runs(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = runs(app)
            await until(pilot, lambda: table.keys == ["r-b", "r-a"] and app.focused is table.table)
            await pilot.press("slash", *"running", "enter")
            await until(pilot, lambda: "filter running" in title(app))
            await until(pilot, lambda: app.focused is table.table)
            await pilot.press("down")
            await until(pilot, lambda: table.current_key() == "r-a")
            await pin_by_a_decision_key(pilot, app)
            assert table.pinned and table.current_key() == "r-a"

            finished = event("run.finished", "2026-11-20T08:59:00Z", "r-a", status="succeeded")
            load_paths(store.con, [write_jsonl(logs / "r-a" / "end.jsonl", [finished])])
            app.action_refresh()
            await until(pilot, lambda: table.keys == ["r-b"])
            await until(pilot, lambda: "pinned r-a left this view" in title(app))
            assert "no longer matches the filter running" in title(app)
            assert not table.pinned  # r-b, now under the cursor, was not pinned in its place
            assert "· pinned (Home" not in title(app)
            assert any(
                "r-a, the row pinned in Runs, left" in str(n.message) for n in app._notifications
            )
            await pilot.press("home")  # following the newest again: the note goes
            await until(pilot, lambda: "left this view" not in title(app))
    finally:
        store.close()


async def test_a_new_order_or_filter_starts_at_the_top_with_nothing_pinned(
    tmp_path: Path,
) -> None:
    """A new view starts at its top; a pin from before it (a decision's) does not carry over
    to whatever row is first there: new rows come in under the cursor, not above it, out of
    sight, under a title still saying pinned."""
    store, logs, app = two_runs(tmp_path)
    try:
        async with app.run_test(size=SIZE) as pilot:
            table = runs(app)
            await until(pilot, lambda: table.keys == ["r-b", "r-a"] and app.focused is table.table)
            await pilot.press("down")
            await until(pilot, lambda: table.current_key() == "r-a")
            await pin_by_a_decision_key(pilot, app)
            assert table.pinned and "pinned" in title(app)

            await pilot.press("S")  # oldest first
            await until(pilot, lambda: table.keys == ["r-a", "r-b"])
            await pilot.press("S")  # newest first again
            await until(pilot, lambda: table.keys == ["r-b", "r-a"])
            assert not table.pinned and "pinned" not in title(app)
            assert table.current_key() == "r-b"
            add_run(store, logs, "r-c", "2026-11-20T08:59:00Z")
            app.action_refresh()
            await until(pilot, lambda: table.keys == ["r-c", "r-b", "r-a"])
            assert table.current_key() == "r-c"  # the newest, under the cursor
    finally:
        store.close()
