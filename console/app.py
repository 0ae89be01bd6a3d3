"""The Quarterdeck console: a Textual app over the store.

`make_app` is shared by the CLI and the tests. In embedded mode the console process owns the
store; as the client of `quarterdeck serve` it never opens it. Either way every read goes
through `StoreReader` (named queries, in worker threads), every decision through a desk
(`desk.Desk`: in-process, or `remote_desk.RemoteDesk`), and what tells the app the store
changed is a feed posting `Followed` (its own follower, or the server's change feed). A
console that is a server's client refreshes on the server's changes, not on a timer, and
while the server is gone it says so and queries nothing.

The app is the frame: the screens, the refresh timers, the follower's messages, jump, the
palette and help. What an operator asks it to carry out lives in flows it owns and routes
messages to — deciding (`decisions_flow`), writing evidence (`evidence_flow`), the trigger
watch's trips (`triggers_flow`) — and the keys a config may remap are found in `keys`.
Screens are asked what they offer through the Protocols in `screens.offers`.

Every worker failure is seen: the app shows a notification with the error for its own workers
(the flows') and for each `WorkFailed` a screen or widget sends about one of theirs.

Notifications name runs, workflows and records and carry errors that quote them, so every one
is shown as plain text (`notify` parses no markup) with control characters shown visibly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from textual import events, on
from textual.app import App, SystemCommand
from textual.await_complete import AwaitComplete
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.timer import Timer
from textual.worker import Worker, WorkerState

from quarterdeck.client import Client
from quarterdeck.config import Settings
from quarterdeck.console.data import StoreReader, utc_now
from quarterdeck.console.decisions_flow import DecisionsFlow
from quarterdeck.console.evidence_flow import EvidenceFlow
from quarterdeck.console.keys import check_remaps
from quarterdeck.console.live import (
    FileNoticed,
    Followed,
    FollowFailed,
    LiveFeed,
    ServerBack,
    ServerFeed,
    ServerLost,
)
from quarterdeck.console.messages import (
    DecisionWanted,
    EvidenceWanted,
    TripDecisionWanted,
    WorkFailed,
)
from quarterdeck.console.pressed import (
    HOLD_S,
    TypeAhead,
    enter_moves_on,
    read_escape_first,
    typed_into,
)
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.decisions import DecisionsScreen
from quarterdeck.console.screens.help import HelpScreen
from quarterdeck.console.screens.jump import Jump, JumpScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.screens.offers import Helpable, Reloadable
from quarterdeck.console.screens.quarantine import QuarantineScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import LineageScreen
from quarterdeck.console.triggers_flow import TriggersFlow
from quarterdeck.console.widgets.pane import Pane
from quarterdeck.desk import Desk
from quarterdeck.printable import printable
from quarterdeck.queries.store import Store
from quarterdeck.watch import Watch

Feed = LiveFeed | ServerFeed

APP_HELP = "Keyboard first: every action has a key; the footer shows the ones that work here."
#: Seconds between refreshes prompted by the follower (it may report several times a second).
#: A server reports about every quarter second: part of a second's budget from a line written
#: to it on screen (server/serve.py).
LIVE_MIN_GAP = 0.3


class QuarterdeckApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "Quarterdeck"

    BINDINGS = [
        # priority: see `pressed` (it runs before the keys typed after it are read)
        Binding("colon", "jump", "Jump", id="app.jump", priority=True),
        # (off the footer, which must fit 80 columns with a pane's own keys; in ? help)
        Binding("Q", "quarantine", "Quarantine", show=False, id="app.quarantine"),
        Binding("D", "decisions", "Decisions", id="app.decisions"),
        Binding("q", "quit", "Quit", show=False, id="app.quit"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("ctrl+r", "refresh", "Refresh", show=False, id="app.refresh"),
    ]

    def __init__(
        self,
        reader: StoreReader,
        settings: Settings,
        *,
        read_only: bool,
        feed: Feed | None = None,
        desk: Desk | None = None,
        watch: Watch | None = None,
        notes: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self.reader = reader
        self.settings = settings
        self.read_only = read_only
        self.feed = feed
        self.desk = desk  # the panes ask it which decision keys to show
        self.notes = list(notes)  # said once the console is up
        self.decisions_flow = DecisionsFlow(self, desk, watch)
        self.evidence_flow = EvidenceFlow(self, reader)
        self.triggers_flow = TriggersFlow(self, watch, self.decisions_flow)
        self._refreshed = 0.0
        self._followed_shown = 0.0
        self._pending: Timer | None = None
        self.server_lost = False  # a server's client whose server does not answer now
        #: When the key whose bindings run now was pressed (None outside a key's handling):
        #: a pane asks it which row the operator saw (`pressed`).
        self.pressed_at: float | None = None
        self.last_key_at = 0.0  # when the operator last pressed a key (monotonic)
        #: Dialogs that opened by themselves (a trip's), and when each was first on screen
        #: (None until then): keys pressed before that are not theirs.
        self.unasked: dict[Screen[Any], float | None] = {}
        #: The keys read since the operator asked for a decision, held for its dialog.
        self.type_ahead: TypeAhead | None = None
        self._type_ahead_timer: Timer | None = None

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """As Textual's, in a terminal that reads Esc and a key typed at once as both
        (`pressed.EscapeFirst`)."""
        read_escape_first()
        return super().run(*args, **kwargs)

    def on_mount(self) -> None:
        self.set_keymap(self.settings.keys)
        self.push_screen(
            MainScreen(
                self.reader, read_only=self.read_only, following=isinstance(self.feed, LiveFeed)
            )
        )
        if not self.reader.served:  # a server's changes say when to query again
            self.set_interval(self.settings.console.refresh, self.reload_screen)
        if self.feed is not None:
            self.feed.start(self)
        for note in self.notes:
            self.notify(note, timeout=10)
        self.triggers_flow.start(self.settings.console.evaluate_every)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Paste) and not event.is_forwarded and self.type_ahead:
            self.type_ahead.keys.append(event)  # the dialog's, once it is open
            return
        if not isinstance(event, events.Key):
            await super().on_event(event)
            return
        if not event.is_forwarded:  # read in from the terminal
            self.last_key_at = event.time
            if self.type_ahead is not None:
                self.type_ahead.keys.append(event)
                return
            self._before_shown(event)
            if enter_moves_on(self.focused, event):
                self.hold_keys("enter", then_read=True)
        self.pressed_at = event.time  # read in, or bubbled back up: its bindings run here
        try:
            await super().on_event(event)
        finally:
            self.pressed_at = None

    def hold_keys(
        self, what: str, *, seconds: float = HOLD_S, why: str = "", then_read: bool = False
    ) -> None:
        """Hold the keys read from now on for the dialog of the decision asked for (`what`):
        its dialog takes them (`take_held_keys`, `replay`), or `drop_held_keys` lets them go
        (see `pressed`), by itself after `seconds` (saying `why`). Asked again while holding,
        the hold keeps its keys and ends `seconds` from now. `then_read`: the keys are not a
        dialog's but wait for a key read before them to act (`read_held_keys`), and are read
        after `seconds` at the latest, never dropped."""
        if self.type_ahead is None:
            self.type_ahead = TypeAhead(what)
        if self._type_ahead_timer is not None:
            self._type_ahead_timer.stop()
        self._type_ahead_timer = self.set_timer(
            seconds,
            self.read_held_keys
            if then_read
            else lambda: self.drop_held_keys(why or f"no dialog came within {seconds:g} s"),
        )

    async def read_held_keys(self) -> None:
        """The keys held so far read now, where they go now (`hold_keys` with `then_read`)."""
        held = self.take_held_keys()
        if held is not None:
            await self.replay(held.keys)

    def take_held_keys(self) -> TypeAhead | None:
        """The keys held so far, the hold ended: keys read from now on go where they go."""
        held, self.type_ahead = self.type_ahead, None
        if self._type_ahead_timer is not None:
            self._type_ahead_timer.stop()
            self._type_ahead_timer = None
        return held

    async def replay(self, keys: Iterable[events.Key | events.Paste]) -> None:
        """Read held keys now, in order, as if typed now (before any key read after them)."""
        for event in keys:
            await self.on_event(event)

    def drop_held_keys(self, why: str) -> None:
        """Let the held keys go (no dialog will take them), and say so."""
        held = self.take_held_keys()
        said = held.dropped(why) if held is not None else None
        if said:
            self.notify(said, severity="warning", timeout=8)

    def push_screen(self, screen: Any, *args: Any, **kwargs: Any) -> Any:
        """As Textual's; a dialog that opened by itself (`by_itself`) is remembered, with the
        moment it is first on screen (`_display`)."""
        pushed = super().push_screen(screen, *args, **kwargs)
        if getattr(screen, "by_itself", False):
            self.unasked[screen] = None
        return pushed

    def pop_screen(self) -> AwaitComplete:
        """As Textual's, but never the Runs screen the console stands on. Textual's `dismiss`
        pops whatever is on top, so a dialog or jump box dismissed twice (two Enters read
        before the first closed it, a burst of Esc) would pop the screen below it, down to an
        empty one nothing leads back from."""
        if isinstance(self.screen, MainScreen):
            return AwaitComplete.nothing()
        return super().pop_screen()

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        """As Textual's (it writes the top screen's frame to the terminal); the first frame of
        a dialog that opened by itself is the moment it is on screen. Not `call_after_refresh`:
        that runs once the screen is idle, which under live rows and the dialog's own mounting
        came up to a second after the dialog was drawn, and keys typed into the drawn dialog
        were taken for keys pressed before it. (Called headless too, so Pilot tests see it.)"""
        super()._display(screen, renderable)
        if (
            renderable is not None
            and not self._batch_count  # (Textual draws nothing then)
            and screen is self.screen
            and self.unasked.get(screen, 0.0) is None
        ):
            self.unasked[screen] = time.monotonic()
            if isinstance(screen, DecideScreen):
                screen.first_shown(self.unasked[screen])

    def _before_shown(self, event: events.Key) -> None:
        """A key pressed before the dialog on top, which opened by itself, was on screen is
        not the dialog's: it neither confirms nor cancels it. It goes where it was meant to,
        the screen below, as if the dialog had not opened yet: the dialog is taken back
        (nothing decided, nothing cancelled) and opens again once the operator pauses
        (`DecisionsFlow.withdraw`)."""
        for screen in [s for s in self.unasked if s not in self.screen_stack]:
            del self.unasked[screen]  # closed
        if self.screen not in self.unasked:
            return
        shown = self.unasked[self.screen]
        if shown is not None and event.time >= shown:
            return
        screen = self.screen
        del self.unasked[screen]
        self.pop_screen()  # at once: the key below goes to the screen under it
        self.decisions_flow.withdraw(screen)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """As Textual's, but plain text whatever `markup` says (see the module's docstring)."""
        super().notify(
            printable(message),
            title=printable(title),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    def main_screen(self) -> MainScreen | None:
        return next((s for s in self.screen_stack if isinstance(s, MainScreen)), None)

    # --- what the flows carry out -----------------------------------------------------------

    @on(DecisionWanted)
    def _decision_wanted(self, message: DecisionWanted) -> None:
        message.stop()
        self.decisions_flow.decide(message.action, **message.target)

    @on(Pane.Shown)
    def _rows_shown(self, message: Pane.Shown) -> None:
        message.stop()
        self.decisions_flow.rows_shown()

    @on(TripDecisionWanted)
    def _trip_decision_wanted(self, message: TripDecisionWanted) -> None:
        message.stop()
        self.decisions_flow.decide_trip(message.name)

    @on(EvidenceWanted)
    def _evidence_wanted(self, message: EvidenceWanted) -> None:
        message.stop()
        self.evidence_flow.write(message.run_id)

    # --- failures ---------------------------------------------------------------------------

    @on(Worker.StateChanged)
    def _worker_failed(self, event: Worker.StateChanged) -> None:
        """The app's own workers (the flows'); a screen's or widget's send `WorkFailed`."""
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(
                WorkFailed(event.worker.name or "working in the background", event.worker.error)
            )

    @on(WorkFailed)
    def _work_failed(self, message: WorkFailed) -> None:
        message.stop()
        self.notify(
            str(message.error) or repr(message.error),
            title=f"error while {message.doing}",
            severity="error",
            timeout=15,
            markup=False,
        )  # an error quoting SQL has brackets that are not markup

    # --- live -----------------------------------------------------------------------------

    def reload_screen(self) -> None:
        """Query what is on screen again; paused while a dialog is open."""
        self._pending = None
        if not self.screen_stack or isinstance(self.screen, ModalScreen) or self.server_lost:
            return  # starting or stopping; a dialog is open; or nobody to ask
        self._refreshed = time.monotonic()
        if isinstance(self.screen, Reloadable):
            self.screen.reload()

    @on(Followed)
    def _followed(self, message: Followed) -> None:
        if time.monotonic() - self._followed_shown >= 1.0:  # each repaint costs, more so
            self._followed_shown = time.monotonic()  # under a dialog
            main = self.main_screen()
            if main is not None and message.flow is not None:
                main.show_follow(message.flow)
        if self._pending is None:  # at most one refresh per LIVE_MIN_GAP
            # (never 0: a zero-second Textual timer divides by zero when the app stops)
            wait = max(0.02, LIVE_MIN_GAP - (time.monotonic() - self._refreshed))
            self._pending = self.set_timer(wait, self.reload_screen)

    @on(ServerLost)
    def _server_lost(self, message: ServerLost) -> None:
        self.server_lost = True
        main = self.main_screen()
        if main is not None:
            main.show_server(message.error)
        self.notify(message.error, title="the server is gone", severity="error", timeout=10)

    @on(ServerBack)
    def _server_back(self, message: ServerBack) -> None:
        self.server_lost = False
        main = self.main_screen()
        if main is not None:
            main.show_server(None)
        said = "a new server serves the store" if message.restarted else "the server answers"
        self.notify(said, title="reconnected", timeout=5)
        self.action_refresh()

    @on(FileNoticed)
    def _file_noticed(self, message: FileNoticed) -> None:
        self.notify(
            message.notice.message,
            title=f"log file {message.notice.kind}",
            severity="warning",
            timeout=10,
        )

    @on(FollowFailed)
    def _follow_failed(self, message: FollowFailed) -> None:
        self.notify(message.error, title="not following", severity="error", timeout=30)

    def action_refresh(self) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, Reloadable):
                screen.reload()
        self.notify(f"refreshed at {self.reader.clock():%H:%M:%S} UTC", timeout=2)

    # --- screens ----------------------------------------------------------------------------

    def action_decisions(self) -> None:
        if not isinstance(self.screen, DecisionsScreen):
            self.push_screen(DecisionsScreen(self.reader))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "jump":  # a priority key: not over a dialog, and `:` is text in a box
            return not isinstance(self.screen, ModalScreen) and not typed_into(self.focused)
        return True

    def action_jump(self) -> None:
        self.push_screen(JumpScreen(), self._jump)

    def _jump(self, jump: Jump | None) -> None:
        if jump is None:
            return
        if jump.kind == "quarantine":
            self.action_quarantine()
        elif jump.kind == "pane":
            self.to_pane(jump.args[0])
        elif jump.kind == "run":
            self.push_screen(RunDetailScreen(self.reader, jump.args[0]))
        elif jump.kind == "record":
            self.push_screen(LineageScreen(self.reader, *jump.args))
        elif jump.kind == "decisions":
            self.action_decisions()
        elif jump.kind == "decide":
            self.decisions_flow.decide(jump.args[0], workflow=jump.args[1])

    def action_quarantine(self) -> None:
        if not isinstance(self.screen, QuarantineScreen):
            self.push_screen(QuarantineScreen(self.reader))

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield SystemCommand("Runs", "The run history (1)", self._to_runs)
        yield SystemCommand("Jump", "A pane, a run, a record's lineage (:)", self.action_jump)
        yield SystemCommand(
            "Quarantine", "Lines the ingester rejected, and why (Q)", self.action_quarantine
        )
        yield SystemCommand("Refresh", "Query the store again now (ctrl+r)", self.action_refresh)
        yield SystemCommand(
            "Decisions", "Every decision and how far it got (D)", self.action_decisions
        )
        if self.desk is not None and self.desk.offers("pause"):
            main = self.main_screen()
            workflow = main.workflow_under_cursor() if main is not None else None
            if workflow:
                yield from self.decisions_flow.workflow_commands(workflow)
        yield SystemCommand("Help", "The keys that work here (?)", self.action_help)
        yield from super().get_system_commands(screen)

    def _to_runs(self) -> None:
        self.to_pane("runs")

    def to_pane(self, pane: str) -> None:
        """The pane `pane` (`1`–`5`, `:runs`…), closing every screen over the panes."""
        while len(self.screen_stack) > 2:
            self.pop_screen()
        if isinstance(self.screen, MainScreen):
            self.screen.action_pane(pane)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        screen = self.screen
        about = [screen.HELP or ""]
        focused = self.focused
        for node in focused.ancestors_with_self if focused else []:
            text = node.HELP
            if text and text not in about and node is not screen:
                about.append(text)
        about.append(APP_HELP)
        keys: list[tuple[str, str]] = []
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            description = binding.description or binding.action
            ours = binding.show or bool(binding.id)  # widgets' own cursor keys are listed below
            if not ours or description in seen or binding.action == "help":
                continue
            seen.add(description)
            if not active.enabled:  # listed all the same: help says what the screen has
                description += " (not here now)"
            keys.append((self.get_key_display(binding), description))
        keys.append(("↑ ↓ pgup pgdn home end", "move in a table"))
        title = "Quarterdeck"
        if isinstance(screen, Helpable):
            keys.extend(screen.HELP_KEYS)
            title = screen.HELP_TITLE
        keys.append(("?", "this help"))
        keys.append(("ctrl+p", "command palette"))
        self.push_screen(HelpScreen(f"Help · {title}", [a for a in about if a], keys))


def make_app(
    store: Store | Client,
    settings: Settings,
    *,
    read_only: bool = False,
    clock: Callable[[], datetime] = utc_now,
    feed: Feed | None = None,
    desk: Desk | None = None,
    watch: Watch | None = None,
    notes: Iterable[str] = (),
) -> QuarterdeckApp:
    """The console over `store`: the store itself (embedded), or the client of its server."""
    check_remaps(settings)
    reader = StoreReader(
        store,
        stale_seconds=int(settings.store.stale_after),
        clock=clock,
        rules=settings.rules(),
        publish_rules=settings.publish_rules(),
    )
    return QuarterdeckApp(
        reader, settings, read_only=read_only, feed=feed, desk=desk, watch=watch, notes=notes
    )
