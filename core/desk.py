"""The console's decision desk: who is deciding, what they may do here, and recording.

Authority and recording live in `queries.decisions`; the desk holds the operator, where the
journal and outbox are, and a cursor of its own (the follower and the reader have theirs), and
answers the cheap question the footer asks often: is this action offered to this operator?
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from quarterdeck.queries import decisions
from quarterdeck.queries.decisions import CONTROL_ROLE, Operator, Paths, Plan
from quarterdeck.queries.store import Store

CONTROL_ACTIONS = ("pause", "resume", "rollback")
_APPLIES_TO = {  # run statuses each control action makes sense for
    "pause": ("running", "awaiting_approval", "stale"),
    "resume": ("paused",),
    "rollback": (
        "running",
        "awaiting_approval",
        "stale",
        "paused",
        "succeeded",
        "failed",
        "cancelled",
    ),
    "approve": ("pending",),
    "reject": ("pending", "expired"),
}


def key_state(
    desk: DecisionDesk | None, action: str, status: str | None, required_role: str | None = None
) -> bool | None:
    """What a decision key should be in the footer: False hidden (read-only, or a role this
    operator lacks), None shown dimmed (not for this row's status), True offered."""
    if desk is None or not desk.offers(action, required_role):
        return False
    return True if status in _APPLIES_TO[action] else None


class DecisionDesk:
    def __init__(
        self,
        store: Store,
        operator: Operator,
        paths: Paths,
        *,
        stale_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.operator = operator
        self.paths = paths
        self.stale_seconds = stale_seconds
        self.clock = clock
        self._cursor = store.cursor()
        self._lock = threading.Lock()

    @property
    def read_only(self) -> bool:
        return self.operator.read_only

    def offers(self, action: str, required_role: str | None = None) -> bool:
        """Whether `action` is offered at all (keys shown): not in a read-only session, and
        only with the role it needs."""
        if self.operator.read_only:
            return False
        if action in CONTROL_ACTIONS:
            return CONTROL_ROLE in self.operator.roles
        return required_role is None or required_role in self.operator.roles

    def plan(self, action: str, **target: Any) -> Plan:
        """Runs in a worker thread; raises `decisions.Refused`."""
        with self._lock:
            return decisions.plan(
                self._cursor,
                self.operator,
                action,
                now=self.clock(),
                stale_seconds=self.stale_seconds,
                **target,
            )

    def record(self, plan: Plan, reason: str) -> dict[str, Any]:
        """Runs in a worker thread: checks again that the operator may take the decision
        (the store may have moved on while the dialog was open), then records the plan the
        operator confirmed — the runs the dialog named, not a newer list."""
        with self._lock:
            target = (
                {"approval_id": plan.approval_id}
                if plan.approval_id
                else {"workflow": plan.target}
                if plan.target_kind == "workflow"
                else {"run_id": plan.target}
            )
            decisions.plan(
                self._cursor,
                self.operator,
                plan.action,
                now=self.clock(),
                stale_seconds=self.stale_seconds,
                **target,
            )
            return decisions.record(
                self._cursor,
                plan,
                operator=self.operator,
                reason=reason,
                source="console",
                paths=self.paths,
                now=self.clock(),
            )

    def reconcile(self) -> decisions.Reconciled:
        with self._lock:
            return decisions.reconcile(self._cursor, self.paths, now=self.clock())
