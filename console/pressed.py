"""What a key was meant for: the rules that keep fast typing, pasting and live rows from sending
a key somewhere the operator did not mean.

Textual resolves an ordinary binding only after the key has gone to the focused widget and
bubbled back up to the app, through each widget's message queue; meanwhile the app has already
sent the keys typed after it to the same, old focus. So a key that moves focus (`:` opens the
jump box, `/` the filter box) must be a *priority* binding, run as the app reads the key,
before it reads the next: then the keys typed after it, in the same burst or paste, go to the
box. A priority binding runs whatever has focus, so each of them stands aside (its
`check_action` says no) when the focus is a box that takes text (`typed_into`), where `:` and
`/` are text.

Esc is a key of its own. A terminal sends Esc as the byte ESC, and Alt+key as ESC and the key;
Textual's parser reads ESC followed at once by a key as Alt+key and, for a key that is not a
letter or digit (`/`, `:`, `?`), drops the Alt, and ESC then a digit is a macOS character (ESC
`2` is ™): Esc then `/running` typed in one burst lost the
Esc, and `running` went to the screen Esc was meant to leave (where `r` opens a run). The
console binds no Alt key, so `EscapeFirst` reads ESC and a key in one go as the two keys they
were typed as (`read_escape_first` puts it in the terminal driver when the console runs). And
every Esc binding (back, close, cancel, clear the filter) is a priority one, for the reason `:`
and `/` are: it takes effect as the key is read, so the keys typed after it go to the screen
or the table it leaves the operator on.

A decision key asks for a dialog that opens only once the decision is planned (in a worker: the
authority check may ask the server). The keys typed after it, in the same burst or paste, are
the dialog's reason; read before the dialog is there, they would go to the table below, where
`o`, `n` or `c` of "on call" are keys. So every decision key is a priority binding too, and
asking for a decision starts `TypeAhead`: the keys (and pastes) read from then on are held, and
given to the dialog, in order, once its reason box has the focus. An Enter among them moves on
to the next box but decides nothing (`DecideScreen`): the operator has not read the dialog yet.
A plan refused, or no dialog within `HOLD_S`, lets the held keys go, said in a notification,
never to the screen below.

The rest is time. Every key carries the moment it was read (`events.Key.time`, monotonic).
What changes on screen by itself — a row arriving under the cursor, a dialog that opens — is
not what the operator saw until it has been on screen for `SEEN_S`: a key pressed before that
was meant for what was there before.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field

from textual import events
from textual._ansi_sequences import ANSI_SEQUENCES_KEYS
from textual._xterm_parser import XTermParser
from textual.widget import Widget
from textual.widgets import Input, TextArea

#: Seconds something must have been on screen before a key can be a response to it: nobody
#: reads a new row, or a dialog, and presses a key about it faster.
SEEN_S = 0.5
#: Seconds the keys typed after a decision key are held for its dialog, at most: a plan that
#: takes longer (a server that does not answer) must not leave the console deaf.
HOLD_S = 5.0


#: The class of a box whose Enter hands the operator on (keeps a filter and goes to the table,
#: submits a jump): the keys typed after that Enter wait until it has (`enter_moves_on`).
MOVES_ON = "enter-moves-on"


def enter_moves_on(widget: Widget | None, key: events.Key) -> bool:
    """`key` is an Enter the focused box (`MOVES_ON`) acts on only once it has read it, from
    its own queue; the keys read after it, meanwhile, would be handed to the same box (`/crm`
    Enter `2` kept the filter `crm2`). So the app holds them until the box's screen or pane
    has acted (`read_held_keys` in its Submitted handler)."""
    return key.key == "enter" and isinstance(widget, Input) and widget.has_class(MOVES_ON)


def typed_into(widget: Widget | None) -> bool:
    """The focused widget takes text: printable keys are its, not bindings'."""
    return isinstance(widget, (Input, TextArea))


class EscapeFirst(XTermParser):
    """The terminal's input as keys, Esc followed at once by a key being those two keys."""

    def _sequence_to_key_events(self, sequence: str, alt: bool = False) -> Iterable[events.Key]:
        if alt and len(sequence) == 1:  # ESC, then this key, read in one go
            yield events.Key("escape", "\x1b")
            alt = False
        elif len(sequence) == 2 and sequence[0] == "\x1b" and sequence[1] != "\x1b":
            # ESC and a digit, `-`, `=` or `§`: Textual reads these as the characters WezTerm
            # sends for Option+key on macOS (ESC 1 as ¡); here they are Esc, then the key
            if isinstance(ANSI_SEQUENCES_KEYS.get(sequence), str):
                yield events.Key("escape", "\x1b")
                sequence = sequence[1]
        yield from super()._sequence_to_key_events(sequence, alt)


def read_escape_first() -> None:
    """Have the terminal driver read keys with `EscapeFirst` (the console, run in a terminal;
    Pilot's headless driver reads no terminal)."""
    if sys.platform != "win32":
        from textual.drivers import linux_driver

        linux_driver.XTermParser = EscapeFirst  # type: ignore[misc]


@dataclass
class TypeAhead:
    """The keys read since a decision was asked for (`what`, "pause"), held for its dialog."""

    what: str
    keys: list[events.Key | events.Paste] = field(default_factory=list)

    def dropped(self, why: str) -> str | None:
        """What to tell the operator of the held keys let go (None if nothing was typed)."""
        if not self.keys:
            return None
        typed = "".join(
            key.text
            if isinstance(key, events.Paste)
            else (key.character if key.is_printable and key.character else f"<{key.key}>")
            for key in self.keys
        )
        shown = typed if len(typed) <= 40 else typed[:39] + "…"
        return f"what you typed after asking to {self.what} ({shown!r}) was not used: {why}"
