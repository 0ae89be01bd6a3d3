"""Decisions: every decision recorded here, newest first, and how far each has got —
recorded (in the journal and the store) → delivered (in the outbox runners read) → applied or
refused (the runners' `control.applied`; for an approval, the runner logging the decision) —
with how many of its runs answered how. Enter on a decision opens its outcome run by run
(`OutcomesScreen`): which runs applied it, which refused it and what the runner said, which
have not acknowledged it yet; a screen of its own, because a workflow decision can cover more
runs than a row can name. Both read named queries, so they work through the server."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader
from quarterdeck.console.screens.base import DataScreen, crumbs
from quarterdeck.console.screens.touch import open_run
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.columns import DECISION_OUTCOMES, DECISIONS

STATE_STYLE = {
    "recorded": "yellow",
    "delivered": "cyan",
    "applied": "green",
    "partly applied": "bold yellow",
    "refused": "bold red",
    "not acknowledged": "yellow",
}
LABELS = tuple(c.header for c in DECISIONS)
#: The RUN of the workflow's own answer (a runner's acknowledgement that names no run).
WHOLE = "(the workflow)"
#: Why a run the decision did not name has an outcome (NAMED no), short and in full.
LATER = "started after"
LATER_WHY = (
    "they started after the decision was planned, and the runner applied the workflow's "
    "decision to them too (a workflow paused or rolled back holds its new runs until a resume)"
)


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
            "answers": cells.text(d["answers"]),
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
        "outbox) → applied or refused (the runner's acknowledgement); RUNS ANSWERED counts its "
        "runs by outcome. Enter opens a decision's outcome run by run, with what each runner "
        "said. The command quarterdeck decisions prints the same (--outcomes N for one "
        "decision's runs); quarterdeck verify proves the journal was not altered."
    )

    BINDINGS = [Binding("enter", "outcomes", "Outcome per run", id="decisions.outcomes")]

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
            f"[b]Decisions[/]  {len(rows):,} recorded · [dim]Enter: its outcome per run[/]"
        )
        self.query_one(TableView).focus_table()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_outcomes()

    def action_outcomes(self) -> None:
        key = self.query_one(TableView).current_key()
        if key:
            self.app.push_screen(OutcomesScreen(self.reader, key))


class OutcomesScreen(DataScreen):
    HELP_TITLE = "Decision outcome"
    HELP = (
        "One decision's outcome run by run: applied, refused (with what the runner said), or "
        "not acknowledged yet (its runner has not answered: it may be gone, or slow). Refused "
        "runs come first, after the workflow's own answer (RUN " + WHOLE + ": a rollout's new "
        "weights, or a workflow pause holding the runs that start later). NAMED no means "
        "the decision did not name the run: " + LATER_WHY + ". "
        "r opens the run."
    )

    BINDINGS = [Binding("r", "run", "Run detail", id="outcomes.run")]

    def __init__(self, reader: StoreReader, decision_id: str) -> None:
        super().__init__(reader)
        self.decision_id = decision_id

    def compose(self) -> ComposeResult:
        yield crumbs("Decisions", self.decision_id)
        yield Static("", id="outcomes-title", classes="pane-title")
        yield TableView(
            empty="The decision names no run, and no runner has acknowledged it.",
            id="outcomes-table",
        )
        yield Footer()

    def fetch(self) -> tuple[pa.Table, pa.Table]:
        """Its runs, and the decision as the Decisions view lists it (its counts)."""
        return (
            self.reader.decision_outcomes(self.decision_id),
            self.reader.decisions(decision=self.decision_id, limit=1),
        )

    def show(self, data: tuple[pa.Table, pa.Table]) -> None:
        table, listed = data
        records = table.to_pylist()
        rows = [
            [
                cells.text(o["run_id"]) if o["run_id"] else f"[dim]{WHOLE}[/]",
                cells.text(o["workflow"]),
                state(o["outcome"]),
                cells.when(o["acked_at"]),
                cells.text(o["detail"]),
                "yes" if o["named"] else f"[dim]no: {LATER}[/]",
            ]
            for o in records
        ]
        view = self.query_one(TableView)
        view.show([c.header for c in DECISION_OUTCOMES], rows, [o["run_id"] or "" for o in records])
        decision = listed.to_pylist()[0] if listed.num_rows else None
        said = cells.text(decision["answers"]) if decision and decision["answers"] else "no run"
        later = sum(not o["named"] for o in records)
        note = (
            f"\n[dim]NAMED no: {later:,} run{'s' if later != 1 else ''} the decision did not "
            f"name — {LATER_WHY}[/]"
            if later
            else ""
        )
        self.query_one("#outcomes-title", Static).update(
            cells.content(f"[b]Outcome per run[/]  {said}{note}")
        )
        view.focus_table()

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_run()

    def action_run(self) -> None:
        key = self.query_one(TableView).current_key()
        if key:
            open_run(self, key)
        elif key == "":  # (None: no row at all)
            self.notify(
                f"this row {WHOLE} is the workflow's own answer: it has no run to open",
                severity="warning",
                timeout=5,
            )
