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

The rest is time. Every key carries the moment it was read (`events.Key.time`, monotonic).
What changes on screen by itself — a row arriving under the cursor, a dialog that opens — is
not what the operator saw until it has been on screen for `SEEN_S`: a key pressed before that
was meant for what was there before.
"""

from __future__ import annotations

from textual.widget import Widget
from textual.widgets import Input, TextArea

#: Seconds something must have been on screen before a key can be a response to it: nobody
#: reads a new row, or a dialog, and presses a key about it faster.
SEEN_S = 0.5


def typed_into(widget: Widget | None) -> bool:
    """The focused widget takes text: printable keys are its, not bindings'."""
    return isinstance(widget, (Input, TextArea))
