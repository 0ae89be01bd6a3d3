"""The main screen: the panes, the status bar and the key footer."""

from __future__ import annotations

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from console.data import StoreCounts, StoreReader
from console.screens.run_detail import RunDetailScreen
from console.widgets.runs_pane import RunsPane
from console.widgets.status_bar import StatusBar


class MainScreen(Screen[None]):
    AUTO_FOCUS = ""  # the runs table takes focus once it has rows
    HELP = "Quarterdeck's panes. Enter opens what is under the cursor; Esc goes back."

    HELP_TITLE = "Runs"
    HELP_KEYS = (("enter", "open the run under the cursor"),)

    BINDINGS = [
        Binding("1", "pane('runs')", "Runs", id="pane.runs"),
    ]

    def __init__(self, reader: StoreReader, *, read_only: bool) -> None:
        super().__init__()
        self.reader = reader
        self.read_only = read_only

    def compose(self) -> ComposeResult:
        yield Static("[b]Quarterdeck[/]  [dim]›[/]  Runs", id="crumbs")
        yield RunsPane(self.reader, id="runs")
        yield StatusBar(self.reader.path, read_only=self.read_only)
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_counts()

    def on_screen_resume(self) -> None:
        self.query_one(RunsPane).focus_table()

    def action_pane(self, name: str) -> None:
        self.query_one(RunsPane).focus_table()

    def refresh_all(self) -> None:
        self.query_one(RunsPane).reload()
        self.refresh_counts()

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def refresh_counts(self) -> None:
        counts = self.reader.counts()
        self.app.call_from_thread(self._show_counts, counts)

    def _show_counts(self, counts: StoreCounts) -> None:
        self.query_one(StatusBar).update_counts(counts)

    @on(RunsPane.OpenRun)
    def _open_run(self, message: RunsPane.OpenRun) -> None:
        self.app.push_screen(RunDetailScreen(self.reader, message.run_id))
