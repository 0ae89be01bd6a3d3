"""The faster ingest stores what the plain one stores, table for table.

Each speed-up of a batch load (issue 17) is checked the same way: the same input loaded with
it and without it, every table of the two stores compared with EXCEPT ALL both ways.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

from quarterdeck.ingest import validate
from tests.support.layout import SAMPLE_LOGS

#: A part of the sample fleet: one workflow's logs, its releases and the approval records.
SOME_LOGS = [SAMPLE_LOGS / name for name in ("invoice-posting", "releases", "approvals")]


def test_a_batch_with_the_fast_path_stores_what_the_models_alone_store(tmp_path: Path) -> None:
    """The sample logs and a mutated copy, loaded with and without the fast path: the same
    tables, row for row (compared with EXCEPT both ways)."""
    from quarterdeck.ingest.load import load_paths
    from quarterdeck.queries.store import Store

    mutated = tmp_path / "mutated" / "runs.jsonl"
    mutated.parent.mkdir()
    out = []
    for number, line in enumerate(
        (SAMPLE_LOGS / "invoice-posting").glob("*.jsonl").__next__().read_bytes().splitlines()
    ):
        out.append(line)
        if number % 7 == 0:
            out.append(line.replace(b'"ts":', b'"ts":"2026-11-20T08:00:00.1234567Z","x":', 1))
        if number % 11 == 0:
            out.append(line[:-1] + b',"run_id":"r-dup"}')
    mutated.write_bytes(b"\n".join(out) + b"\n")
    with Store.open(tmp_path / "fast.duckdb") as fast:
        load_paths(fast.con, [*SOME_LOGS, mutated.parent])
    with (
        mock.patch.object(validate, "accept", lambda line: None),
        Store.open(tmp_path / "slow.duckdb") as slow,
    ):
        load_paths(slow.con, [*SOME_LOGS, mutated.parent])
    _assert_same_tables(tmp_path / "fast.duckdb", tmp_path / "slow.duckdb")


def test_batches_cut_at_row_groups_store_what_one_batch_stores(tmp_path: Path) -> None:
    """Lines held back to the next batch (each batch stores whole row groups): the same
    tables as one batch of everything, and every file recorded as read."""
    from quarterdeck.ingest import load
    from quarterdeck.queries.store import Store

    with Store.open(tmp_path / "one.duckdb") as one:
        load.load_paths(one.con, SOME_LOGS)
    with (
        mock.patch.object(load, "BATCH_ROWS", 500),
        mock.patch.object(load, "ROW_GROUP_ROWS", 150),
        Store.open(tmp_path / "cut.duckdb") as cut,
    ):
        summary = load.load_paths(cut.con, SOME_LOGS)
        files = cut.con.execute("SELECT count(*) FROM files").fetchone()
    assert files == (summary.files,)
    _assert_same_tables(tmp_path / "cut.duckdb", tmp_path / "one.duckdb")


def test_a_refresh_in_slices_derives_what_one_refresh_derives(tmp_path: Path) -> None:
    """A load's refresh of more runs than one transaction derives (issue 17: 1M runs under
    the load's memory limit) is done a slice of events at a time, each slice its own
    transaction: runs whose events span slices (5 of the 89 here) are summarized again by
    the next, and every table comes out as one refresh of everything leaves it."""
    from quarterdeck.ingest import load
    from quarterdeck.queries import derived
    from quarterdeck.queries.store import Store

    with Store.open(tmp_path / "one.duckdb") as one:
        whole = load.load_paths(one.con, SOME_LOGS)
    with (
        mock.patch.object(derived, "RUNS_PER_REFRESH", 16),
        mock.patch.object(derived, "_refresh", wraps=derived._refresh) as refresh,
        Store.open(tmp_path / "sliced.duckdb") as sliced,
    ):
        summary = load.load_paths(sliced.con, SOME_LOGS)
    assert refresh.call_count >= 5  # slices, each its own transaction
    assert summary.runs_updated == whole.runs_updated  # a run in two slices counted once
    _assert_same_tables(tmp_path / "sliced.duckdb", tmp_path / "one.duckdb")


def _assert_same_tables(left: Path, right: Path) -> None:
    """Every table of the two stores holds the same rows (times of loading left out)."""
    from quarterdeck.queries.store import Store

    with Store.open(left) as store:
        con = store.con
        con.execute(f"ATTACH '{right}' AS other (READ_ONLY)")
        tables = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_schema = 'main' "
                "AND table_name <> 'schema_version'"
            ).fetchall()
        ]
        for table in tables:
            columns = [
                row[0]
                for row in con.execute(f'DESCRIBE "{table}"').fetchall()
                if row[0] not in ("loaded_at", "quarantined_at", "updated_at", "seen_at")
            ]
            picked = ", ".join(f'"{c}"' for c in columns)
            for a, b in (("main", "other"), ("other", "main")):
                differ = con.execute(
                    f'SELECT count(*) FROM (SELECT {picked} FROM {a}."{table}" '
                    f'EXCEPT ALL SELECT {picked} FROM {b}."{table}")'
                ).fetchone()
                assert differ == (0,), (table, a, b)
