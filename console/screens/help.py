"""`?`: the keys that work here, and what this screen shows."""

from __future__ import annotations

from rich.markup import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
    }
    """

    def __init__(self, title: str, about: list[str], keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.about = about
        self.keys = keys

    def compose(self) -> ComposeResult:
        lines = [f"[b]{escape(self.title_text)}[/]", ""]
        for paragraph in self.about:
            lines += [escape(paragraph), ""]
        lines.append("[b]Keys[/]")
        width = max((len(k) for k, _ in self.keys), default=4) + 2
        for key, description in self.keys:
            lines.append(f"  [b cyan]{escape(key).ljust(width)}[/] {escape(description)}")
        lines += ["", "[dim]Esc closes this help.[/]"]
        with VerticalScroll():
            yield Static("\n".join(lines), id="help-text")
