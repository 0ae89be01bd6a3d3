"""Evaluating rollback triggers on a large store: 50 rules (every metric, several workflows
and windows), as the console does every few seconds. Target (issue 6): all 50 in under 1 s
on a 10M-event store.

    .venv/bin/python benchmarks/bench_triggers.py [--store bench-data/store-10000000.duckdb]

(The stores are built by benchmarks/bench_queries.py.)
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from quarterdeck.queries.store import Store  # noqa: E402
from quarterdeck.queries.triggers import METRICS, Rule, evaluate  # noqa: E402

WORKFLOWS = (None, "invoice-posting", "crm-enrichment", "ticket-triage", "payout-batch")
WINDOWS = (1800, 6 * 3600, 86400, 7 * 86400)


def rules(n: int = 50) -> list[Rule]:
    metrics = [*METRICS, "metric:eval_score"]
    combos = itertools.cycle(itertools.product(metrics, WORKFLOWS, WINDOWS))
    made = []
    for i, (metric, workflow, window) in enumerate(itertools.islice(combos, 0, n * 7, 7)):
        made.append(
            Rule(
                name=f"r{i}",
                metric=metric,
                window_s=window,
                threshold=1.0,
                workflow=workflow,
                min_runs=1,
            )
        )
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default="bench-data/store-10000000.duckdb")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    Store.open(args.store).close()  # an older store is upgraded first
    with Store.open(args.store, read_only=True) as store:
        con = store.con
        events = con.execute("SELECT count(*) FROM events").fetchone()[0]
        at = con.execute("SELECT max(ts) FROM events").fetchone()[0]
        chosen = rules()
        totals, per_metric = [], defaultdict(list)
        for _ in range(args.repeat):
            started = time.perf_counter()
            for rule in chosen:
                t = time.perf_counter()
                ev = evaluate(con, rule, at=at)
                assert ev.phase != "error", (rule, ev.reason)
                per_metric[rule.metric].append((time.perf_counter() - t) * 1000)
            totals.append(time.perf_counter() - started)
    print(
        f"{len(chosen)} rules on {events:,} events, as of {at}: "
        f"median {statistics.median(totals) * 1000:.0f} ms for all "
        f"(target < 1000 ms), best {min(totals) * 1000:.0f} ms"
    )
    for metric, times in sorted(per_metric.items()):
        print(f"  {metric:<22} median {statistics.median(times):6.1f} ms per rule")


if __name__ == "__main__":
    main()
