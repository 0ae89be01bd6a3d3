"""The follower's resident memory over a replay of live events, with and without reopening.

    python benchmarks/follow_memory.py [--events 30000] [--per-round 50] [--reopen N]

Issue 13's soak in two minutes and one process: the demo's sample fleet, then `--events`
lines the demo runner wrote (at a high rate, beforehand) replayed into the followed folder
`--per-round` at a time, each round a `Follower.poll` (the server's refresh gap; a
checkpoint every 60 rounds). Every 100 rounds it prints the process's resident memory and
what DuckDB says it holds (`duckdb_memory()`). `--reopen N` closes the store and opens it
again every N rounds, as `quarterdeck serve` did when its memory had grown
(server/recycle.py); `--release N` gives the allocators' freed pages back every N rounds, as
the server does every second (queries/allocator.py).

Kept out of the test run; its figures are in the README (the server: soak and cost).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TextIO

import duckdb

from quarterdeck import demo
from quarterdeck.ingest.follow import Follower
from quarterdeck.queries import allocator
from quarterdeck.queries.store import Store

MIB = 1024 * 1024
RUNNER_RATE = 2000.0  # events/s while the lines to replay are written


def resident_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def live_lines(work: Path, events: int) -> list[tuple[str, str]]:
    """(file under live/, line) for `events` lines of the demo runner, in the order of their
    timestamps."""
    out = work / "generated"
    seconds = events / RUNNER_RATE * 1.5 + 5
    subprocess.run(
        [sys.executable, "-m", "quarterdeck.runner.live", "--out", str(out), "--seed", "7"]
        + ["--rate", str(RUNNER_RATE), "--seconds", str(seconds)],
        check=True,
        capture_output=True,
    )
    lines = []
    for path in sorted(out.rglob("*.jsonl")):
        name = str(path.relative_to(out))
        lines += [(json.loads(line)["ts"], n, name, line) for n, line in enumerate(path.open())]
    lines.sort()
    if len(lines) < events:
        raise SystemExit(f"the runner wrote {len(lines)} lines, fewer than {events}")
    return [(name, line) for _, _, name, line in lines[:events]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=30_000)
    parser.add_argument("--per-round", type=int, default=50)
    parser.add_argument("--reopen", type=int, default=0, help="reopen every N rounds (0: never)")
    parser.add_argument(
        "--release",
        type=int,
        default=0,
        help="give the allocators' freed pages back every N rounds (0: never), as the server does",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="qd-follow-memory-"))
    try:
        db = work / "demo.duckdb"
        logs = demo.prepare(work, db, seed=7)
        lines = live_lines(work, args.events)
        store = Store.open(db)
        follower = Follower(store.cursor(), [logs], refresh_gap=0.25)  # as the server's
        follower.poll()
        print(f"sample fleet stored: {resident_mib():.1f} MiB", flush=True)
        outs: dict[str, TextIO] = {}
        peak, started = 0.0, time.monotonic()
        for rounds, at in enumerate(range(0, len(lines), args.per_round), start=1):
            for name, line in lines[at : at + args.per_round]:
                if name not in outs:
                    (logs / "live" / name).parent.mkdir(parents=True, exist_ok=True)
                    outs[name] = (logs / "live" / name).open("a")
                outs[name].write(line)
            for out in outs.values():
                out.flush()
            follower.poll()
            if rounds % 60 == 0:
                with contextlib.suppress(duckdb.TransactionException):
                    store.con.execute("CHECKPOINT")
            if args.release and rounds % args.release == 0:
                allocator.release()
            if args.reopen and rounds % args.reopen == 0:
                follower.con.close()
                store.close()
                store = Store.open(db)
                follower.rebind(store.cursor())
            peak = max(peak, resident_mib())
            if rounds % 100 == 0:
                held = store.con.execute(
                    "SELECT sum(memory_usage_bytes) FROM duckdb_memory()"
                ).fetchone()
                kept = allocator.stats()
                print(
                    f"{at + args.per_round:7d} events: resident {resident_mib():6.1f} MiB "
                    f"(peak {peak:6.1f}), duckdb_memory() {(held[0] or 0) / MIB:6.1f} MiB, "
                    + (
                        f"jemalloc live {kept.allocated / MIB:6.1f} freed and kept "
                        f"{(kept.dirty + kept.muzzy) / MIB:6.1f} MiB, "
                        if kept is not None
                        else ""
                    )
                    + f"{time.monotonic() - started:4.0f} s",
                    flush=True,
                )
        follower.close()
        follower.con.close()
        store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
