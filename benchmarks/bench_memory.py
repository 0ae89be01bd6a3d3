"""A load's memory as its input grows: one file of N events, loaded by `quarterdeck ingest`.

    python benchmarks/bench_memory.py [--sizes 1000000,5000000,10000000] [--data bench-data]

For each size, one file of bench_ingest.py's `touches` corpus (runs of 10 events, 40 % of them
touches with before/after objects: 10M events is ~2.5 GB, the file of issue 17) is generated
once into --data and loaded into a fresh store by `quarterdeck ingest` in a child process. Its
resident memory is sampled from /proc every half second while it runs, and its peak is the
kernel's (`ru_maxrss` of the child). Target (issue 17): under 1 GiB at 5M events, and flat:
the peak should not grow with the input.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from bench_ingest import _remove, _touches_corpus

SAMPLE_S = 0.5


def _rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def load(file: Path, store: Path) -> dict[str, object]:
    """Load `file` into a fresh `store` in a child process: its summary, its peak RSS and
    its RSS sampled over the load."""
    _remove(store)
    started = time.perf_counter()
    child = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quarterdeck.cli",
            "ingest",
            str(file),
            "--json",
            "--db",
            str(store),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    samples: list[tuple[float, float]] = []
    while True:
        pid, status, usage = os.wait4(child.pid, os.WNOHANG)
        if pid:
            break
        rss = _rss_mib(child.pid)
        if rss is not None:
            samples.append((time.perf_counter() - started, rss))
        time.sleep(SAMPLE_S)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    out = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise SystemExit(f"ingest of {file} failed ({child.returncode})")
    summary = json.loads(out)
    return {
        "events": summary["events"],
        "seconds": round(seconds, 1),
        "peak_mib": round(usage.ru_maxrss / 1024),
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000000,5000000")
    parser.add_argument("--data", default="bench-data")
    args = parser.parse_args()
    data = Path(args.data)
    print(f"{'events':>12}{'file MiB':>10}{'seconds':>9}{'peak MiB':>10}   RSS at 25/50/75/100 %")
    for events in sorted(int(s) for s in args.sizes.split(",")):
        file = data / f"touches-{events}" / "runs.jsonl"
        if not file.exists():
            print(f"generating {events:,} events in one file into {file} …", flush=True)
            _touches_corpus(file, events)
        result = load(file, data / "bench-memory.duckdb")
        samples = result["samples"]
        assert isinstance(samples, list)
        at = [samples[min(len(samples) - 1, int(len(samples) * q))][1] for q in (0.25, 0.5, 0.75)]
        at.append(samples[-1][1] if samples else 0.0)
        print(
            f"{result['events']:>12,}{file.stat().st_size / 2**20:>10,.0f}{result['seconds']:>9}"
            f"{result['peak_mib']:>10,}   " + " / ".join(f"{m:,.0f}" for m in at),
            flush=True,
        )
        print(json.dumps({k: v for k, v in result.items() if k != "samples"}), flush=True)
        (data / f"memory-{events}.json").write_text(json.dumps(samples))  # (s, MiB) over the load
    _remove(data / "bench-memory.duckdb")


if __name__ == "__main__":
    main()
