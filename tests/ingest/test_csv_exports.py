"""Approval records are known by what they say, not by where their file has them.

Every export of one approval system has the same header row: two different exports, or an
export rewritten in place with new states, hold other records at the same line numbers, and
each is stored; a repeat of a record (the same export again, a copy, the same row twice)
adds nothing. A store that keyed records by their file's header and line number is keyed
again by their content when opened, so reading its files again adds nothing either.
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from pathlib import Path

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.approvals import approvals
from quarterdeck.queries.store import Store
from support.events import write_jsonl

HEADER = "approval_id,run_id,status,decided_by,decided_at,reason,requested_at"
NOW = datetime(2026, 11, 20, 9, 0)


def export(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "\n" + "".join(row + "\n" for row in rows))
    return path


def states(store: Store) -> dict[str, str]:
    return {row["approval_id"]: row["status"] for row in approvals(store.con, now=NOW).to_pylist()}


def stored(store: Store) -> int:
    row = store.con.execute("SELECT count(*) FROM approval_records").fetchone()
    assert row is not None
    return int(row[0])


def test_two_exports_with_one_header_are_both_stored(store: Store, tmp_path: Path) -> None:
    a = export(tmp_path / "a.csv", "apr-1,r-1,pending,,,,2026-11-20T08:00:00Z")
    b = export(tmp_path / "b.csv", "apr-9,r-9,approved,dana,2026-11-20T08:30:00Z,ok,")
    assert load_paths(store.con, [a]).approval_records == 1
    loaded = load_paths(store.con, [b])
    assert (loaded.approval_records, loaded.duplicates) == (1, 0)
    assert states(store) == {"apr-1": "pending", "apr-9": "approved"}


def test_an_export_rewritten_with_a_new_state_takes_effect(store: Store, tmp_path: Path) -> None:
    path = export(tmp_path / "export.csv", "apr-1,r-1,pending,,,,2026-11-20T08:00:00Z")
    load_paths(store.con, [path])
    assert states(store) == {"apr-1": "pending"}
    export(path, "apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,2026-11-20T08:00:00Z")
    loaded = load_paths(store.con, [path])
    assert (loaded.approval_records, loaded.duplicates) == (1, 0)
    assert states(store) == {"apr-1": "approved"}


def test_a_followed_export_rewritten_with_a_new_state_takes_effect(
    store: Store, logs: Path
) -> None:
    path = export(logs / "export.csv", "apr-1,r-1,pending,,,,2026-11-20T08:00:00Z")
    follower = Follower(store.cursor(), [logs], grace=0)
    try:
        follower.poll()
        assert states(store) == {"apr-1": "pending"}
        export(path, "apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,2026-11-20T08:00:00Z")
        settled = time.time() - 60  # written a minute ago: the follower reads it at once
        os.utime(path, (settled, settled))
        follower.poll()
    finally:
        follower.close()
    assert (follower.stats.records, follower.stats.duplicates) == (2, 0)
    assert states(store) == {"apr-1": "approved"}


def test_repeats_and_copies_add_nothing(store: Store, tmp_path: Path) -> None:
    rows = (
        "apr-1,r-1,pending,,,,2026-11-20T08:00:00Z",
        "apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,2026-11-20T08:00:00Z",
    )
    path = export(tmp_path / "export.csv", *rows, rows[1])  # a row twice: stored once
    first = load_paths(store.con, [path])
    assert (first.approval_records, first.duplicates) == (2, 1)
    # the same export again; a copy elsewhere, its rows in another order; its times in
    # another offset (the same instants, stored in UTC): all known
    offset = rows[1].replace("08:30:00Z", "09:30:00+01:00")
    again = load_paths(
        store.con,
        [
            path,
            export(tmp_path / "copy.csv", rows[1], rows[0]),
            export(tmp_path / "offset.csv", offset),
        ],
    )
    assert (again.approval_records, again.duplicates) == (0, 6)
    assert stored(store) == 2
    # a record that differs in any column is another record
    other = export(tmp_path / "other.csv", rows[1].replace(",ok,", ",fine,"))
    assert load_paths(store.con, [other]).approval_records == 1


def test_a_store_keyed_by_header_and_line_loads_nothing_again(tmp_path: Path) -> None:
    db = tmp_path / "store" / "qd.duckdb"
    csv = export(
        tmp_path / "export.csv",
        "apr-1,r-1,pending,,,,2026-11-20T08:00:00Z",
        "apr-2,r-2,rejected,li,2026-11-20T08:40:00+02:00,no,2026-11-20T08:10:00Z",
    )
    jsonl = write_jsonl(
        tmp_path / "records.jsonl",
        [{"approval_id": "apr-3", "run_id": "r-3", "status": "pending", "reason": "a\r\nb"}],
    )
    with Store.open(db) as store:
        assert load_paths(store.con, [csv, jsonl]).approval_records == 3
        # as a Quarterdeck of schema 19 keyed them: a fingerprint and the line number
        store.con.execute("UPDATE approval_records SET record_key = 'fp:' || line_no::VARCHAR")
        store.con.execute("DELETE FROM schema_version WHERE version > 19")
        before = store.con.execute("SELECT * EXCLUDE (record_key) FROM approval_records").fetchall()
    with Store.open(db) as store:
        assert store.migrated == [20]
        keys = {
            key for (key,) in store.con.sql("SELECT record_key FROM approval_records").fetchall()
        }
        assert len(keys) == 3 and not any(key.startswith("fp:") for key in keys)
        after = store.con.execute("SELECT * EXCLUDE (record_key) FROM approval_records").fetchall()
        assert after == before  # nothing else changed
        again = load_paths(store.con, [csv, jsonl])
        assert (again.approval_records, again.duplicates) == (0, 3)
        # and a state new since is stored
        export(csv, "apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,ok,2026-11-20T08:00:00Z")
        assert load_paths(store.con, [csv]).approval_records == 1
        assert states(store) == {"apr-1": "approved", "apr-2": "rejected", "apr-3": "pending"}
