"""The status bar: which store, how much is in it, and what needs a look."""

from __future__ import annotations

from pathlib import Path

from rich.markup import escape
from textual.widgets import Static

from console.data import StoreCounts


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar {
        height: 1;
        background: $panel;
        color: $text;
        padding: 0 1;
    }
    """

    def __init__(self, store_path: Path, *, read_only: bool) -> None:
        super().__init__(id="status-bar")
        self.store_path = store_path
        self.read_only = read_only
        self.counts: StoreCounts | None = None

    def on_mount(self) -> None:
        self._render_text()

    def update_counts(self, counts: StoreCounts) -> None:
        self.counts = counts
        self._render_text()

    def _render_text(self) -> None:
        parts = [f"[b]store[/] {escape(_short_path(self.store_path))}"]
        if self.counts is not None:
            parts.append(f"{self.counts.runs:,} runs")
            if self.counts.quarantined:
                parts.append(f"[bold yellow]⚠ {self.counts.quarantined:,} quarantined[/] "
                             "[dim](Q)[/]")
            else:
                parts.append("[dim]0 quarantined[/]")
        if self.read_only:
            parts.append("[reverse bold] READ-ONLY [/]")
        self.update("  ·  ".join(parts))


def _short_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
