"""Deciding from the console: plan, confirm in a dialog, record — for a key, the jump line, the
palette, or a tripped trigger.

A decision is planned first, in a worker: the desk checks the operator's authority there, and a
refusal is said at once, before any dialog. The plan then opens `DecideScreen` (the reason box
focused, every run named, those not on screen counted), and what the operator confirms is
recorded in a worker again, with the reason given: the runs recorded are the plan's, the ones
the dialog named. A trip's decision claims the trip as it is recorded (by the desk, or the
server), so a trip is decided once, and the trigger flow hears of it at once
(`trip_decided`): the Triggers pane stops saying it waits without waiting for an evaluation.
What is on screen is queried again when a decision is recorded.

The keys typed after the decision key, while the plan is made, are held by the app
(`pressed.TypeAhead`) and given to the dialog once it has the focus; a refusal lets them go,
said with the refusal.

What it says goes in notifications: a refusal stays long enough to read (10 s), a decision
recorded is news for 4 s (the Decisions view, `D`, keeps it and how each run answered).

The flow is a small object the app owns, not a mixin: it holds the desk and the watch, runs its
workers on the app (so a worker that raises is reported like any other, see the app) and speaks
to the operator through it. The app's message handlers, the jump line and the palette call it.
(A mixin's `@on` handlers would be silently ignored unless the mixin were an App itself:
Textual registers them through its own metaclass.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.app import SystemCommand

from quarterdeck.console import cells
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.console.screens.decide import VERBS, DecideScreen
from quarterdeck.desk import Desk
from quarterdeck.queries.decisions import JournalError, Plan, Refused, workflow_scope
from quarterdeck.watch import Trip, Watch

if TYPE_CHECKING:
    from quarterdeck.console.app import QuarterdeckApp


class DecisionsFlow:
    def __init__(self, app: QuarterdeckApp, desk: Desk | None, watch: Watch | None) -> None:
        self.app = app
        self.desk = desk
        self.watch = watch
        self.planning_by_itself = 0  # trips' dialogs being planned, not open yet (`ask`)
        #: told (on the UI thread) the rule whose trip a decision recorded here settled
        self.trip_decided: Callable[[str], None] = lambda name: None
        #: told of a trip whose dialog was taken back before it showed (`withdraw`)
        self.trip_withdrawn: Callable[[Trip], None] = lambda trip: None
        #: told of a trip whose dialog the operator cancelled
        self.trip_cancelled: Callable[[Trip], None] = lambda trip: None
        #: asked, as a trip's dialog that opens by itself is about to open, whether it still
        #: should (not if it was decided, or set aside by a cancel, while it was planned)
        self.trip_still_asked: Callable[[Trip], bool] = lambda trip: True
        self._trips: dict[DecideScreen, Trip] = {}  # the open dialogs of trips

    @property
    def can_decide(self) -> bool:
        """This console takes decisions (it has a desk, and is not read-only)."""
        return self.desk is not None and not self.desk.read_only

    def decide(self, action: str, **target: str) -> None:
        """Plan the decision (authority checked), then ask for confirmation and a reason."""
        if not self.can_decide:
            self.app.drop_held_keys("this console is read-only")
            self.app.notify("read-only: this console takes no decisions", severity="warning")
            return
        self.app.hold_keys(action)  # (the jump line's and the palette's: the key's are held)
        self.ask(action, target)

    def workflow_commands(self, workflow: str) -> Iterator[SystemCommand]:
        """The palette's workflow decisions on `workflow`, worded as the dialog's headline
        words them ("Resume the paused runs of invoice-posting"; the dialog then counts them),
        each with the Runs pane's key for it."""
        for action, key in (("pause", "P"), ("resume", "U"), ("rollback", "B")):
            scope = workflow_scope(action, cells.palette(workflow))
            yield SystemCommand(
                f"{VERBS[action]} workflow {cells.palette(workflow)}",
                f"{scope[0].upper()}{scope[1:]} ({key})",
                partial(self.decide, action, workflow=workflow),
            )

    def decide_trip(self, name: str) -> None:
        """The decision a tripped rule asks for (`d` in the Triggers pane), if it is tripped
        and nobody has decided it yet."""
        if self.watch is not None:
            self.app.hold_keys(f"decide {name}'s trip")
            self._in_thread(self._open_trip, name, doing=f"opening trigger {name}'s trip")
        else:
            self.app.drop_held_keys("this console evaluates no trigger")

    def ask(
        self,
        action: str,
        target: dict[str, Any],
        trip: Trip | None = None,
        *,
        by_itself: bool = False,
    ) -> None:
        """Plan in a worker, then open the dialog (its reason filled in from a trip). A
        `stale_runs` rule's trip covers the workflow's stale runs too, as an automatic trip's
        decision does (`watch`, `Rule.decides_stale`). `by_itself`: no key asked for it (a
        trip did); until its dialog is open or refused, `planning_by_itself` counts it."""
        if trip is not None and trip.rule.decides_stale:
            target = {**target, "include_stale": True}
        self.planning_by_itself += by_itself
        self._in_thread(self._plan, action, target, trip, by_itself, doing=f"planning {action}")

    # --- in workers and back --------------------------------------------------------------

    def _in_thread(self, work: Callable[..., None], *args: Any, doing: str) -> None:
        self.app.run_worker(
            partial(work, *args), name=doing, group="decide", thread=True, exit_on_error=False
        )

    def _open_trip(self, name: str) -> None:
        assert self.watch is not None
        trip = self.watch.open_trip(name)
        if isinstance(trip, str):
            self.app.call_from_thread(self.app.drop_held_keys, "there is nothing to decide")
            self.app.call_from_thread(self.app.notify, trip, severity="warning")
        else:
            self.app.call_from_thread(
                self.ask, trip.rule.action, {"workflow": str(trip.rule.workflow)}, trip
            )

    def _plan(
        self, action: str, target: dict[str, Any], trip: Trip | None, by_itself: bool
    ) -> None:
        plan: Plan | None = None
        try:
            if self.desk is not None and not self.desk.read_only:
                plan = self.desk.plan(action, **target)
        except Refused as exc:
            self.app.call_from_thread(
                self.app.notify,
                str(exc),
                title=_by_trigger(trip, f"cannot {action}"),
                severity="error",
                timeout=10,
            )
        finally:  # whatever became of the plan, it is no longer being planned
            self.app.call_from_thread(self._confirm, plan, trip, by_itself)

    def _confirm(self, plan: Plan | None, trip: Trip | None, by_itself: bool) -> None:
        self.planning_by_itself -= by_itself
        if plan is None:
            if not by_itself:
                self.app.drop_held_keys("it was refused")
            return
        if by_itself and trip is not None and not self.trip_still_asked(trip):
            return
        if by_itself and trip is not None and time.monotonic() - self.app.last_key_at < SEEN_S:
            self.trip_withdrawn(trip)  # the operator typed while it was planned: not now
            return
        main = self.app.main_screen()
        hidden = _not_listed(plan, main.visible_runs() if main is not None else None)

        def decided(reason: str | None) -> None:
            if reason:
                if main is not None:
                    main.current_pane().deciding(plan)
                self._in_thread(self._record, plan, reason, trip, doing=f"recording {plan.action}")
            elif trip is not None:
                self.trip_cancelled(trip)

        why = f"Trigger {trip.rule.name} tripped." if trip else ""
        dialog = DecideScreen(
            plan,
            hidden=hidden,
            reason=trip.reason if trip else "",
            why=why,
            by_itself=by_itself,
            on_open=None if by_itself else self._give_held_keys,
        )
        if trip is not None:
            self._trips = {s: t for s, t in self._trips.items() if s in self.app.screen_stack}
            self._trips[dialog] = trip
        self.app.push_screen(dialog, decided)

    def rows_shown(self) -> None:
        """A pane showed new rows. Under a dialog that says which of its runs are not on
        screen, that is worked out again: a refresh begun before it opened may land under it
        (the refreshes asked for while it is open wait until it closes)."""
        stack = self.app.screen_stack  # (empty as the console quits: rows may land then)
        dialog, main = (stack[-1] if stack else None), self.app.main_screen()
        if isinstance(dialog, DecideScreen) and dialog.hidden is not None and main is not None:
            hidden = _not_listed(dialog.plan, main.listed_runs())
            if hidden is not None:
                dialog.show_hidden(hidden)

    async def _give_held_keys(self, dialog: DecideScreen) -> None:
        """The dialog asked for is open, its reason box focused: the keys typed since the
        decision key are its (`pressed.TypeAhead`)."""
        if dialog is not self.app.screen:  # closed already (a click), or under a trip's
            self.app.drop_held_keys("its dialog was no longer on top")
            return
        held = self.app.take_held_keys()
        if held is not None:
            dialog.took_keys(time.monotonic())  # an Enter among them decides nothing
            await self.app.replay(held.keys)

    def withdraw(self, dialog: Any) -> None:
        """A dialog that opened by itself was taken back before it showed (the app gave the
        key pressed meanwhile to the screen below): its trip is asked for again."""
        trip = self._trips.pop(dialog, None)
        if trip is not None:
            self.trip_withdrawn(trip)

    def _record(self, plan: Plan, reason: str, trip: Trip | None) -> None:
        assert self.desk is not None
        try:
            claim = (trip.rule.name, trip.evaluation.at) if trip is not None else None
            record = self.desk.record(plan, reason, trip=claim)
        except (Refused, JournalError) as exc:
            self.app.call_from_thread(
                self.app.notify,
                str(exc),
                title=_by_trigger(trip, "not recorded"),
                severity="error",
                timeout=10,
            )
            return
        self.app.call_from_thread(
            self.app.notify,
            f"#{record['seq']} {plan.headline} — delivered to the runners",
            title="decision recorded",
            timeout=4,
        )
        if trip is not None:  # before the reload, so the Triggers pane shows it decided
            self.app.call_from_thread(self.trip_decided, trip.rule.name)
        self.app.call_from_thread(self.app.reload_screen)


def _not_listed(plan: Plan, listed: list[str] | None) -> tuple[str, ...] | None:
    """The runs of a workflow decision that `listed` (the Runs pane's rows) leaves out; None
    where there is nothing to compare with (another pane, or not a workflow's decision)."""
    if plan.target_kind != "workflow" or listed is None:
        return None
    shown = set(listed)
    return tuple(r for r in plan.runs if r not in shown)


def _by_trigger(trip: Trip | None, title: str) -> str:
    """A notification's title, naming the trigger whose trip it is about (if it is one's)."""
    return f"trigger {trip.rule.name}: {title}" if trip is not None else title
