"""Turning query results into what people read: CLI tables, JSON, CSV, and short cell texts.

Times are UTC everywhere: ISO 8601 with a `Z` in JSON and CSV, `YYYY-MM-DD HH:MM:SS` in tables
whose headers say UTC. A table shows the columns it is given (`queries.columns`), each cell
written as its column's kind says; JSON and CSV carry every field of the rows.

Values come from logs, so none of them reaches the terminal as it is: a table cell is
`printable` text in a `rich.text.Text` (never parsed as markup, so `[red]` or `[link=…]` in a
record id is shown, not obeyed); JSON escapes what could act on a terminal (`printable_json`)
and parses back to the exact value; CSV is data and keeps the exact value.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TextIO

import pyarrow as pa
from rich.console import Console
from rich.table import Table
from rich.text import Text

from quarterdeck.printable import printable, printable_json

if TYPE_CHECKING:
    from quarterdeck.queries.columns import Column

FORMATS = ("table", "json", "csv")


def iso(value: datetime | None) -> str | None:
    """A stored (naive UTC) timestamp as ISO 8601 with `Z`."""
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds") + "Z"  # one width: sorts as text


def short_time(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else ""


def duration(seconds: float | None) -> str:
    """`42s`, `3m05s`, `2h14m`, `3d04h`: the two most significant units. A negative one
    (finished before it started: the hosts' clocks differ) is no fact: `⚠ skew -5s`."""
    if seconds is None:
        return ""
    total = int(round(seconds))
    sign = "⚠ skew -" if seconds < 0 else ""
    total = abs(total)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{sign}{days}d{hours:02d}h"
    if hours:
        return f"{sign}{hours}h{minutes:02d}m"
    if minutes:
        return f"{sign}{minutes}m{secs:02d}s"
    return f"{sign}{secs}s"


def contradictions(run: dict[str, Any]) -> list[str]:
    """What a run's events say that contradicts itself (a runs row: `queries.runs`), in words:
    the run detail and `quarterdeck run` name each."""
    said = []
    if run.get("clock_skew"):
        said.append(
            "clock skew: finished before it started (the hosts' clocks differ); "
            "its duration is no fact"
        )
    if run.get("conflicting_finish"):
        said.append(
            "its run.finished events disagree: the latest counts, at one instant the worse "
            "(failed, rolled_back, cancelled, succeeded)"
        )
    if run.get("conflicting_start"):
        said.append(
            "its run.started events disagree: the first shows, its touches are checked "
            "against the narrower of their scopes"
        )
    return said


#: How much of a long text (a run's error) a screen or table shows.
TRIMMED = 160


def trimmed(value: Any, limit: int = TRIMMED) -> str:
    """A text's first line, `limit` characters at most, `…` when anything is left out (a
    traced framework's error can be a whole traceback; JSON output keeps it whole)."""
    text = str(value).strip()
    first = text.splitlines()[0] if text else ""
    cut = first[:limit]
    return cut + "…" if cut != text else cut


def number(value: Any) -> str:
    """A measured number for a person: whole numbers as integers (`1,204`), others to two
    decimals (`0.77`), or two significant digits below 0.01 (`0.0012`); what is not a number
    as text, None as nothing. DuckDB's sums come as Decimal. Data (JSON, CSV, Parquet) keeps
    full precision; what a person reads (tables, the report, a trip's reason) goes through
    this."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        value = float(value)
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}" if abs(value) >= 0.01 else f"{value:.2g}"


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Decimal):  # DuckDB's sums of decimals
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return value


def rows(table: pa.Table) -> list[dict[str, Any]]:
    """Arrow rows as JSON-ready dicts."""
    return [{k: jsonable(v) for k, v in row.items()} for row in table.to_pylist()]


def write(
    table: pa.Table,
    fmt: str,
    *,
    columns: Sequence[Column],
    title: str | None = None,
    out: TextIO | None = None,
) -> None:
    """Print `table` as a rich table (the given columns), JSON (an array) or CSV."""
    out = out or sys.stdout
    if fmt == "json":
        out.write(printable_json(json.dumps(rows(table), indent=2, ensure_ascii=False)))
        out.write("\n")
    elif fmt == "csv":
        writer = csv.DictWriter(out, fieldnames=table.column_names, lineterminator="\n")
        writer.writeheader()
        for row in rows(table):
            writer.writerow({k: _csv_cell(v) for k, v in row.items()})
    else:
        _rich_table(table.to_pylist(), columns, title, out)


def _csv_cell(value: Any) -> Any:
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return value


def _rich_table(
    data: Iterable[dict[str, Any]],
    columns: Sequence[Column],
    title: str | None,
    out: TextIO,
) -> None:
    # In a terminal, fit its width; piped, never wrap (a wide line beats a folded one).
    console = Console(file=out, soft_wrap=False, width=None if out.isatty() else 400)
    table = Table(title=title, header_style="bold", box=None, pad_edge=False)
    for column in columns:
        table.add_column(column.header, overflow="fold")
    count = 0
    for row in data:
        count += 1
        table.add_row(*(Text(printable(_cell_text(row.get(c.key), c.kind))) for c in columns))
    if count:
        console.print(table)
    else:
        console.print("[dim]nothing to show[/]")


def _cell_text(value: Any, kind: str) -> str:
    if value is None:
        return "unknown" if kind == "checked" else ""
    if kind == "time":
        return short_time(value)
    if kind == "duration":
        return duration(value)
    if kind == "flag":
        return "yes" if value else "no"
    if kind == "number":
        return number(value)
    if kind == "list":
        return ", ".join(str(v) for v in value)
    return str(value)
