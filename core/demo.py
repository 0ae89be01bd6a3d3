"""`quarterdeck demo`: the sample fleet's history, a simulated runner writing live events,
`quarterdeck serve` owning the store and following both, and consoles as its clients.

The demo works in a folder of its own (by default `.quarterdeck/demo/`), made afresh each
time: the shipped sample logs are copied to `logs/`, the runner appends to `logs/live/`, and
the store is `demo.duckdb` beside them, served on `demo.duckdb.sock`. The runner and the server
are separate processes, as real ones would be, each logging to a file in the folder
(`runner.log`, `serve.log`).

What this module keeps true:
- The demo's server runs with the demo's config: the user's own config file when there is
  one, else the demo's settings (`demo_settings`: every role for the login name the server
  will know the console by, the demo's trigger rules) written to `quarterdeck.toml` in the
  folder, so what it serves is what the console would have done alone.
- `start_server` returns only once the server answers on its socket as itself (a socket
  left by a killed server does not count); a server that exits first, or never answers, is
  `ServerFailed` with the end of its log, never a hang.
- The demo stops its children itself, once each: they run in sessions of their own, so a
  Ctrl+C at the terminal reaches the demo alone, which sends each SIGTERM, waits, and sends
  SIGKILL only after a grace period.
- No orphans: the runner stops when the process that started it has gone (it watches its
  parent), and the server is sent SIGTERM by the kernel when its parent dies (Linux's
  parent-death signal), so even a demo killed with SIGKILL leaves nothing running.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from quarterdeck import client
from quarterdeck.config import FILE_NAME, OperatorSettings, Settings, TriggerSettings
from quarterdeck.queries.findings import DEFAULT_ROLLOUT_ROLE
from quarterdeck.queries.store import Store, StoreError
from quarterdeck.runner.fleet import APPROVERS as APPROVER_ROLES
from quarterdeck.server.peer import name_of

DEFAULT_DIR = Path(".quarterdeck") / "demo"
#: How long the demo's server may take to load the sample fleet and answer, on a busy machine.
SERVER_READY_S = 120.0
#: How long a stopping process may take to finish what is in flight before it is killed.
STOP_GRACE_S = 30.0
#: Lines of a server's log quoted when it fails to start.
LOG_TAIL = 15
_PR_SET_PDEATHSIG = 1
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


class ServerFailed(StoreError):
    """The demo's server exited, or never answered, before it served the store; `tail` is
    the end of its log, which says why."""

    def __init__(self, message: str, tail: list[str]) -> None:
        super().__init__(message)
        self.tail = tail


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
    # the server refuses a store folder others can write (a umask of 002 makes one): the
    # demo's folder is its user's alone, as a real store's would be
    work.chmod(work.stat().st_mode & 0o755)
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
    canary_after: float | None = None,
) -> subprocess.Popen[bytes]:
    """Start the simulated live runner, appending under `logs/live/` and acting on the
    decisions in `outbox`; `bursts` = (every, length) seconds of triage failures;
    `unanswered` the share of approval requests left for an operator (their runs wait);
    `canary_after` seconds before it publishes invoice-posting's canary (`runner.live`)."""
    extra = ["--outbox", str(outbox.resolve())] if outbox is not None else []
    if unanswered is not None:
        extra += ["--unanswered", str(unanswered)]
    if bursts is not None:
        extra += ["--burst-every", str(bursts[0]), "--burst-length", str(bursts[1])]
    if canary_after is not None:
        extra += ["--canary-after", str(canary_after)]
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
            start_new_session=True,
        )


def demo_settings(settings: Settings, operator: str) -> Settings:
    """Without a config file of its own, the demo's `operator` may take every decision the
    fleet asks for, so that each can be tried."""
    if settings.source is not None:
        return settings
    roles = ["operator", DEFAULT_ROLLOUT_ROLE, *sorted(APPROVER_ROLES)]
    return settings.model_copy(
        update={
            "operator": operator,
            "operators": {operator: OperatorSettings(roles=roles)},
            "trigger": DEMO_TRIGGERS,
        }
    )


#: The demo's rules: the runner's triage failure burst trips the first; its canary, the last.
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
    # the runner's canary of invoice-posting fails more than its stable version: rolled back
    TriggerSettings(
        name="invoice-canary",
        workflow="invoice-posting",
        metric="failed_run_ratio",
        window="5m",
        threshold=0.2,
        min_runs=3,
        version="canary",
        compare="stable",
        on_trip="rollback_version",
        auto=True,
    ),
]
#: Seconds into the demo when its runner publishes invoice-posting's canary.
CANARY_AFTER = 30.0


