"""How values look in the console's tables: colours for status, marks for risk.

Everything returned is Rich markup; text that comes from logs goes through `printable` (no
control character reaches the terminal) and is then escaped, so a value such as `[red]`,
`[link=…]` or the emoji code `:warning:` is shown as written, never obeyed. The tables
(textual-fastdatatable) parse Rich markup; a `Static` parses Textual's own markup, which reads
any `[`, not only Rich's tags (`[Foo]`, `[$accent]` or `[ red ]` in a value would style or
hide it), so a Static is given `content(markup)`, parsed by Rich's rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.emoji import Emoji
from rich.text import Text
from textual.content import Content, Span

from quarterdeck.console.diff import diff, parse
from quarterdeck.formats import duration, short_time
from quarterdeck.printable import printable
from quarterdeck.queries.columns import Column

STATUS_STYLE = {
    "running": "bold cyan",
    "awaiting_approval": "bold yellow",
    "paused": "bold magenta",
    "stale": "dark_orange",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "dim",
    "rolled_back": "bold red reverse",
    "pending": "bold yellow",
    "approved": "green",
    "rejected": "red",
    "expired": "dim",
    "ok": "green",
    "error": "bold red",
    "warning": "bold yellow",
    "tripped": "bold white on red",
    "inconclusive": "dim",
}

SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float | None] | None) -> str:
    """A trigger's recent values as a line of block characters (its own min to max)."""
    known = [v for v in values or [] if v is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    if high == low:  # a steady value: a flat line at mid height, not at the floor
        return "".join(" " if v is None else SPARKS[len(SPARKS) // 2] for v in values or [])
    span = high - low
    return "".join(
        " " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))]
        for v in values or []
    )


#: Seconds left below which a pending approval stands out.
DUE_SOON = 3600

ACTION_STYLE = {
    "delete": "bold red",
    "export": "bold dark_orange",
    "create": "cyan",
    "update": "yellow",
    "read": "",
}

#: A tag that shows nothing: it ends a run of text (see `text`).
EMPTY_TAG = "[i][/i]"
#: A `[` with the backslashes before it; group 2 matches when Rich would read a tag there.
_BRACKET = re.compile(r"(\\*)\[(?=([a-z#/@][^[]*?\])?)")
_FINAL_BACKSLASHES = re.compile(r"\\+\Z")
#: Each `:name:` that could be an emoji code, overlapping ones too.
_EMOJI_CODE = re.compile(r"(?=(:[^\s:]+:))")


def text(value: Any) -> str:
    """A value as Rich markup that shows it exactly as written (after `printable`)."""
    if value is None:
        return ""
    shown = printable(str(value))
    if "[" in shown:
        # `rich.markup.escape` is not enough: it leaves a `[` that cannot start a tag, and
        # Rich then drops a backslash before it (`\[1` shows `[1`). Rich reads backslashes
        # before a tag as pairs and one more as the escape, and before any other `[` drops
        # just the one backslash that precedes it.
        shown = _BRACKET.sub(lambda m: m[1] * (2 if m[2] is not None else 1) + "\\[", shown)
    if shown.endswith("\\"):
        # A tag may follow in the markup the value goes into, and would read a final
        # backslash as its escape: they are doubled, and a tag follows always, before which
        # Rich reads the pairs back as single backslashes.
        shown = _FINAL_BACKSLASHES.sub(lambda m: m[0] * 2, shown) + EMPTY_TAG
    if ":" in shown and any(Emoji.replace(m[1]) != m[1] for m in _EMOJI_CODE.finditer(shown)):
        # Rich replaces emoji codes (`:warning:`) in markup it parses, and has no escape for
        # them; it replaces within a run of text between tags, so a tag after each colon
        # keeps the code as written.
        shown = shown.replace(":", f":{EMPTY_TAG}")
    return shown


def content(markup: str) -> Content:
    """Markup built here, as Content for a `Static`: parsed by Rich's rules, as the tables
    parse it (Textual's parser would read a value's `[Foo]` as a tag), and without emoji
    codes (`:warning:` in a value stays as written)."""
    parsed = Text.from_markup(markup, emoji=False)
    return Content(parsed.plain, [Span(s.start, s.end, str(s.style)) for s in parsed.spans])


def palette(value: Any) -> str:
    """A value inside Textual's own markup, where a Static's `content` cannot go (a command
    palette entry): shown visibly, and every `[` escaped, as Textual reads any `[` as a tag."""
    return printable(str(value)).replace("[", "\\[")


