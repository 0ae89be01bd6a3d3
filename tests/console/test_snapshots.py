"""A few SVG snapshots of the layout (behaviour is tested in test_console.py).

Update them with `make snapshots` after an intended change, and look at the report.
"""

from __future__ import annotations

import pytest

from quarterdeck.console.app import make_app
from quarterdeck.config import Settings
from quarterdeck.queries.store import Store
from support.events import NOW
from support.pilot import settle

SIZE = (150, 36)


@pytest.fixture
def fleet_app(fleet_store: Store):
    return make_app(fleet_store, Settings(), clock=lambda: NOW)


def test_runs_pane(snap_compare, fleet_app) -> None:
    assert snap_compare(fleet_app, terminal_size=SIZE, run_before=settle)


def test_run_detail(snap_compare, fleet_app) -> None:
    async def open_first_run(pilot) -> None:
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(fleet_app, terminal_size=SIZE, run_before=open_first_run)


def test_help(snap_compare, fleet_app) -> None:
    async def open_help(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(fleet_app, terminal_size=SIZE, run_before=open_help)
