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
