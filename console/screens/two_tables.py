"""A screen of facts above two titled tables — something (a run, a trigger's evidence) and
the touches behind it: Tab moves between the tables, Enter on a touch shows its change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import ClassVar

from textual import on
from textual.binding import Binding
from textual.widget import Widget
from textual.widgets import Footer, Static
from textual_fastdatatable import DataTable

from quarterdeck.console.screens.base import DataScreen
from quarterdeck.console.screens.touch import open_touch
from quarterdeck.console.widgets.table import TableView


class TwoTablesScreen(DataScreen):
    #: (id, text when empty) of the first table; the second is always `touches-table`.
    FIRST: ClassVar[tuple[str, str]] = ("", "")
    TOUCHES_EMPTY: ClassVar[str] = "No touches."
    FACTS_ID: ClassVar[str] = "facts"

    BINDINGS = [
        # priority: the tables' own tab moves their cursor
        Binding("tab", "other_table", "Switch table", id="tables.other_table", priority=True),
        Binding(
            "shift+tab",
            "other_table",
            "Switch table",
            show=False,
            id="tables.other_table_back",
            priority=True,
        ),
    ]

    def tables(self) -> Iterator[Widget]:
        """The widgets under the crumbs: facts, then the two titled tables, then the footer."""
        first, empty = self.FIRST
        yield Static("loading…", id=self.FACTS_ID)
        yield Static("", id=first.replace("-table", "-title"), classes="pane-title")
        yield TableView(empty=empty, id=first)
        yield Static("", id="touches-title", classes="pane-title")
        yield TableView(empty=self.TOUCHES_EMPTY, id="touches-table")
        yield Footer()

    def action_other_table(self) -> None:
        first = self.query_one(f"#{self.FIRST[0]}", TableView)
        touches = self.query_one("#touches-table", TableView)
        on_first = self.focused is not None and first in self.focused.ancestors_with_self
        (touches if on_first and touches.display else first).focus_table()

    @on(DataTable.RowSelected, "#touches-table DataTable")
    def _open_touch(self, event: DataTable.RowSelected) -> None:
        event.stop()
        open_touch(self, self.query_one("#touches-table", TableView))
