"""One touch in detail (the change and what covered it), and a record's lineage.

From either the operator goes on with the same keys as everywhere a touch is listed: `r`
opens the run that made the touch (the lineage's row), `t` the record's lineage, and Enter
on a lineage row opens that touch. (`r` imports the run detail where it is pressed: the run
detail lists touches and opens this screen, so importing it here at the top would be a
cycle.)"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader
from quarterdeck.console.diff import diff
from quarterdeck.console.screens.base import DataScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.columns import TOUCHES, pick

KIND_STYLE = {"added": "green", "removed": "red", "changed": "yellow", "same": "dim"}


def _value(value: Any) -> str:
    if value is None:
        return ""
    return cells.text(value if isinstance(value, str) else json.dumps(value))


class TouchScreen(DataScreen):
    HELP_TITLE = "Touch"
    HELP = (
        "One touch: which run and step made it, the record, the action, whether a grant of "
        "the run's scope covered it (and which), and the change field by field. r opens the "
        "run, t the record's lineage (every run that touched it)."
    )

    BINDINGS = [
        Binding("r", "run", "Run detail", id="touch.run"),
        Binding("t", "lineage", "Record lineage", id="touch.lineage"),
    ]

    def __init__(self, reader: StoreReader, event_id: str) -> None:
        super().__init__(reader)
        self.event_id = event_id
        self.touch: dict[str, Any] | None = None

    def compose(self) -> ComposeResult:
        yield Static("[b]Quarterdeck[/]  [dim]›[/]  Touched  [dim]›[/]  touch", id="crumbs")
        yield Static("loading…", id="touch-facts")
        yield TableView(empty="The touch records no before/after values.", id="diff-table")
        yield Footer()

    def fetch(self) -> dict[str, Any] | None:
        return self.reader.touch_detail(self.event_id)

    def show(self, touch: dict[str, Any] | None) -> None:
        self.touch = touch
        facts = self.query_one("#touch-facts", Static)
        if touch is None:
            facts.update("[bold red]This touch is no longer in the store.[/]")
            return
        record = "/".join(
            cells.text(p)
            for p in (touch["system"], touch["object"], touch["record_id"] or "[bulk]")
        )
        scope = touch["scope"]
        if touch["in_scope"] is None:
            verdict = "[bold yellow]scope unknown[/] (the run's run.started has not been seen)"
        elif touch["in_scope"]:
            verdict = "[green]in scope[/], covered by " + ", ".join(
                cells.text(g) for g in touch["covered_by"] or []
            )
        else:
            verdict = (
                "[bold red]⚠ OUT OF SCOPE[/]: no grant of the run covers it; it needed "
                f"[b]{cells.text(touch['needed_grant'])}[/]"
            )
        step = cells.text(touch["step_id"] or "")
        if touch["step_name"]:
            step += f" ({cells.text(touch['step_name'])})"
        lines = [
            f"[b]{record}[/]  {cells.action(touch['action'])}  at {cells.when(touch['ts'])}Z",
            f"run [b]{cells.text(touch['run_id'])}[/] · {cells.text(touch['workflow'])} · as "
            f"{cells.text(touch['identity'])} · step {step}",
            verdict,
            "scope " + (", ".join(cells.text(g) for g in scope) if scope else "[dim]none[/]"),
        ]
        extra = []
        if touch["fields"]:
            extra.append("fields " + ", ".join(cells.text(f) for f in touch["fields"]))
        if touch["record_count"] is not None:
            extra.append(f"{touch['record_count']:,} records")
        if touch["classification"]:
            extra.append(f"[magenta]{cells.text(touch['classification'])}[/]")
        if extra:
            lines.append(" · ".join(extra))
        facts.update(cells.content("\n".join(lines)))
        rows, keys = [], []
        for change in diff(touch["before"], touch["after"]):
            style = KIND_STYLE[change.kind]
            rows.append(
                [
                    cells.text(change.field),
                    f"[{style}]{change.kind}[/]",
                    _value(change.before),
                    _value(change.after),
                ]
            )
            keys.append(change.field)
        table = self.query_one(TableView)
        table.show(["FIELD", "CHANGE", "BEFORE", "AFTER"], rows, keys)
        table.focus_table()

    def action_lineage(self) -> None:
        touch = self.touch
        if touch and touch["record_id"]:
            self.app.push_screen(
                LineageScreen(self.reader, touch["system"], touch["object"], touch["record_id"])
            )
        elif touch:
            self.notify("a bulk touch names no single record", severity="warning")

    def action_run(self) -> None:
        if self.touch:
            open_run(self, str(self.touch["run_id"]))


def open_touch(screen: DataScreen, view: TableView) -> None:
    """Push the touch under `view`'s cursor (its rows keyed by event id) over `screen`."""
    key = view.current_key()
    if key:
        screen.app.push_screen(TouchScreen(screen.reader, key))


def open_run(screen: DataScreen, run_id: str) -> None:
    """Push the run detail of `run_id` over `screen`."""
    from quarterdeck.console.screens.run_detail import RunDetailScreen  # (see the docstring)

    screen.app.push_screen(RunDetailScreen(screen.reader, run_id))


#: One record's touches: who touched it and how (the record itself is in the title).
LINEAGE = pick(TOUCHES, "ts", "run_id", "workflow", "identity", "action", "in_scope", "change")


class LineageScreen(DataScreen):
    HELP_TITLE = "Record lineage"
    HELP = (
        "Every run that ever touched this record, in time order, with the action, whether it "
        "was in scope, and the change it made: the record's history across runs. Enter opens "
        "a touch, r its run."
    )
    HELP_KEYS = (("enter", "open the touch under the cursor"),)

    BINDINGS = [Binding("r", "run", "Run detail", id="lineage.run")]

    def __init__(self, reader: StoreReader, system: str, obj: str, record_id: str) -> None:
        super().__init__(reader)
        self.record = (system, obj, record_id)
        self.touches: list[dict[str, Any]] = []

    def compose(self) -> ComposeResult:
        name = "/".join(cells.text(p) for p in self.record)
        yield Static(
            cells.content(f"[b]Quarterdeck[/]  [dim]›[/]  Lineage  [dim]›[/]  {name}"), id="crumbs"
        )
        yield Static("", id="lineage-title", classes="pane-title")
        yield TableView(empty="No run has touched this record.")
        yield Footer()

    def fetch(self) -> pa.Table:
        return self.reader.lineage(*self.record)

    def show(self, table: pa.Table) -> None:
        records = self.touches = table.to_pylist()
        view = self.query_one(TableView)
        view.show(
            [c.header for c in LINEAGE],
            [cells.touch_row(t, LINEAGE) for t in records],
            [t["event_id"] for t in records],
        )
        runs = len({t["run_id"] for t in records})
        touches = f"{len(records)} touch{'es' if len(records) != 1 else ''}"
        self.query_one("#lineage-title", Static).update(
            cells.content(
                f"[b]{'/'.join(cells.text(p) for p in self.record)}[/]  {touches} "
                f"by {runs} run{'s' if runs != 1 else ''}, oldest first"
            )
        )
        view.focus_table()

    def _current(self) -> dict[str, Any] | None:
        key = self.query_one(TableView).current_key()
        return next((t for t in self.touches if t["event_id"] == key), None) if key else None

    @on(DataTable.RowSelected)
    def _open_touch(self, event: DataTable.RowSelected) -> None:
        event.stop()
        open_touch(self, self.query_one(TableView))

    def action_run(self) -> None:
        touch = self._current()
        if touch:
            open_run(self, str(touch["run_id"]))
