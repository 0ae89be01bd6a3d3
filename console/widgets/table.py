"""A table that can be given new rows: textual-fastdatatable, remounted on each update.

fastdatatable renders straight from an Arrow table (fast for large results) but cannot swap
its data in place, so `TableView` mounts a fresh one and puts the cursor back on the same key.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from textual.app import ComposeResult
from textual.containers import Container
from textual.widgets import Static
from textual_fastdatatable import ArrowBackend, DataTable


class TableView(Container, can_focus=True):
    """Shows rows of Rich markup with labels; remembers a key per row for the cursor."""

    DEFAULT_CSS = """
    TableView { height: 1fr; }
    TableView > DataTable { height: 1fr; }
    TableView > .empty { padding: 1 2; color: $text-muted; }
    """

    def __init__(self, *, empty: str = "nothing to show", id: str | None = None,
                 max_width: int = 60) -> None:
        super().__init__(id=id)
        self.empty = empty
        self.max_width = max_width
        self.labels: list[str] = []
        self.keys: list[str] = []
        self.data: pa.Table | None = None  # the rows shown, as Arrow (what the table reads)
        self.table: DataTable | None = None

    def compose(self) -> ComposeResult:
        yield Static(self.empty, classes="empty")

    def show(self, labels: Sequence[str], rows: Sequence[Sequence[str]], keys: Sequence[str],
             *, keep: str | None = None) -> None:
        """Replace the rows. The cursor goes back to the row whose key is `keep` (default:
        the key under the cursor now), else stays at the same position. Focus stays where it
        was; the screen decides what gets focus first."""
        self.labels = list(labels)
        self._put(self._arrow(rows), list(keys), keep)

    def append(self, rows: Sequence[Sequence[str]], keys: Sequence[str]) -> None:
        """Add rows at the end (the next page); the cursor stays on its row."""
        if self.data is None:
            self.show(self.labels, rows, keys)
            return
        self._put(pa.concat_tables([self.data, self._arrow(rows)]), self.keys + list(keys),
                  None)

    def _arrow(self, rows: Sequence[Sequence[str]]) -> pa.Table:
        columns = {f"c{i}": [row[i] for row in rows] for i in range(len(self.labels))}
        return pa.table(columns, schema=pa.schema([(k, pa.string()) for k in columns]))

    def _put(self, data: pa.Table, keys: list[str], keep: str | None) -> None:
        position = self.table.cursor_row if self.table is not None else 0
        if keep is None:
            keep = self.current_key()
        elif keep == "":
            position = 0  # start at the top
        had_focus = self.has_focus or (self.table is not None and self.table.has_focus)
        self.keys = keys
        self.remove_children()
        if not keys:
            self.table = self.data = None
            self.mount(Static(self.empty, classes="empty"))
            if had_focus:
                self.focus()  # keep the keys of the pane around it working
            return
        self.data = data
        table = DataTable(
            backend=ArrowBackend(data), column_labels=self.labels, cursor_type="row",
            zebra_stripes=True, show_row_labels=False, max_column_content_width=self.max_width,
        )
        self.table = table
        self.mount(table)
        if keep is not None and keep in self.keys:
            position = self.keys.index(keep)
        position = min(position, len(self.keys) - 1)
        table.move_cursor(row=position, column=0, animate=False)
        if had_focus:
            table.focus()

    def current_key(self) -> str | None:
        if self.table is None or not self.keys:
            return None
        row = self.table.cursor_row
        return self.keys[row] if 0 <= row < len(self.keys) else None

    def focus_table(self) -> None:
        if self.table is not None:
            self.table.focus()
        else:
            self.focus()
