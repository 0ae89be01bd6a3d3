"""`:` — jump anywhere by typing: a pane, a run, a record's lineage, the quarantine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from quarterdeck.console.pressed import MOVES_ON
from quarterdeck.queries.touches import parse_record

COMMANDS = (
    ("runs | touched | approvals | triggers | workflows", "go to that pane"),
    ("run RUN_ID", "open a run"),
    ("record SYSTEM/OBJECT/ID", "every run that touched the record"),
    ("quarantine", "lines the ingester rejected"),
    ("decisions", "every decision and how far it got"),
    (
        "pause-workflow | resume-workflow | rollback-workflow NAME",
        "every active (or paused) run of a workflow",
    ),
)
PANES = {
    "runs": "runs",
    "1": "runs",
    "touched": "touched",
    "2": "touched",
    "approvals": "approvals",
    "3": "approvals",
    "triggers": "triggers",
    "4": "triggers",
    "workflows": "workflows",
    "5": "workflows",
}


@dataclass(frozen=True)
class Jump:
    kind: str  # pane | run | record | quarantine | decisions | decide
    args: tuple[str, ...] = ()


def parse_jump(text: str) -> Jump:
    """`run r-1042` → Jump("run", ("r-1042",)); raises ValueError with what to type."""
    words = text.strip().removeprefix(":").split(maxsplit=1)
    if not words:
        raise ValueError("type a command")
    verb, rest = words[0].lower(), (words[1].strip() if len(words) > 1 else "")
    if verb in PANES and not rest:
        return Jump("pane", (PANES[verb],))
    if verb in ("quarantine", "decisions") and not rest:
        return Jump(verb)
    if verb in ("pause-workflow", "resume-workflow", "rollback-workflow") and rest:
        return Jump("decide", (verb.removesuffix("-workflow"), rest))
    if verb == "run" and rest:
        return Jump("run", (rest,))
    if verb == "record" and rest:
        return Jump("record", parse_record(rest))
    raise ValueError(f"no command {text.strip()!r}; try " + ", ".join(c for c, _ in COMMANDS))


class JumpScreen(ModalScreen[Jump | None]):
    # priority: see `pressed` (the keys typed after it are for the screen below)
    BINDINGS = [Binding("escape", "dismiss", "Cancel", id="jump.cancel", priority=True)]

    DEFAULT_CSS = """
    JumpScreen { align: center top; }
    JumpScreen > Vertical {
        width: 80; max-width: 95%; height: auto; margin-top: 3;
        border: round $accent; background: $surface; padding: 0 1;
    }
    JumpScreen #jump-hint { color: $text-muted; }
    JumpScreen #jump-error { color: $error; }
    """

    def compose(self) -> ComposeResult:
        hint = "   ".join(f"{c}" for c, _ in COMMANDS)
        with Vertical():
            yield Input(
                placeholder=":run r-1042   :record crm/Contact/C-00042   :touched",
                id="jump-input",
                classes=MOVES_ON,
            )
            yield Static(hint, id="jump-hint", markup=False)
            yield Static("", id="jump-error", markup=False)

    def on_mount(self) -> None:
        box = self.query_one(Input)
        self.set_focus(box)  # at once: keys typed right after `:` belong to it

    def on_key(self, event: events.Key) -> None:
        """Keys that reach the screen before the box has focus (type-ahead after `:`) are
        the box's: typed into it, or an Enter that submits it."""
        box = self.query_one(Input)
        if box.has_focus:
            return
        if event.character and event.is_printable:
            event.stop()
            box.insert_text_at_cursor(event.character)
            self.set_focus(box)
        elif event.key == "enter":
            event.stop()
            box.action_submit()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            jump = parse_jump(event.value)
        except ValueError as exc:
            self.query_one("#jump-error", Static).update(str(exc))
        else:
            self.dismiss(jump)
        # the keys typed after Enter: where the jump leads, once it has (the app jumps next)
        app: Any = self.app
        app.call_next(app.read_held_keys)

    def action_dismiss(self, result: Jump | None = None) -> None:  # type: ignore[override]
        self.dismiss(result)
