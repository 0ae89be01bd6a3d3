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
        self.undecided = 0  # tripped triggers waiting for this operator's decision

    def on_mount(self) -> None:
        self._render_text()

    def update_counts(self, counts: StoreCounts) -> None:
        self.counts = counts
        self._render_text()

    def update_follow(self, flow: Flow) -> None:
        self.following = True  # a server's follower is known to follow once it reports
        self.follow = flow
        self._render_text()

    def update_undecided(self, trips: int) -> None:
        self.undecided = trips
        self._render_text()

    def update_server(self, problem: str | None) -> None:
        self.server_problem = problem
        self._render_text()

    def on_resize(self) -> None:
        self._render_text()

    def _render_text(self) -> None:
        """What there is to say, in as many cells as the bar has: on a narrow terminal (80
        columns) the store's path is said shorter, then not, then the server's mention, then
        the follower's rate without its word and the count of runs, so that the quarantine,
        the undecided trips and READ-ONLY are never cut off at the right edge."""
        runs: list[str] = []
        alerts: list[str] = []
        if self.counts is not None:
            runs.append(f"{self.counts.runs:,} runs")
            if self.counts.quarantined:
                alerts.append(
                    f"[bold yellow]⚠ {self.counts.quarantined:,} quarantined[/] [dim](Q)[/]"
                )
            else:
                alerts.append("[dim]0 quarantined[/]")
        if self.undecided:
            trips = f"{self.undecided} undecided trip{'s' if self.undecided > 1 else ''}"
            alerts.append(f"[bold red]⚠ {trips}[/] [dim](4)[/]")
        if self.read_only:
            alerts.append("[reverse bold] READ-ONLY [/]")
        follow = [_follow_text(self.follow)] if self.following else []
        news = [*follow, *runs, *alerts]
        server = []
        if self.server_problem is not None:
            server.append("[reverse bold red] SERVER GONE [/] [bold red]reconnecting…[/]")
        elif self.served:
            server.append("[b]via server[/]")
        gone = ["[reverse bold red] SERVER GONE [/]"] if self.server_problem else []
        short = [_follow_text(self.follow, short=True)] if self.following else []
        path = _short_path(self.store_path)
        widest = [
            ("  ·  ", [f"[b]store[/] {cells.text(path)}", *server, *news]),
            ("  ·  ", [f"[b]store[/] {cells.text(Path(path).name)}", *server, *news]),
            ("  ·  ", [*server, *news]),
            (" · ", [*gone, *news]),  # the server's mention last: SERVER GONE stays, shorter
            (" · ", [*gone, *short, *runs, *alerts]),
            (" · ", [*gone, *short, *alerts]),
        ]
        fits = self.content_region.width
        for separator, parts in widest:
            shown = cells.content(separator.join(parts))
            if not fits or shown.cell_length <= fits:
                break
        self.update(shown)


def _follow_text(flow: Flow | None, *, short: bool = False) -> str:
    """The follower's rate and lag; `short`: without the word "following" (the rate says it)."""
    word = "" if short else "[b]following[/] "
    if flow is None:
        return f"{word}[dim]starting…[/]"
    text = f"{word}{flow.rate:,.0f} ev/s"
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
