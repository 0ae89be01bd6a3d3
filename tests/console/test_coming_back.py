"""Coming back to a pane: its old rows are never shown as if current, and the pane keys go
to their pane from any screen over the panes."""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from textual.widgets import TabbedContent

from quarterdeck.config import Settings
from quarterdeck.console.app import make_app
from quarterdeck.console.screens.decisions import DecisionsScreen
from quarterdeck.console.screens.help import HelpScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.widgets import pane as pane_module
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.touched_pane import TouchedPane
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl
from support.pilot import settle, until

SIZE = (150, 40)


def title(pane: Any) -> str:
    return str(pane.query_one(".pane-title").render())


async def test_a_pane_shown_again_marks_its_old_rows_until_the_fresh_ones_come(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """1 → 2 → 1 while the fleet moves: the Runs pane shows its last rows at once, dimmed and
    titled as refreshing with the time they are of, until the rows asked for again come. The
    same back from a screen over the panes (nothing under it is refreshed); but rows shown
    again a moment after they came (a dialog closed at once) are not marked."""
    monkeypatch.setattr(pane_module, "STALE_S", 0.0)  # any rows shown again are old
    gate = threading.Event()
    gate.set()
    fetch = RunsPane.fetch

    def gated(self: RunsPane, view: Any, page: Any) -> pa.Table:
        gate.wait(30)  # a busy store (or server) takes a moment
        return fetch(self, view, page)

    def arrives(run_id: str, *, touch: bool = False) -> None:
        lines = [started(run_id)]
        if touch:
            lines.append(
                event("data.touched", "2026-11-20T08:00:01Z", run_id, event_id="t-1",
                      system="ledger", object="Invoice", record_id="INV-1", action="update")
            )  # fmt: skip
        write_jsonl(tmp_path / "logs" / f"{run_id}.jsonl", lines)
        load_paths(store.con, [tmp_path / "logs" / f"{run_id}.jsonl"])

    monkeypatch.setattr(RunsPane, "fetch", gated)
    arrives("r-first")
    app = make_app(store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        runs = main.query_one(RunsPane)
        table = runs.query_one(TableView)
        assert table.keys == ["r-first"]
        touched = main.query_one(TouchedPane)
        assert touched.records is not None  # loaded at start-up, out of sight
        arrives("r-toucher", touch=True)
        await pilot.press("2")
        await until(pilot, lambda: touched.query_one(TableView).keys == ["t-1"])
        # never seen before: nothing in it is marked as arrived since
        assert touched.query_one(TableView).cells("t-1")[0] == ""
        arrives("r-second")  # the fleet moves while the operator looks at Touched
        gate.clear()
        await pilot.press("1")
        await until(pilot, lambda: "refreshing" in title(runs))
        assert "rows as of 09:00:00 UTC" in title(runs)
        assert table.has_class("-stale") and table.keys == ["r-first"]  # old rows, marked
        gate.set()
        await until(pilot, lambda: "r-second" in table.keys)
        assert "refreshing" not in title(runs) and not table.has_class("-stale")

        for stale_s, marked in ((0.0, True), (60.0, False)):
            monkeypatch.setattr(pane_module, "STALE_S", stale_s)
            gate.clear()
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            await until(pilot, lambda: app.screen is main)
            assert ("refreshing" in title(runs)) is marked
            assert table.has_class("-stale") is marked
            gate.set()
            await until(pilot, lambda: not table.has_class("-stale"))
            assert "refreshing" not in title(runs)


async def test_the_pane_keys_go_to_their_pane_from_any_screen_and_help_says_so(
    store: Store, tmp_path: Path
) -> None:
    write_jsonl(tmp_path / "logs" / "a.jsonl", [started("r-1")])
    load_paths(store.con, [tmp_path / "logs"])
    app = make_app(store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        main = app.screen
        assert isinstance(main, MainScreen)
        await pilot.press("enter")  # the run's detail
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen.is_mounted)
        said = str(app.screen.query_one("#help-text").render())
        assert re.search(r"\n +2 +Touched \(closes this screen\)\n", said)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("2")
        await until(pilot, lambda: app.screen is main and main.current_pane().id == "touched")
        # two screens deep (the decisions over a run's detail): both close
        await pilot.press("1", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("D")
        await until(pilot, lambda: isinstance(app.screen, DecisionsScreen))
        await pilot.press("4")
        await until(pilot, lambda: app.screen is main and main.current_pane().id == "triggers")
        assert len(app.screen_stack) == 2
        # a mistyped `:run`: the screen says so, offers no key of a run, and 1 leaves it
        await pilot.press(":", *"run r-nope", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.missing)
        detail = app.screen
        assert "r-nope is not in the store" in str(detail.query_one("#run-facts").render())
        assert not detail.query_one(TabbedContent).display
        offered = {b.binding.action for b in detail.active_bindings.values() if b.enabled}
        assert not offered & {"evidence", "decide('pause')", "tab(1)", "lineage"}
        assert "pane('runs')" in offered
        await pilot.press("1")
        await until(pilot, lambda: app.screen is main and main.current_pane().id == "runs")
