"""The console's decision desk: who is deciding, what they may do here, and recording.

Authority and recording live in `queries.decisions`; the desk holds the operator, where the
journal and outbox are, and a cursor of its own (the follower and the reader have theirs), and
answers the cheap question the footer asks often: is this action offered to this operator?

`Desk` is what the console's flows use of a desk; `DecisionDesk` here decides in-process
(embedded mode), `remote_desk.RemoteDesk` asks `quarterdeck serve`. Both answer `offers` with
`offers()` below, from the operator's roles — the server's word on them, against a server.
A decision on a trigger's trip claims the trip in the same step that records it, so a trip is
decided once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Protocol

from quarterdeck.queries import decisions, triggers
from quarterdeck.queries.decisions import CONTROL_ROLE, Operator, Paths, Plan, Refused
from quarterdeck.queries.store import OwnCursor, Store

CONTROL_ACTIONS = ("pause", "resume", "rollback")
DECISION_ACTIONS = (*CONTROL_ACTIONS, "approve", "reject")
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


def offers(operator: Operator, action: str, required_role: str | None = None) -> bool:
    """Whether `action` is offered to `operator` at all (keys shown): not in a read-only
    session, and only with the role it needs (an approval's own role, when it is known)."""
    if operator.read_only:
        return False
    if action in CONTROL_ACTIONS:
        return CONTROL_ROLE in operator.roles
    return required_role is None or required_role in operator.roles


#: A trigger trip a decision is taken on: the rule's name and when its trip began.
TripKey = tuple[str, datetime]


def target_of(plan: Plan) -> dict[str, Any]:
    """What `plan` decides about, as a decision names it: an approval, a workflow (with its
    stale runs, if the plan included them) or a run."""
    if plan.approval_id:
        return {"approval_id": plan.approval_id}
    if plan.target_kind == "workflow":
        stale = {"include_stale": True} if plan.details.get("include_stale") else {}
        rollout = plan.details.get("rollout")
        to = (
            {"version": rollout["version"]} if rollout and plan.action == "rollback-version" else {}
        )
        return {"workflow": plan.target, **stale, **to}
    return {"run_id": plan.target}


class Desk(Protocol):
    """What the console's flows use of a desk, in-process or through a server."""

    @property
    def read_only(self) -> bool: ...

    def offers(self, action: str, required_role: str | None = None) -> bool: ...

    def plan(self, action: str, **target: Any) -> Plan: ...

    def record(self, plan: Plan, reason: str, *, trip: TripKey | None = None) -> dict[str, Any]: ...

    def reconcile(self) -> decisions.Reconciled: ...


def key_state(
    desk: Desk | None, action: str, status: str | None, required_role: str | None = None
) -> bool | None:
    """What a decision key should be in the footer: False hidden (read-only, or a role this
    operator lacks), None shown dimmed (not for this row's status), True offered."""
    if desk is None or not desk.offers(action, required_role):
        return False
    return True if status in _APPLIES_TO[action] else None


class DecisionDesk(OwnCursor):
    def __init__(
        self,
        store: Store,
        operator: Operator,
        paths: Paths,
        *,
        stale_seconds: int,
        clock: Callable[[], datetime],
        rollout_roles: dict[str, str] | None = None,
    ) -> None:
        self.operator = operator
        self.paths = paths
        self.stale_seconds = stale_seconds
        self.rollout_roles = rollout_roles or {}
        self.clock = clock
        self._cursor = store.cursor()
        self._lock = threading.Lock()

    @property
    def read_only(self) -> bool:
        return self.operator.read_only

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the desk: no decision is planned or recorded here until the block ends (a
        trigger's automatic decision, planned and recorded as one step)."""
        with self._lock:
            yield

    def offers(self, action: str, required_role: str | None = None) -> bool:
        return offers(self.operator, action, required_role)

    def plan(self, action: str, **target: Any) -> Plan:
        """Runs in a worker thread; raises `decisions.Refused`."""
        with self._lock:
            return decisions.plan(
                self._cursor,
                self.operator,
                action,
                now=self.clock(),
                stale_seconds=self.stale_seconds,
                rollout_roles=self.rollout_roles,
                **target,
            )

    def record(self, plan: Plan, reason: str, *, trip: TripKey | None = None) -> dict[str, Any]:
        """Runs in a worker thread: checks again that the operator may take the decision
        (the store may have moved on while the dialog was open), then records the plan the
        operator confirmed — the runs the dialog named, not a newer list, less those a
        decision taken meanwhile is outstanding on (`decisions.as_confirmed`). A decision on
        `trip` claims it first: `Refused` if somebody decided it already."""
        with self._lock:
            if trip is not None and triggers.trip_decided(self._cursor, *trip):
                raise Refused(f"trigger {trip[0]}'s trip has been decided already")
            target = target_of(plan)
            fresh = decisions.plan(
                self._cursor,
                self.operator,
                plan.action,
                now=self.clock(),
                stale_seconds=self.stale_seconds,
                rollout_roles=self.rollout_roles,
                **target,
            )
            plan = decisions.as_confirmed(plan, fresh)
            decision_id = decisions.uuid7()
            if trip is not None and not triggers.claim_trip(self._cursor, *trip, decision_id):
                raise Refused(f"trigger {trip[0]}'s trip has been decided already")
            return decisions.record(
                self._cursor,
                plan,
                operator=self.operator,
                reason=reason,
                source="console",
                paths=self.paths,
                now=self.clock(),
                decision_id=decision_id,
            )

    def reconcile(self) -> decisions.Reconciled:
        with self._lock:
            return decisions.reconcile(self._cursor, self.paths, now=self.clock())
