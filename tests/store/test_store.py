"""The store: created and migrated by a versioned schema; clear errors when it cannot open."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from quarterdeck.queries import migrations
from quarterdeck.queries.migrations import Migration, current_version, migrate
from quarterdeck.queries.store import Store, StoreError


def test_a_new_store_is_created_at_the_latest_version(tmp_path: Path) -> None:
    with Store.open(tmp_path / "deep" / "er" / "qd.duckdb") as store:
        assert current_version(store.con) == migrations.LATEST
        tables = {
            r[0]
            for r in store.con.execute(
                "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()"
            ).fetchall()
        }
    for name in (
        "events",
        "run_starts",
        "steps",
        "touches",
        "approval_events",
        "approval_records",
        "quarantine",
        "files",
        "run_summary",
    ):
        assert name in tables


def test_an_old_store_is_upgraded_and_keeps_its_data(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrate(con)  # as an older Quarterdeck left it
    con.execute("INSERT INTO files VALUES ('a.jsonl', 'fp', 10, 10, 1, TIMESTAMP '2026-11-20')")
    con.close()
    v2 = Migration(
        migrations.LATEST + 1, "add a column", ("ALTER TABLE files ADD COLUMN note VARCHAR",)
    )
    con = duckdb.connect(str(path))
    assert migrate(con, migrations.MIGRATIONS + (v2,)) == [v2.version]
    assert current_version(con) == v2.version
    assert con.execute("SELECT path, note FROM files").fetchall() == [("a.jsonl", None)]
    assert migrate(con, migrations.MIGRATIONS + (v2,)) == []  # idempotent
    con.close()


def test_a_failed_migration_leaves_the_store_as_it_was(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    migrate(con)
    broken = Migration(
        migrations.LATEST + 1,
        "broken",
        ("ALTER TABLE files ADD COLUMN note VARCHAR", "THIS IS NOT SQL"),
    )
    with pytest.raises(duckdb.Error):
        migrate(con, migrations.MIGRATIONS + (broken,))
    assert current_version(con) == migrations.LATEST
    assert "note" not in [r[0] for r in con.execute("DESCRIBE files").fetchall()]
    con.close()


def test_a_store_from_a_newer_quarterdeck_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.duckdb"
    with Store.open(path) as store:
        store.con.execute("INSERT INTO schema_version VALUES (99, 'future', now()::TIMESTAMP)")
    with pytest.raises(StoreError, match="newer than this Quarterdeck"):
        Store.open(path)


def test_read_only_open_of_a_missing_store_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="quarterdeck ingest"):
        Store.open(tmp_path / "none.duckdb", read_only=True)


def test_a_file_that_is_not_a_store_is_refused_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "junk.duckdb"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreError) as info:
        Store.open(path)
    assert "\n" not in str(info.value)
