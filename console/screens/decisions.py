"""Decisions: every decision recorded here, newest first, and how far each has got —
recorded (in the journal and the store) → delivered (in the outbox runners read) → applied or
refused (the runners' `control.applied`; for an approval, the runner logging the decision)."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from textual.app import ComposeResult
from textual.widgets import Footer, Static

from quarterdeck.console import cells
from quarterdeck.console.screens.base import DataScreen, crumbs
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.columns import DECISIONS

STATE_STYLE = {
    "recorded": "yellow",
    "delivered": "cyan",
    "applied": "green",
    "partly applied": "bold yellow",
    "refused": "bold red",
}
LABELS = tuple(c.header for c in DECISIONS)


def state(value: str) -> str:
    return f"[{STATE_STYLE.get(value, 'white')}]{cells.text(value)}[/]"


def decision_rows(table: pa.Table) -> tuple[list[list[str]], list[str]]:
    """Rows for a table of decisions (this screen, and a run's Decisions tab)."""
    rows, keys = [], []
    for d in table.to_pylist():
        runs: list[Any] = d["runs"] or []
        shown = ", ".join(runs[:3]) + (f" +{len(runs) - 3}" if len(runs) > 3 else "")
        cell = {
            "seq": str(d["seq"]),
            "decided_at": cells.when(d["decided_at"]),
            "operator": cells.text(d["operator"]),
            "action": f"[b]{cells.text(d['action'])}[/]",
            "target": cells.text(d["target"]),
            "runs": cells.text(shown),
            "state": state(d["state"]),
            "delivered_at": cells.when(d["delivered_at"]),
            "acked_at": cells.when(d["acked_at"]),
            "reason": cells.text(d["reason"]),
            "detail": cells.text(d["detail"]),
        }
        rows.append([cell[c.key] for c in DECISIONS])
        keys.append(d["decision_id"])
    return rows, keys


class DecisionsScreen(DataScreen):
    HELP_TITLE = "Decisions"
    HELP = (
        "Every decision taken here, newest first: who, when, what, on which runs and why, and "
        "its lifecycle: recorded (journal and store) → delivered (written to the control "
        "outbox) → applied or refused (the runner's acknowledgement). The command quarterdeck "
        "decisions prints the same; quarterdeck verify proves the journal was not altered."
    )

    def compose(self) -> ComposeResult:
        yield crumbs("Decisions")
        yield Static("", id="decisions-title", classes="pane-title")
        yield TableView(empty="No decision has been taken in this store.", id="decisions-table")
        yield Footer()

    def fetch(self) -> pa.Table:
        return self.reader.decisions()

    def show(self, table: pa.Table) -> None:
        rows, keys = decision_rows(table)
        self.query_one(TableView).show(LABELS, rows, keys)
        self.query_one("#decisions-title", Static).update(
            f"[b]Decisions[/]  {len(rows):,} recorded"
        )
        self.query_one(TableView).focus_table()
