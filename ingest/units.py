"""A unit of validated input on its way to the store: what a batch of lines became.

Both the batch loader and the follower read lines, validate them (`ingest.validate`) and
gather the results here: the event lines that passed (as Arrow, for DuckDB to parse), the
approval records, and the rejected lines for the quarantine. `store` hands a unit to the store
in one transaction, together with the file offsets it reached when following.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from quarterdeck.ingest.models import ApprovalRecord
from quarterdeck.ingest.reader import LineBatch
from quarterdeck.ingest.validate import CheckedBatch, Derived, Rejection
from quarterdeck.queries import loading


@dataclass
class Unit:
    tables: list[pa.Table] = field(default_factory=list)
    rows: int = 0
    records: list[dict[str, Any]] = field(default_factory=list)
    rejections: list[tuple[str, str, Rejection]] = field(default_factory=list)
    blank: int = 0

    @property
    def empty(self) -> bool:
        return not (self.rows or self.records or self.rejections)

    def add(self, batch: LineBatch, checked: CheckedBatch, path: Path | str, fp: str) -> None:
        """Take a validated batch of lines read from `path` (fingerprint `fp`); `path` is
        what the store calls the source."""
        name = str(path)
        if checked.events:
            self.tables.append(lines_table(batch, checked, name, fp))
            self.rows += checked.events
        if checked.derived:
            self.tables.append(derived_table(checked.derived, name, fp))
            self.rows += len(checked.derived)
        self.rejections.extend((name, fp, r) for r in checked.rejections)
        self.records.extend(record_row(r, n, path) for n, r in checked.records)
        self.blank += checked.blank

    def reject(self, path: Path | str, fp: str, rejection: Rejection) -> None:
        self.rejections.append((str(path), fp, rejection))

    def store(
        self, con: duckdb.DuckDBPyConnection, *, now: object, offsets: Iterable[loading.Offset] = ()
    ) -> loading.UnitCounts:
        """Store the unit (and `offsets`) in one transaction."""
        return loading.store_unit(
            con,
            lines=pa.concat_tables(self.tables) if self.tables else None,
            records=(
                pa.Table.from_pylist(self.records, schema=loading.APPROVAL_RECORD_SCHEMA)
                if self.records
                else None
            ),
            rejections=rejections_table(self.rejections) if self.rejections else None,
            offsets=offsets,
            now=now,
        )


def lines_table(batch: LineBatch, checked: CheckedBatch, source: str, fp: str) -> pa.Table:
    """The lines of `batch` that passed, as `loading.LINES_SCHEMA` (no copy of the bytes)."""
    n = len(batch.lines)
    zeros = pa.array([0] * n, pa.int32())
    offsets = pa.array(batch.starts + [len(batch.data)], pa.int32())
    text = pa.StringArray.from_buffers(n, offsets.buffers()[1], pa.py_buffer(batch.data))
    byte_offsets = pc.add(pa.array(batch.starts, pa.int64()), batch.base_offset)
    normalised = batch.id_offsets()  # None: the byte offsets (a file without BOM or CRs)
    table = pa.table(
        [
            text,
            pa.array(range(batch.first_line_no, batch.first_line_no + n), pa.int64()),
            byte_offsets,
            pa.DictionaryArray.from_arrays(zeros, pa.array([source])),
            pa.DictionaryArray.from_arrays(zeros, pa.array([fp])),
            byte_offsets if normalised is None else pa.array(normalised, pa.int64()),
        ],
        schema=pa.schema(list(loading.LINES_SCHEMA)[:6]),
    )
    if checked.events < n:
        table = table.filter(pa.array(checked.valid, pa.bool_()))
    return _with_validated(table, checked.ids, checked.ts, checked.expires, checked.attrs)


def derived_table(derived: list[Derived], source: str, fp: str) -> pa.Table:
    """Events mapped from other input (OTLP spans), each pointing at the line it came from."""
    zeros = pa.array([0] * len(derived), pa.int32())
    byte_offsets = pa.array([d.byte_offset for d in derived], pa.int64())
    table = pa.table(
        [
            pa.array([d.text.decode() for d in derived], pa.string()),
            pa.array([d.line_no for d in derived], pa.int64()),
            byte_offsets,
            pa.DictionaryArray.from_arrays(zeros, pa.array([source])),
            pa.DictionaryArray.from_arrays(zeros, pa.array([fp])),
            byte_offsets,  # unused: every mapped event has its own id (`otlp`)
        ],
        schema=pa.schema(list(loading.LINES_SCHEMA)[:6]),
    )
    return _with_validated(
        table, [d.event_id for d in derived], [d.ts for d in derived], [d.expires for d in derived]
    )


def _with_validated(
    table: pa.Table,
    ids: list[str | None],
    ts: list[int],
    expires: list[int | None],
    attrs: dict[int, str] | None = None,
) -> pa.Table:
    """Add what the validator read from each line: its event id, its times in UTC, and the
    attrs of the few lines with unknown top-level fields (NULL for the others)."""
    for name, values in (("event_id", ids), ("ts_us", ts), ("expires_us", expires)):
        column = loading.LINES_SCHEMA.field(name)
        table = table.append_column(column, pa.array(values, column.type))
    column = loading.LINES_SCHEMA.field("attrs_json")
    if not attrs:
        return table.append_column(column, pa.nulls(table.num_rows, column.type))
    kept: list[str | None] = [None] * table.num_rows
    for at, text in attrs.items():
        kept[at] = text
    return table.append_column(column, pa.array(kept, column.type))


def record_row(record: ApprovalRecord, line_no: int, path: Path | str) -> dict[str, Any]:
    """A record as `loading.APPROVAL_RECORD_SCHEMA`: the store keys it by its content."""
    row = record.model_dump(mode="json", include=set(loading.APPROVAL_RECORD_SCHEMA.names))
    row.update(source=str(path), line_no=line_no)
    return row


def rejections_table(rejections: list[tuple[str, str, Rejection]]) -> pa.Table:
    keys = [
        loading.quarantine_keys(
            fp,
            r.byte_offset if r.key_offset is None else r.key_offset,
            r.byte_offset,
            r.legacy_fingerprint,
        )
        for _, fp, r in rejections
    ]
    return pa.table(
        {
            "quarantine_key": [key for key, _ in keys],
            "legacy_key": [legacy for _, legacy in keys],
            "source": [source for source, _, _ in rejections],
            "line_no": [r.line_no for _, _, r in rejections],
            "byte_offset": [r.byte_offset for _, _, r in rejections],
            "error_class": [r.error_class for _, _, r in rejections],
            "error": [r.error for _, _, r in rejections],
            "raw": [r.raw for _, _, r in rejections],
            "raw_size": [r.raw_size for _, _, r in rejections],
        },
        schema=loading.QUARANTINE_SCHEMA,
    )
