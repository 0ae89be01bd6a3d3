"""Read commands as an operator runs them: the whole command, on a small and a large store.

    python benchmarks/bench_commands.py [--sizes 20000,10000000] [--data bench-data]

Each read command (`quarterdeck runs`, `touched`, `approvals` with the filters an operator
reaches for) runs as its own process against the smallest and the largest store of --sizes
(built by bench_queries.py's generator and kept in --data), median of 5 after one warm-up
run each (the files are in the page cache; DuckDB's own cache starts empty every time, as
it does for a command), as wall time and as CPU time (user + system of the process: on a
shared machine the wall time swings with everyone else's work). The two stores are run by
turns, and the extra cost is the median of each pair's difference (large less small): what
the store's size adds to a command, with the machine's load alike on both. Target (issue
17): under 50 ms at 10M events.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import duckdb
from bench_queries import ensure_store

REPEAT = 5


def commands(store: Path) -> dict[str, list[str]]:
    """The commands, with a run and a record picked from this store (the middle run, and a
    record it touched) and the issue's record, which may not be in it."""
    with duckdb.connect(str(store), read_only=True) as con:
        run_id = con.execute(
            "SELECT run_id FROM run_summary ORDER BY started_at "
            "LIMIT 1 OFFSET (SELECT count(*) // 2 FROM run_summary)"
        ).fetchone()[0]
        system, obj, record_id = con.execute(
            "SELECT system, object, record_id FROM events WHERE type = 'data.touched' "
            "AND run_id = ? AND record_id IS NOT NULL ORDER BY event_id LIMIT 1",
            [run_id],
        ).fetchone()
    return {
        "runs --limit 50": ["runs", "--limit", "50"],
        "runs --workflow --limit 50": ["runs", "--workflow", "invoice-posting", "--limit", "50"],
        "runs --status failed --limit 50": ["runs", "--status", "failed", "--limit", "50"],
        "touched --run": ["touched", "--run", run_id],
        "touched --record (a run's record)": ["touched", "--record", f"{system}/{obj}/{record_id}"],
        "touched --record ledger/Invoice/INV-00042": [
            "touched",
            "--record",
            "ledger/Invoice/INV-00042",
        ],
        "touched --out-of-scope --limit 50": ["touched", "--out-of-scope", "--limit", "50"],
        "approvals --pending --limit 50": ["approvals", "--pending", "--limit", "50"],
    }


def timed(argv: list[str], store: Path) -> tuple[float, float]:
    """One run of the command: its wall time and its CPU time (user + system), in ms."""
    command = [sys.executable, "-m", "quarterdeck.cli", *argv, "--db", str(store)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return wall * 1000, cpu * 1000


def extra_ms(small: tuple[list[str], Path], large: tuple[list[str], Path]) -> list[float]:
    """The command on both stores, run by turns (one warm-up each, then REPEAT pairs, so a
    shared machine's load weighs on both alike): the medians of wall and CPU time on each
    store, and the median of the pairs' differences, wall and CPU."""
    timed(*small), timed(*large)  # warm the page cache
    pairs = [(timed(*small), timed(*large)) for _ in range(REPEAT)]
    return [
        statistics.median(a[i] for a, _ in pairs) if k == 0 else
        statistics.median(b[i] for _, b in pairs) if k == 1 else
        statistics.median(b[i] - a[i] for a, b in pairs)
        for i in (0, 1) for k in (0, 1, 2)
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="20000,10000000")
    parser.add_argument("--data", default="bench-data")
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    small, large = (ensure_store(Path(args.data), n) for n in (sizes[0], sizes[-1]))
    for store in (small, large):  # an older store is upgraded to this schema first
        subprocess.run(
            [sys.executable, "-m", "quarterdeck.cli", "runs", "--limit", "1", "--db", str(store)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    small_cmds, large_cmds = commands(small), commands(large)
    print(
        f"{'median ms, whole command':<44}{'wall':>8}{sizes[0]:>10,}{sizes[-1]:>12,}{'extra':>8}"
        f"{'cpu':>8}{sizes[0]:>10,}{sizes[-1]:>12,}{'extra':>8}"
    )
    for name in small_cmds:
        a, b, extra, a_cpu, b_cpu, extra_cpu = extra_ms(
            (small_cmds[name], small), (large_cmds[name], large)
        )
        print(
            f"{name:<44}{'':>8}{a:>10.0f}{b:>12.0f}{extra:>+8.0f}"
            f"{'':>8}{a_cpu:>10.0f}{b_cpu:>12.0f}{extra_cpu:>+8.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
