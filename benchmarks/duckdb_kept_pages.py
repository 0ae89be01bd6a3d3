"""A bare DuckDB reproduction of where a following server's memory went (issue 13).

    python benchmarks/duckdb_kept_pages.py [--rounds 3000] [--release N] [--empty N]

No Quarterdeck code runs: a file database, and rounds of what a follower's commit and refresh
do in small — append 50 rows to a wide table, then a few statements that join and group the
new rows (hash joins and aggregates, each on a handful of rows), a CHECKPOINT every 60 rounds.
Every 250 rounds it prints the process's resident memory, what `duckdb_memory()` counts, what
DuckDB's built-in jemalloc holds live and keeps freed (dirty + muzzy pages), and glibc's heap
in use (`mallinfo2`). `--release N` gives the freed pages back every N rounds
(quarterdeck.queries.allocator.release: jemalloc's `arena.<all>.purge`, then `malloc_trim`);
`--empty N` empties the buffer pool every N rounds (allocator.empty_buffer_pool: a memory
limit no database meets, refused once everything that can be evicted was), after a CHECKPOINT.

What it shows on DuckDB 1.5.5 (Linux, the PyPI wheel):
- jemalloc keeps tens of MiB of freed pages resident, more than `duckdb_memory()` counts,
  swinging from reading to reading; `SET allocator_background_threads = true` does not bring
  them back down; `--release` does, at once.
- glibc's heap in use climbs for the first ~100k+ temporary buffers and then levels off:
  each buffer's BlockHandle stays allocated while the buffer pool's eviction queue still
  holds a (dead) entry for it, and a queue is purged only once it holds 32,768 entries.
  `--empty` keeps it flat (and drops the cached table pages with it).

Kept out of the test run; its figures are in the README (the server: soak and cost).
"""

from __future__ import annotations

import argparse
import ctypes
import sys
import tempfile
import time
from pathlib import Path

import duckdb

from quarterdeck.queries import allocator

MIB = 1024 * 1024
COLUMNS = 40


_MALLINFO2 = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in _MALLINFO2.split()]


def glibc_in_use() -> float | None:
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except AttributeError:
        return None
    mallinfo2.restype = _MallInfo2
    return float(mallinfo2().uordblks) / MIB


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3000)
    parser.add_argument("--release", type=int, default=0, help="release every N rounds (0: never)")
    parser.add_argument(
        "--empty", type=int, default=0, help="empty the buffer pool every N rounds (0: never)"
    )
    parser.add_argument("--setting", action="append", default=[], help="a SET statement to run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qd-kept-pages-") as work:
        con = duckdb.connect(str(Path(work) / "bare.duckdb"))
        for setting in args.setting:
            con.execute(setting)
        limit = allocator.memory_limit(con)
        columns = ", ".join(f"c{n} VARCHAR" for n in range(COLUMNS))
        con.execute(f"CREATE TABLE events (id BIGINT, run_id VARCHAR, ts TIMESTAMP, {columns})")
        con.execute("CREATE TABLE summary (run_id VARCHAR PRIMARY KEY, n BIGINT, last TIMESTAMP)")
        values = ", ".join(f"'v{n}-' || i" for n in range(COLUMNS))
        started = time.monotonic()
        for round_no in range(1, args.rounds + 1):
            first = (round_no - 1) * 50
            con.execute("BEGIN")
            con.execute(
                f"INSERT INTO events SELECT i, 'run-' || (i // 20), now()::TIMESTAMP, {values} "
                f"FROM range({first}, {first + 50}) t(i)"
            )
            con.execute("COMMIT")
            con.execute("BEGIN")
            con.execute(
                "CREATE OR REPLACE TEMP TABLE _runs AS "
                "SELECT DISTINCT run_id FROM events WHERE id >= $1",
                [first],
            )
            con.execute(
                "INSERT INTO summary SELECT run_id, count(*), max(ts) FROM events "
                "WHERE id >= $1 - 100 AND run_id IN (SELECT run_id FROM _runs) GROUP BY run_id "
                "ON CONFLICT (run_id) DO UPDATE SET n = excluded.n, last = excluded.last",
                [first],
            )
            con.execute(
                "SELECT count(*) FROM events e JOIN _runs r USING (run_id) WHERE e.id >= $1",
                [first],
            ).fetchall()
            con.execute("COMMIT")
            if round_no % 60 == 0 or (args.empty and round_no % args.empty == 0):
                con.execute("CHECKPOINT")
            if args.empty and round_no % args.empty == 0:
                allocator.empty_buffer_pool(con, limit)
            if args.release and round_no % args.release == 0:
                allocator.release()
            if round_no % 250 == 0:
                counted = con.execute(
                    "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
                ).fetchone()
                kept = allocator.stats()
                heap = glibc_in_use()
                print(
                    f"round {round_no:6d}: resident {resident_mib():6.1f} MiB, "
                    f"duckdb_memory() {((counted or [0])[0] or 0) / MIB:6.1f}, "
                    + (
                        f"jemalloc live {kept.allocated / MIB:6.1f} kept "
                        f"{(kept.dirty + kept.muzzy) / MIB:6.1f}, "
                        if kept is not None
                        else ""
                    )
                    + (f"glibc in use {heap:6.1f}, " if heap is not None else "")
                    + f"{time.monotonic() - started:4.0f} s",
                    flush=True,
                )
        con.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
