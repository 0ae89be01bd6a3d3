"""One run in detail: what it was, its steps as a timeline, what it touched, every event."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import pyarrow as pa
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static, TabbedContent, TabPane
from textual_fastdatatable import DataTable

from quarterdeck import formats
from quarterdeck.console import cells
from quarterdeck.console.data import RunDetail, StoreReader
from quarterdeck.console.messages import DecisionWanted, EvidenceWanted, want_decision
from quarterdeck.console.screens.base import DataScreen, crumbs
from quarterdeck.console.screens.decisions import LABELS, decision_rows
from quarterdeck.console.screens.touch import LineageScreen, open_touch
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import key_state
from quarterdeck.formats import duration
from quarterdeck.queries.columns import TOUCHES, pick

TABS = ("timeline", "touched", "events", "approvals", "decisions")
#: A run's touches: which step made each, and what it carried, rather than the run's name.
RUN_TOUCHES = pick(
    TOUCHES,
    "ts",
    "step_id",
    "system",
    "object",
    "record_id",
    "action",
    "in_scope",
    "needed_grant",
    "change",
    "fields",
    "classification",
)


class RunDetailScreen(DataScreen):
    HELP_TITLE = "Run detail"
    HELP = (
        "One run: its facts and scope, its steps in time order, every record it touched "
        "(out-of-scope touches are marked), its approvals, every event with the file and "
        "line it came from, and the decisions taken on it with how far each got (recorded → "
        "delivered → applied/refused). p pauses the run, u resumes it, R rolls it back; e writes "
        "its evidence bundle under evidence/. On the Touched tab, Enter opens a touch and t "
        "the record's lineage."
    )
    HELP_KEYS = (("enter", "on the Touched tab: open the touch"),)

    BINDINGS = [
        Binding("right_square_bracket", "tab(1)", "Next tab", id="detail.next_tab"),
        Binding("left_square_bracket", "tab(-1)", "Previous tab", id="detail.prev_tab"),
        Binding("e", "evidence", "Evidence", id="detail.evidence"),
        # priority, every decision key: see `pressed` (the keys typed after it are its dialog's)
        Binding("p", "decide('pause')", "Pause", id="detail.pause", priority=True),
        Binding("u", "decide('resume')", "Resume", id="detail.resume", priority=True),
        Binding("R", "decide('rollback')", "Roll back", id="detail.rollback", priority=True),
        Binding("t", "lineage", "Record lineage", id="detail.lineage"),
    ]

    def __init__(self, reader: StoreReader, run_id: str) -> None:
        super().__init__(reader)
        self.run_id = run_id
        self.detail: RunDetail | None = None
        self.missing = False  # loaded, and not in the store

    def compose(self) -> ComposeResult:
        yield crumbs("Runs", self.run_id)
        yield Static("loading…", id="run-facts")
        with TabbedContent(id="run-tabs"):
            with TabPane("Timeline", id="timeline"):
                yield TableView(empty="No steps recorded.", id="steps-table")
            with TabPane("Touched", id="touched"):
                yield TableView(empty="This run touched no records.", id="touches-table")
            with TabPane("Events", id="events"):
                yield TableView(empty="No events.", id="events-table")
            with TabPane("Approvals", id="approvals"):
                yield TableView(empty="No approvals were requested.", id="approvals-table")
            with TabPane("Decisions", id="decisions"):
                yield TableView(
                    empty="No decision has been taken on this run.", id="decisions-table"
                )
        yield Footer()

    def fetch(self) -> RunDetail | None:
        return self.reader.run_detail(self.run_id)

    def show(self, detail: RunDetail | None) -> None:
        self.detail = detail
        facts = self.query_one("#run-facts", Static)
        if detail is None:  # (`:run` with a mistyped id): no tabs nor keys of a run
            facts.update(
                cells.content(f"[bold red]Run {cells.text(self.run_id)} is not in the store.[/]")
            )
            self.missing = True
            self.query_one(TabbedContent).display = False
            self.refresh_bindings()
            return
        self.missing = False
        self.query_one(TabbedContent).display = True
        found = detail.findings.to_pylist() if detail.findings is not None else []
        facts.update(cells.content("\n".join([_facts(detail.overview), *_findings(found)])))
        self.query_one("#steps-table", TableView).show(*step_rows(detail.steps))
        marked = {f["event_id"] for f in found if f["kind"] == "borrowed_identity"}
        self.query_one("#touches-table", TableView).show(*touch_rows(detail.touches, marked))
        self.query_one("#events-table", TableView).show(*_events(detail))
        self.query_one("#approvals-table", TableView).show(*_approvals(detail))
        self.query_one("#decisions-table", TableView).show(LABELS, *decision_rows(detail.decisions))
        self.query_one(TabbedContent).active_pane.query_one(TableView).focus_table()
        self.refresh_bindings()

    def action_decide(self, action: str) -> None:
        want_decision(self, DecisionWanted(action, run_id=self.run_id))

    def action_evidence(self) -> None:
        self.post_message(EvidenceWanted(self.run_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if self.missing and action in ("tab", "evidence", "decide", "lineage"):
            return False  # no such run: nothing of a run's to offer
        if action == "lineage":
            return True if self.query_one(TabbedContent).active == "touched" else None
        if action != "decide":
            return True
        status = self.detail.overview["status"] if self.detail else None
        return key_state(getattr(self.app, "desk", None), str(parameters[0]), str(status))

    @on(TabbedContent.TabActivated)
    def _tab_shown(self) -> None:
        self.refresh_bindings()  # `t` works on the Touched tab only

    @on(DataTable.RowSelected, "#touches-table DataTable")
    def _open_touch(self, event: DataTable.RowSelected) -> None:
        event.stop()
        open_touch(self, self.query_one("#touches-table", TableView))

    def action_lineage(self) -> None:
        key = self.query_one("#touches-table", TableView).current_key()
        touches = self.detail.touches.to_pylist() if self.detail else []
        touch = next((t for t in touches if t["event_id"] == key), None)
        if touch is None:
            return
        if touch["record_id"] is None:
            self.notify("a bulk touch names no single record", severity="warning")
            return
        record = (touch["system"], touch["object"], touch["record_id"])
        self.app.push_screen(LineageScreen(self.reader, *record))

    def action_tab(self, step: int) -> None:
        tabs = self.query_one(TabbedContent)
        index = (TABS.index(tabs.active) + step) % len(TABS)
        tabs.active = TABS[index]
        tabs.active_pane.query_one(TableView).focus_table()


def _facts(o: dict[str, object]) -> str:
    trigger = ""
    if o.get("trigger_kind"):
        trigger = f" · triggered by {cells.text(o['trigger_kind'])}"
        if o.get("trigger_by"):
            trigger += f" ({cells.text(o['trigger_by'])})"
    scope = o.get("scope")
    if scope is None:
        scope_text = "[bold yellow]unknown (no run.started seen)[/]"
    elif not scope:
        scope_text = "[bold red]no grants[/]"
    else:
        scope_text = ", ".join(cells.text(g) for g in scope)  # type: ignore[union-attr]
    if o.get("scope_published"):
        scope_text += " [dim](its version's published scope: the run gave none)[/]"
    lines = [
        f"[b]{cells.text(o['run_id'])}[/]  {cells.text(o['workflow'])} "
        f"{cells.text(o.get('workflow_version') or '')} · {cells.text(o.get('environment'))} "
        f"· as [b]{cells.text(o.get('identity') or 'unknown identity')}[/]{trigger}",
        f"status {cells.status(o['status'])}   started {cells.when(o['started_at'])}Z   "  # type: ignore[arg-type]
        + (f"finished {cells.when(o['finished_at'])}Z   " if o.get("finished_at") else "")  # type: ignore[arg-type]
        + f"duration {cells.seconds(o['duration_s'], status=o['status'])}"  # type: ignore[arg-type]
        + (
            f"   [red]error: {cells.text(formats.trimmed(o['error']))}[/]" if o.get("error") else ""
        ),
        f"steps {o['steps']} ({o['step_errors']} failed) · touched {o['touched']} "
        f"(read {o['reads']}, created {o['creates']}, updated {o['updates']}, "
        f"deleted {o['deletes']}, exported {o['exports']}) · out of scope "
        f"{cells.out_of_scope(o['out_of_scope'])} · approvals pending "  # type: ignore[arg-type]
        f"{o['pending_approvals']}"
        + (
            f" · tokens in/out {o['tokens_in']:,}/{o['tokens_out']:,} · ${o['cost_usd']:.4f}"
            if o["tokens_in"] or o["tokens_out"]
            else ""
        ),
        *(f"[bold yellow]⚠ {cells.text(said)}[/]" for said in formats.contradictions(o)),
        f"scope {scope_text}"
        + (f" · session {cells.text(o['session_id'])}" if o.get("session_id") else "")
        + (f" · user {cells.text(o['user_id'])}" if o.get("user_id") else ""),
    ]
    return "\n".join(lines)


def _findings(found: list[dict[str, Any]]) -> list[str]:
    """A run's findings (none: no line), each marked as the Runs pane marks the run."""
    return [f"[bold red]⚑ {cells.text(f['kind'])}[/]: {cells.text(f['detail'])}" for f in found]


