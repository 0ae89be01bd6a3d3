"""The status bar: which store, how much is in it, and what needs a look.

The store's path is a name like any other: shown through `cells`, never as markup or controls.
A console that is a server's client says so, and says plainly when the server is not there.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from quarterdeck.console import cells
from quarterdeck.console.data import StoreCounts
from quarterdeck.console.live import Flow


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(
        self, store_path: Path, *, read_only: bool, following: bool = False, served: bool = False
    ) -> None:
        super().__init__(id="status-bar")
        self.store_path = store_path
        self.read_only = read_only
        self.following = following
        self.served = served
        self.server_problem: str | None = None
        self.counts: StoreCounts | None = None
        self.follow: Flow | None = None

    def on_mount(self) -> None:
        self._render_text()

    def update_counts(self, counts: StoreCounts) -> None:
        self.counts = counts
        self._render_text()

    def update_follow(self, flow: Flow) -> None:
        self.following = True  # a server's follower is known to follow once it reports
        self.follow = flow
        self._render_text()

    def update_server(self, problem: str | None) -> None:
        self.server_problem = problem
        self._render_text()

    def _render_text(self) -> None:
        parts = [f"[b]store[/] {cells.text(_short_path(self.store_path))}"]
        if self.server_problem is not None:
            parts.append("[reverse bold red] SERVER GONE [/] [bold red]reconnecting…[/]")
        elif self.served:
            parts.append("[b]via server[/]")
        if self.following:
            parts.append(_follow_text(self.follow))
        if self.counts is not None:
            parts.append(f"{self.counts.runs:,} runs")
            if self.counts.quarantined:
                parts.append(
                    f"[bold yellow]⚠ {self.counts.quarantined:,} quarantined[/] [dim](Q)[/]"
                )
            else:
                parts.append("[dim]0 quarantined[/]")
        if self.read_only:
            parts.append("[reverse bold] READ-ONLY [/]")
        self.update(cells.content("  ·  ".join(parts)))


def _follow_text(flow: Flow | None) -> str:
    if flow is None:
        return "[b]following[/] [dim]starting…[/]"
    text = f"[b]following[/] {flow.rate:,.0f} ev/s"
    lag = flow.lag
    if lag is not None:
        style = "green" if lag < 1 else "bold yellow" if lag < 5 else "bold red"
        text += f" · lag [{style}]{lag:.1f}s[/]"
    return text


def _short_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
