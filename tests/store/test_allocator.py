"""Giving back the memory DuckDB has freed (queries/allocator.py): DuckDB's jemalloc keeps a
freed buffer's pages until they age; `release` gives them back at once, touching nothing live.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from quarterdeck.queries import allocator

MIB = 1024 * 1024

needs_jemalloc = pytest.mark.skipif(
    not allocator.available(), reason="this DuckDB build allocates without jemalloc"
)


def resident() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


@needs_jemalloc
def test_release_gives_back_the_pages_duckdb_freed_and_keeps_what_it_uses() -> None:
    con = duckdb.connect()
    con.execute("SET threads = 1")  # what it frees stays in one arena, not a worker's cache
    con.execute(
        "CREATE TABLE t AS SELECT range AS i, repeat('x', 60) || range AS s FROM range(300000)"
    )
    allocator.release()
    # a grouping of every row: a hash table of tens of MiB, freed when the query ends
    assert con.execute(
        "SELECT count(*) FROM (SELECT s, count(*) FROM t GROUP BY s)"
    ).fetchone() == (300_000,)
    held = allocator.stats()
    assert held is not None
    assert held.dirty + held.muzzy > 8 * MIB  # jemalloc kept the freed pages
    before = resident()

    assert allocator.release()

    after = allocator.stats()
    assert after is not None
    assert after.dirty + after.muzzy < MIB  # given back ...
    assert after.allocated == held.allocated  # ... and nothing DuckDB holds was touched
    assert resident() < before - 4 * MIB  # the process's resident memory went down with them
    assert con.execute("SELECT count(*), max(s) FROM t").fetchone() == (300_000, "x" * 60 + "99999")


def test_emptying_the_buffer_pool_evicts_what_duckdb_cached_and_keeps_its_limit_and_data(
    tmp_path: Path,
) -> None:
    con = duckdb.connect(str(tmp_path / "t.duckdb"))
    con.execute("SET memory_limit = '300MB'")
    limit = allocator.memory_limit(con)
    con.execute(
        "CREATE TABLE t AS SELECT range AS i, repeat('x', 60) || range AS s FROM range(300000)"
    )
    con.execute("CHECKPOINT")
    con.execute("INSERT INTO t SELECT 300000, 'not checkpointed'")  # only in memory, and the WAL
    assert con.execute("SELECT count(DISTINCT s) FROM t").fetchone() == (300_001,)  # cached

    def cached() -> int:
        row = con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchone()
        return int(row[0]) if row and row[0] else 0

    assert cached() > 4 * MIB
    limits = []
    for _ in range(3):
        allocator.empty_buffer_pool(con, limit)
        assert cached() < MIB
        limits.append(allocator.memory_limit(con))
    assert limits == [limits[0]] * 3  # the same each time, not lower and lower
    # the pool has its limit back, not only the setting: a grouping of ~20 MiB runs
    assert con.execute("SELECT count(DISTINCT s) FROM t").fetchone() == (300_001,)
    assert con.execute("SELECT count(*), max(i), min(s) FROM t WHERE i >= 299999").fetchone() == (
        2,
        300_000,
        "not checkpointed",
    )


def test_emptying_a_small_database_whose_pool_could_meet_the_unmet_limit(tmp_path: Path) -> None:
    """A database small enough to fit the limit meant to be unmet takes it for a moment; it
    must not keep it."""
    con = duckdb.connect(str(tmp_path / "small.duckdb"))
    con.execute("CREATE TABLE t AS SELECT 1 AS a")
    limit = allocator.memory_limit(con)
    allocator.empty_buffer_pool(con, limit)
    assert con.execute(
        "SELECT count(DISTINCT range::VARCHAR) FROM range(1000000)"  # ~2 MiB and more
    ).fetchone() == (1_000_000,)
