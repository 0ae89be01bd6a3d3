"""Named read queries about quarantined input: what was rejected, where, and why.

A quarantined line stays there; one whose place later held a complete, valid line (the
fragment of a half-written last line, read by a batch load before its writer finished it)
is marked superseded (`loading.supersede`): listed with the event it became, and no longer
counted as a problem.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa


def quarantined(
    con: duckdb.DuckDBPyConnection,
    *,
    error_class: str | None = None,
    source: str | None = None,
    limit: int | None = None,
) -> pa.Table:
    """Quarantined lines, most recently quarantined first, then by file and position.

    `raw` is the start of the line as it was read (512 bytes at most) as text, bytes that are
    not UTF-8 written as `\\xNN`; `raw_size` is the line's real length in bytes.
    `superseded_by` (and `superseded_at`) name the event the line became once completed;
    NULL while the line is a problem.
    """
    table = con.execute(
        """
        SELECT source, line_no AS line, byte_offset AS offset, error_class, error,
               superseded_by, raw_size, quarantined_at, superseded_at,
               CASE WHEN octet_length(raw) > 512 THEN raw[1:512] ELSE raw END AS raw
        FROM quarantine
        WHERE ($class IS NULL OR error_class = $class)
          AND ($source IS NULL OR source = $source)
        ORDER BY quarantined_at DESC, source, line_no
        LIMIT $limit
        """,
        {"class": error_class, "source": source, "limit": limit if limit else 2**62},
    ).to_arrow_table()
    text = [
        raw.decode("utf-8", errors="backslashreplace") for raw in table.column("raw").to_pylist()
    ]
    return table.set_column(table.schema.get_field_index("raw"), "raw", pa.array(text))


def quarantine_count(con: duckdb.DuckDBPyConnection) -> int:
    """Quarantined lines that are still a problem (not superseded)."""
    row = con.execute("SELECT count(*) FROM quarantine WHERE superseded_at IS NULL").fetchone()
    return int(row[0]) if row else 0
