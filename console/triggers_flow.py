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

A trip's dialog opens by itself, so it waits for a moment when it cannot take a key meant for
something else: no dialog open and no key pressed for `pressed.SEEN_S` (a key pressed still
before it was on screen is not its: the app takes the dialog back, gives the key to the screen
below, and the dialog is asked for again; `DecideScreen.by_itself`), and not while another
trip's dialog is being planned, so two trips never stack. One dialog per trip: while a
rule's trip waits undecided (its dialog cancelled), the rule tripping again opens none; the
Triggers pane says it waits and `d` decides it. A cancel sets aside every trip waiting at that
moment, not only the dialog's: the next one does not open at once in its place (with several
rules tripped, Esc would only ever lead to another dialog). Each waits in the Triggers pane for
`d`, the status bar counts them, and a rule that trips later opens its dialog as usual. A
console that takes no decisions (read-only) keeps no trip waiting. An evaluation lets go of a
rule whose trip has been decided (here, by another console, or automatically) or has ended.

A small object the app owns rather than a mixin (see `decisions_flow`); it does nothing
without a watch or rules.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from textual.screen import ModalScreen

from quarterdeck.console.decisions_flow import DecisionsFlow
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.watch import Trip, Watch

#: Seconds a trip's notification stays: long enough to read, short enough not to cover the
#: dialog it opens, or the table, for long (the Triggers pane keeps saying it).
TRIP_NOTE_S = 8

if TYPE_CHECKING:
    from quarterdeck.console.app import QuarterdeckApp


class TriggersFlow:
    def __init__(self, app: QuarterdeckApp, watch: Watch | None, decisions: DecisionsFlow) -> None:
        self.app = app
        self.watch = watch
        self.decisions = decisions
        #: rule name -> its trip handed to the operator and not decided yet
        self.waiting: dict[str, Trip] = {}
        #: the waiting trips whose dialog opens only when asked for (`d`): set aside by a cancel
        self.set_aside: set[str] = set()
        decisions.trip_decided = self._decided
        decisions.trip_withdrawn = self._ask_later
        decisions.trip_cancelled = self._cancelled
        decisions.trip_still_asked = self._still_asked

    def _decided(self, name: str) -> None:
        """A trip's decision was recorded from this console: it no longer waits."""
        self._settle([name])

    def _settle(self, names: list[str]) -> None:
        for name in names:
            self.waiting.pop(name, None)
            self.set_aside.discard(name)
        self._count()

    def _count(self) -> None:
        """The status bar counts the trips waiting for this operator."""
        main = self.app.main_screen()
        if main is not None:
            main.show_undecided(len(self.waiting))

    def _still_asked(self, trip: Trip) -> bool:
        name = trip.rule.name
        return self.waiting.get(name) is trip and name not in self.set_aside

    def _cancelled(self, trip: Trip) -> None:
        """The operator cancelled a trip's dialog: it and every trip waiting now wait for `d`."""
        self.set_aside |= set(self.waiting)
        count = len(self.waiting)
        self.app.notify(
            f"{count} tripped trigger{'s' if count != 1 else ''} left undecided: "
            f"d on its row in Triggers (4) decides {'it' if count == 1 else 'one'}",
            title="not decided",
            severity="warning",
            timeout=TRIP_NOTE_S,
        )
        self._count()

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
        settled = [n for n in list(self.waiting) if isinstance(self.watch.open_trip(n), str)]
        if trips or settled:
            self.app.call_from_thread(self._tripped, trips, settled)

    def _ask_later(self, trip: Trip) -> None:
        """Open the trip's dialog (again) once the operator pauses: not before `SEEN_S` (a
        dialog taken back by a key waits until that key has gone where it was meant to)."""
        self.app.set_timer(SEEN_S, lambda: self._ask(trip))

    def _ask(self, trip: Trip) -> None:
        """Open the trip's dialog once the operator is not in a dialog nor typing."""
        app, rule = self.app, trip.rule
        if not self._still_asked(trip):
            return  # decided meanwhile, or set aside by a cancel
        if (
            isinstance(app.screen, ModalScreen)
            or self.decisions.planning_by_itself  # another trip's dialog is on its way
            or getattr(app, "type_ahead", None) is not None  # keys wait for an asked dialog
            or time.monotonic() - app.last_key_at < SEEN_S
        ):
            self._ask_later(trip)
            return
        self.decisions.ask(rule.action, {"workflow": str(rule.workflow)}, trip, by_itself=True)

    def _tripped(self, trips: list[Trip], settled: list[str]) -> None:
        self._settle(settled)
        for trip in trips:
            rule = trip.rule
            self.app.notify(
                trip.reason,
                title=f"trigger {rule.name} TRIPPED",
                severity="error",
                timeout=TRIP_NOTE_S,
            )
            if trip.decision is not None:
                self.app.notify(
                    f"#{trip.decision['seq']} {rule.action} of {rule.workflow}'s "
                    f"active runs, recorded by trigger:{rule.name} and delivered",
                    title="automatic decision",
                    severity="warning",
                    timeout=TRIP_NOTE_S,
                )
            elif trip.refused is not None:
                self.app.notify(
                    trip.refused,
                    title=f"trigger {rule.name}: no decision taken",
                    severity="warning",
                    timeout=TRIP_NOTE_S,
                )
            elif rule.workflow is not None and rule.name in self.waiting:
                self.app.notify(
                    "its earlier trip still waits for a decision: d in Triggers (4)",
                    title=f"trigger {rule.name}",
                    severity="warning",
                    timeout=8,
                )
            elif rule.workflow is not None and self.decisions.can_decide:
                self.waiting[rule.name] = trip
                self._ask(trip)
        self._count()
        self.app.reload_screen()