def stop_runner(runner: subprocess.Popen[bytes]) -> None:
    stop(runner, grace=5.0)


def server_config(work: Path, settings: Settings, db: Path | None = None) -> Path:
    """The config file the demo's server runs with: the user's own when there is one, else
    the demo's settings (for the login name the server knows this user's clients by) written
    to `quarterdeck.toml` in the demo's folder, naming the demo's store `db` (absolute) so
    that `--config` with that file reaches it from anywhere."""
    if settings.source is not None:
        return Path(settings.source)
    chosen = demo_settings(settings, name_of(os.getuid()))
    if db is not None:
        store = chosen.store.model_copy(update={"path": str(db.resolve())})
        chosen = chosen.model_copy(update={"store": store})
    path = work / FILE_NAME
    path.write_text(to_toml(chosen.model_dump(mode="json", exclude_defaults=True)))
    return path


def to_toml(data: dict[str, Any]) -> str:
    """Settings as a TOML document `config.load` reads back to the same settings. Values are
    written as JSON, which TOML reads as the same strings, numbers, booleans and arrays."""
    return "\n".join(_toml_lines(data, ())).strip() + "\n"


def _toml_lines(data: dict[str, Any], where: tuple[str, ...]) -> list[str]:
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in data.items():
        if isinstance(value, dict) or (
            isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        ):
            tables.append((key, value))  # after the keys: a key below a header belongs to it
        elif value is not None:
            lines.append(f"{_toml_key(key)} = {json.dumps(value)}")
    for key, value in tables:
        name = ".".join(map(_toml_key, (*where, key)))
        for item in value if isinstance(value, list) else [value]:
            body = _toml_lines(item, (*where, key))
            if isinstance(value, list):
                lines += ["", f"[[{name}]]", *body]
            elif body and not body[0]:  # only tables below: their headers say enough
                lines += body
            else:
                lines += ["", f"[{name}]", *body]
    return lines


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def start_server(
    db: Path,
    *,
    config: Path,
    follow: Sequence[Path],
    log: Path,
    ready_s: float = SERVER_READY_S,
) -> subprocess.Popen[bytes]:
    """Start `quarterdeck serve` on `db`, following `follow`, its stderr to `log`; return
    once it answers on its socket. Raises `ServerFailed` with the log's last lines when it
    exits first or does not answer within `ready_s` seconds (then it is stopped)."""
    command = [sys.executable, "-m", "quarterdeck.cli", "serve", "--db", str(db)]
    command += ["--config", str(config)]
    if follow:
        command += ["--follow", *map(str, follow)]
    with log.open("wb") as out:
        server = subprocess.Popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_stopped_with(os.getpid()),
        )
    deadline = time.monotonic() + ready_s
    while not _answers(db, server):
        if server.poll() is not None:
            raise ServerFailed(
                f"the demo's server exited {server.returncode} before it answered; "
                f"the end of {log}:",
                _tail(log),
            )
        if time.monotonic() > deadline:
            stop(server)
            raise ServerFailed(
                f"the demo's server did not answer within {ready_s:.0f} s; the end of {log}:",
                _tail(log),
            )
        time.sleep(0.1)
    return server


def _answers(db: Path, server: subprocess.Popen[bytes]) -> bool:
    """The server of `db` answers, and it is `server` (not a socket a killed one left)."""
    found = client.find(db)
    if found is None:
        return False
    try:
        return bool(found.status()["pid"] == server.pid)
    except StoreError:
        return False


def _stopped_with(parent: int) -> Callable[[], None]:
    """What a child runs before it starts: ask the kernel for SIGTERM when `parent` dies
    (Linux; elsewhere a killed demo can leave its server running)."""
    prctl = ctypes.CDLL(None).prctl if sys.platform.startswith("linux") else None

    def arm() -> None:
        if prctl is not None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def _tail(log: Path) -> list[str]:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError as exc:
        return [f"(unreadable: {exc})"]
    return lines[-LOG_TAIL:] or ["(empty)"]


def stop(process: subprocess.Popen[bytes], *, grace: float = STOP_GRACE_S) -> int:
    """SIGTERM, wait up to `grace` seconds, then SIGKILL; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
