"""One trigger's evidence: the rule, its value now, and the runs and touches behind it."""

from __future__ import annotations

import pyarrow as pa
from textual.app import ComposeResult
from textual.widgets import Static

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, TriggerEvidence
from quarterdeck.console.screens.base import crumbs
from quarterdeck.console.screens.run_detail import touch_rows
from quarterdeck.console.screens.two_tables import TwoTablesScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.triggers_pane import value_text
from quarterdeck.queries.columns import RUNS, pick
from quarterdeck.queries.triggers import window_text

#: The runs behind a value: when each ran and what it touched, beside its status.
RUN_COLUMNS = pick(
    RUNS,
    "run_id",
    "workflow",
    "status",
    "started_at",
    "duration_s",
    "out_of_scope",
    "touched",
    "environment",
)


def run_rows(
    runs: pa.Table, marks: dict[str, str] | None = None
) -> tuple[list[str], list[list[str]], list[str]]:
    """Runs as the evidence tables show them: labels, rows, keys (a run's mark after its id)."""
    rows, keys = [], []
    for r in runs.to_pylist():
        cell = {
            "run_id": cells.text(r["run_id"]) + (marks or {}).get(r["run_id"], ""),
            "workflow": cells.text(r["workflow"]),
            "status": cells.status(r["status"]),
            "started_at": cells.when(r["started_at"]),
            "duration_s": cells.seconds(r["duration_s"]),
            "out_of_scope": cells.count(r["out_of_scope"], alarm=True),
            "touched": str(r["touched"]),
            "environment": cells.text(r["environment"]),
        }
        rows.append([cell[c.key] for c in RUN_COLUMNS])
        keys.append(r["run_id"])
    return [c.header for c in RUN_COLUMNS], rows, keys


class TriggerScreen(TwoTablesScreen):
    HELP_TITLE = "Trigger"
    HELP = (
        "One rollback trigger evaluated now: the rule, its value against the threshold over "
        "the window, and the evidence — the runs that produced the value and, for the touch "
        "metrics, the touches. Tab moves between them; Enter opens a run or a touch."
    )

    FIRST = ("runs-table", "No run is behind the value.")
    TOUCHES_EMPTY = "This metric is not about touches."
    FACTS_ID = "trigger-facts"

    def __init__(self, reader: StoreReader, name: str) -> None:
        super().__init__(reader)
        self.trigger_name = name

    def compose(self) -> ComposeResult:
        yield crumbs("Triggers", self.trigger_name)
        yield from self.tables()

    def fetch(self) -> TriggerEvidence | None:
        return self.reader.trigger_evidence(self.trigger_name)

    def show(self, found: TriggerEvidence | None) -> None:
        facts = self.query_one("#trigger-facts", Static)
        if found is None:
            facts.update(
                cells.content(
                    f"[bold red]No trigger {cells.text(self.trigger_name)} is configured.[/]"
                )
            )
            return
        rule, ev = found.rule, found.evaluation
        scope = " · ".join(x for x in (rule.workflow, rule.environment) if x) or "every workflow"
        sign = "<" if rule.below else ">"
        facts.update(
            cells.content(
                "\n".join(
                    [
                        f"[b]{cells.text(rule.name)}[/]  {cells.status(ev.phase)}  "
                        f"{cells.text(rule.metric)} of {cells.text(scope)} over "
                        f"{window_text(rule.window_s)} (to {cells.when(ev.at)}Z)",
                        f"value [b]{value_text(ev.value)}[/], "
                        f"trips when {sign} {value_text(rule.threshold)} · "
                        f"{ev.runs_in_window} runs in the window (min_runs {rule.min_runs}) · "
                        f"on trip: {cells.text(rule.on_trip)}"
                        f"{' (automatically)' if rule.auto else ' (asks)'}",
                        *([f"[dim]{cells.text(ev.reason)}[/]"] if ev.reason else []),
                    ]
                )
            )
        )
        runs = self.query_one("#runs-table", TableView)
        labels, rows, keys = run_rows(found.runs)
        runs.show(labels, rows, keys)
        self.query_one("#runs-title", Static).update(
            f"[b]Runs[/] behind the value: {len(keys)} · [dim]Enter opens one[/]"
        )
        touches = self.query_one("#touches-table", TableView)
        if found.touches is not None:
            touches.show(*touch_rows(found.touches))
            self.query_one("#touches-title", Static).update(
                f"[b]Touches[/] in the window: {found.touches.num_rows} · "
                "[dim]Enter shows the change[/]"
            )
        else:
            touches.display = False
        if self.focused is None:
            runs.focus_table()
