"""A copy of an approval-records CSV that only gained or lost a BOM or CRs is the same records.

Excel and Windows shares write CSVs with CRLF line ends, some tools add or strip a BOM: each
such copy adds nothing (its records and bad rows are duplicates), in any order, loaded or
followed; an LF CSV without a BOM keeps the keys it always had; and a store whose CSVs were
keyed by their raw first line (BOM and CR included) and line numbers loads none of them, nor
their copies, twice after the upgrade (records are keyed by their content now: `RECORD_KEY`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.ingest.reader import BOM
from quarterdeck.queries.store import Store

FORMS = ("lf", "bom", "crlf", "bom+crlf")
COLUMNS = ["approval_id", "run_id", "status", "decided_by", "decided_at", "reason"]


def rows(n: int, extra: int = 0) -> list[dict[str, str]]:
    """Three good records (one with a line break in a quoted cell), a bad one, and `extra`
    more good ones."""
    approval, run = f"apr-{n}", f"r-{n}"
    return [
        {"approval_id": approval, "run_id": run, "status": "pending"},
        {
            "approval_id": approval,
            "run_id": run,
            "status": "approved",
            "decided_by": "dana",
            "decided_at": "2026-11-20T08:30:00Z",
            "reason": '"ok,\nfine"',
        },
        {"approval_id": f"{approval}-b", "run_id": run, "status": "pending"},
        {"approval_id": f"{approval}-c", "run_id": run, "status": "maybe"},
    ] + [{"approval_id": f"{approval}-{k}", "status": "pending"} for k in range(extra)]


def text(form: str, n: int, *, extra: int = 0) -> bytes:
    """CSV `n` (n < 6) in the given form, with `extra` rows more. Its columns are in an order
    of its own: CSVs are known by their header row, and these are not copies of each other."""
    order = COLUMNS[n:] + COLUMNS[:n]
    body = [order] + [[row.get(name, "") for name in order] for row in rows(n, extra)]
    data = "".join(",".join(cells) + "\n" for cells in body).encode()
    if "crlf" in form:
        data = data.replace(b"\n", b"\r\n")  # as unix2dos does, in the quoted cell too
    return (BOM if "bom" in form else b"") + data


def write(path: Path, form: str, n: int, *, extra: int = 0) -> Path:
    path.write_bytes(text(form, n, extra=extra))
    return path


def counts(store: Store) -> tuple[int, int]:
    """Approval records and quarantined lines in the store."""
    row = store.con.execute(
        "SELECT (SELECT count(*) FROM approval_records), (SELECT count(*) FROM quarantine)"
    ).fetchone()
    assert row is not None
    return row


def test_a_copy_in_another_form_adds_nothing_whichever_came_first(
    store: Store, tmp_path: Path
) -> None:
    for n, first in enumerate(FORMS):
        loaded = load_paths(store.con, [write(tmp_path / f"{n}-{first}.csv", first, n)])
        assert (loaded.approval_records, loaded.quarantined_new) == (3, 1)
        expected = counts(store)
        assert expected == (3 * (n + 1), n + 1)
        copies = [write(tmp_path / f"{n}-copy-{o}.csv", o, n) for o in FORMS if o != first]
        again = load_paths(store.con, copies)
        assert (again.approval_records, again.duplicates) == (0, 9), first
        assert (again.quarantined, again.quarantined_new) == (3, 0), first
        assert counts(store) == expected, first


def test_copies_followed_side_by_side_are_one_file(store: Store, logs: Path) -> None:
    for form in FORMS:
        write(logs / f"{form}.csv", form, 0)
    follower = Follower(store.cursor(), [logs], grace=0)
    try:
        follower.poll()
    finally:
        follower.close()
    stats = follower.stats
    assert (stats.records, stats.duplicates, stats.quarantined) == (3, 9, 1)
    assert counts(store) == (3, 1)


def test_an_lf_csv_keeps_the_quarantine_keys_it_always_had(store: Store, tmp_path: Path) -> None:
    data = text("lf", 0)
    load_paths(store.con, [write(tmp_path / "export.csv", "lf", 0)])
    fp = hashlib.sha256(data.split(b"\n", 1)[0]).hexdigest()  # of the raw first line
    offset = data.index(b"apr-0-c")  # the bad row
    bad = store.con.execute("SELECT quarantine_key, byte_offset FROM quarantine").fetchall()
    assert bad == [(hashlib.sha256(f"{fp}:{offset}".encode()).hexdigest(), offset)]


def _old_keys(store: Store, path: Path) -> None:
    """Make the store's records and bad rows of `path` what a Quarterdeck of schema 19 (that
    fingerprinted a CSV by its raw first line) stored: that fingerprint and the line, or the
    byte offset; the store at version 17, so that it is upgraded when opened."""
    raw = hashlib.sha256(path.read_bytes().split(b"\n", 1)[0]).hexdigest()
    for sql in (
        "UPDATE approval_records SET record_key = ? || ':' || line_no::VARCHAR WHERE source = ?",
        "UPDATE quarantine SET quarantine_key = sha256(? || ':' || byte_offset::VARCHAR) "
        "WHERE source = ?",
    ):
        updated = store.con.execute(sql, [raw, str(path)]).fetchone()
        assert updated and updated[0] > 0
    store.con.execute("DELETE FROM schema_version WHERE version > 19")


def test_csvs_keyed_by_their_raw_first_line_do_not_load_again(tmp_path: Path) -> None:
    db = tmp_path / "store" / "qd.duckdb"
    for n, form in enumerate(FORMS):
        path = write(tmp_path / f"{n}-{form}.csv", form, n)
        with Store.open(db) as store:
            load_paths(store.con, [path])
            _old_keys(store, path)
            expected = counts(store)
        with Store.open(db) as store:  # upgraded: the records keyed by their content
            assert store.migrated == [20]
            # the file again, grown: its stored rows are known
            write(path, form, n, extra=1)
            again = load_paths(store.con, [path])
            assert (again.approval_records, again.duplicates, again.quarantined_new) == (1, 3, 0)
            assert counts(store) == (expected[0] + 1, expected[1]), form
            # its copies in the other forms: their records are those records
            copies = [
                write(tmp_path / f"{n}-copy-{o}.csv", o, n, extra=1) for o in FORMS if o != form
            ]
            assert load_paths(store.con, copies).approval_records == 0, form
            assert counts(store)[0] == expected[0] + 1
