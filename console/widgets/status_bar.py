"""The status bar: which store, how much is in it, and what needs a look.

The store's path is a name like any other: shown through `cells`, never as markup or controls.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static

from quarterdeck.console import cells
from quarterdeck.console.data import StoreCounts
from quarterdeck.ingest.follow import FollowStats


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, store_path: Path, *, read_only: bool, following: bool = False) -> None:
        super().__init__(id="status-bar")
        self.store_path = store_path
        self.read_only = read_only
        self.following = following
        self.counts: StoreCounts | None = None
        self.follow: FollowStats | None = None

    def on_mount(self) -> None:
        self._render_text()

    def update_counts(self, counts: StoreCounts) -> None:
        self.counts = counts
        self._render_text()

    def update_follow(self, stats: FollowStats) -> None:
        self.follow = stats
        self._render_text()

    def _render_text(self) -> None:
        parts = [f"[b]store[/] {cells.text(_short_path(self.store_path))}"]
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


def _follow_text(stats: FollowStats | None) -> str:
    if stats is None:
        return "[b]following[/] [dim]starting…[/]"
    text = f"[b]following[/] {stats.rate():,.0f} ev/s"
    lag = stats.lag()
    if lag is not None:
        style = "green" if lag < 1 else "bold yellow" if lag < 5 else "bold red"
        text += f" · lag [{style}]{lag:.1f}s[/]"
    return text


def _short_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
