"""Quarantined input: every line the ingester rejected, where it was, and why."""

from __future__ import annotations

import pyarrow as pa
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from quarterdeck.console import cells
from quarterdeck.console.screens.base import DataScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.columns import QUARANTINE, without

LIMIT = 1000
#: A superseded line says so in its class and error cells (no column of its own, which
#: would be empty for nearly every line, at the right edge of a wide table).
SHOWN = without(QUARANTINE, "superseded_by")


class QuarantineScreen(DataScreen):
    HELP_TITLE = "Quarantine"
    HELP = (
        "Lines the ingester could not accept, latest load first, then by file and line: the "
        "file, line and byte offset, "
        "the error class and what to fix. The rest of each file was loaded. A half-written "
        "line whose completed line loaded later says `superseded`, with the event it became "
        "(and is no longer counted in the status bar). "
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
            if q["superseded_by"] is not None:  # a fragment its completed line replaced
                cell["error_class"] = f"[dim]{cells.text(q['error_class'])}[/]"
                cell["error"] = (
                    f"[green]superseded: completed later, event "
                    f"{cells.text(q['superseded_by'])}[/] [dim]{cell['error']}[/]"
                )
            rows.append([cell[c.key] for c in SHOWN])
            keys.append(f"{q['source']}:{q['offset']}")
        self.query_one(TableView).show([c.header for c in SHOWN], rows, keys)
        more = " (the newest 1,000)" if len(rows) >= LIMIT else ""
        self.query_one("#quarantine-title", Static).update(
            f"[b]Quarantine[/]  {len(rows):,} lines{more}"
        )
        self.query_one(TableView).focus_table()
