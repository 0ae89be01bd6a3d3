"""A worker that raises is seen: a notification with the error, the pane saying it could not
load over the rows it had, and the next refresh loading again."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries import evidence, runs
from quarterdeck.queries.store import Store
from support.events import NOW
from support.pilot import until

SIZE = (160, 40)


def quiet_app(store: Store) -> QuarterdeckApp:
    """Refreshes only when asked (ctrl+r), so each load in a test is one the test started."""
    settings = Settings.model_validate({"console": {"refresh": 600}})
    return make_app(store, settings, clock=lambda: NOW)


def errors(app: QuarterdeckApp) -> list[tuple[str, str]]:
    return [(n.title, str(n.message)) for n in app._notifications if n.severity == "error"]


async def test_a_pane_whose_query_fails_says_so_keeps_its_rows_and_recovers(
    fleet_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = runs.run_history
    failures = [duckdb.IOException("IO Error: the store's disk went away")]

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        if failures:
            raise failures.pop()
        return real(*args, **kwargs)

    app = quiet_app(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(RunsPane)
        table = pane.query_one(TableView)
        title = pane.query_one(".pane-title")
        await until(pilot, lambda: len(table.keys) == 120)
        before = list(table.keys)
        assert not errors(app)

        monkeypatch.setattr(runs, "run_history", fails_once)  # the reader's named query
        await pilot.press("ctrl+r")
        await until(pilot, lambda: errors(app))
        assert not failures  # the pane did ask, and it raised
        assert errors(app) == [("error while loading Runs", "IO Error: the store's disk went away")]
        assert "could not load" in str(title.render())
        assert "120 shown" in str(title.render())
        assert table.keys == before  # the rows it had stay on screen

        await pilot.press("ctrl+r")  # the next refresh tries again, and gets the rows
        await until(pilot, lambda: "could not load" not in str(title.render()))
        assert table.keys == before
        assert "120 shown" in str(title.render())
        assert len(errors(app)) == 1


async def test_a_failing_worker_of_the_app_is_seen_too(
    fleet_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The flows' workers run on the app: writing evidence that raises is said, not lost."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise duckdb.CatalogException("Catalog Error: Table with name touches does not exist!")

    monkeypatch.setattr(evidence, "collect", broken)
    app = quiet_app(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(RunsPane)
        await until(pilot, lambda: pane.current_key())
        run_id = pane.current_key()
        await pilot.press("e")
        await until(pilot, lambda: errors(app))
        assert errors(app) == [
            (
                f"error while writing {run_id}'s evidence",
                "Catalog Error: Table with name touches does not exist!",
            )
        ]
