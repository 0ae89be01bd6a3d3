"""The Triggers pane: every rollback rule with its phase, value, threshold and recent values."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual.binding import Binding
from textual.message import Message

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, filter_rows
from quarterdeck.console.messages import TripDecisionWanted, want_decision
from quarterdeck.console.widgets.pane import Page, Pane
from quarterdeck.formats import number
from quarterdeck.queries.columns import TRIGGERS, without
from quarterdeck.queries.triggers import window_text

#: The trigger columns but RUNS: RUNS/MIN shows the runs in the window against min_runs.
SHOWN = without(TRIGGERS, "runs_in_window")
PHASE_ORDER = {"tripped": 0, "error": 1, "warning": 2, "inconclusive": 3, "ok": 4, None: 5}


@dataclass(frozen=True)
class TriggersView:
    text: str = ""


def value_text(value: float | None) -> str:
    """A value rounded for a person, as the report and the CLI round it."""
    return "[dim]–[/]" if value is None else number(value)


class TriggersPane(Pane):
    """The rules from quarterdeck.toml, most urgent first."""

    LABELS = tuple(c.header for c in SHOWN)
    TITLE = "Triggers"
    KEY = "4"
    FILTER_HINT = "filter: trigger, metric, workflow, phase"
    EMPTY = (
        "No rollback triggers are configured. Add [[trigger]] rules to quarterdeck.toml "
        "(README: Rollback triggers)."
    )
    HELP = (
        "Every rollback trigger, most urgent first: Tripped, Error, Warning (80 % of the "
        "threshold), Inconclusive (fewer runs in the window than min_runs), OK. Rules are "
        "evaluated every few seconds and each evaluation is kept: RECENT is its latest values. "
        "Enter shows the evidence: the runs and touches behind the value. A trip asks for "
        "the rule's decision (or takes it, with auto = true); d asks again for a tripped "
        "rule that has not been decided."
    )

    # priority: see `pressed` (the keys typed after it are its dialog's)
    BINDINGS = [Binding("d", "decide_trip", "Decide", id="triggers.decide", priority=True)]

    class OpenTrigger(Message):
        def __init__(self, name: str) -> None:
            super().__init__()
            self.name = name

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, TriggersView(), id=id)

    def fetch(self, view: TriggersView, page: Page) -> pa.Table:
        table = self.reader.trigger_status()
        rows = filter_rows(
            table.to_pylist()[page.offset :], view.text, ("name", "metric", "workflow", "phase")
        )
        rows.sort(key=lambda r: (PHASE_ORDER.get(r["phase"], 5), r["name"]))
        return pa.Table.from_pylist(rows[: page.limit], schema=table.schema)

    def key(self, record: dict[str, Any]) -> str:
        return record["name"]

    def row(self, t: dict[str, Any]) -> list[str]:
        scope = " · ".join(x for x in (t["workflow"], t["environment"]) if x) or "all"
        sign = "<" if t["below"] else ">"
        phase = cells.status(t["phase"] or "not yet evaluated")
        if t["phase"] == "tripped" and t["name"] in self._waiting():
            phase += " [b]· undecided[/] [dim]— d to decide[/]"
        cell = {
            "phase": phase,
            "name": f"[b]{cells.text(t['name'])}[/]",
            "metric": f"{cells.text(t['metric'])} [dim]({cells.text(scope)})[/]",
            "value": value_text(t["value"]),
            "threshold": f"{sign} {number(t['threshold'])}",
            "window": window_text(t["window_s"]),
            "min_runs": f"{t['runs_in_window'] if t['runs_in_window'] is not None else ''}"
            f"[dim]/{t['min_runs']}[/]",
            "history": cells.sparkline(t["history"]),
            "evaluated_at": cells.when(t["evaluated_at"]),
            "changed_at": cells.when(t["changed_at"]),
            "on_trip": cells.text(t["on_trip"]) + (" [b](auto)[/]" if t["auto"] else ""),
            "reason": cells.text(t["reason"]),
        }
        return [cell[c.key] for c in SHOWN]

    def _waiting(self) -> set[str]:
        """The rules whose trip waits for this operator's decision (see `triggers_flow`)."""
        flow = getattr(self.app, "triggers_flow", None)
        return set(flow.waiting) if flow is not None else set()

    def open(self, key: str) -> None:
        self.post_message(self.OpenTrigger(key))

    def action_decide_trip(self) -> None:
        record = self.current_record()
        if record is None:
            self.app.notify("no rule here to decide", severity="warning", timeout=5)
        else:
            want_decision(self, TripDecisionWanted(record["name"]))
