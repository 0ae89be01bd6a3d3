"""The Runs pane: the run history with status, duration, touches, scope and approvals."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual import on
from textual.binding import Binding
from textual.message import Message
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, split_filter
from quarterdeck.console.messages import EvidenceWanted
from quarterdeck.console.pressed import typed_into
from quarterdeck.console.widgets.pane import Page, Pane
from quarterdeck.desk import key_state
from quarterdeck.queries.columns import RUNS
from quarterdeck.queries.runs import RunFilter

#: The keys `s` steps through, in the order of the columns.
SORT_KEYS = tuple(c.key for c in RUNS if c.sortable)


@dataclass(frozen=True)
class RunsView:
    """What the pane shows: filter text (a leading `!` inverts) and sort order."""

    text: str = ""
    sort: str = "started_at"
    descending: bool = True

    def where(self) -> RunFilter:
        text, invert = split_filter(self.text)
        return RunFilter(text=text, invert=invert)


def with_findings(reader: StoreReader, table: pa.Table) -> pa.Table:
    """The run history's page with `findings`: the kinds of finding that name each run."""
    ids = tuple(table.column("run_id").to_pylist())
    kinds: dict[str, list[str]] = {}
    if ids:
        for f in reader.findings(run_ids=ids).to_pylist():
            kinds.setdefault(f["run_id"], []).append(f["kind"])
    return table.append_column(
        "findings", pa.array([kinds.get(i) for i in ids], pa.list_(pa.string()))
    )


def finding_mark(kinds: list[str] | None) -> str:
    """A run that breaks the publish rules stands out: ⚑ after its id."""
    return " [bold red]⚑[/]" if kinds else ""


