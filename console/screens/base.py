"""What the screens over one reader share: load in a worker, show, Esc goes back, `1`–`5` go
to a pane.

A data screen is Reloadable and Helpable (see `offers`): the app's refresh calls `reload`, and
`?` shows its HELP_TITLE and HELP_KEYS. A load that raises leaves on screen what was there and
is reported to the app (`WorkFailed`); the next refresh loads again.
"""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on, work
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader
from quarterdeck.console.messages import WorkFailed


def pane_keys(closing: bool) -> list[Binding]:
    """`1`–`5`: the panes. On the main screen and on every screen over it (those they close,
    `closing`), with one id per key, so that a remap moves the key everywhere."""
    after = " (closes this screen)" if closing else ""
    return [
        Binding(str(number), f"pane('{name}')", f"{label}{after}", show=False, id=f"pane.{name}")
        for number, (name, label) in enumerate(
            (
                ("runs", "Runs"),
                ("touched", "Touched"),
                ("approvals", "Approvals"),
                ("triggers", "Triggers"),
                ("workflows", "Workflows"),
            ),
            start=1,
        )
    ]


def crumbs(*trail: str) -> Static:
    """The line at the top of a screen: where it is, from Quarterdeck down (plain text)."""
    return Static(
        cells.content("  [dim]›[/]  ".join(["[b]Quarterdeck[/]", *map(cells.text, trail)])),
        id="crumbs",
    )


class DataScreen(Screen[None]):
    """A screen that shows what `fetch` returns; `reload` (ctrl+r) fetches again."""

    AUTO_FOCUS = ""  # the table takes focus once it has rows
    HELP_TITLE: ClassVar[str] = "Quarterdeck"
    HELP_KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()

    # priority: see `pressed` (the keys typed after it are for the screen below)
    BINDINGS = [
        Binding("escape", "back", "Back", id="screen.back", priority=True),
        *pane_keys(closing=True),
    ]

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

    @on(Worker.StateChanged)
    def _load_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(WorkFailed(f"loading {self.HELP_TITLE}", event.worker.error))

    def fetch(self) -> Any:
        """Runs in a worker thread: ask the reader for the data."""
        raise NotImplementedError

    def show(self, data: Any) -> None:
        """Runs on the UI thread: put the data on screen."""
        raise NotImplementedError

    def action_pane(self, name: str) -> None:
        """A pane's key: the pane, as on the main screen, this screen (and any under it) closed."""
        app: Any = self.app
        app.to_pane(name)

    def action_back(self) -> None:
        if self.app.screen is self:  # (an Esc read as the screen above it closed)
            self.app.pop_screen()

    @on(DataTable.RowSelected, "#runs-table DataTable")
    def _open_run(self, event: DataTable.RowSelected) -> None:
        """A screen's table of runs (`#runs-table`): Enter opens the run under the cursor."""
        from quarterdeck.console.screens.run_detail import RunDetailScreen
        from quarterdeck.console.widgets.table import TableView

        event.stop()
        key = self.query_one("#runs-table", TableView).current_key()
        if key:
            self.app.push_screen(RunDetailScreen(self.reader, key))
