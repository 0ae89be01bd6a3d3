"""How values look in the console's tables: colours for status, marks for risk.

Everything returned is Rich markup; text that comes from logs is escaped first.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.markup import escape

from quarterdeck.console.diff import diff, parse
from quarterdeck.formats import duration, short_time
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
    return "".join(" " if v is None else SPARKS[round((v - low) / span * (len(SPARKS) - 1))]
                   for v in values or [])

#: Seconds left below which a pending approval stands out.
DUE_SOON = 3600

ACTION_STYLE = {"delete": "bold red", "export": "bold dark_orange", "create": "cyan",
                "update": "yellow", "read": ""}


def text(value: Any) -> str:
    if value is None:
        return ""
    return escape(str(value))


def status(value: str | None) -> str:
    if not value:
        return ""
    label = value.replace("_", " ")
    style = STATUS_STYLE.get(value)
    return f"[{style}]{escape(label)}[/]" if style else escape(label)


def action(value: str | None) -> str:
    if not value:
        return ""
    style = ACTION_STYLE.get(value, "")
    return f"[{style}]{escape(value)}[/]" if style else escape(value)


def risk(value: str | None) -> str:
    if value in ("high", "critical"):
        return f"[bold red]{escape(value)}[/]"
    return text(value)


def time_left(seconds: float | None) -> str:
    """Time left until a pending approval expires; due soon stands out."""
    if seconds is None:
        return ""
    if seconds < DUE_SOON:
        return f"[bold yellow]{duration(seconds)}[/]"
    return duration(seconds)


def count(value: int | None, *, alarm: bool = False) -> str:
    if not value:
        return "[dim]0[/]" if value == 0 else ""
    return f"[bold red]⚠ {value}[/]" if alarm else str(value)


def in_scope(value: bool | None) -> str:
    if value is None:
        return "[dim]unknown[/]"
    return "[green]yes[/]" if value else "[bold red]⚠ OUT OF SCOPE[/]"


def when(value: datetime | None) -> str:
    return short_time(value)


def seconds(value: float | None, *, live: bool = False) -> str:
    text_ = duration(value)
    return f"{text_} ▸" if live and text_ else text_


def change(before: str | None, after: str | None) -> str:
    """`status: open → posted` for each field that differs between before and after."""
    parts = []
    for c in diff(before, after):
        if c.kind == "same":
            continue
        old = "∅" if c.kind == "added" else _short(c.before)
        new = "∅" if c.kind == "removed" else _short(c.after)
        parts.append(f"{escape(c.field)}: {escape(old)} → {escape(new)}")
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
    if key == "change":
        return change(t["before"], t["after"])
    if key == "fields":
        return text(", ".join(t["fields"] or []) or (
            f"{t['record_count']} records" if t["record_count"] is not None else ""))
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
    return escape(" ".join(parts))
