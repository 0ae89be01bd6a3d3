"""The Quarterdeck console: a Textual app over the store.

`make_app` is shared by the CLI and the tests. In the default embedded mode the console
process owns the store; every read goes through `StoreReader` (named queries, in worker
threads, on a cursor of their own).

Notifications name runs, workflows and records and carry errors that quote them, so every one
is shown as plain text (`notify` parses no markup) with control characters shown visibly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer

from quarterdeck import bundle
from quarterdeck.config import ConfigError, Settings
from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, utc_now
from quarterdeck.desk import DecisionDesk
from quarterdeck.console.live import FileNoticed, Followed, FollowFailed, LiveFeed
from quarterdeck.console.messages import DecisionWanted, EvidenceWanted, TripDecisionWanted
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.decisions import DecisionsScreen
from quarterdeck.console.screens.help import HelpScreen
from quarterdeck.console.screens.jump import Jump, JumpScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.screens.quarantine import QuarantineScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import LineageScreen
from quarterdeck.printable import printable
from quarterdeck.watch import TriggerWatch, Trip
from quarterdeck.queries.decisions import Plan, Refused
from quarterdeck.queries.journal import JournalError
from quarterdeck.queries.store import Store

APP_HELP = "Keyboard first: every action has a key; the footer shows the ones that work here."
#: Seconds between refreshes prompted by the follower (it may report several times a second).
LIVE_MIN_GAP = 0.8


class QuarterdeckApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Quarterdeck"

    BINDINGS = [
        Binding("colon", "jump", "Jump", id="app.jump"),
        Binding("Q", "quarantine", "Quarantine", id="app.quarantine"),
        Binding("D", "decisions", "Decisions", id="app.decisions"),
        Binding("q", "quit", "Quit", id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+r", "refresh", "Refresh", id="app.refresh"),
    ]

    def __init__(self, reader: StoreReader, settings: Settings, *, read_only: bool,
                 feed: LiveFeed | None = None, desk: DecisionDesk | None = None,
                 watch: TriggerWatch | None = None, notes: Iterable[str] = ()) -> None:
        super().__init__()
        self.reader = reader
        self.settings = settings
        self.read_only = read_only
        self.feed = feed
        self.desk = desk
        self.watch = watch
        self.notes = list(notes)  # said once the console is up
        self._refreshed = 0.0
        self._followed_shown = 0.0
        self._pending: Timer | None = None

    def on_mount(self) -> None:
        self.set_keymap(self.settings.keys)
        self.push_screen(MainScreen(self.reader, read_only=self.read_only,
                                    following=self.feed is not None))
        self.set_interval(self.settings.console.refresh, self._live_refresh)
        if self.feed is not None:
            self.feed.start(self)
        for note in self.notes:
            self.notify(note, timeout=10)
        if self.watch is not None and self.watch.rules:
            self._evaluate_triggers()
            self.set_interval(self.settings.console.evaluate_every, self._evaluate_triggers)

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = False) -> None:
        """As Textual's, but plain text whatever `markup` says (see the module's docstring)."""
        super().notify(printable(message), title=printable(title), severity=severity,
                       timeout=timeout, markup=False)

    # --- triggers ---------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="triggers", exit_on_error=False)
    def _evaluate_triggers(self) -> None:
        assert self.watch is not None
        trips = self.watch.evaluate()
        if trips:
            self.call_from_thread(self._tripped, trips)

    def _tripped(self, trips: list[Trip]) -> None:
        for trip in trips:
            rule = trip.rule
            self.notify(trip.reason, title=f"trigger {rule.name} TRIPPED", severity="error",
                        timeout=20)
            if trip.decision is not None:
                self.notify(f"#{trip.decision['seq']} {rule.on_trip} of {rule.workflow}'s "
                            f"active runs, recorded by trigger:{rule.name} and delivered",
                            title="automatic decision", severity="warning", timeout=20)
            elif trip.refused is not None:
                self.notify(trip.refused, title=f"trigger {rule.name}: no decision taken",
                            severity="warning", timeout=20)
            elif rule.workflow is not None:
                self._plan_decision(rule.on_trip, {"workflow": rule.workflow}, trip)
        self._live_refresh()

    # --- decisions --------------------------------------------------------------------------

    @on(DecisionWanted)
    def _decision_wanted(self, message: DecisionWanted) -> None:
        message.stop()
        self.decide(message.action, **message.target)

    def decide(self, action: str, **target: str) -> None:
        """Plan the decision (authority checked), then ask for confirmation and a reason."""
        if self.desk is None or self.desk.read_only:
            self.notify("read-only: this console takes no decisions", severity="warning")
            return
        self._plan_decision(action, target)

    @work(thread=True, group="decide", exit_on_error=False)
    def _plan_decision(self, action: str, target: dict[str, str],
                       trip: Trip | None = None) -> None:
        if self.desk is None or self.desk.read_only:
            return
        try:
            plan = self.desk.plan(action, **target)
        except Refused as exc:
            self.call_from_thread(self.notify, str(exc), title=f"cannot {action}",
                                  severity="error", timeout=12)
            return
        self.call_from_thread(self._confirm_decision, plan, trip)

    def _confirm_decision(self, plan: Plan, trip: Trip | None = None) -> None:
        shown: set[str] = set()
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                shown = set(screen.visible_runs())
        hidden = tuple(r for r in plan.runs if r not in shown) \
            if plan.target_kind == "workflow" else ()

        def decided(reason: str | None) -> None:
            if reason:
                self._record_decision(plan, reason, trip)

        why = f"Trigger {trip.rule.name} tripped." if trip else ""
        self.push_screen(DecideScreen(plan, hidden=hidden, reason=trip.reason if trip else "",
                                      why=why), decided)

    @work(thread=True, group="decide", exit_on_error=False)
    def _record_decision(self, plan: Plan, reason: str, trip: Trip | None = None) -> None:
        assert self.desk is not None
        try:
            record = self.desk.record(plan, reason)
        except (Refused, JournalError) as exc:
            self.call_from_thread(self.notify, str(exc), title="not recorded",
                                  severity="error", timeout=15)
            return
        if trip is not None and self.watch is not None:
            self.watch.claim(trip, record["decision_id"])
        self.call_from_thread(
            self.notify, f"#{record['seq']} {plan.headline} — delivered to the runners",
            title="decision recorded", timeout=8)
        self.call_from_thread(self._live_refresh)

    @on(TripDecisionWanted)
    def _trip_decision_wanted(self, message: TripDecisionWanted) -> None:
        message.stop()
        if self.watch is not None:
            self._open_trip(message.name)

    @work(thread=True, group="decide", exit_on_error=False)
    def _open_trip(self, name: str) -> None:
        assert self.watch is not None
        trip = self.watch.open_trip(name)
        if isinstance(trip, str):
            self.call_from_thread(self.notify, trip, severity="warning")
        else:
            self.call_from_thread(self._plan_decision, trip.rule.on_trip,
                                  {"workflow": str(trip.rule.workflow)}, trip)

    @on(EvidenceWanted)
    def _evidence_wanted(self, message: EvidenceWanted) -> None:
        message.stop()
        self._write_evidence(message.run_id)

    @work(thread=True, group="evidence", exit_on_error=False)
    def _write_evidence(self, run_id: str) -> None:
        now = self.reader.clock()
        collected = self.reader.evidence(run_id)
        if collected is None:
            self.call_from_thread(self.notify, f"no run {run_id} in the store",
                                  severity="error")
            return
        out = Path("evidence") / f"{run_id}-{now:%Y%m%dT%H%M%S}"
        try:
            bundle.write(out, [collected], generated_at=now, store=self.reader.path,
                         scope=f"run {run_id}")
        except bundle.BundleError as exc:
            self.call_from_thread(self.notify, str(exc), title="no evidence written",
                                  severity="error")
            return
        self.call_from_thread(self.notify, f"{out.resolve()} (report.md, evidence.json, "
                              "touched.csv/.parquet, MANIFEST)", title="evidence bundle written",
                              timeout=15)

    def action_decisions(self) -> None:
        if not isinstance(self.screen, DecisionsScreen):
            self.push_screen(DecisionsScreen(self.reader))

    # --- live -----------------------------------------------------------------------------

    def _live_refresh(self) -> None:
        """Query what is on screen again; paused while a dialog is open."""
        self._pending = None
        if not self.screen_stack or isinstance(self.screen, ModalScreen):
            return  # starting or stopping; or a dialog is open
        self._refreshed = time.monotonic()
        screen = self.screen
        reload = getattr(screen, "refresh_all", None) or getattr(screen, "reload", None)
        if reload is not None:
            reload()

    @on(Followed)
    def _followed(self, message: Followed) -> None:
        if time.monotonic() - self._followed_shown >= 1.0:  # each repaint costs, more so
            self._followed_shown = time.monotonic()          # under a dialog
            for screen in self.screen_stack:
                if isinstance(screen, MainScreen):
                    screen.show_follow(message.stats)
        if self._pending is None:  # at most one refresh per LIVE_MIN_GAP
            # (never 0: a zero-second Textual timer divides by zero when the app stops)
            wait = max(0.02, LIVE_MIN_GAP - (time.monotonic() - self._refreshed))
            self._pending = self.set_timer(wait, self._live_refresh)

    @on(FileNoticed)
    def _file_noticed(self, message: FileNoticed) -> None:
        self.notify(message.notice.message, title=f"log file {message.notice.kind}",
                    severity="warning", timeout=10)

    @on(FollowFailed)
    def _follow_failed(self, message: FollowFailed) -> None:
        self.notify(message.error, title="not following", severity="error", timeout=30)

    def action_refresh(self) -> None:
        for screen in self.screen_stack:
            reload = getattr(screen, "refresh_all", None) or getattr(screen, "reload", None)
            if reload is not None:
                reload()
        self.notify(f"refreshed at {self.reader.clock():%H:%M:%S} UTC", timeout=2)

    def action_jump(self) -> None:
        if not isinstance(self.screen, JumpScreen):
            self.push_screen(JumpScreen(), self._jump)

    def _jump(self, jump: Jump | None) -> None:
        if jump is None:
            return
        if jump.kind == "quarantine":
            self.action_quarantine()
        elif jump.kind == "pane":
            self._to_pane(jump.args[0])
        elif jump.kind == "run":
            self.push_screen(RunDetailScreen(self.reader, jump.args[0]))
        elif jump.kind == "record":
            self.push_screen(LineageScreen(self.reader, *jump.args))
        elif jump.kind == "decisions":
            self.action_decisions()
        elif jump.kind == "decide":
            self.decide(jump.args[0], workflow=jump.args[1])

    def action_quarantine(self) -> None:
        if not isinstance(self.screen, QuarantineScreen):
            self.push_screen(QuarantineScreen(self.reader))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield SystemCommand("Runs", "The run history (1)", self._to_runs)
        yield SystemCommand("Jump", "A pane, a run, a record's lineage (:)", self.action_jump)
        yield SystemCommand("Quarantine", "Lines the ingester rejected, and why (Q)",
                            self.action_quarantine)
        yield SystemCommand("Refresh", "Query the store again now (ctrl+r)",
                            self.action_refresh)
        yield SystemCommand("Decisions", "Every decision and how far it got (D)",
                            self.action_decisions)
        if self.desk is not None and self.desk.offers("pause"):
            workflow = self._workflow_under_cursor()
            if workflow:
                yield SystemCommand(f"Pause workflow {cells.palette(workflow)}",
                                    "Every active run of the selected run's workflow",
                                    lambda: self.decide("pause", workflow=workflow))
                yield SystemCommand(f"Resume workflow {cells.palette(workflow)}",
                                    "Every paused run of the selected run's workflow",
                                    lambda: self.decide("resume", workflow=workflow))
                yield SystemCommand(f"Roll back workflow {cells.palette(workflow)}",
                                    "Every active run of it; you type its name to confirm",
                                    lambda: self.decide("rollback", workflow=workflow))
        yield SystemCommand("Help", "The keys that work here (?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _workflow_under_cursor(self) -> str | None:
        for screen in self.screen_stack:
            if isinstance(screen, MainScreen):
                return screen.workflow_under_cursor()
        return None

    def _to_runs(self) -> None:
        self._to_pane("runs")

    def _to_pane(self, pane: str) -> None:
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if isinstance(self.screen, MainScreen):
            self.screen.action_pane(pane)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        about = [getattr(screen, "HELP", "") or ""]
        focused = self.focused
        for node in (focused.ancestors_with_self if focused else []):
            text = getattr(node, "HELP", None)
            if text and text not in about and node is not screen:
                about.append(text)
        about.append(APP_HELP)
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            description = binding.description or binding.action
            ours = binding.show or bool(binding.id)  # widgets' own cursor keys are listed below
            if not ours or not active.enabled or description in seen or binding.action == "help":
                continue
            seen.add(description)
            keys.append((self.get_key_display(binding), description))
        keys.append(("↑ ↓ pgup pgdn home end", "move in a table"))
        keys.extend(getattr(screen, "HELP_KEYS", ()))
        keys.append(("?", "this help"))
        keys.append(("ctrl+p", "command palette"))
        title = getattr(screen, "HELP_TITLE", "Quarterdeck")
        self.push_screen(HelpScreen(f"Help · {title}", [a for a in about if a], keys))


def binding_ids() -> set[str]:
    """Every binding id a `[keys]` table in the config may remap."""
    from quarterdeck.console.screens.approval import ApprovalScreen
    from quarterdeck.console.screens.base import DataScreen
    from quarterdeck.console.screens.touch import TouchScreen
    from quarterdeck.console.screens.two_tables import TwoTablesScreen
    from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
    from quarterdeck.console.widgets.pane import Pane
    from quarterdeck.console.widgets.runs_pane import RunsPane
    from quarterdeck.console.widgets.touched_pane import TouchedPane
    from quarterdeck.console.widgets.triggers_pane import TriggersPane

    ids: set[str] = set()
    for owner in (QuarterdeckApp, MainScreen, Pane, RunsPane, TouchedPane, ApprovalsPane,
                  TriggersPane,
                  DataScreen, RunDetailScreen, TouchScreen, TwoTablesScreen, ApprovalScreen,
                  QuarantineScreen, HelpScreen, JumpScreen, DecideScreen):
        ids.update(b.id for b in owner.BINDINGS if isinstance(b, Binding) and b.id)
    return ids


def make_app(
    store: Store,
    settings: Settings,
    *,
    read_only: bool = False,
    clock: Callable[[], datetime] = utc_now,
    feed: LiveFeed | None = None,
    desk: DecisionDesk | None = None,
    watch: TriggerWatch | None = None,
    notes: Iterable[str] = (),
) -> QuarterdeckApp:
    unknown = sorted(set(settings.keys) - binding_ids())
    if unknown:
        raise ConfigError(
            f"{settings.source or 'config'}: keys: no binding has the id "
            f"{', '.join(repr(u) for u in unknown)}; known ids: {', '.join(sorted(binding_ids()))}"
        )
    reader = StoreReader(store, stale_seconds=int(settings.store.stale_after), clock=clock,
                         rules=settings.rules())
    return QuarterdeckApp(reader, settings, read_only=read_only, feed=feed, desk=desk,
                          watch=watch, notes=notes)
