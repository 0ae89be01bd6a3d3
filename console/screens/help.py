"""`?`: the keys that work here, and what this screen shows."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close", id="help.close", priority=True),  # `pressed`
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 95%; height: auto; max-height: 90%;
        border: round $accent; background: $surface; padding: 1 2;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(self, title: str, about: list[str], keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.title_text = title
        self.about = about
        self.keys = keys

    def compose(self) -> ComposeResult:
        text = Text()
        text.append(self.title_text, style="bold")
        text.append("\n\n")
        for paragraph in self.about:
            text.append(paragraph + "\n\n")
        text.append("Keys\n", style="bold")
        width = max((len(k) for k, _ in self.keys), default=4) + 2
        for key, description in self.keys:
            text.append("  " + key.ljust(width), style="bold cyan")
            text.append(description + "\n")
        text.append("\nEsc closes this help.", style="dim")
        with VerticalScroll():
            yield Static(text, id="help-text")
