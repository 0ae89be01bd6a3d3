"""The trigger watch in the console: every rule evaluated now and then, and each trip said.

`start` evaluates the rules at once and then every `[console] evaluate_every` seconds, in a
worker of which one runs at a time (a slow evaluation is not stacked behind itself). The watch
(`quarterdeck.watch`, headless) keeps every evaluation and acts on an `auto = true` rule by
itself; this flow says each trip in a notification, with what the watch did about it, and hands
a trip nobody has decided yet (of a rule with a workflow) to the decisions flow, which asks the
operator with the evidence as the reason. What is on screen is then queried again, so the
Triggers pane shows the trip.

As a server's client the watch (`remote_desk.RemoteWatch`) evaluates nothing: the server does,
and the watch reads the trips it stored, handing this flow each undecided one once.

A small object the app owns rather than a mixin (see `decisions_flow`); it does nothing
without a watch or rules.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from quarterdeck.console.decisions_flow import DecisionsFlow
from quarterdeck.watch import Trip, Watch

if TYPE_CHECKING:
    from quarterdeck.console.app import QuarterdeckApp


class TriggersFlow:
    def __init__(self, app: QuarterdeckApp, watch: Watch | None, decisions: DecisionsFlow) -> None:
        self.app = app
        self.watch = watch
        self.decisions = decisions

    def start(self, every: float) -> None:
        if self.watch is not None and self.watch.rules:
            self.evaluate()
            self.app.set_interval(every, self.evaluate)

    def evaluate(self) -> None:
        self.app.run_worker(
            self._evaluate,
            name="evaluating the triggers",
            group="triggers",
            exclusive=True,
            thread=True,
            exit_on_error=False,
        )

    def _evaluate(self) -> None:
        assert self.watch is not None
        trips = self.watch.evaluate()
        if trips:
            self.app.call_from_thread(self._tripped, trips)

    def _tripped(self, trips: list[Trip]) -> None:
        for trip in trips:
            rule = trip.rule
            self.app.notify(
                trip.reason, title=f"trigger {rule.name} TRIPPED", severity="error", timeout=20
            )
            if trip.decision is not None:
                self.app.notify(
                    f"#{trip.decision['seq']} {rule.on_trip} of {rule.workflow}'s "
                    f"active runs, recorded by trigger:{rule.name} and delivered",
                    title="automatic decision",
                    severity="warning",
                    timeout=20,
                )
            elif trip.refused is not None:
                self.app.notify(
                    trip.refused,
                    title=f"trigger {rule.name}: no decision taken",
                    severity="warning",
                    timeout=20,
                )
            elif rule.workflow is not None:
                self.decisions.ask(rule.on_trip, {"workflow": rule.workflow}, trip)
        self.app.reload_screen()
