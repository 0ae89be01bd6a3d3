"""A run-history page through `quarterdeck serve` against in-process, and with 20 clients.

    python benchmarks/bench_server.py [--events 1000000] [--requests 50] [--clients 20]

The store is bench_queries.py's (`bench-data/store-N.duckdb`, generated and loaded on first
use). The page is the Runs pane's: the `runs` named query, 5,000 rows. In-process, it is run
as a command without a server runs it (`queries.named.run` on the store opened read-only);
through the server, as every client asks for it (`quarterdeck.client`: a Unix-socket
connection, the query by name and typed parameters, the table back as Arrow IPC). Each is
timed `--requests` times, warm, one at a time: median and p95, and the extra cost of the
server (target, issue 13: under 10 ms). Then `--clients` processes poll the server at once,
each asking for the page once a second (as a console refreshing its pane), and the p50/p95
of every answer they got is printed. Numbers only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from bench_queries import NOW, ensure_store

from quarterdeck import client, demo
from quarterdeck.queries import named
from quarterdeck.queries.store import Store

PAGE = {"now": NOW.isoformat(), "limit": 5000}

POLLING_CLIENT = """
import json, sys, time
from quarterdeck import client
store, page = sys.argv[1], json.loads(sys.argv[2])
start, polls = float(sys.argv[3]), int(sys.argv[4])
server = client.Client(client.socket_path(store))
times = []
while time.time() < start:
    time.sleep(0.005)
for i in range(polls):
    began = time.perf_counter()
    rows = server.query("runs", page).num_rows
    times.append(time.perf_counter() - began)
    time.sleep(max(0.0, start + i + 1 - time.time()))
print(json.dumps({"rows": rows, "times": times}))
"""


def timed(fn: Callable[[], Any], requests: int) -> list[float]:
    fn()  # warm
    times = []
    for _ in range(requests):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def p95(times: list[float]) -> float:
    ordered = sorted(times)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def in_process(db: Path, requests: int) -> tuple[list[float], list[float]]:
    """The page in-process; and the Arrow IPC write and read of it alone (what the server
    adds on top of the query, besides the socket and HTTP)."""
    params = named.params_for("runs", PAGE)
    context = named.Context(stale_seconds=15 * 60)
    with Store.open(db, read_only=True) as store:
        table = named.run(store.con, "runs", params, context)
        print(
            f"in-process: {table.num_rows:,} rows a page, "
            f"{len(ipc_bytes(table)) / 1024:,.0f} KiB as Arrow IPC",
            flush=True,
        )
        query = timed(lambda: named.run(store.con, "runs", params, context), requests)
    ipc = timed(lambda: pa.ipc.open_stream(pa.BufferReader(ipc_bytes(table))).read_all(), requests)
    return query, ipc


def ipc_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def through_server(
    db: Path, requests: int, clients: int, polls: int
) -> tuple[list[float], list[float]]:
    work = Path(tempfile.mkdtemp(prefix="qd-bench-server-"))
    config = work / "quarterdeck.toml"
    config.write_text("")  # no rules, nothing followed: the server answers queries only
    server = demo.start_server(db, config=config, follow=[], log=work / "serve.log")
    try:
        found = client.find(db)
        assert found is not None
        alone = timed(lambda: found.query("runs", PAGE), requests)
        start = time.time() + 3.0  # every client started and imported before the first poll
        pollers = [
            subprocess.Popen(
                [sys.executable, "-c", POLLING_CLIENT, str(db), json.dumps(PAGE), str(start)]
                + [str(polls)],
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(clients)
        ]
        together: list[float] = []
        for poller in pollers:
            out, _ = poller.communicate(timeout=600)
            together += json.loads(out)["times"]
        return alone, together
    finally:
        demo.stop(server)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--data", default="bench-data")
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--polls", type=int, default=15, help="requests per polling client")
    args = parser.parse_args()
    db = ensure_store(Path(args.data), args.events)
    Store.open(db).close()  # an older store is upgraded before either is timed

    local, ipc = in_process(db, args.requests)
    served, polled = through_server(db, args.requests, args.clients, args.polls)

    def ms(times: list[float]) -> str:
        return f"{statistics.median(times) * 1000:9.1f} {p95(times) * 1000:9.1f}"

    print(f"\nrun history page (5,000 rows), {args.events:,} events; ms")
    print(f"{'':<38} {'median':>9} {'p95':>9}")
    print(f"{'in-process':<38} {ms(local)}")
    print(f"{'  (Arrow IPC write + read of the page)':<38} {ms(ipc)}")
    print(f"{'through the server, one client':<38} {ms(served)}")
    print(f"{f'through the server, {args.clients} clients polling':<38} {ms(polled)}")
    extra = (statistics.median(served) - statistics.median(local)) * 1000
    extra_p95 = (p95(served) - p95(local)) * 1000
    print(
        f"the server's extra cost: {extra:+.1f} ms median, {extra_p95:+.1f} ms p95 "
        f"(×{statistics.median(served) / statistics.median(local):.2f}; target < 10 ms)"
    )
    print(
        f"{args.clients} clients at once: p95 ×{p95(polled) / p95(served):.2f} one client's "
        f"({len(polled)} answers)"
    )


if __name__ == "__main__":
    main()