class RunsPane(Pane):
    """Run history. Enter opens a run; `/` filters; `s`/`S` sort."""

    LABELS = tuple(c.header for c in RUNS)
    TITLE = "Runs"
    KEY = "1"
    FILTER_HINT = "filter: run, workflow, status, identity, env, session, user"
    EMPTY = "No runs in this store yet. Load logs with `quarterdeck ingest PATH`."
    HELP = (
        "Every run, newest first. Status is derived from the run's events in time order: "
        "the latest run.finished wins, else paused, awaiting approval, stale (no event for "
        "the configured time) or running. OUT OF SCOPE counts touches no grant of the run's "
        "scope covers. p pauses the run under the cursor, u resumes it, R rolls it back; "
        "P pauses its workflow's active runs (running or awaiting approval), U resumes its "
        "paused runs, B rolls back its active and paused runs; stale runs are left out (each "
        "decision asks for a reason and is recorded). e writes the run's evidence bundle "
        "under evidence/. ⚑ after a run marks a finding: it broke a publish rule (its version "
        "unpublished, its scope or identity not the version's, a borrowed identity)."
    )

    ROW_KEYS = (
        ("decide", "pause"),
        ("decide", "resume"),
        ("decide", "rollback"),
        ("decide_workflow", "pause"),
        ("decide_workflow", "resume"),
        ("decide_workflow", "rollback"),
    )
    BINDINGS = [
        Binding("s", "sort_next", "Sort", show=False, id="runs.sort"),  # (the footer fits 80)
        Binding("S", "sort_reverse", "Reverse sort", show=False, id="runs.sort_reverse"),
        Binding("e", "evidence", "Evidence", id="runs.evidence"),
        # priority, every decision key: see `pressed` (the keys typed after it are its dialog's)
        Binding("p", "decide('pause')", "Pause", id="runs.pause", priority=True),
        Binding("u", "decide('resume')", "Resume", id="runs.resume", priority=True),
        Binding("R", "decide('rollback')", "Roll back", id="runs.rollback", priority=True),
        # (off the footer, which they would overflow; in ? help and the palette)
        Binding(
            "P",
            "decide_workflow('pause')",
            "Pause workflow",
            show=False,
            id="runs.pause_workflow",
            priority=True,
        ),
        Binding(
            "U",
            "decide_workflow('resume')",
            "Resume workflow",
            show=False,
            id="runs.resume_workflow",
            priority=True,
        ),
        Binding(
            "B",
            "decide_workflow('rollback')",
            "Roll back workflow",
            show=False,
            id="runs.rollback_workflow",
            priority=True,
        ),
    ]

    class OpenRun(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, RunsView(), id=id)

    def fetch(self, view: RunsView, page: Page) -> pa.Table:
        table = self.reader.run_history(
            view.where(),
            sort=view.sort,
            descending=view.descending,
            limit=page.limit,
            offset=page.offset,
        )
        return with_findings(self.reader, table)

    def key(self, record: dict[str, Any]) -> str:
        return record["run_id"]

    def row(self, r: dict[str, Any]) -> list[str]:
        cell = {
            "run_id": cells.text(r["run_id"]) + finding_mark(r.get("findings")),
            "workflow": cells.text(r["workflow"]),
            # its run.finished (or run.started) events disagree: the detail says how
            "status": cells.status(r["status"])
            + (
                " [bold yellow]⚠ conflict[/]"
                if r.get("conflicting_finish") or r.get("conflicting_start")
                else ""
            ),
            "out_of_scope": cells.out_of_scope(r["out_of_scope"]),
            "pending_approvals": f"[bold yellow]{r['pending_approvals']} pending[/]"
            if r["pending_approvals"]
            else "",
            "started_at": cells.when(r["started_at"]),
            "duration_s": cells.seconds(r["duration_s"], status=r["status"]),
            "steps": cells.text(r["steps"]),
            "step_errors": f"[red]{r['step_errors']}[/]" if r["step_errors"] else "[dim]0[/]",
            "tokens_in": cells.tokens(r["tokens_in"]),
            "tokens_out": cells.tokens(r["tokens_out"]),
            "touched": cells.text(r["touched"])
            + (f" [bold red]({r['deletes']} del)[/]" if r["deletes"] else ""),
            "environment": cells.text(r["environment"]),
            "identity": cells.text(r["identity"]),
        }
        return [cell[c.key] for c in RUNS]

    def title_parts(self, view: RunsView) -> list[str]:
        label = next(c.header for c in RUNS if c.key == view.sort)
        return [f"· sorted by {label.lower()} {'↓' if view.descending else '↑'}"]

    def open(self, key: str) -> None:
        self.post_message(self.OpenRun(key))

    def action_decide(self, action: str) -> None:
        self.ask_decision(action, lambda record: {"run_id": record["run_id"]})

    def action_evidence(self) -> None:
        record = self.current_record()
        if record is not None:
            self.post_message(EvidenceWanted(record["run_id"]))

    def action_decide_workflow(self, action: str) -> None:
        self.ask_decision(
            action, lambda record: {"workflow": record["workflow"]} if record["workflow"] else None
        )

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action not in ("decide", "decide_workflow"):
            return super().check_action(action, parameters)
        if typed_into(self.screen.focused):  # a priority key: in a box, it is the box's
            return False
        record = self.current_record()
        desk = getattr(self.app, "desk", None)
        if action == "decide_workflow":  # its workflow's runs, whatever this run's status
            offered = desk is not None and desk.offers(str(parameters[0]))
            return (True if record and record["workflow"] else None) if offered else False
        status = record["status"] if record else None
        return key_state(desk, str(parameters[0]), status)

    def action_sort_next(self) -> None:
        index = (SORT_KEYS.index(self.view.sort) + 1) % len(SORT_KEYS)
        self.apply(RunsView(self.view.text, SORT_KEYS[index], True))

    def action_sort_reverse(self) -> None:
        self.apply(RunsView(self.view.text, self.view.sort, not self.view.descending))

    @on(DataTable.HeaderSelected)
    def _sort_by_header(self, event: DataTable.HeaderSelected) -> None:
        event.stop()
        if event.column_index == 0:  # the new/changed marks
            return
        column = RUNS[event.column_index - 1]
        if not column.sortable:
            return
        key = column.key
        descending = not self.view.descending if key == self.view.sort else True
        self.apply(RunsView(self.view.text, key, descending))
