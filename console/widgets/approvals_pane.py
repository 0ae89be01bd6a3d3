"""The Approvals pane: what is waiting for a human, then what was decided."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual.message import Message

from console import cells
from console.data import StoreReader
from console.formats import duration
from console.widgets.pane import PAGE, Pane

DUE_SOON = 3600  # seconds left below which a request stands out


@dataclass(frozen=True)
class ApprovalsView:
    text: str = ""


class ApprovalsPane(Pane):
    """Pending requests first (soonest to expire first), then decided ones."""

    LABELS = ("STATUS", "TIME LEFT", "RISK", "WHAT WILL HAPPEN", "RUN", "WORKFLOW",
              "REQUESTED BY", "ROLE", "AGE", "DECIDED BY", "REASON")
    TITLE = "Approvals"
    KEY = "3"
    FILTER_HINT = "filter: action, run, workflow, role, requester, status"
    EMPTY = "No approval has been requested."
    HELP = (
        "Approval requests from run events and from the approval system's records, merged "
        "by approval id: pending first, soonest to expire first, with the time left; "
        "then decided requests with who decided and why. Enter opens the request's run."
    )

    class OpenRun(Message):
        def __init__(self, run_id: str) -> None:
            super().__init__()
            self.run_id = run_id

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, ApprovalsView(), id=id)
        self._runs: dict[str, str] = {}

    def fetch(self, view: ApprovalsView) -> pa.Table:
        return self.reader.approvals(text=view.text, limit=PAGE)

    def key(self, record: dict[str, Any]) -> str:
        self._runs[record["approval_id"]] = record["run_id"]
        return record["approval_id"]

    def row(self, a: dict[str, Any]) -> list[str]:
        left = a["seconds_left"]
        if left is None:
            left_text = ""
        elif left < DUE_SOON:
            left_text = f"[bold yellow]{duration(left)}[/]"
        else:
            left_text = duration(left)
        risk = cells.text(a["risk"])
        if a["risk"] in ("high", "critical"):
            risk = f"[bold red]{risk}[/]"
        return [
            cells.status(a["status"]), left_text, risk, cells.text(a["action"]),
            cells.text(a["run_id"]), cells.text(a["workflow"]), cells.text(a["requested_by"]),
            cells.text(a["required_role"]), duration(a["age_s"]),
            cells.text(a["decided_by"]), cells.text(a["reason"]),
        ]

    def open(self, key: str) -> None:
        run_id = self._runs.get(key)
        if run_id:
            self.post_message(self.OpenRun(run_id))
