"""One approval request: what it asks, where its states came from, and its run's context.

It is decided here with the Approvals pane's keys, `a` approve and `x` reject, through the same
decide flow (the app plans, asks for a reason, records); the keys show as the pane shows them:
hidden without the role the request needs, dimmed when its state takes no such decision."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import ApprovalDetail, StoreReader
from quarterdeck.console.messages import DecisionWanted, want_decision
from quarterdeck.console.screens.base import crumbs
from quarterdeck.console.screens.run_detail import RunDetailScreen, step_rows, touch_rows
from quarterdeck.console.screens.two_tables import TwoTablesScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import key_state
from quarterdeck.formats import duration

#: How many of the run's latest steps and touches the request shows.
RECENT = 20


class ApprovalScreen(TwoTablesScreen):
    HELP_TITLE = "Approval request"
    HELP = (
        "One approval request: what will happen, its risk, who asked and which role must "
        "decide, the time left until it expires (or who decided, when and why), and where "
        "each of its states came from (an approval event or an approval-system record file). "
        f"Below, its run's {RECENT} latest steps and touches, newest first. Tab moves between "
        "them; Enter on a touch shows its change; r opens the whole run. a approves the "
        "request and x rejects it (each asks for a reason and is recorded)."
    )

    FIRST = ("steps-table", "The run has recorded no steps.")
    TOUCHES_EMPTY = "The run has touched no records."
    FACTS_ID = "approval-facts"

    BINDINGS = [
        # priority: see `pressed` (the keys typed after it are its dialog's)
        Binding("a", "decide('approve')", "Approve", id="approval.approve", priority=True),
        Binding("x", "decide('reject')", "Reject", id="approval.reject", priority=True),
        Binding("r", "run", "Run detail", id="approval.run"),
    ]

    def __init__(self, reader: StoreReader, approval_id: str) -> None:
        super().__init__(reader)
        self.approval_id = approval_id
        self.detail: ApprovalDetail | None = None

    def compose(self) -> ComposeResult:
        yield crumbs("Approvals", self.approval_id)
        yield from self.tables()

    def fetch(self) -> ApprovalDetail | None:
        return self.reader.approval_detail(self.approval_id, recent=RECENT)

    def show(self, detail: ApprovalDetail | None) -> None:
        self.detail = detail
        facts = self.query_one("#approval-facts", Static)
        if detail is None:
            facts.update(
                cells.content(
                    f"[bold red]Approval {cells.text(self.approval_id)} is not in the store.[/]"
                )
            )
            return
        a = detail.approval
        facts.update(cells.content(_facts(a)))
        run = cells.text(a["run_id"] or "its run")
        steps = self.query_one("#steps-table", TableView)
        steps.show(*step_rows(detail.steps))
        self.query_one("#steps-title", Static).update(
            cells.content(f"[b]Steps[/] of {run}: {_latest(detail.steps.num_rows, 'step')}")
        )
        touches = self.query_one("#touches-table", TableView)
        touches.show(*touch_rows(detail.touches))
        self.query_one("#touches-title", Static).update(
            cells.content(
                f"[b]Touched[/] by {run}: {_latest(detail.touches.num_rows, 'touch')} · "
                "[dim]Enter shows the change · r the whole run[/]"
            )
        )
        if self.focused is None:
            (steps if steps.keys else touches).focus_table()
        self.refresh_bindings()  # the decision keys follow the request's state

    def action_decide(self, action: str) -> None:
        want_decision(self, DecisionWanted(action, approval_id=self.approval_id))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "decide":
            return True
        approval = self.detail.approval if self.detail else {}
        return key_state(
            getattr(self.app, "desk", None),
            str(parameters[0]),
            approval.get("status"),
            approval.get("required_role"),
        )

    def action_run(self) -> None:
        run_id = self.detail.approval["run_id"] if self.detail else None
        if run_id:
            self.app.push_screen(RunDetailScreen(self.reader, str(run_id)))
        elif self.detail:
            self.notify("this request names no run", severity="warning")

    @on(DataTable.RowSelected, "#steps-table DataTable")
    def _open_step(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_run()


def _latest(n: int, noun: str) -> str:
    nouns = noun + ("es" if noun.endswith("h") else "s")
    if n == 1:
        return f"its only {noun}"
    if n < RECENT:
        return f"all {n} {nouns}, newest first"
    return f"the latest {n} {nouns}, newest first"


def _source(source: str) -> str:
    """Where a state came from, as the merge names it (`event` or `record:PATH`)."""
    if source == "event":
        return "approval event"
    if source.startswith("record:"):
        return f"approval-system record [b]{cells.text(source.removeprefix('record:'))}[/]"
    return cells.text(source)


def _facts(a: dict[str, Any]) -> str:
    status = a["status"]
    lines = [
        f"[b]{cells.text(a['approval_id'])}[/]  {cells.status(status)}  risk "
        f"{cells.risk(a['risk']) or '[dim]unknown[/]'}  · will "
        f"[b]{cells.text(a['action'] or 'do an unnamed action')}[/]",
        f"run [b]{cells.text(a['run_id'] or '—')}[/] · {cells.text(a['workflow'] or '')} · "
        f"requested by {cells.text(a['requested_by'] or 'unknown')} · needs role "
        f"[b]{cells.text(a['required_role'] or 'none named')}[/]",
        f"requested {_at(a['requested_at'])}"
        + (f" ({duration(a['age_s'])} ago)" if a["age_s"] is not None else "")
        + (
            f" · expires {_at(a['expires_at'])}{_expiry(a)}"
            if a["expires_at"] is not None
            else " · [dim]no expiry set[/]"
        ),
    ]
    if a["decided_at"] or a["decided_by"]:
        lines.append(
            f"{cells.status(status)}"
            + (f" by [b]{cells.text(a['decided_by'])}[/]" if a["decided_by"] else "")
            + f" at {_at(a['decided_at'])}"
            + (f": “{cells.text(a['reason'])}”" if a["reason"] else " [dim](no reason given)[/]")
        )
    elif status == "expired":
        lines.append("[dim]no decision was recorded before it expired[/]")
    if a["context"]:
        lines.append(f"context {cells.compact_json(a['context'])}")
    for i, state in enumerate(a["states"]):  # oldest first: the merge's evidence
        lines.append(
            f"{'sources' if i == 0 else '':<8}{cells.status(state['state'])} at "
            f"{_at(state['state_at'])} [dim]from[/] {_source(state['source'])}"
        )
    return "\n".join(lines)


def _at(value: Any) -> str:
    return f"{cells.when(value)}Z" if value is not None else "[dim]unknown[/]"


def _expiry(a: dict[str, Any]) -> str:
    """How the expiry stands: time left (due soon stands out), or how long ago it passed."""
    left = a["expires_in_s"]
    if left is None or a["status"] not in ("pending", "expired"):
        return ""
    if left > 0:
        return f" ({cells.time_left(left)} left)"
    return f" ([bold red]expired {duration(-left)} ago[/])"
