"""A table that can be given new rows: textual-fastdatatable, remounted on each update.

fastdatatable renders straight from an Arrow table (fast for large results) but cannot swap
its data in place, so `TableView` mounts a fresh one and puts the cursor back on the same key.

The cursor on the first row follows what is newest (tail mode): new rows come in under it. A
pinned table (`pin`, as a decision key is pressed) keeps its cursor on its row's key instead,
until `follow` (Home) asks for the newest again. A pinned row that a refresh takes away (it no
longer matches the filter, or is gone) pins no other row in its place: the table unpins and
remembers it (`left`), for the pane to say. Each time the row under the cursor changes by
itself (a refresh, not a key) the table remembers what it left, so `seen_at` can say which row
the operator saw when a key was pressed (`pressed.SEEN_S`).

Until its first rows are given (`show`) it says it is loading: its `empty` text ("No steps
recorded.") is a claim about the answer, never shown before there is one.

Its scrollbars are one cell wide and drawn in whole cells (`WholeCells`).

Its cells are strings of Rich markup that fastdatatable renders itself, so no row may carry a
control character: the functions in `cells` show them visibly already, and `show` checks each
column (in Arrow, at once) and makes `printable` any cell a row builder did not pass through
them, so a forgotten field cannot drive the terminal either.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc
from textual.app import ComposeResult
from textual.containers import Container
from textual.scrollbar import ScrollBarRender
from textual.widgets import Static
from textual_fastdatatable import ArrowBackend, DataTable

from quarterdeck.console.pressed import SEEN_S
from quarterdeck.printable import PATTERN, printable

#: What a table shows before its first rows arrive.
LOADING = "Loading…"


class WholeCells(ScrollBarRender):
    """A scrollbar drawn in whole cells. Textual draws a thumb's ends in eighths of a cell
    (`▅`, `▏`), which, beside a table's rows, read as stray characters rather than as a
    scrollbar: a thumb of a few hundred rows is one cell and one such eighth at the rows' right
    edge, and a screen copied as text keeps only the eighth."""

    VERTICAL_BARS = [" "] * 8
    HORIZONTAL_BARS = [" "] * 8


class TableView(Container, can_focus=True):
    """Shows rows of Rich markup with labels; remembers a key per row for the cursor."""

    DEFAULT_CSS = """
    TableView { height: 1fr; }
    TableView > DataTable { height: 1fr; scrollbar-size-vertical: 1; }
    TableView > .empty { padding: 1 2; color: $text-muted; }
    """

    def __init__(
        self, *, empty: str = "nothing to show", id: str | None = None, max_width: int = 60
    ) -> None:
        super().__init__(id=id)
        self.empty = empty
        self.max_width = max_width
        self.labels: list[str] = []
        self.keys: list[str] = []
        self.data: pa.Table | None = None  # the rows shown, as Arrow (what the table reads)
        self.table: DataTable | None = None
        self.pinned = False  # the cursor keeps its row: no tail mode
        #: the key of the pinned row a refresh took away (it left the view: it no longer
        #: matches the filter, or is gone), until the operator pins or follows again
        self.left: str | None = None
        # (when, the key it left, the key it came to) for each change of the row under the
        # cursor made by a refresh; only the last few can matter (`seen_at`)
        self._moves: deque[tuple[float, str | None, str | None]] = deque(maxlen=8)

    def compose(self) -> ComposeResult:
        yield Static(LOADING, classes="empty")  # `empty` once an answer has no rows

    def show(
        self,
        labels: Sequence[str],
        rows: Sequence[Sequence[str]],
        keys: Sequence[str],
        *,
        keep: str | None = None,
    ) -> None:
        """Replace the rows. The cursor goes back to the row whose key is `keep` (default:
        the key under the cursor now, kept at its place on screen; but a cursor on the first
        row stays on the first row, following what is newest), else stays at the same
        position. Focus stays where it
        was; the screen decides what gets focus first."""
        labels, keys = list(labels), list(keys)
        data = self._arrow(rows, len(labels))
        if (
            self.table is not None
            and self.data is not None
            and keep is None
            and keys == self.keys
            and labels == self.labels
            and data.equals(self.data)
        ):
            return  # nothing changed: no remount, no flicker
        self.labels = labels
        self._put(data, keys, keep)

    def append(self, rows: Sequence[Sequence[str]], keys: Sequence[str]) -> None:
        """Add rows at the end (the next page); the cursor stays on its row."""
        if self.data is None:
            self.show(self.labels, rows, keys)
            return
        self._put(
            pa.concat_tables([self.data, self._arrow(rows, len(self.labels))]),
            self.keys + list(keys),
            None,
            swap=False,
        )

    @staticmethod
    def _arrow(rows: Sequence[Sequence[str]], width: int) -> pa.Table:
        columns = {f"c{i}": [row[i] for row in rows] for i in range(width)}
        table = pa.table(columns, schema=pa.schema([(k, pa.string()) for k in columns]))
        for i, column in enumerate(table.columns):
            if pc.any(pc.match_substring_regex(column, PATTERN)).as_py():
                shown = [None if v is None else printable(v) for v in column.to_pylist()]
                table = table.set_column(i, table.field(i), pa.array(shown, pa.string()))
        return table

    def _put(self, data: pa.Table, keys: list[str], keep: str | None, *, swap: bool = True) -> None:
        before = self.current_key()
        self._place(data, keys, keep, swap=swap)
        after = self.current_key()
        if before is not None and after != before:
            self._moves.append((time.monotonic(), before, after))

    def _place(self, data: pa.Table, keys: list[str], keep: str | None, *, swap: bool) -> None:
        position = self.table.cursor_row if self.table is not None else 0
        # Where the cursor sits in the viewport, so it stays there when rows arrive above.
        from_top = position - round(self.table.scroll_y) if self.table is not None else None
        if keep is None and position == 0 and from_top == 0 and not self.pinned:
            keep = ""  # watching the top: stay there and let new rows come in under it
        if keep is None:
            keep = self.current_key()
            if self.pinned and keep is not None and keep not in keys:
                # the pinned row left the view: no other row is pinned in its place, and
                # `left` says which went (the pane says so)
                self.pinned, self.left = False, keep
        elif keep == "":
            position, from_top = 0, None  # start at the top
        had_focus = self.has_focus or (self.table is not None and self.table.has_focus)
        self.keys = keys
        if (
            swap
            and self.table is not None
            and keys
            and list(self.table._column_labels or []) == self.labels
        ):
            # Same columns: the rows are swapped under the table that is there. No remount,
            # no focus change (which makes the footer rebuild), no full layout: a live
            # refresh costs a repaint, not a new widget.
            self.data = data
            self._swap(self.table, data)
            if keep is not None and keep in self.keys:
                position = self.keys.index(keep)
            position = min(position, len(self.keys) - 1)
            self.table.move_cursor(row=position, column=0, animate=False)
            if from_top is not None:
                self._keep_place(self.table, position, max(0, position - from_top))
            return
        # The new child is mounted and focused before the old one goes, so focus moves once.
        old = list(self.children)
        if not keys:
            self.table = self.data = None
            self.mount(Static(self.empty, classes="empty"))
            if had_focus:
                self.focus()  # keep the keys of the pane around it working
            self.remove_children(old)
            return
        self.data = data
        table = DataTable(
            backend=ArrowBackend(data),
            column_labels=self.labels,
            cursor_type="row",
            zebra_stripes=True,
            show_row_labels=False,
            max_column_content_width=self.max_width,
        )
        table.vertical_scrollbar.renderer = WholeCells
        table.horizontal_scrollbar.renderer = WholeCells
        self.table = table
        self.mount(table)
        if keep is not None and keep in self.keys:
            position = self.keys.index(keep)
        position = min(position, len(self.keys) - 1)
        table.move_cursor(row=position, column=0, animate=False)
        if from_top is not None:
            self._keep_place(table, position, max(0, position - from_top))
        if had_focus:
            table.focus()
        self.remove_children(old)

    @staticmethod
    def _swap(table: DataTable, data: pa.Table) -> None:
        """Give `table` new rows of the same columns. fastdatatable has no public way to do
        this (its `clear` says: remount); its own backend is replaced and the caches that
        depend on the data are dropped, as `update_cell` does for one cell."""
        backend = ArrowBackend(data)
        backend.render_markup = True
        table.backend = backend
        table._ordered_columns = None
        table._clear_caches()
        table._require_update_dimensions = True
        table.refresh()

    def _keep_place(self, table: DataTable, row: int, top: int, tries: int = 3) -> None:
        """Scroll so that `row` is where it was on screen, once the new table is laid out
        (the table scrolls its cursor into view on its own during its first refreshes, so
        this is applied again on the next ones, unless the operator has moved since)."""

        def apply() -> None:
            if table is not self.table or table.cursor_row != row:
                return
            table.scroll_to(y=top, animate=False, immediate=True)
            if tries > 1:
                self._keep_place(table, row, top, tries - 1)

        table.call_after_refresh(apply)

    def cells(self, key: str) -> list[str] | None:
        """The cells (as markup) of the row with `key`, or None."""
        if self.data is None or key not in self.keys:
            return None
        return list(self.data.slice(self.keys.index(key), 1).to_pylist()[0].values())

    def current_key(self) -> str | None:
        if self.table is None or not self.keys:
            return None
        row = self.table.cursor_row
        return self.keys[row] if 0 <= row < len(self.keys) else None

    def seen_at(self, pressed: float) -> str | None:
        """The key of the row under the cursor as the operator saw it when a key was pressed
        at `pressed` (monotonic, as `events.Key.time`): a row a refresh brought under the
        cursor less than `SEEN_S` before was not seen yet, so the row it replaced is meant.
        A move by the operator since a refresh ends the search: their own cursor is meant."""
        key = self.current_key()
        for at, left, arrived in reversed(self._moves):
            if arrived != key or at <= pressed - SEEN_S:
                break
            key = left
        return key

    def pin(self, key: str) -> None:
        """Keep the cursor on `key`'s row from now on (no tail mode), and put it there."""
        self.pinned, self.left = True, None
        if self.table is not None and key in self.keys:
            self.table.move_cursor(row=self.keys.index(key), column=0, animate=False)

    def follow(self) -> None:
        """Back to the first row, following what is newest."""
        self.pinned, self.left = False, None
        if self.table is not None and self.keys:
            self.table.move_cursor(row=0, column=0, animate=False)
            self.table.scroll_to(y=0, animate=False)

    def focus_table(self) -> None:
        """Focus now (not after the next refresh, as `focus()` does): a key pressed right
        after, say the Enter that follows the filter's Enter, goes to the table."""
        target = self.table if self.table is not None else self
        if target.is_attached:
            self.screen.set_focus(target)
        else:
            target.focus()
