"""The live console: it follows logs in a thread of its own and shows new lines at once;
rows that arrive are marked, the cursor stays on its run, refresh waits while a dialog is open.
(The demo's runner making runs appear and change state: tests/e2e/test_demo_runner.py.)"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.live import LiveFeed
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.widgets.pane import CHANGED_MARK, NEW_MARK
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.runs import RunFilter
from quarterdeck.queries.store import Store
from support.pilot import until

SIZE = (160, 40)


def stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def append(path: Path, *events: dict[str, Any]) -> None:
    with path.open("a") as handle:
        for event in events:
            handle.write(json.dumps({"ts": stamp(), **event}) + "\n")


def started(run_id: str) -> dict[str, Any]:
    return {
        "type": "run.started",
        "run_id": run_id,
        "event_id": f"{run_id}-0",
        "workflow": "invoice-posting",
        "identity": "svc-agent",
        "scope": ["ledger:write:Invoice"],
    }


def finished(run_id: str) -> dict[str, Any]:
    return {
        "type": "run.finished",
        "run_id": run_id,
        "event_id": f"{run_id}-9",
        "status": "succeeded",
    }


def runs(app: QuarterdeckApp) -> TableView:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return main.query_one(RunsPane).query_one(TableView)


@pytest.fixture
def live(tmp_path: Path):
    logs = tmp_path / "logs"
    logs.mkdir()
    store = Store.open(tmp_path / "qd.duckdb")
    made: list[LiveFeed] = []

    def open_app(**settings: Any) -> QuarterdeckApp:
        feed = LiveFeed(store, [logs])
        made.append(feed)
        return make_app(store, Settings.model_validate({"console": settings}), feed=feed)

    yield logs, open_app
    for feed in made:
        feed.stop()
    store.close()


async def test_new_lines_show_without_waiting_for_the_timer_and_are_marked(live) -> None:
    """The follower prompts the refresh: the new run is on screen long before the 60 s timer
    would have shown it. (How soon, on an idle machine, is `benchmarks/bench_follow.py`'s to
    measure: a timed assertion here would fail on a busy one.)"""
    logs, open_app = live
    log = logs / "runner.jsonl"
    append(log, started("r-old"))
    app = open_app(refresh="60s")  # only the follower can prompt a refresh here
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: runs(app).keys == ["r-old"])
        append(log, started("r-new"))
        await until(pilot, lambda: "r-new" in runs(app).keys, timeout=30)
        assert runs(app).cells("r-new")[0] == NEW_MARK
        assert runs(app).cells("r-old")[0] == ""
        append(log, finished("r-old"))
        await until(pilot, lambda: runs(app).cells("r-old")[0] == CHANGED_MARK)
        status = str(app.screen.query_one("#status-bar").render())
        assert "following" in status and "ev/s" in status


async def test_the_cursor_stays_on_its_run_when_rows_arrive_above(live) -> None:
    logs, open_app = live
    log = logs / "runner.jsonl"
    append(log, *[started(f"r-{i:03d}") for i in range(100)])
    app = open_app(refresh="60s")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(runs(app).keys) == 100)
        await pilot.press("pagedown", "pagedown", "down", "down")
        await pilot.pause()
        chosen = runs(app).current_key()
        row_on_screen = runs(app).table.cursor_row - round(runs(app).table.scroll_y)
        assert runs(app).table.scroll_y > 0  # scrolled: rows above are out of sight
        append(log, started("r-100"), started("r-101"))
        await until(pilot, lambda: len(runs(app).keys) == 102)
        assert runs(app).current_key() == chosen
        # the viewport follows once the new table has been laid out
        await until(
            pilot,
            lambda: runs(app).table.cursor_row - round(runs(app).table.scroll_y) == row_on_screen,
            timeout=30,
        )
        assert runs(app).current_key() == chosen


async def test_refresh_waits_while_a_dialog_is_open(live) -> None:
    logs, open_app = live
    log = logs / "runner.jsonl"
    append(log, started("r-1"))
    app = open_app(refresh="0.2s")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: runs(app).keys == ["r-1"])
        await pilot.press("colon")  # the jump dialog
        await until(pilot, lambda: not isinstance(app.screen, MainScreen))
        append(log, started("r-2"))
        # once the follower has stored it, several refresh periods go by under the dialog
        await until(pilot, lambda: app.reader.run_history(RunFilter(run_id="r-2")).num_rows, 30)
        await pilot.pause(1.0)
        assert runs(app).keys == ["r-1"]  # nothing moved under the dialog
        await pilot.press("escape")
        await until(pilot, lambda: "r-2" in runs(app).keys, timeout=30)


def test_following_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    from quarterdeck.cli import main

    code = main(
        ["console", "--follow", str(tmp_path / "nope"), "--db", str(tmp_path / "qd.duckdb")]
    )
    assert code == 1


async def test_a_cursor_on_the_first_row_follows_the_newest(live) -> None:
    logs, open_app = live
    log = logs / "runner.jsonl"
    append(log, started("r-1"))
    time.sleep(0.01)  # started later: listed first
    append(log, started("r-2"))
    app = open_app(refresh="60s")
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: len(runs(app).keys) == 2)
        assert runs(app).current_key() == "r-2"
        append(log, started("r-3"))
        await until(pilot, lambda: len(runs(app).keys) == 3)
        assert runs(app).current_key() == "r-3"  # tail mode: the newest is under the cursor
