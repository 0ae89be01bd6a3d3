"""A record's lineage read from `record_touches` is exactly what reading every touch gives,
whenever it is asked: after a load, between a load and its refresh, after a late run.started."""

from __future__ import annotations

import json
from datetime import datetime

import pyarrow as pa

from quarterdeck.queries import derived, loading, touches
from support.events import event, started, write_jsonl


def _scanned(con, system: str, obj: str, record_id: str) -> pa.Table:
    """The lineage as read before `record_touches`: every touch of the events table."""
    sql = touches._TOUCHES.format(
        source="touches",
        where="t.system = $system AND t.object = $object AND t.record_id = $record_id",
        direction="ASC",
    )
    params = {"system": system, "object": obj, "record_id": record_id, "limit": 2**62}
    return con.execute(sql, params).to_arrow_table()


def _touch(run_id: str, n: int, record_id: str, ts: str, **fields) -> dict:
    return event(
        "data.touched",
        ts,
        run_id,
        event_id=f"{run_id}-t{n}",
        system="ledger",
        object="Invoice",
        record_id=record_id,
        action="update",
        before={"status": "open"},
        after={"status": "posted"},
        **fields,
    )


def _same_everywhere(con, records) -> None:
    for record in records:
        got = touches.lineage(con, *record)
        assert got.equals(_scanned(con, *record)), record


def test_lineage_from_the_clustered_copy_is_the_scan(store, ingest, tmp_path) -> None:
    con = store.con
    first = [started("r-1", "2026-11-20T08:00:00Z", scope=["ledger:write:Invoice"])]
    first += [_touch("r-1", n, f"INV-{n % 3}", f"2026-11-20T08:00:{n:02d}Z") for n in range(9)]
    # r-2's touches come before its run.started (in the next file): in_scope unknown at first
    first += [_touch("r-2", n, f"INV-{n % 2}", f"2026-11-20T08:01:{n:02d}Z") for n in range(4)]
    first.append(
        event("data.touched", "2026-11-20T08:02:00Z", "r-1", event_id="bulk", system="ledger",
              object="Invoice", action="export", record_count=40)
    )  # fmt: skip
    ingest(write_jsonl(tmp_path / "a.jsonl", first))
    records = [("ledger", "Invoice", f"INV-{n}") for n in range(3)]
    assert touches.lineage(con, *records[0]).num_rows == 5
    assert touches.lineage(con, *records[0]).column("in_scope").to_pylist()[-2:] == [None, None]
    _same_everywhere(con, records + [("ledger", "Invoice", "INV-9"), ("crm", "Invoice", "INV-0")])

    # stored, not yet derived: the lineage has them all the same, in_scope unknown
    late = [started("r-2", "2026-11-20T07:59:00Z", scope=["ledger:read"])]
    late += [_touch("r-3", n, "INV-0", f"2026-11-20T09:00:{n:02d}Z") for n in range(2)]
    lines = pa.table(
        {
            "line": [json.dumps(e) for e in late],
            "line_no": list(range(1, len(late) + 1)),
            "byte_offset": [100 * n for n in range(len(late))],
        }
    )
    _store_raw(con, lines, late)
    assert touches._pending_after(con) is not None  # read from the events past the mark
    assert touches.lineage(con, *records[0]).num_rows == 7
    _same_everywhere(con, records)

    # derived: r-2's early touches now out of scope in the copy as in the events
    derived.refresh_derived(con)
    assert touches._pending_after(con) is None  # from record_touches alone
    lineage = touches.lineage(con, *records[0]).to_pylist()
    assert [(r["run_id"], r["in_scope"]) for r in lineage if r["run_id"] == "r-2"] == [
        ("r-2", False),
        ("r-2", False),
    ]
    _same_everywhere(con, records)
    assert con.execute("SELECT count(*) FROM record_touches").fetchone()[0] == 15


def _store_raw(con, lines: pa.Table, events: list[dict]) -> None:
    """Store lines as a unit does, without the refresh a load ends with."""

    def us(ts: str) -> int:
        return int(datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp() * 1_000_000)

    n = lines.num_rows
    table = pa.table(
        {
            "line": lines["line"],
            "line_no": lines["line_no"],
            "byte_offset": lines["byte_offset"],
            "id_offset": lines["byte_offset"],  # (an LF file: its bytes are its normalised offsets)
            "source": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), ["late"]),
            "fingerprint": pa.DictionaryArray.from_arrays(pa.array([0] * n, pa.int32()), ["fp"]),
            "event_id": [e["event_id"] for e in events],
            "ts_us": [us(e["ts"]) for e in events],
            "expires_us": pa.nulls(n, pa.int64()),
            "attrs_json": pa.nulls(n, pa.string()),
        },
        schema=loading.LINES_SCHEMA,
    )
    loading.store_unit(con, lines=table, now=datetime(2026, 11, 20, 10))


def test_record_key_is_the_hash_it_was_stored_with(store) -> None:
    """`record_touches` is keyed by DuckDB's `hash`: a DuckDB whose hash gives another value
    would find no record's touches there until the table is re-keyed (a migration)."""
    key = store.con.execute("SELECT hash('ledger', 'Invoice', 'INV-00042')").fetchone()[0]
    assert key == PINNED_KEY


PINNED_KEY = 4256389123632191643
