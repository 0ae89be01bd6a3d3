"""The Approvals pane: what is waiting for a human, then what was decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual.binding import Binding
from textual.message import Message

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader
from quarterdeck.console.pressed import typed_into
from quarterdeck.console.widgets.pane import Page, Pane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import key_state
from quarterdeck.formats import duration
from quarterdeck.queries.columns import APPROVALS, without
from quarterdeck.queries.decisions import Plan

#: The approval columns but the id and the expiry, which the request's screen shows.
SHOWN = without(APPROVALS, "approval_id", "expires_at")


@dataclass(frozen=True)
class ApprovalsView:
    text: str = ""


class ApprovalsPane(Pane):
    """Pending requests first (soonest to expire first), then decided ones."""

    LABELS = tuple(c.header for c in SHOWN)
    TITLE = "Approvals"
    KEY = "3"
    FILTER_HINT = "filter: action, run, workflow, role, requester, status"
    EMPTY = "No approval has been requested."
    HELP = (
        "Approval requests from run events and from the approval system's records, merged "
        "by approval id: pending first, soonest to expire first, with the time left; "
        "then decided requests with who decided and why. Enter opens the request: its "
        "facts, where each state came from, and its run's recent steps and touches. a approves, "
        "x rejects (with a reason; only with the request's role, never your own request)."
    )

    ROW_KEYS = (("decide", "approve"), ("decide", "reject"))
    BINDINGS = [
        # priority: see `pressed` (the keys typed after it are its dialog's)
        Binding("a", "decide('approve')", "Approve", id="approvals.approve", priority=True),
        Binding("x", "decide('reject')", "Reject", id="approvals.reject", priority=True),
    ]

    class OpenApproval(Message):
        def __init__(self, approval_id: str) -> None:
            super().__init__()
            self.approval_id = approval_id

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, ApprovalsView(), id=id)
        #: the request being decided here and the row it was on, until the refreshed rows
        #: show it decided (`keep_after`)
        self._decided: tuple[str, int] | None = None

    def fetch(self, view: ApprovalsView, page: Page) -> pa.Table:
        return self.reader.approvals(text=view.text, limit=page.limit, offset=page.offset)

    def key(self, record: dict[str, Any]) -> str:
        return record["approval_id"]

    def row(self, a: dict[str, Any]) -> list[str]:
        cell = {
            "status": cells.status(a["status"]),
            "seconds_left": cells.time_left(a["seconds_left"]),
            "risk": cells.risk(a["risk"]),
            "action": cells.text(a["action"]),
            "run_id": cells.text(a["run_id"]),
            "workflow": cells.text(a["workflow"]),
            "requested_by": cells.text(a["requested_by"]),
            "required_role": cells.text(a["required_role"]),
            "age_s": duration(a["age_s"]),
            "decided_by": cells.text(a["decided_by"]),
            "reason": cells.text(a["reason"]),
        }
        return [cell[c.key] for c in SHOWN]

    def deciding(self, plan: Plan) -> None:
        """A request decided leaves the pending ones for the decided ones below: the cursor
        stays where it is on screen, on the request that takes its place (the next pending
        one), not on the decided one, which, followed down the list with the rows above
        kept in view, scrolled every pending request above it out of sight."""
        table = self.query_one(TableView)
        if plan.target_kind == "approval" and plan.target in table.keys:
            self._decided = (plan.target, table.keys.index(plan.target))

    def keep_after(self, message: Pane.Loaded) -> str | None:
        if self._decided is None:
            return None
        approval_id, place = self._decided
        status = dict(zip(message.keys, message.records.column("status").to_pylist(), strict=True))
        if status.get(approval_id) == "pending" or not message.keys:
            return None  # not stored as decided yet: the next refresh will be
        self._decided = None
        self.query_one(TableView).pinned = False  # its pin was the dialog's, now closed
        return message.keys[min(place, len(message.keys) - 1)]

    def open(self, key: str) -> None:
        self.post_message(self.OpenApproval(key))

    def action_decide(self, action: str) -> None:
        self.ask_decision(action, lambda record: {"approval_id": record["approval_id"]})

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action != "decide":
            return super().check_action(action, parameters)
        if typed_into(self.screen.focused):  # a priority key: in a box, it is the box's
            return False
        record = self.current_record() or {}
        return key_state(
            getattr(self.app, "desk", None),
            str(parameters[0]),
            record.get("status"),
            record.get("required_role"),
        )
