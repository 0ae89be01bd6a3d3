"""Quarantined input: every line the ingester rejected, where it was, and why."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

import pyarrow as pa

from console import cells
from console.data import StoreReader
from console.widgets.table import TableView

LIMIT = 1000


class QuarantineScreen(Screen[None]):
    AUTO_FOCUS = ""  # the table takes focus once it has rows
    HELP = (
        "Lines the ingester could not accept, newest first: the file, line and byte offset, "
        "the error class and what to fix. The rest of each file was loaded. "
        "`quarterdeck quarantine --format json` prints the same."
    )

    BINDINGS = [Binding("escape", "back", "Back", id="quarantine.back")]

    def __init__(self, reader: StoreReader) -> None:
        super().__init__()
        self.reader = reader

    def compose(self) -> ComposeResult:
        yield Static("[b]Quarterdeck[/]  [dim]›[/]  Quarantine", id="crumbs")
        yield Static("", id="quarantine-title", classes="pane-title")
        yield TableView(empty="Nothing quarantined: every line read so far was valid.")
        yield Footer()

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="quarantine", exit_on_error=False)
    def _load(self) -> None:
        table = self.reader.quarantined(limit=LIMIT)
        self.app.call_from_thread(self._show, table)

    def _show(self, table: pa.Table) -> None:
        labels = ["SOURCE", "LINE", "OFFSET", "CLASS", "ERROR", "SIZE", "LINE AS READ"]
        rows, keys = [], []
        for q in table.to_pylist():
            rows.append([
                cells.text(q["source"]), str(q["line"]), str(q["offset"]),
                f"[yellow]{cells.text(q['error_class'])}[/]", cells.text(q["error"]),
                f"{q['raw_size']:,} B", f"[dim]{cells.text(q['raw'][:200])}[/]",
            ])
            keys.append(f"{q['source']}:{q['offset']}")
        self.query_one(TableView).show(labels, rows, keys)
        more = " (the newest 1,000)" if len(rows) >= LIMIT else ""
        self.query_one("#quarantine-title", Static).update(
            f"[b]Quarantine[/]  {len(rows):,} lines{more}"
        )
        self.query_one(TableView).focus_table()

    def action_back(self) -> None:
        self.app.pop_screen()
