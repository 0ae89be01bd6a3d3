"""The main screen: the five panes (1 Runs … 5 Workflows), the status bar, the keys.

It is Reloadable and Helpable (see `offers`): a refresh reloads the pane on screen and the
status bar's counts; `?` is titled with the pane on screen.
"""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, Static
from textual.worker import Worker, WorkerState

from quarterdeck.console.data import StoreCounts, StoreReader
from quarterdeck.console.live import Flow
from quarterdeck.console.messages import WorkFailed
from quarterdeck.console.screens.approval import ApprovalScreen
from quarterdeck.console.screens.base import pane_keys
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import LineageScreen, TouchScreen
from quarterdeck.console.screens.trigger import TriggerScreen
from quarterdeck.console.screens.version import VersionScreen
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.pane import Pane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.status_bar import StatusBar
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.touched_pane import TouchedPane
from quarterdeck.console.widgets.triggers_pane import TriggersPane
from quarterdeck.console.widgets.workflows_pane import WorkflowsPane

PANES = {
    "runs": "Runs",
    "touched": "Touched data",
    "approvals": "Approvals",
    "triggers": "Triggers",
    "workflows": "Workflows",
}


class MainScreen(Screen[None]):
    AUTO_FOCUS = ""  # a pane's table takes focus once it has rows
    HELP = (
        "Quarterdeck's panes: 1 Runs, 2 Touched data, 3 Approvals, 4 Triggers, 5 Workflows "
        "(from any screen, closing it). Esc goes back."
    )
    HELP_KEYS = (("enter", "open what is under the cursor"),)

    BINDINGS = pane_keys(closing=False)  # (off the footer, which must fit 80 columns; in ? help)

    def __init__(self, reader: StoreReader, *, read_only: bool, following: bool = False) -> None:
        super().__init__()
        self.reader = reader
        self.read_only = read_only
        self.following = following

    @property
    def HELP_TITLE(self) -> str:  # noqa: N802 (read like the other screens' constant)
        return PANES[self.query_one(ContentSwitcher).current or "runs"]

    def compose(self) -> ComposeResult:
        yield Static("", id="crumbs")
        with ContentSwitcher(initial="runs"):
            yield RunsPane(self.reader, id="runs")
            yield TouchedPane(self.reader, id="touched")
            yield ApprovalsPane(self.reader, id="approvals")
            yield TriggersPane(self.reader, id="triggers")
            yield WorkflowsPane(self.reader, id="workflows")
        yield StatusBar(
            self.reader.path,
            read_only=self.read_only,
            following=self.following,
            served=self.reader.served,
        )
        yield Footer()

    def on_mount(self) -> None:
        self._crumbs("runs")
        self.refresh_counts()

    def on_screen_resume(self) -> None:
        """Back from a screen or dialog over this one: the pane's rows (not refreshed while
        covered) are marked if old and asked for again."""
        pane = self.current_pane()
        if not getattr(self.app, "server_lost", False) and pane.mark_if_stale():
            pane.reload()
            self.refresh_counts()
        pane.focus_table()

    def current_pane(self) -> Pane:
        switcher = self.query_one(ContentSwitcher)
        return self.query_one(f"#{switcher.current or 'runs'}", Pane)

    def action_pane(self, name: str) -> None:
        switcher = self.query_one(ContentSwitcher)
        switched = switcher.current != name
        switcher.current = name
        self._crumbs(name)
        pane = self.current_pane()
        if switched:
            pane.switched_at = time.monotonic()
        pane.mark_if_stale()  # rows of its last visit, until the fresh ones come
        pane.reload()
        pane.focus_table()

    def _crumbs(self, name: str) -> None:
        self.query_one("#crumbs", Static).update(f"[b]Quarterdeck[/]  [dim]›[/]  {PANES[name]}")

    def reload(self) -> None:
        """The pane on screen and the status bar's counts, queried again."""
        if not self.query(ContentSwitcher):  # not composed yet, or torn down at exit: a timer
            return  # or the follower can report in either moment
        self.current_pane().reload()
        self.refresh_counts()

    @work(thread=True, exclusive=True, group="counts", exit_on_error=False)
    def refresh_counts(self) -> None:
        counts = self.reader.counts()
        self.app.call_from_thread(self._show_counts, counts)

    def _show_counts(self, counts: StoreCounts) -> None:
        self.query_one(StatusBar).update_counts(counts)

    @on(Worker.StateChanged)
    def _counts_failed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            self.post_message(WorkFailed("counting runs and quarantined lines", event.worker.error))

    def visible_runs(self) -> list[str] | None:
        """The runs the Runs pane shows now (its filter applied); None when no runs are on
        screen to compare with: another pane shows (Triggers, Workflows…), or another screen
        is over this one."""
        return self.listed_runs() if self.is_current else None

    def listed_runs(self) -> list[str] | None:
        """The runs the Runs pane lists, whatever is over this screen (a dialog); None when
        another pane shows."""
        if not isinstance(self.current_pane(), RunsPane):
            return None
        return list(self.query_one(RunsPane).query_one(TableView).keys)

    def workflow_under_cursor(self) -> str | None:
        record = self.query_one(RunsPane).current_record()
        return record["workflow"] if record else None

    def show_follow(self, flow: Flow) -> None:
        for bar in self.query(StatusBar):  # none yet while the screen is being composed
            bar.update_follow(flow)

    def show_undecided(self, trips: int) -> None:
        """How many tripped triggers wait for this operator's decision."""
        for bar in self.query(StatusBar):
            bar.update_undecided(trips)

    def show_server(self, problem: str | None) -> None:
        """The server is gone (`problem`), or answers again (None)."""
        for bar in self.query(StatusBar):
            bar.update_server(problem)

    @on(RunsPane.OpenRun)
    def _open_run(self, message: RunsPane.OpenRun) -> None:
        self.app.push_screen(RunDetailScreen(self.reader, message.run_id))

    @on(ApprovalsPane.OpenApproval)
    def _open_approval(self, message: ApprovalsPane.OpenApproval) -> None:
        self.app.push_screen(ApprovalScreen(self.reader, message.approval_id))

    @on(TriggersPane.OpenTrigger)
    def _open_trigger(self, message: TriggersPane.OpenTrigger) -> None:
        self.app.push_screen(TriggerScreen(self.reader, message.name))

    @on(WorkflowsPane.OpenVersion)
    def _open_version(self, message: WorkflowsPane.OpenVersion) -> None:
        self.app.push_screen(VersionScreen(self.reader, message.workflow, message.version))

    @on(TouchedPane.OpenTouch)
    def _open_touch(self, message: TouchedPane.OpenTouch) -> None:
        self.app.push_screen(TouchScreen(self.reader, message.event_id))

    @on(TouchedPane.OpenLineage)
    def _open_lineage(self, message: TouchedPane.OpenLineage) -> None:
        self.app.push_screen(LineageScreen(self.reader, *message.record))
