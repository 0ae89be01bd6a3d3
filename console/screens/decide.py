"""The confirmation dialog of every decision: what exactly will happen, and a reason.

It says how many runs the decision covers and which (naming those the current filter hides,
and how many stale runs a workflow decision left out and how to include them), asks for the
reason that will be recorded, and for a workflow rollback asks the operator to type the
workflow's name. It opens with the focus where typing goes, the reason box, so a reason typed
at once lands there; nothing is decided by a key alone: Enter in the reason box moves on to
the name box when there is one, and Enter in the last box decides only when all is given (it
says what is missing otherwise). Esc cancels. The dialog returns the reason, or None.

The keys typed after the decision key, before the dialog was there, are given to it once its
reason box has the focus (`on_open`, see `pressed`): the reason typed in one burst lands. An
Enter among them still moves on to the name box, but does not decide: nobody has read the
dialog yet, so it says to press Enter again. The same holds for a dialog that opened by itself
(a trip's) and an Enter pressed less than `SEEN_S` after it showed: an operator typing when
it appeared was not answering it. Enter is the dialog's own (priority) key for this, since the
moment a key was pressed is known only as it is read (`App.pressed_at`). It acts after the
keys typed before it have reached their box, and the keys typed after it wait until it has
(`App.hold_keys(then_read=True)`): they go where it leaves the operator, the screen below if
it decided, never into the box of a dialog already closed.

Stale runs are said, not offered: a stale run's runner has most likely gone and would not
acknowledge, so including them is a separate, deliberate step (`p` on the run, or the CLI's
`--include-stale`), not one more box to tick in a dialog that is already asking to confirm.

Names and ids are shown `printable` (a workflow named with an ESC in it shows `␛`), and the
name to type is the name as shown: typing it, or the exact stored name, confirms. A reason
filled in for the operator (a trigger's evidence, which names runs) is filled in as shown too,
so what is recorded is what the operator read and confirmed.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from quarterdeck.console import cells
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.printable import printable
from quarterdeck.queries.decisions import BadReason, Plan, checked_reason

VERBS = {
    "pause": "Pause",
    "resume": "Resume",
    "rollback": "Roll back",
    "approve": "Approve",
    "reject": "Reject",
    "promote": "Promote",
    "rollback-version": "Roll back the version",
    "pause-rollout": "Pause the rollout",
}
#: The decisions a typed workflow name confirms: a rollback of all its runs, or of its version.
TYPED = ("rollback", "rollback-version")
#: How many run ids the dialog lists before it says "and N more".
LISTED = 12


class DecideScreen(ModalScreen[str | None]):
    # priority: see `pressed` (the keys typed after it are for the screen below)
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="decide.cancel", priority=True),
        Binding("enter", "enter", "Next / confirm", show=False, id="decide.enter", priority=True),
    ]

    DEFAULT_CSS = """
    DecideScreen { align: center middle; }
    DecideScreen > Vertical {
        width: 90; max-width: 95%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2;
    }
    DecideScreen #decide-title { text-style: bold; margin-bottom: 1; }
    DecideScreen .decide-note { color: $text-muted; }
    DecideScreen #decide-error { color: $error; height: auto; }
    DecideScreen #decide-note { color: $warning; height: auto; display: none; }
    DecideScreen Input { margin-top: 1; }
    DecideScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    DecideScreen Button { margin-left: 2; }
    """

    def __init__(
        self,
        plan: Plan,
        *,
        hidden: tuple[str, ...] | None = None,
        reason: str = "",
        why: str = "",
        by_itself: bool = False,
        on_open: Callable[[DecideScreen], Awaitable[None]] | None = None,
    ) -> None:
        super().__init__()
        self.plan = plan
        #: called once the reason box has the focus: it gives the dialog the keys typed for it
        self.on_open = on_open
        #: An Enter pressed before this moment (monotonic) decides nothing: it was typed before
        #: the dialog could be read. A dialog asked for by a key: from when the keys typed for
        #: it are handed over (`took_keys`); one that opened by itself: `SEEN_S` after it first
        #: showed (`first_shown`; None until then).
        self.readable_from: float | None = None if by_itself else 0.0
        #: opened by a trip, not by a key: the app gives it no key pressed before it showed
        self.by_itself = by_itself
        #: the plan's runs not listed on the screen below (None: no runs listed there to
        #: compare with), said in the dialog; `show_hidden` says them again
        self.hidden = hidden
        # pre-filled (a trigger's evidence); the operator may edit it
        self.reason = printable(reason)
        self.why = why  # what asks for the decision, shown first
        self.typed_name = (
            plan.target if (plan.target_kind == "workflow" and plan.action in TYPED) else None
        )

    def compose(self) -> ComposeResult:
        plan, verb = self.plan, VERBS[self.plan.action]
        with Vertical():
            if self.why:
                yield Static(cells.content(f"[bold red]{cells.text(self.why)}[/]"), id="decide-why")
            yield Static(cells.content(f"{verb} — {cells.text(plan.headline)}"), id="decide-title")
            yield Static(cells.content(self._what()), id="decide-what")
            yield Input(
                self.reason,
                placeholder="reason (recorded with the decision; required)",
                id="decide-reason",
                select_on_focus=False,  # typing adds to a pre-filled reason, never replaces it
            )
            if self.typed_name is not None:
                yield Input(
                    placeholder=f"type the workflow's name, "
                    f"{printable(self.typed_name)}, to confirm",
                    id="decide-name",
                )
            yield Static("", id="decide-error")
            yield Static("", id="decide-note")
            with Horizontal():
                yield Button("Cancel", id="decide-cancel", variant="primary")
                yield Button(verb, id="decide-confirm", variant="error", disabled=True)

    def _what(self) -> str:
        plan = self.plan
        lines: list[str] = []
        if plan.target_kind == "approval":
            details = plan.details
            lines.append(
                f"request [b]{cells.text(plan.target)}[/]: {cells.text(details.get('action'))}"
            )
            lines.append(
                f"run {cells.text(', '.join(plan.runs))} · workflow "
                f"{cells.text(details.get('workflow'))} · needs the role "
                f"{cells.text(details.get('required_role'))}"
            )
        elif "rollout" in plan.details:  # a rollout names no run: the weights it sets
            weights = plan.details["rollout"]["weights"]
            lines.append(
                f"new runs of [b]{cells.text(plan.target)}[/]: "
                + ", ".join(f"{cells.text(v)} at {w} %" for v, w in sorted(weights.items()))
            )
        else:
            runs = list(plan.runs)
            listed = ", ".join(cells.text(r) for r in runs[:LISTED])
            if len(runs) > LISTED:
                listed += f" and {len(runs) - LISTED:,} more"
            if runs:
                lines.append(f"[b]{len(runs):,} run{'s' if len(runs) != 1 else ''}[/]: {listed}")
            else:  # a workflow pause or resume of the workflow itself
                lines.append(
                    f"[b]No run[/] of {cells.text(plan.target)} to {plan.action} now: this "
                    "decision is for the workflow itself"
                )
            left_out = int(plan.details.get("stale_left_out") or 0)
            if left_out:
                lines.append(
                    f"[dim]{left_out:,} stale run{'s' if left_out != 1 else ''} of "
                    f"{cells.text(plan.target)} left out (no event lately: history, not live); "
                    "decide one with its own key on its row, or all with quarterdeck decide "
                    f"{plan.action} --workflow … --include-stale[/]"
                )
            if plan.pending_note:  # runs another decision is on its way to, or a repeat
                pending = plan.pending_note[0].upper() + plan.pending_note[1:]
                lines.append(f"[bold yellow]{cells.text(pending)}[/]")
            if plan.later_note:
                note = plan.later_note[0].upper() + plan.later_note[1:]
                lines.append(
                    f"[b]{cells.text(note)}[/] (U on its row, or :resume-workflow "
                    f"{cells.text(plan.target)})"
                )
            if self.hidden:
                lines.append(
                    f"[bold yellow]{len(self.hidden):,} of them not on screen now "
                    f"(hidden by the filter, or newer than the last refresh)[/]: "
                    + ", ".join(cells.text(r) for r in self.hidden[:LISTED])
                )
        lines.append(
            "[dim]Recorded in the decisions journal and sent to the runners; it "
            "cannot be taken back, only followed by another decision.[/]"
        )
        return "\n".join(lines)

    def show_hidden(self, hidden: tuple[str, ...]) -> None:
        """The screen below listed other rows since (a refresh begun before the dialog opened
        landed under it): say which runs are not on screen now."""
        if hidden != self.hidden:
            self.hidden = hidden
            self.query_one("#decide-what", Static).update(cells.content(self._what()))

    def on_mount(self) -> None:
        reason = self.query_one("#decide-reason", Input)
        reason.focus()  # where typing goes: a reason typed at once lands in it
        # after a pre-filled reason (a trip's): what the operator types adds to it
        reason.cursor_position = len(reason.value)
        self._check()
        if self.on_open is not None:  # after the focus above (both wait for the app's turn)
            self.app.call_later(self.on_open, self)

    @on(Input.Changed)
    def _check(self) -> None:
        self.query_one("#decide-confirm", Button).disabled = self._problem() is not None
        self.query_one("#decide-error", Static).update("")

    def _problem(self) -> str | None:
        reason = self.query_one("#decide-reason", Input).value
        if not reason.strip():
            return "a reason is needed: it is what will defend the decision later"
        try:
            checked_reason(reason)  # the limit the server and the command apply
        except BadReason as exc:
            return str(exc)
        if self.typed_name is not None:
            typed = self.query_one("#decide-name", Input).value.strip()
            if printable(typed) != printable(self.typed_name):  # as shown, or as stored
                what = "its version" if self.plan.action == "rollback-version" else "all its runs"
                return f"type the workflow's name, {self.typed_name}, to roll back {what}"
        return None

    def took_keys(self, at: float) -> None:
        """The keys typed for the dialog before it was there were handed to it at `at`."""
        self.readable_from = at

    def first_shown(self, at: float) -> None:
        """The dialog's first frame reached the terminal at `at` (see the app's `_display`)."""
        if self.by_itself:
            self.readable_from = at + SEEN_S

    def action_enter(self) -> None:
        """Enter: presses the button it is on; in a box, moves on to the next box, or in the
        last one confirms; never confirms when pressed before the dialog could be read. Run
        after the keys typed before it: read as a priority key, it is ahead of the ones the box
        has not taken in yet."""
        pressed = getattr(self.app, "pressed_at", None)
        # The keys typed after Enter wait until it has acted: read before, they went to the
        # box of the dialog it then closed (a `1` for the Runs pane was lost in a reason
        # already recorded), where now they go where it leaves the operator.
        app: Any = self.app
        app.hold_keys("confirm", then_read=True)
        (self.focused or self).call_later(self._enter, pressed)

    async def _enter(self, pressed: float | None) -> None:
        try:
            self._act_on_enter(pressed)
        finally:
            app: Any = self.app
            await app.read_held_keys()

    def _act_on_enter(self, pressed: float | None) -> None:
        focused = self.focused
        if isinstance(focused, Button) and focused.id == "decide-cancel":
            self.action_cancel()
            return
        boxes = list(self.query(Input))
        if focused in boxes and focused is not boxes[-1]:  # the reason, the name to type
            boxes[boxes.index(focused) + 1].focus()
            return
        if pressed is not None and (self.readable_from is None or pressed < self.readable_from):
            note = self.query_one("#decide-note", Static)
            note.display = True
            note.update(
                "Enter was pressed before this dialog could be read, so it decided nothing: "
                "read what it will do, then press Enter to confirm"
            )
            return
        self._confirm()

    @on(Button.Pressed, "#decide-confirm")
    def _confirm(self) -> None:
        problem = self._problem()
        if problem is not None:
            self.query_one("#decide-error", Static).update(cells.content(cells.text(problem)))
            return
        self.dismiss(self.query_one("#decide-reason", Input).value.strip())

    @on(Button.Pressed, "#decide-cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