def status(value: str | None) -> str:
    if not value:
        return ""
    label = value.replace("_", " ")
    style = STATUS_STYLE.get(value)
    return f"[{style}]{text(label)}[/]" if style else text(label)


def action(value: str | None) -> str:
    if not value:
        return ""
    style = ACTION_STYLE.get(value, "")
    return f"[{style}]{text(value)}[/]" if style else text(value)


def risk(value: str | None) -> str:
    if value in ("high", "critical"):
        return f"[bold red]{text(value)}[/]"
    return text(value)


def time_left(seconds: float | None) -> str:
    """Time left until a pending approval expires; due soon stands out."""
    if seconds is None:
        return ""
    if seconds < DUE_SOON:
        return f"[bold yellow]{duration(seconds)}[/]"
    return duration(seconds)


def tokens(value: int | None) -> str:
    """A token count, grouped (`12,480`); none: blank, 0 dim."""
    if value is None:
        return ""
    return f"{value:,}" if value else "[dim]0[/]"


def count(value: int | None, *, alarm: bool = False) -> str:
    if not value:
        return "[dim]0[/]" if value == 0 else ""
    return f"[bold red]⚠ {value}[/]" if alarm else str(value)


def out_of_scope(value: int | None) -> str:
    """A run's out-of-scope touches; none is unknown (a run never seen starting: its touches
    are not checked)."""
    return "[bold yellow]unknown[/]" if value is None else count(value, alarm=True)


def in_scope(value: bool | None) -> str:
    if value is None:
        return "[dim]unknown[/]"
    return "[green]yes[/]" if value else "[bold red]⚠ OUT OF SCOPE[/]"


def when(value: datetime | None) -> str:
    return short_time(value)


#: The statuses whose duration ticks (`▸`): a paused run's stopped at its pause.
TICKING = frozenset({"running", "awaiting_approval"})


def seconds(value: float | None, *, status: str | None = None) -> str:
    """A duration; one still ticking (a run of a `TICKING` status) marked `▸`; a negative
    one (clock skew, `⚠ skew -5s`) stands out."""
    text_ = duration(value)
    if value is not None and value < 0:
        return f"[bold yellow]{text_}[/]"
    return f"{text_} ▸" if status in TICKING and text_ else text_


def change(before: str | None, after: str | None) -> str:
    """`status: open → posted` for each field that differs between before and after."""
    parts = []
    for c in diff(before, after):
        if c.kind == "same":
            continue
        old = "∅" if c.kind == "added" else _short(c.before)
        new = "∅" if c.kind == "removed" else _short(c.after)
        parts.append(f"{text(c.field)}: {text(old)} → {text(new)}")
    return "; ".join(parts)


def touch_row(t: dict[str, Any], columns: Sequence[Column]) -> list[str]:
    """A touch's cells for these touch columns (`queries.columns.TOUCHES`), drawn the same in
    every table of touches: deletes, exports and out-of-scope touches stand out."""
    return [_touch_cell(t, c.key) for c in columns]


def _touch_cell(t: dict[str, Any], key: str) -> str:
    if key == "ts":
        return when(t["ts"])
    if key == "record_id":
        return text(t["record_id"] or "[bulk]")
    if key == "action":
        return action(t["action"])
    if key == "in_scope":
        return in_scope(t["in_scope"])
    if key == "needed_grant":  # says the scope too: a grant when out of it, else blank
        if t["in_scope"] is None:
            return "[bold yellow]scope unknown[/]"
        return f"[bold red]{text(t['needed_grant'])}[/]" if t["needed_grant"] else ""
    if key == "change":
        return change(t["before"], t["after"])
    if key == "fields":
        return text(
            ", ".join(t["fields"] or [])
            or (f"{t['record_count']} records" if t["record_count"] is not None else "")
        )
    if key == "classification":
        return f"[magenta]{text(t['classification'])}[/]" if t["classification"] else ""
    return text(t[key])


def _short(value: Any, limit: int = 40) -> str:
    rendered = value if isinstance(value, str) and value else json.dumps(value)  # "" shows
    return rendered if len(rendered) <= limit else rendered[: limit - 1] + "…"


def compact_json(value: str | None) -> str:
    """An event's fields as `key=value` pairs, empty ones left out."""
    body = parse(value)
    parts = []
    for key, item in body.items():
        if item is None or item == [] or item == {}:
            continue
        parts.append(f"{key}={_short(item, 60)}")
    return text(" ".join(parts))
