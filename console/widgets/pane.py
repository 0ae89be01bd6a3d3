"""What every pane shares: a title, a `/` filter (`!` inverts), and a table loaded in a worker.

A pane describes what it shows with a frozen `view` (a dataclass with at least `text`); a new
view is applied by `apply(view)`, which reloads. Subclasses say how to fetch a view's rows
(in a worker thread, through the reader) and how a row looks.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import pyarrow as pa
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual_fastdatatable import DataTable

from console import cells
from console.data import StoreReader
from console.widgets.table import TableView

#: Rows shown at once; narrow with `/` to see others.
PAGE = 5000
#: Fields that change only because time passes (not a change to mark).
VOLATILE = frozenset({"duration_s", "age_s", "seconds_left"})
NEW_MARK = "[b green]+[/]"
CHANGED_MARK = "[b yellow]~[/]"


class Pane(Vertical, can_focus=False):
    LABELS: ClassVar[tuple[str, ...]] = ()
    TITLE: ClassVar[str] = ""
    KEY: ClassVar[str] = ""
    FILTER_HINT: ClassVar[str] = "filter"
    EMPTY: ClassVar[str] = "Nothing to show."

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="pane.filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="pane.clear_filter"),
    ]

    class Loaded(Message):
        def __init__(self, table: pa.Table, view: Any) -> None:
            super().__init__()
            self.table = table
            self.view = view

    def __init__(self, reader: StoreReader, view: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reader = reader
        self.view = view
        self._shown_view: Any = None
        self._debounce: Timer | None = None
        self.shown = 0
        self._seen: dict[str, int] | None = None  # key -> signature, as last shown

    # --- what subclasses say --------------------------------------------------------------

    def fetch(self, view: Any) -> pa.Table:
        """Runs in a worker thread."""
        raise NotImplementedError

    def row(self, record: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def key(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def title_parts(self) -> list[str]:
        return []

    # --- the pane -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="pane-title")
        box = Input(placeholder=f"{self.FILTER_HINT}  (! inverts, Enter keeps, Esc clears)",
                    classes="pane-filter")
        box.display = False  # shown by `/`
        yield box
        yield TableView(empty=self.EMPTY)

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load(self.view)

    def apply(self, view: Any) -> None:
        self.view = view
        self._retitle()
        self.reload()

    @work(thread=True, exclusive=True, group="pane", exit_on_error=False)
    def _load(self, view: Any) -> None:
        self.post_message(self.Loaded(self.fetch(view), view))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        message.stop()
        records = message.table.to_pylist()
        view = message.view
        table = self.query_one(TableView)
        table.empty = (
            f"Nothing matches the filter {cells.text(view.text.strip())!r}. Esc clears it."
            if view.text.strip() else self.EMPTY
        )
        # a new filter or order starts at the top; a refresh keeps the cursor on its row
        changed = self._shown_view is not None and view != self._shown_view
        self._shown_view = view
        keys = [self.key(r) for r in records]
        table.show(("", *self.LABELS), self._marked(records, keys, fresh=changed), keys,
                   keep="" if changed else None)
        self.shown = len(records)
        self._retitle()
        if self.screen.focused is None and self.display:
            self.focus_table()

    def _marked(self, records: list[dict[str, Any]], keys: list[str], *,
                fresh: bool) -> list[list[str]]:
        """Rows with a first cell that marks what is new (+) or changed (~) since the last
        refresh of the same view. Marks last one refresh; a first load marks nothing."""
        signatures = [hash(repr([v for k, v in r.items() if k not in VOLATILE]))
                      for r in records]
        seen = None if fresh else self._seen
        self._seen = dict(zip(keys, signatures, strict=True))
        rows = []
        for key, signature, record in zip(keys, signatures, records, strict=True):
            before = seen.get(key) if seen is not None else signature
            mark = NEW_MARK if before is None else CHANGED_MARK if before != signature else ""
            rows.append([mark, *self.row(record)])
        return rows

    def _retitle(self) -> None:
        parts = [f"[b]{self.TITLE}[/] [dim][{self.KEY}][/]  {self.shown:,} shown"]
        if self.shown >= PAGE:
            parts.append(f"[yellow](the first {PAGE:,}; narrow with /)[/]")
        parts.extend(self.title_parts())
        if self.view.text.strip():
            parts.append(f"· filter [b]{cells.text(self.view.text)}[/]")
        self.query_one(".pane-title", Static).update(" ".join(parts))

    def current_key(self) -> str | None:
        return self.query_one(TableView).current_key()

    def focus_table(self) -> None:
        self.query_one(TableView).focus_table()

    # --- filtering ------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one(".pane-filter", Input)
        box.display = True
        # Focus now, not after the next refresh: keys typed right after `/` belong to it.
        self.screen.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one(".pane-filter", Input)
        had = bool(box.value) or box.display
        box.value = ""
        box.display = False
        if self.view.text:
            self.apply(dataclasses.replace(self.view, text=""))
        if had:
            self.focus_table()

    @on(Input.Changed, ".pane-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        self._debounce = self.set_timer(
            0.15, lambda: self.apply(dataclasses.replace(self.view, text=value))
        )

    @on(Input.Submitted, ".pane-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            event.input.display = False
        self.focus_table()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = self.current_key()
        if key:
            self.open(key)

    def open(self, key: str) -> None:
        """Enter on a row."""
