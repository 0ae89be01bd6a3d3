"""`quarterdeck demo`: the sample fleet's history, a simulated runner writing live events,
and the console following both.

The demo works in a folder of its own (by default `.quarterdeck/demo/`), made afresh each
time: the shipped sample logs are copied to `logs/`, the runner appends to `logs/live/`, and
the store is `demo.duckdb` beside them. The runner is a separate process, as a real one would
be; it stops when the console exits (and on its own if the console dies).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from quarterdeck.config import OperatorSettings, Settings, TriggerSettings
from quarterdeck.queries.store import Store
from quarterdeck.runner.fleet import APPROVERS as APPROVER_ROLES

DEFAULT_DIR = Path(".quarterdeck") / "demo"


def shipped_sample_logs() -> Path | None:
    """`sample_logs/` of the source tree this Quarterdeck runs from, if it has one."""
    candidate = Path(__file__).resolve().parents[1] / "sample_logs"
    return candidate if candidate.is_dir() else None


def prepare(work: Path, db: Path, *, seed: int) -> Path:
    """Make the demo's folder afresh; returns the folder of logs to follow.

    Raises `queries.store.StoreLocked` (before anything is removed) when another demo or
    console has the store open.
    """
    if db.exists():
        Store.open(db).close()  # refuses, naming the holder, if the store is in use
    # the demo's own store, journal and outbox: a new demo starts with no decisions
    for stale in (
        db,
        db.with_name(db.name + ".wal"),
        work / "decisions.jsonl",
        work / "control-outbox.jsonl",
    ):
        stale.unlink(missing_ok=True)
    logs = work / "logs"
    shutil.rmtree(logs, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    shipped = shipped_sample_logs()
    if shipped is not None:
        shutil.copytree(shipped, logs)
    else:  # installed without the source tree: make the same kind of fleet
        from quarterdeck.runner.fleet import generate

        generate(logs, seed=seed)
    return logs


def start_runner(
    logs: Path,
    *,
    seed: int,
    rate: float,
    log: Path,
    outbox: Path | None = None,
    bursts: tuple[float, float] | None = None,
    unanswered: float | None = None,
) -> subprocess.Popen[bytes]:
    """Start the simulated live runner, appending under `logs/live/` and acting on the
    decisions in `outbox`; `bursts` = (every, length) seconds of triage failures;
    `unanswered` the share of approval requests left for an operator (their runs wait)."""
    extra = ["--outbox", str(outbox.resolve())] if outbox is not None else []
    if unanswered is not None:
        extra += ["--unanswered", str(unanswered)]
    if bursts is not None:
        extra += ["--burst-every", str(bursts[0]), "--burst-length", str(bursts[1])]
    with log.open("wb") as out:
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quarterdeck.runner.live",
                "--out",
                str((logs / "live").resolve()),
                "--seed",
                str(seed),
                "--rate",
                str(rate),
                "--parent",
                str(os.getpid()),
                *extra,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )


def demo_settings(settings: Settings, operator: str) -> Settings:
    """Without a config file of its own, the demo's `operator` may take every decision the
    fleet asks for, so that each can be tried."""
    if settings.source is not None:
        return settings
    roles = ["operator", *sorted(APPROVER_ROLES)]
    return settings.model_copy(
        update={
            "operator": operator,
            "operators": {operator: OperatorSettings(roles=roles)},
            "trigger": DEMO_TRIGGERS,
        }
    )


#: The demo's rules: the runner's triage failure burst trips the first.
DEMO_TRIGGERS = [
    TriggerSettings(
        name="triage-failures",
        workflow="ticket-triage",
        metric="failed_run_ratio",
        window="2m",
        threshold=0.3,
        min_runs=4,
        on_trip="pause",
    ),
    TriggerSettings(
        name="crm-out-of-scope",
        workflow="crm-enrichment",
        metric="out_of_scope_touches",
        window="10m",
        threshold=1,
        min_runs=3,
    ),
    TriggerSettings(
        name="crm-eval-score",
        workflow="crm-enrichment",
        metric="metric:eval_score",
        window="5m",
        threshold=0.7,
        below=True,
        min_runs=3,
    ),
    TriggerSettings(
        name="approval-wait", metric="approval_wait_p95", window="15m", threshold=600, min_runs=3
    ),
]


def stop_runner(runner: subprocess.Popen[bytes]) -> None:
    if runner.poll() is None:
        runner.terminate()
        try:
            runner.wait(timeout=5)
        except subprocess.TimeoutExpired:
            runner.kill()
            runner.wait()