def step_rows(steps: pa.Table) -> tuple[list[str], list[list[str]], list[str]]:
    """A run's steps as a table: labels, rows, keys (the step ids)."""
    labels = [
        "STEP",
        "NAME",
        "KIND",
        "TOOL / MODEL",
        "STARTED (UTC)",
        "DURATION",
        "STATUS",
        "TOKENS",
        "ERROR",
    ]
    rows, keys = [], []
    for s in steps.to_pylist():
        tokens = f"{s['tokens_in']}/{s['tokens_out']}" if s["tokens_in"] is not None else ""
        rows.append(
            [
                cells.text(s["step_id"]),
                cells.text(s["name"]),
                cells.text(s["kind"]),
                cells.text(s["tool"] or s["model"])
                + (f" [yellow]({cells.text(s['effect'])})[/]" if s.get("effect") else ""),
                cells.when(s["started_at"]),
                duration(s["duration_s"])
                if s["duration_s"] is not None
                else ("[cyan]running[/]" if s["finished_at"] is None else ""),
                cells.status(s["status"])
                + (f" [bold yellow]⚠ finished {s['finishes']}×[/]" if s["finishes"] > 1 else ""),
                tokens,
                f"[red]{cells.text(s['error'])}[/]" if s["error"] else "",
            ]
        )
        keys.append(s["step_id"])
    return labels, rows, keys


