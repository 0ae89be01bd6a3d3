"""Each table's columns are defined once (`queries.columns`): the console's panes, the command
line's tables and the run history's sort all take theirs from that one definition."""

from __future__ import annotations

import re

import pytest

from quarterdeck.cli import main, read
from quarterdeck.config import Settings
from quarterdeck.console.app import make_app
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.runs_pane import SORT_KEYS, RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.touched_pane import TouchedPane
from quarterdeck.console.widgets.triggers_pane import TriggersPane
from quarterdeck.queries import columns, runs
from quarterdeck.queries.store import Store
from support.events import NOW
from support.pilot import settle


def headers(table: tuple[columns.Column, ...]) -> list[str]:
    return [c.header for c in table]


def test_a_header_is_written_once_per_table() -> None:
    for table in (
        columns.RUNS,
        columns.TOUCHES,
        columns.APPROVALS,
        columns.QUARANTINE,
        columns.DECISIONS,
        columns.TRIGGERS,
    ):
        assert len(set(headers(table))) == len(table)
        assert len({c.key for c in table}) == len(table)


def test_the_run_history_sorts_by_the_sortable_run_columns(fleet_store: Store) -> None:
    assert runs.SORTABLE == tuple(c.key for c in columns.RUNS if c.sortable)
    assert runs.SORTABLE  # and every one of them is a column of the query's result
    for key in runs.SORTABLE:
        table = runs.run_history(fleet_store.con, now=NOW, sort=key, limit=3)
        assert key in table.column_names
    shown = runs.run_history(fleet_store.con, now=NOW, limit=1).column_names
    assert {c.key for c in columns.RUNS} <= set(shown)


def test_the_panes_and_the_command_lines_columns_come_from_the_definition() -> None:
    assert list(RunsPane.LABELS) == headers(columns.RUNS) == headers(read.RUN_COLUMNS)
    assert SORT_KEYS == runs.SORTABLE
    for pane, table in (
        (TouchedPane, columns.TOUCHES),
        (ApprovalsPane, columns.APPROVALS),
        (TriggersPane, columns.TRIGGERS),
    ):
        # a pane may leave columns out, never reorder or rename them
        assert list(pane.LABELS) == [h for h in headers(table) if h in pane.LABELS]
        assert pane.LABELS


async def test_the_runs_pane_shows_the_run_columns_in_their_order(fleet_store: Store) -> None:
    app = make_app(fleet_store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        await settle(pilot)
        view = app.screen.query_one(RunsPane).query_one(TableView)
        assert view.labels == ["", *headers(columns.RUNS)]  # "": the new/changed mark
        assert view.data is not None and view.data.num_columns == len(view.labels)


@pytest.mark.parametrize(
    "command, shown",
    [
        ("runs", read.RUN_COLUMNS),
        ("touched", read.TOUCH_COLUMNS),
        ("approvals", read.APPROVAL_COLUMNS),
        ("quarantine", read.QUARANTINE_COLUMNS),
    ],
)
def test_the_command_line_prints_the_defined_headers(
    fleet_store: Store, capsys, command: str, shown: tuple[columns.Column, ...]
) -> None:
    fleet_store.close()  # the command opens the store itself
    assert main([command, "--db", str(fleet_store.path), "--limit", "5"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert re.split(r"\s{2,}", header.strip()) == headers(shown)
