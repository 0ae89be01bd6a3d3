"""Quarantined input: every line the ingester rejected, where it was, and why."""

from __future__ import annotations

import pyarrow as pa
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from quarterdeck.console import cells
from quarterdeck.console.screens.base import DataScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.columns import QUARANTINE

LIMIT = 1000


class QuarantineScreen(DataScreen):
    HELP_TITLE = "Quarantine"
    HELP = (
        "Lines the ingester could not accept, latest load first, then by file and line: the "
        "file, line and byte offset, "
        "the error class and what to fix. The rest of each file was loaded. "
        "`quarterdeck quarantine --format json` prints the same."
    )

    def compose(self) -> ComposeResult:
        yield Static("[b]Quarterdeck[/]  [dim]›[/]  Quarantine", id="crumbs")
        yield Static("", id="quarantine-title", classes="pane-title")
        yield TableView(
            empty="Nothing quarantined: every line read so far was valid.", max_width=110
        )
        yield Footer()

    def fetch(self) -> pa.Table:
        return self.reader.quarantined(limit=LIMIT)

    def show(self, table: pa.Table) -> None:
        rows, keys = [], []
        for q in table.to_pylist():
            cell = {
                "source": cells.text(q["source"]),
                "line": str(q["line"]),
                "offset": str(q["offset"]),
                "error_class": f"[yellow]{cells.text(q['error_class'])}[/]",
                "error": cells.text(q["error"]),
                "raw_size": f"{q['raw_size']:,} B",
                "raw": f"[dim]{cells.text(q['raw'][:200])}[/]",
            }
            rows.append([cell[c.key] for c in QUARANTINE])
            keys.append(f"{q['source']}:{q['offset']}")
        self.query_one(TableView).show([c.header for c in QUARANTINE], rows, keys)
        more = " (the newest 1,000)" if len(rows) >= LIMIT else ""
        self.query_one("#quarantine-title", Static).update(
            f"[b]Quarantine[/]  {len(rows):,} lines{more}"
        )
        self.query_one(TableView).focus_table()
