"""The console's trigger watch: evaluate every rule now and then, keep each evaluation, and
act on a trip — by itself for `auto = true` rules (as operator `trigger:<name>`, through the
same journal), else by handing the trip to the app, which asks the operator.

A trip is decided at most once: the decision's id claims the trip in the store before the
decision is recorded (here for an automatic decision, by the desk for an operator's).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from quarterdeck.desk import DecisionDesk
from quarterdeck.formats import number
from quarterdeck.queries import decisions, triggers
from quarterdeck.queries.decisions import CONTROL_ROLE, Operator, Paths, Refused
from quarterdeck.queries.findings import DEFAULT_ROLLOUT_ROLE
from quarterdeck.queries.store import OwnCursor, Store
from quarterdeck.queries.triggers import Evaluation, Rule

#: Run ids a decision's reason lists before "and N more".
NAMED = 8


@dataclass(frozen=True)
class Trip:
    """A rule that has just tripped, and what was done about it already."""

    rule: Rule
    evaluation: Evaluation
    decision: dict[str, Any] | None = None  # recorded by the trigger itself (auto)
    refused: str | None = None  # why the automatic decision could not be taken

    @property
    def reason(self) -> str:
        return reason_for(self.rule, self.evaluation)


def reason_for(rule: Rule, ev: Evaluation) -> str:
    """The evidence, in words, as the reason of the decision a trip asks for."""
    sign = "<" if rule.below else ">"
    runs = list(ev.evidence_runs)
    named = ", ".join(runs[:NAMED]) + (
        f" and {len(runs) - NAMED} more" if len(runs) > NAMED else ""
    )
    return (
        f"trigger {rule.name} tripped: {rule.metric} = {number(ev.value)} {sign} "
        f"{number(rule.threshold)} over {triggers.window_text(rule.window_s)} "
        f"({ev.runs_in_window} runs in the window" + (f"; evidence: {named}" if named else "") + ")"
    )


def decidable_rule(rules: Sequence[Rule], name: str) -> Rule | str:
    """The rule `name`, if a trip of it is one decision an operator can take; else why not."""
    rule = next((r for r in rules if r.name == name), None)
    if rule is None:
        return f"no trigger {name!r} is configured"
    if rule.workflow is None:
        return (
            f"{name} watches every workflow: pause or roll back the workflows in its "
            "evidence one by one (Enter shows them)"
        )
    return rule


class Watch(Protocol):
    """What the console's flows use of a watch: this one, or `remote_desk.RemoteWatch`,
    which reads the trips a server stored."""

    rules: list[Rule]

    def evaluate(self) -> list[Trip]: ...

    def open_trip(self, name: str) -> Trip | str: ...


class TriggerWatch(OwnCursor):
    def __init__(
        self,
        store: Store,
        rules: Sequence[Rule],
        desk: DecisionDesk | None,
        *,
        stale_seconds: int,
        clock: Callable[[], datetime],
    ) -> None:
        self.rules = list(rules)
        self.desk = desk
        self.stale_seconds = stale_seconds
        self.clock = clock
        self._cursor = store.cursor()
        self._lock = threading.Lock()

    def evaluate(self) -> list[Trip]:
        """Runs in a worker thread: evaluate and keep every rule; the trips that began now."""
        if not self.rules:
            return []
        with self._lock:
            evaluations = triggers.evaluate_all(
                self._cursor, self.rules, at=self.clock(), stale_seconds=self.stale_seconds
            )
            started = triggers.record(self._cursor, evaluations)
            by_name = {rule.name: rule for rule in self.rules}
            return [self._act(by_name[ev.name], ev) for ev in started]

    def _act(self, rule: Rule, ev: Evaluation) -> Trip:
        if not rule.auto or rule.workflow is None:
            return Trip(rule, ev)
        if self.desk is None or self.desk.read_only:
            return Trip(rule, ev, refused="this console is read-only: no decision was taken")
        # planned and recorded as one step: an operator's decision through the same desk
        # lands before or after it, never between (so neither repeats the other)
        with self.desk.exclusive():
            return self._decide(rule, ev, self.desk.paths)

    def _decide(self, rule: Rule, ev: Evaluation, paths: Paths) -> Trip:
        # the rule in the config is the authority: it acts with the roles its decision needs
        operator = Operator(f"trigger:{rule.name}", frozenset({CONTROL_ROLE, DEFAULT_ROLLOUT_ROLE}))
        try:
            plan = decisions.plan(
                self._cursor,
                operator,
                rule.action,
                now=self.clock(),
                workflow=rule.workflow,
                stale_seconds=self.stale_seconds,
                include_stale=rule.decides_stale,
            )
            # a trip claimed is never decided again: claim it only if it can be recorded
            decisions.ready(self._cursor, paths)
        except Refused as exc:
            return Trip(rule, ev, refused=str(exc))
        decision_id = decisions.uuid7()
        if not triggers.claim_trip(self._cursor, rule.name, ev.at, decision_id):
            return Trip(rule, ev, refused="this trip has been decided already")
        record = decisions.record(
            self._cursor,
            plan,
            operator=operator,
            reason=reason_for(rule, ev),
            source=f"trigger:{rule.name}",
            paths=paths,
            now=self.clock(),
            decision_id=decision_id,
        )
        return Trip(rule, ev, decision=record)

    def open_trip(self, name: str) -> Trip | str:
        """Runs in a worker thread: the rule's current trip, undecided, to decide now; or
        why there is none."""
        rule = decidable_rule(self.rules, name)
        if isinstance(rule, str):
            return rule
        with self._lock:
            trip = triggers.open_trip(self._cursor, name)
            if trip is None:
                return f"{name} is not tripped now"
            tripped_at, decision_id = trip
            if decision_id is not None:
                return f"{name}'s trip was decided already (decision {decision_id})"
            ev = triggers.evaluate(
                self._cursor, rule, at=self.clock(), stale_seconds=self.stale_seconds
            )
        return Trip(rule, replace(ev, at=tripped_at))
