"""The single recorder: every decision the server takes goes through one lock.

A decision is sealed onto the journal's hash chain with the hash of the one before it, so two
decisions recorded at once would fork the chain. The server is the only process that records
while it runs, and inside it every decision — a client's, or an automatic trigger's (which
holds `exclusive()` while it evaluates and decides) — is planned and recorded under one lock:
the chain stays linear however many clients decide at once. Planning happens under the same
lock as recording, so authority is checked against the store as the decision is taken.

Who decides is the caller's business (the server passes the peer's operator, with the roles
its own config gives that name); a client's request names only what and why — and, from a
console, the runs its dialog named (recorded as confirmed, as the embedded desk records them,
but only runs of the target workflow, and none a decision taken meanwhile is outstanding on)
and the trigger trip it decides. A trip is claimed in
the same locked step that records the decision, so two consoles cannot both decide one trip:
the second is refused and records nothing. `plan` is the preview a console shows before it
asks for a reason: the same planning, under the same lock, recording nothing.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from quarterdeck.queries import decisions, triggers
from quarterdeck.queries.decisions import MAX_REASON, Operator, Paths, Plan, Refused
from quarterdeck.queries.decisions.authority import Action
from quarterdeck.queries.store import OwnCursor, Store


class TripClaim(BaseModel):
    """The trigger trip a decision is taken on: the rule and when its trip began."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    tripped_at: datetime


class DecisionRequest(BaseModel):
    """What a client asks: an action on exactly one target, and why. `operator` is the name
    the client was told to decide as (`--operator`); the server refuses it unless it is the
    peer's own. `read_only` lets a client bind itself to a read-only session."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Action
    run_id: str | None = None
    workflow: str | None = None
    version: str | None = None  # rollback-version: the version to put back at 100
    approval_id: str | None = None
    include_stale: bool = False  # a workflow decision covers its stale runs too
    reason: str = Field(max_length=MAX_REASON)  # as embedded (decisions.checked_reason)
    operator: str | None = None
    read_only: bool = False
    source: Literal["cli", "console"] = "cli"
    runs: tuple[str, ...] | None = None  # the runs a console's dialog named
    trip: TripClaim | None = None

    @model_validator(mode="after")
    def _one_target(self) -> DecisionRequest:
        given = [t for t in (self.run_id, self.workflow, self.approval_id) if t is not None]
        if len(given) != 1:
            raise ValueError("name exactly one of run_id, workflow, approval_id")
        return self

    def target(self) -> dict[str, str]:
        if self.run_id is not None:
            return {"run_id": self.run_id}
        if self.workflow is not None:
            return {"workflow": self.workflow} | (
                {"version": self.version} if self.version is not None else {}
            )
        assert self.approval_id is not None
        return {"approval_id": self.approval_id}


class Recorder(OwnCursor):
    def __init__(
        self,
        store: Store,
        paths: Paths,
        *,
        stale_seconds: int,
        clock: Callable[[], datetime],
        rollout_roles: dict[str, str] | None = None,
    ) -> None:
        self.paths = paths
        self.stale_seconds = stale_seconds
        self.rollout_roles = rollout_roles or {}
        self.clock = clock
        self._cursor = store.cursor()
        self._lock = threading.Lock()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the recorder: no other decision is recorded until the block ends."""
        with self._lock:
            yield

    def reconcile(self) -> decisions.Reconciled:
        """Bring the store level with the journal (at start: a crash may have cut a decision
        short between the two)."""
        with self._lock:
            return decisions.reconcile(self._cursor, self.paths, now=self.clock())

    def plan(self, operator: Operator, request: DecisionRequest) -> Plan:
        """What `request` would do, authority checked; nothing recorded."""
        with self._lock:
            return self._plan(operator, request)

    def _plan(self, operator: Operator, request: DecisionRequest) -> Plan:
        return decisions.plan(
            self._cursor,
            operator,
            request.action,
            now=self.clock(),
            stale_seconds=self.stale_seconds,
            include_stale=request.include_stale,
            rollout_roles=self.rollout_roles,
            **request.target(),
        )

    def decide(self, operator: Operator, request: DecisionRequest) -> tuple[Plan, dict[str, Any]]:
        """Plan and record; raises `decisions.Refused` (nothing recorded) when not allowed."""
        with self._lock:
            trip = request.trip
            if trip is not None and triggers.trip_decided(self._cursor, trip.name, trip.tripped_at):
                raise Refused(f"trigger {trip.name}'s trip has been decided already")
            plan = self._plan(operator, request)
            if request.runs is not None:
                plan = decisions.as_confirmed(self._confirmed(plan, request.runs), plan)
            decision_id = decisions.uuid7()
            if trip is not None:  # a trip claimed is never decided again: record first-ready
                decisions.ready(self._cursor, self.paths)
            if trip is not None and not triggers.claim_trip(
                self._cursor, trip.name, trip.tripped_at, decision_id
            ):
                raise Refused(f"trigger {trip.name}'s trip has been decided already")
            record = decisions.record(
                self._cursor,
                plan,
                operator=operator,
                reason=request.reason,
                source=request.source,
                paths=self.paths,
                now=self.clock(),
                decision_id=decision_id,
            )
        return plan, record

    def _confirmed(self, plan: Plan, runs: tuple[str, ...]) -> Plan:
        """The plan with the runs the client's dialog named, if they are the target's."""
        if plan.target_kind != "workflow":
            if set(runs) != set(plan.runs):
                raise Refused(f"{plan.summary}: the runs confirmed are not the target's")
            return plan
        extra = sorted(set(runs) - set(plan.runs))
        if extra:
            known = {
                row[0]
                for row in self._cursor.execute(
                    "SELECT run_id FROM run_summary WHERE workflow = ? "
                    "AND list_contains(?, run_id)",
                    [plan.target, extra],
                ).fetchall()
            }
            strangers = [r for r in extra if r not in known]
            if strangers:
                raise Refused(f"not runs of workflow {plan.target}: {', '.join(strangers[:8])}")
        return dataclasses.replace(plan, runs=tuple(runs))

    def close(self) -> None:
        with self._lock:
            self._cursor.close()
