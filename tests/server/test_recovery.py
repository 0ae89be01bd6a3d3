"""kill -9 of `quarterdeck serve` in the middle of a load, then a restart: every line stored
exactly once (issue 13).

A writer thread keeps appending to three logs the server follows: a backlog, then pieces cut
anywhere (mid-line included), some lines bad, some without an `event_id` (their id is derived
from the file and the byte offset, so a re-read would store them again under the same id and
a skipped line would be missing). The server is killed while a load is under way — it has
committed some events and has not read all that is written — and started again while the
writer goes on. When the follower has caught up: every good line stored once, every bad line
quarantined once, the socket the kill left replaced.
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from quarterdeck import client
from quarterdeck.queries.store import Store
from support.serving import Served, until

FILES = 3
BACKLOG = 20_000  # lines per file before the server starts: a load of several commits
TAIL = 6_000  # lines per file appended while the server runs, is killed and restarts
BAD_EVERY = 97
NO_ID_EVERY = 10
PIECE = 16 * 1024  # bytes per append, cut wherever they fall


def log_lines(file: int, count: int) -> tuple[list[bytes], int]:
    """`count` lines for file `file`, and how many of them are bad."""
    lines, bad = [], 0
    for n in range(count):
        if n % BAD_EVERY == BAD_EVERY - 1:
            bad += 1
            lines.append(
                b'{"type": "step.started", "run_id": "r-cut' + str(n).encode() + b'"\n'
                if n % 2
                else json.dumps({"type": "step.started", "ts": "2026-11-27T08:00:00Z"}).encode()
                + b"\n"  # no run_id
            )
            continue
        event = {
            "type": "step.started",
            "ts": "2026-11-27T08:00:00Z",
            "run_id": f"r-{file}-{n // 50}",
            "step_id": f"s{n}",
            "name": "classify",
            "kind": "llm",
        }
        if n % NO_ID_EVERY:
            event["event_id"] = f"f{file}-e{n}"
        lines.append(json.dumps(event).encode() + b"\n")
    return lines, bad


class Writer:
    """Writes each file's backlog at once, then its tail in pieces: half of it straight
    away, the rest after `resume`."""

    def __init__(self, logs: Path) -> None:
        self.paths = [logs / f"part-{i}.jsonl" for i in range(FILES)]
        self.good = self.bad = 0
        self.backlogs: list[bytes] = []
        self.tails: list[bytes] = []
        for i in range(FILES):
            lines, bad = log_lines(i, BACKLOG + TAIL)
            self.good += len(lines) - bad
            self.bad += bad
            self.backlogs.append(b"".join(lines[:BACKLOG]))
            self.tails.append(b"".join(lines[BACKLOG:]))
        self.resume = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        handles = [path.open("ab", buffering=0) for path in self.paths]
        try:
            for handle, backlog in zip(handles, self.backlogs, strict=True):
                handle.write(backlog)
            at = 0
            while at < max(map(len, self.tails)):
                if at >= len(self.tails[0]) // 2:
                    self.resume.wait()
                for handle, tail in zip(handles, self.tails, strict=True):
                    handle.write(tail[at : at + PIECE])
                at += PIECE
        finally:
            for handle in handles:
                handle.close()


def stored(db: Path) -> tuple[int, int, int]:
    """Events, distinct event ids, quarantined lines."""
    with Store.open(db) as store:
        events, distinct = store.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        (quarantined,) = store.con.execute("SELECT count(*) FROM quarantine").fetchone()
    return int(events), int(distinct), int(quarantined)


def test_kill_9_mid_load_then_a_restart_stores_every_line_once(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    writer = Writer(logs)
    db = tmp_path / "store" / "qd.duckdb"
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text(f'[serve]\nfollow = ["{logs}"]\n')

    first = serving(db, cfg, cwd=tmp_path)
    writer.thread.start()  # once the server is up: however slow its start, it sees the load

    def under_way() -> bool:
        """Some of the backlog committed, not all of it: the server is mid-load."""
        done = first.status()["follow"]["events"]
        assert done < BACKLOG * FILES * 0.9, "the backlog was stored before the kill: enlarge it"
        return bool(done > 0)

    until(under_way, "the first server to commit part of the backlog")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert client.socket_path(db).exists()  # left behind by the kill
    events, distinct, quarantined = stored(db)
    assert events == distinct  # what was committed was committed once
    assert 0 < events < writer.good, "the kill did not land mid-load"

    second = serving(db, cfg, cwd=tmp_path)  # replaces the socket the kill left
    assert "replacing" in second.stderr()
    writer.resume.set()  # the writer goes on while the restarted server catches up
    writer.thread.join(timeout=60)
    assert not writer.thread.is_alive()

    def caught_up() -> bool:
        follow = second.status()["follow"]
        return bool(
            follow["events"] >= writer.good - events
            and follow["quarantined"] >= writer.bad - quarantined
        )

    until(caught_up, "the restarted server to store the rest", timeout=120)
    assert second.status()["follow"]["duplicates"] == 0  # nothing was read twice
    assert second.stop() == 0
    assert not client.socket_path(db).exists()
    assert stored(db) == (writer.good, writer.good, writer.bad)