def touch_rows(
    touches: pa.Table,
    flagged: Collection[str] = (),
) -> tuple[list[str], list[list[str]], list[str]]:
    """A run's touches as a table (out-of-scope ones marked, and with ⚑ those a finding names:
    made with a borrowed identity): labels, rows, keys (the touch event ids)."""
    records = touches.to_pylist()
    rows = [cells.touch_row(t, RUN_TOUCHES) for t in records]
    for row, t in zip(rows, records, strict=True):
        if t["event_id"] in flagged:
            row[0] += " [bold red]⚑[/]"
    return [c.header for c in RUN_TOUCHES], rows, [t["event_id"] for t in records]


def _events(d: RunDetail) -> tuple[list[str], list[list[str]], list[str]]:
    # where it is in the logs before its fields, which are wide and would push it off screen
    labels = ["TIME (UTC)", "TYPE", "STEP", "ACTOR", "SOURCE:LINE", "BYTE", "FIELDS"]
    rows, keys = [], []
    for e in d.events.to_pylist():
        rows.append(
            [
                cells.when(e["ts"]),
                cells.text(e["type"]),
                cells.text(e["step_id"]),
                cells.text(e["actor"]),
                # the path relative to the followed folder: four folders share a file name
                f"[dim]{cells.text(e['source'])}:{e['line_no']}[/]",
                f"[dim]{e['byte_offset']}[/]",
                cells.compact_json(e["body"]),
            ]
        )
        keys.append(e["event_id"])
    return labels, rows, keys


def _approvals(d: RunDetail) -> tuple[list[str], list[list[str]], list[str]]:
    labels = [
        "APPROVAL",
        "STATUS",
        "RISK",
        "ACTION",
        "ROLE",
        "REQUESTED BY",
        "REQUESTED (UTC)",
        "TIME LEFT",
        "DECIDED BY",
        "DECIDED (UTC)",
        "REASON",
        "SOURCES",
    ]
    rows, keys = [], []
    for a in d.approvals.to_pylist():
        rows.append(
            [
                cells.text(a["approval_id"]),
                cells.status(a["status"]),
                cells.risk(a["risk"]),
                cells.text(a["action"]),
                cells.text(a["required_role"]),
                cells.text(a["requested_by"]),
                cells.when(a["requested_at"]),
                cells.time_left(a["seconds_left"]),
                cells.text(a["decided_by"]),
                cells.when(a["decided_at"]),
                cells.text(a["reason"]),
                cells.text(", ".join(a["sources"] or [])),
            ]
        )
        keys.append(a["approval_id"])
    return labels, rows, keys
