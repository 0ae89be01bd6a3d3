"""What a screen offers the app, declared as Protocols rather than looked up by name.

The app asks its screens for two things: to query what they show again (the refresh timer, the
follower, ctrl+r), and what `?` should list beyond the bindings (a title, the keys a screen
handles without a binding). A screen offers either by having the members below, and the app
checks with `isinstance` before it calls them, never with a name in a string. Every full screen
of the console must be Reloadable (a test walks them), so a renamed method fails a test rather
than leaving a screen that the refresh silently skips. What a screen shows is said by Textual's
own `HELP`, which every node has.

Screens conform structurally: a Textual class has a metaclass of its own, which cannot be
mixed with a Protocol's, so a screen cannot name these as bases.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable


@runtime_checkable
class Reloadable(Protocol):
    def reload(self) -> None:
        """Query what is on screen again (in a worker: it returns at once)."""


@runtime_checkable
class Helpable(Protocol):
    #: The screen's name at the top of `?`.
    HELP_TITLE: str
    #: (key, what it does) for keys the screen handles that no binding lists.
    HELP_KEYS: Sequence[tuple[str, str]]
