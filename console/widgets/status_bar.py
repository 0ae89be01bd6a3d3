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

    def on_resize(self) -> None:
        self._render_text()

    def _render_text(self) -> None:
        """What there is to say, in as many cells as the bar has: on a narrow terminal (80
        columns) the store's path is said shorter, then not, then the server's mention, so
        that the counts, the quarantine and READ-ONLY are never cut off at the right edge."""
        news: list[str] = []
        if self.following:
            news.append(_follow_text(self.follow))
        if self.counts is not None:
            news.append(f"{self.counts.runs:,} runs")
            if self.counts.quarantined:
                news.append(
                    f"[bold yellow]⚠ {self.counts.quarantined:,} quarantined[/] [dim](Q)[/]"
                )
            else:
                news.append("[dim]0 quarantined[/]")
        if self.read_only:
            news.append("[reverse bold] READ-ONLY [/]")
        server = []
        if self.server_problem is not None:
            server.append("[reverse bold red] SERVER GONE [/] [bold red]reconnecting…[/]")
        elif self.served:
            server.append("[b]via server[/]")
        path = _short_path(self.store_path)
        widest = [
            [f"[b]store[/] {cells.text(path)}", *server, *news],
            [f"[b]store[/] {cells.text(Path(path).name)}", *server, *news],
            [*server, *news],
        ]
        fits = self.content_region.width
        for parts in widest:
            shown = cells.content("  ·  ".join(parts))
            if not fits or shown.cell_length <= fits:
                break
        else:  # the server's mention last: SERVER GONE stays, shorter
            gone = ["[reverse bold red] SERVER GONE [/]"] if self.server_problem else []
            shown = cells.content(" · ".join([*gone, *news]))
        self.update(shown)


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
