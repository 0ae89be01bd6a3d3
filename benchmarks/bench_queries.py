"""Pane query latency and console start-up as the store grows.

    python benchmarks/bench_queries.py [--sizes 100000,1000000,10000000] [--data bench-data]

For each size, a fleet is generated with `quarterdeck sample` and loaded with
`quarterdeck ingest` (both kept in --data for the next run), then every named query a pane or
read command uses is timed (median of 7, warm), and the console's start-up to its first screen
of runs is timed in a fresh process. The growth from the smallest to the largest store is the
figure that matters. Target (issue 3): every query < 100 ms and start-up < 2 s at 10M events.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from quarterdeck.queries import approvals, runs, touches
from quarterdeck.queries.store import Store

EVENTS_PER_RUN = 17.0
NOW = datetime(2026, 11, 20)

START_UP = """
import asyncio, sys, time
started = time.perf_counter()
from quarterdeck.console.app import make_app
from quarterdeck.config import Settings
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.store import Store

async def main():
    store = Store.open(sys.argv[1])
    app = make_app(store, Settings())
    async with app.run_test(size=(160, 40)) as pilot:
        while not app.screen.query(RunsPane) or not app.screen.query_one(RunsPane).query_one(
                TableView).keys:
            await pilot.pause(0.005)
        print(time.perf_counter() - started)

asyncio.run(main())
"""


def ensure_store(data: Path, events: int) -> Path:
    logs = data / f"fleet-{events}"
    store = data / f"store-{events}.duckdb"
    if not logs.exists():
        runs_n = int(events / EVENTS_PER_RUN)
        print(f"generating {events:,} events …", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "quarterdeck.cli",
                "sample",
                "--out",
                str(logs),
                "--runs",
                str(runs_n),
                "--seed",
                "1",
                "--no-bad-lines",
                "--no-gzip",
                "--end",
                "2026-11-20T00:00:00Z",
                "--days",
                "30",
            ],
            check=True,
        )
    if not store.exists():
        print(f"loading {events:,} events …", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "quarterdeck.cli",
                "ingest",
                str(logs),
                "--quiet",
                "--db",
                str(store),
            ],
            check=True,
        )
    return store


def median_ms(fn: Callable[[], object], repeat: int = 7) -> float:
    fn()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def measure(store_path: Path) -> dict[str, float]:
    Store.open(store_path).close()  # an older store is upgraded to this schema first
    with Store.open(store_path, read_only=True) as store:
        con = store.con
        count = con.execute("SELECT count(*) FROM events").fetchone()[0]
        run_id = con.execute(
            "SELECT run_id FROM run_summary ORDER BY started_at "
            "LIMIT 1 OFFSET (SELECT count(*) // 2 FROM run_summary)"
        ).fetchone()[0]
        record = con.execute(
            "SELECT system, object, record_id FROM touches WHERE run_id = ? "
            "AND record_id IS NOT NULL LIMIT 1",
            [run_id],
        ).fetchone()
        # where the 10th page of the Touched pane starts (the pane pages by this key)
        after = con.execute(
            "SELECT ts, event_id FROM touches ORDER BY ts DESC, event_id LIMIT 1 OFFSET 44999"
        ).fetchone()
        results = {
            "events": float(count),
            "run history page": median_ms(lambda: runs.run_history(con, now=NOW, limit=5000)),
            "run history, filtered": median_ms(
                lambda: runs.run_history(con, now=NOW, where=runs.RunFilter(text="crm"), limit=5000)
            ),
            "run history, 10th page": median_ms(
                lambda: runs.run_history(con, now=NOW, limit=5000, offset=45000)
            ),
            "run detail (all tabs)": median_ms(
                lambda: (
                    runs.run_overview(con, run_id, now=NOW),
                    runs.run_steps(con, run_id),
                    runs.run_touches(con, run_id),
                    runs.run_events(con, run_id),
                    approvals.approvals(con, now=NOW, run_id=run_id),
                )
            ),
            "a run's touches": median_ms(lambda: runs.run_touches(con, run_id)),
            "record lineage": median_ms(lambda: touches.lineage(con, *record)),
            "touches page": median_ms(lambda: touches.touches(con, limit=5000)),
            "touches, 10th page": median_ms(
                lambda: touches.touches(con, limit=5000, after=tuple(after) if after else None)
            ),
            "touches, out of scope": median_ms(
                lambda: touches.touches(
                    con, where=touches.TouchFilter(out_of_scope=True), limit=5000
                )
            ),
            "pending approvals": median_ms(
                lambda: approvals.approvals(con, now=NOW, pending_only=True)
            ),
        }
    start = subprocess.run(
        [sys.executable, "-c", START_UP, str(store_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    results["console start-up"] = float(start.stdout.strip().splitlines()[-1]) * 1000
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--data", default="bench-data")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    table = {size: measure(ensure_store(Path(args.data), size)) for size in sizes}
    names = [k for k in table[sizes[0]] if k != "events"]
    header = f"{'median ms':<24}" + "".join(f"{table[s]['events']:>14,.0f}" for s in sizes)
    print(header + f"{'growth':>10}")
    for name in names:
        values = [table[s][name] for s in sizes]
        growth = values[-1] / values[0] if values[0] else float("nan")
        print(f"{name:<24}" + "".join(f"{v:>14.1f}" for v in values) + f"{growth:>9.1f}×")


if __name__ == "__main__":
    main()
