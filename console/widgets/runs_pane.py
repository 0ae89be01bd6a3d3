"""The Runs pane: the run history with status, duration, touches, scope and approvals."""

from __future__ import annotations

from dataclasses import dataclass

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
from queries.runs import RunFilter

#: (label, sort key) for each column of the pane.
COLUMNS = (  # what an investigator looks at first comes first (narrow terminals)
    ("RUN", "run_id"),
    ("WORKFLOW", "workflow"),
    ("STATUS", "status"),
    ("OUT OF SCOPE", "out_of_scope"),
    ("PENDING", "pending_approvals"),
    ("STARTED (UTC)", "started_at"),
    ("DURATION", "duration_s"),
    ("STEPS", "steps"),
    ("TOUCHED", "touched"),
    ("ENV", "environment"),
    ("IDENTITY", "identity"),
)
SORT_KEYS = tuple(key for _, key in COLUMNS)
#: Rows shown at once; narrow with `/` to see others.
PAGE = 5000
LIVE = {"running", "awaiting_approval", "paused"}
NO_RUNS = "No runs in this store yet. Load logs with `quarterdeck ingest PATH`."


@dataclass(frozen=True)
class RunsView:
    """What the pane shows: filter text (a leading `!` inverts) and sort order."""

    text: str = ""
    sort: str = "started_at"
    descending: bool = True

    def where(self) -> RunFilter:
        text = self.text.strip()
        invert = text.startswith("!")
        text = text.removeprefix("!").strip()
        return RunFilter(text=text or None, invert=invert)


class RunsPane(Vertical, can_focus=False):
    """Run history. Enter opens a run; `/` filters; `s`/`S` sort."""

    HELP = (
        "Every run, newest first. Status is derived from the run's events in time order: "
        "the latest run.finished wins, else paused, awaiting approval, stale (no event for "
        "the configured time) or running. OUT OF SCOPE counts touches no grant of the run's "
        "scope covers."
    )

    BINDINGS = [
        Binding("slash", "filter", "Filter", id="runs.filter"),
        Binding("s", "sort_next", "Sort", id="runs.sort"),
        Binding("S", "sort_reverse", "Reverse sort", id="runs.sort_reverse"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="runs.clear_filter"),
    ]

    class OpenRun(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    class Loaded(Message):
        def __init__(self, table: pa.Table, view: RunsView) -> None:
            super().__init__()
            self.table = table
            self.view = view

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reader = reader
        self.view = RunsView()
        self._debounce: Timer | None = None
        self._shown_view: RunsView | None = None
        self.shown = 0

    def compose(self) -> ComposeResult:
        yield Static("Runs", id="runs-title", classes="pane-title")
        box = Input(
            placeholder="filter: run, workflow, status, identity, env  (! inverts, Enter keeps, "
            "Esc clears)",
            id="runs-filter",
        )
        box.display = False  # shown by `/`
        yield box
        yield TableView(empty=NO_RUNS, id="runs-table")

    def on_mount(self) -> None:
        self.reload()

    # --- loading ------------------------------------------------------------------------

    def reload(self) -> None:
        self._load(self.view)

    @work(thread=True, exclusive=True, group="runs", exit_on_error=False)
    def _load(self, view: RunsView) -> None:
        table = self.reader.run_history(
            view.where(), sort=view.sort, descending=view.descending, limit=PAGE
        )
        self.post_message(self.Loaded(table, view))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        records = message.table.to_pylist()
        rows = [self._row(r) for r in records]
        view = message.view
        filtered = bool(view.text.strip())
        table = self.query_one(TableView)
        table.empty = (
            f"No runs match the filter {cells.text(view.text.strip())!r}. Esc clears it."
            if filtered else NO_RUNS
        )
        # a new filter or order starts at the top; a refresh keeps the cursor on its run
        changed = self._shown_view is not None and view != self._shown_view
        self._shown_view = view
        table.show([label for label, _ in COLUMNS], rows, [r["run_id"] for r in records],
                   keep="" if changed else None)
        self.shown = len(records)
        self._retitle()
        if self.screen.focused is None:
            self.focus_table()

    @staticmethod
    def _row(r: dict[str, object]) -> list[str]:
        live = r["status"] in LIVE
        return [
            cells.text(r["run_id"]),
            cells.text(r["workflow"]),
            cells.status(r["status"]),  # type: ignore[arg-type]
            cells.count(r["out_of_scope"], alarm=True),  # type: ignore[arg-type]
            f"[bold yellow]{r['pending_approvals']} pending[/]" if r["pending_approvals"]
            else "",
            cells.when(r["started_at"]),  # type: ignore[arg-type]
            cells.seconds(r["duration_s"], live=live),  # type: ignore[arg-type]
            cells.text(r["steps"]) + (f" [red]({r['step_errors']} err)[/]"
                                      if r["step_errors"] else ""),
            cells.text(r["touched"]) + (f" [bold red]({r['deletes']} del)[/]"
                                        if r["deletes"] else ""),
            cells.text(r["environment"]),
            cells.text(r["identity"]),
        ]

    def _retitle(self) -> None:
        view = self.view
        label = next(lbl for lbl, key in COLUMNS if key == view.sort)
        arrow = "↓" if view.descending else "↑"
        parts = [f"[b]Runs[/] [dim][1][/]  {self.shown:,} shown"]
        if self.shown >= PAGE:
            parts.append(f"[yellow](the first {PAGE:,}; narrow with /)[/]")
        parts.append(f"· sorted by {label.lower()} {arrow}")
        if view.text.strip():
            parts.append(f"· filter [b]{cells.text(view.text)}[/]")
        self.query_one("#runs-title", Static).update(" ".join(parts))

    # --- actions ------------------------------------------------------------------------

    def current_run(self) -> str | None:
        return self.query_one(TableView).current_key()

    def focus_table(self) -> None:
        self.query_one(TableView).focus_table()

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        # Focus now, not after the next refresh: keys typed right after `/` belong to it.
        self.screen.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        had = bool(box.value) or box.display
        box.value = ""
        box.display = False
        if self.view.text:
            self._apply(RunsView("", self.view.sort, self.view.descending))
        if had:
            self.focus_table()

    def action_sort_next(self) -> None:
        index = (SORT_KEYS.index(self.view.sort) + 1) % len(SORT_KEYS)
        self._apply(RunsView(self.view.text, SORT_KEYS[index], True))

    def action_sort_reverse(self) -> None:
        self._apply(RunsView(self.view.text, self.view.sort, not self.view.descending))

    def _apply(self, view: RunsView) -> None:
        self.view = view
        self._retitle()
        self.reload()

    @on(Input.Changed, "#runs-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        self._debounce = self.set_timer(
            0.15, lambda: self._apply(RunsView(value, self.view.sort, self.view.descending))
        )

    @on(Input.Submitted, "#runs-filter")
    def _filter_kept(self, event: Input.Submitted) -> None:
        if not event.value.strip():
            event.input.display = False
        self.focus_table()

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        run_id = self.current_run()
        if run_id:
            self.post_message(self.OpenRun(run_id))

    @on(DataTable.HeaderSelected)
    def _sort_by_header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        key = COLUMNS[event.column_index][1]
        descending = not self.view.descending if key == self.view.sort else True
        self._apply(RunsView(self.view.text, key, descending))
