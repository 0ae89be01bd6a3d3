"""Deciding through `quarterdeck serve`: the console's desk and trigger watch as its client.

`RemoteDesk` answers what the console's flows ask of a desk (`desk.Desk`) by asking the
server, which alone decides authority: who this operator is and which actions it may take at
all (`whoami`, asked once, so the console hides the keys the server says it cannot use), what
a decision would do (`plan`: the server plans it as the peer, a refusal raised as
`decisions.Refused` like an embedded one), and recording what the operator confirmed
(`record`: the runs the dialog named, and the trip it decides, which the server claims in the
same step — a second console deciding the same trip is refused). The server brought the store
level with the journal when it started, so `reconcile` has nothing to do here.

`RemoteWatch` is the trigger watch of a console whose server evaluates the rules: it
evaluates nothing, but reads the trips the server stored (`trips`, a named query) and hands
the console each trip of an `auto = false` rule nobody has decided yet, once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

from quarterdeck.client import Client
from quarterdeck.desk import TripKey, offers, target_of
from quarterdeck.queries import named
from quarterdeck.queries.decisions import Operator, Plan, Reconciled
from quarterdeck.queries.store import utc_now
from quarterdeck.queries.triggers import Rule
from quarterdeck.watch import Trip, decidable_rule


class RemoteDesk:
    def __init__(self, server: Client, *, read_only: bool = False) -> None:
        self.server = server
        me = server.whoami(read_only=read_only)
        self.operator = Operator(str(me["operator"]), frozenset(me["roles"]), bool(me["read_only"]))
        self.actions = frozenset(me["actions"])

    @property
    def read_only(self) -> bool:
        return self.operator.read_only

    def offers(self, action: str, required_role: str | None = None) -> bool:
        return action in self.actions and offers(self.operator, action, required_role)

    def _request(self, action: str, target: dict[str, Any], **more: Any) -> dict[str, Any]:
        return {
            "action": action,
            **target,
            "read_only": self.read_only,
            "source": "console",
            **more,
        }

    def plan(self, action: str, **target: Any) -> Plan:
        """Runs in a worker thread; raises `decisions.Refused`."""
        found = self.server.plan(self._request(action, target, reason=""))["plan"]
        return Plan(**{**found, "runs": tuple(found["runs"])})

    def record(self, plan: Plan, reason: str, *, trip: TripKey | None = None) -> dict[str, Any]:
        """Runs in a worker thread: the server checks authority again and records the runs
        the dialog named; raises `decisions.Refused`."""
        target = target_of(plan)
        claim = {"name": trip[0], "tripped_at": trip[1].isoformat()} if trip else None
        answer = self.server.decide(
            self._request(plan.action, target, reason=reason, runs=list(plan.runs), trip=claim)
        )
        record: dict[str, Any] = answer["record"]
        return record

    def reconcile(self) -> Reconciled:
        return Reconciled()


class RemoteWatch:
    def __init__(self, server: Client, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.server = server
        self.clock = clock
        status = self._query("trigger_status").to_pylist()
        self.rules = [Rule(**{k: row[k] for k in named.rule_record_fields()}) for row in status]
        self._offered: set[tuple[str, datetime]] = set()
        self._lock = threading.Lock()

    def _query(self, name: str, /, **values: Any) -> Any:
        params = named.params_for(name, values).model_dump(mode="json")
        return self.server.query(name, params)

    def _trips(self) -> list[tuple[Trip, str | None]]:
        rows = self._query("trips", now=self.clock()).to_pylist()
        trips = []
        for row in rows:
            rule, evaluation = named.unpack_trigger(row)
            trips.append((Trip(rule, evaluation), row["decision_id"]))
        return trips

    def evaluate(self) -> list[Trip]:
        """Runs in a worker thread: the trips of `auto = false` rules the server has stored
        and nobody has decided, each returned once (the first time this console sees it)."""
        fresh = []
        for trip, decision_id in self._trips():
            key = (trip.rule.name, trip.evaluation.at)
            if trip.rule.auto or trip.rule.workflow is None or decision_id is not None:
                continue
            with self._lock:
                if key in self._offered:
                    continue
                self._offered.add(key)
            fresh.append(trip)
        return fresh

    def open_trip(self, name: str) -> Trip | str:
        """Runs in a worker thread: the rule's current trip, undecided, to decide now; or
        why there is none."""
        rule = decidable_rule(self.rules, name)
        if isinstance(rule, str):
            return rule
        found = next(((t, d) for t, d in self._trips() if t.rule.name == name), None)
        if found is None:
            return f"{name} is not tripped now"
        trip, decision_id = found
        if decision_id is not None:
            return f"{name}'s trip was decided already (decision {decision_id})"
        return trip
