"""What the screens over one reader share: load in a worker, show, Esc goes back."""

from __future__ import annotations

from typing import Any

from textual import work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader


def crumbs(*trail: str) -> Static:
    """The line at the top of a screen: where it is, from Quarterdeck down (plain text)."""
    return Static(cells.content("  [dim]›[/]  ".join(["[b]Quarterdeck[/]",
                                                     *map(cells.text, trail)])), id="crumbs")


class DataScreen(Screen[None]):
    """A screen that shows what `fetch` returns; `reload` (ctrl+r) fetches again."""

    AUTO_FOCUS = ""  # the table takes focus once it has rows

    BINDINGS = [Binding("escape", "back", "Back", id="screen.back")]

    def __init__(self, reader: StoreReader) -> None:
        super().__init__()
        self.reader = reader

    def on_mount(self) -> None:
        self.reload()

    def reload(self) -> None:
        self._load()

    @work(thread=True, exclusive=True, group="screen-data", exit_on_error=False)
    def _load(self) -> None:
        data = self.fetch()
        self.app.call_from_thread(self.show, data)

    def fetch(self) -> Any:
        """Runs in a worker thread: ask the reader for the data."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Runs on the UI thread: put the data on screen."""
        raise NotImplementedError

    def action_back(self) -> None:
        self.app.pop_screen()
