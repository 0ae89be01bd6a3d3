"""Follow lag and sustained rate: a runner process appends live events at a fixed rate while
a follower (as the console runs it: a thread with its own cursor) stores them.

Lag is measured per event, from the timestamp the runner wrote into it to the commit (and
summary refresh) that made it visible to the console's queries. Prints p50/p95 per rate, the
rate actually written and stored, and whether the follower kept up (its backlog at the end).

    .venv/bin/python benchmarks/bench_follow.py [--rates 2000,5000,10000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import multiprocessing
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quarterdeck.ingest.follow import Follower  # noqa: E402
from quarterdeck.queries.store import Store  # noqa: E402
from quarterdeck.runner.live import LiveFleet  # noqa: E402


def _write(out: str, rate: float, seconds: float, written: multiprocessing.Value) -> None:
    fleet = LiveFleet(Path(out), seed=1, rate=rate)
    fleet.run(threading.Event(), seconds=seconds)
    written.value = fleet.events_written


def measure(rate: float, seconds: float, base: Path | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="qd-bench-follow-") as tmp:
        logs = Path(tmp) / "logs"
        logs.mkdir()
        if base is not None:  # follow into a copy of a large store
            shutil.copyfile(base, Path(tmp) / "qd.duckdb")
        store = Store.open(Path(tmp) / "qd.duckdb")
        follower = Follower(store.cursor(), [logs])
        stop = threading.Event()
        thread = threading.Thread(target=follower.run, args=(stop,), kwargs={"interval": 0.5})
        thread.start()
        written = multiprocessing.Value("q", 0)
        writer = multiprocessing.Process(target=_write, args=(str(logs), rate, seconds, written))
        started = time.monotonic()
        writer.start()
        writer.join()
        wrote_for = time.monotonic() - started
        stored_at_end = follower.stats.events
        time.sleep(3)  # let the follower finish what is left
        stop.set()
        thread.join()
        follower.close()
        stats = follower.stats
        store.close()
        return {
            "rate": rate,
            "written_per_s": written.value / wrote_for,
            "stored_per_s": stored_at_end / wrote_for,
            "backlog_at_end": written.value - stored_at_end,
            "stored": stats.events,
            "written": written.value,
            "lag_p50": stats.lag(0.5) or float("nan"),
            "lag_p95": stats.lag(0.95) or float("nan"),
            "refresh_ms": statistics.median(stats.refresh_s) * 1000
            if stats.refresh_s
            else float("nan"),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="2000,5000,10000")
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument(
        "--store",
        type=Path,
        help="follow into a copy of this store "
        "(e.g. bench-data/store-10000000.duckdb), not an empty one",
    )
    args = parser.parse_args()
    print(
        f"{'target ev/s':>11}  {'written/s':>9}  {'stored/s':>9}  {'backlog':>8}  "
        f"{'lag p50':>8}  {'lag p95':>8}  {'refresh':>8}  all stored"
    )
    for rate in (float(r) for r in args.rates.split(",")):
        r = measure(rate, args.seconds, args.store)
        print(
            f"{r['rate']:>11,.0f}  {r['written_per_s']:>9,.0f}  {r['stored_per_s']:>9,.0f}  "
            f"{r['backlog_at_end']:>8,.0f}  {r['lag_p50']:>7.2f}s  {r['lag_p95']:>7.2f}s  "
            f"{r['refresh_ms']:>6.0f}ms  {'yes' if r['stored'] == r['written'] else 'NO'}",
            flush=True,
        )


if __name__ == "__main__":
    main()
