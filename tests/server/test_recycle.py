"""The server reopens its database to give back the memory DuckDB holds while it is open
(server/recycle.py): only when no one uses it, transparently — reads keep answering across a
reopen, the follower carries on from where it was, every line stored once. A real store, a
real log file being written, the server's own threads; the reopen asked for directly (its
trigger, the resident memory's growth, is tested on its own with a clock and sizes given).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from quarterdeck import config as config_mod
from quarterdeck.queries import allocator, named
from quarterdeck.queries.store import Store
from quarterdeck.server import serve
from quarterdeck.server.recycle import Gate, Recycling
from support.events import started, write_jsonl
from support.serving import until


def test_the_gate_reopens_once_the_users_in_flight_finish_and_holds_new_ones() -> None:
    gate = Gate()
    with gate.shared(), gate.idle(0.01) as alone:
        assert not alone  # still in use when the wait ran out: no reopen, nothing held
    with gate.shared():
        pass
    in_flight = gate.shared()
    in_flight.__enter__()
    outcome: list[bool] = []
    release, entered = threading.Event(), threading.Event()

    def reopen() -> None:
        with gate.idle(10) as alone:
            outcome.append(alone)
            release.wait(10)

    def use() -> None:
        with gate.shared():
            entered.set()

    reopening, user = threading.Thread(target=reopen), threading.Thread(target=use)
    reopening.start()
    until(lambda: gate._wanted, "the reopen to wait for the user in flight")
    user.start()
    assert not entered.wait(0.2)  # a user arriving now waits behind the reopen...
    in_flight.__exit__(None, None, None)
    until(lambda: outcome, "the reopen to begin")
    assert outcome == [True] and not entered.is_set()
    release.set()
    for thread in (reopening, user):
        thread.join(timeout=10)
    assert entered.is_set()  # ... and goes on once it is done


def test_a_reopen_is_due_once_memory_grew_past_the_lowest_settled_reading() -> None:
    now, rss = [0.0], [300]
    recycling = Recycling(growth=32, settle=60, resident=lambda: rss[0], clock=lambda: now[0])
    rss[0] = 500
    assert not recycling.due()  # the caches are still filling after the open
    now[0] = 60
    assert not recycling.due() and recycling.floor == 500  # settled here
    rss[0] = 531
    assert not recycling.due()
    rss[0] = 532
    assert recycling.due()
    recycling.opened()
    rss[0] = 200  # just reopened
    assert not recycling.due()
    now[0] = 120
    rss[0] = 520  # settled after the reopen, higher (a swing): the reference stays
    assert not recycling.due() and recycling.floor == 500
    rss[0] = 532
    assert recycling.due()
    recycling.opened()
    now[0] = 180
    rss[0] = 490  # lower: the new reference
    assert not recycling.due() and recycling.floor == 490
    recycling.opened()
    now[0] = 240
    rss[0] = 560  # a reopen could not get under it: the store's level has grown
    assert not recycling.due() and recycling.floor == 560
    assert not recycling.due()


class Busy:
    """A real server following a log that a thread keeps writing, and two threads reading the
    Runs pane's page through it, as clients do; on leaving, every line written must have been
    stored once, every run summarised, and no read have failed."""

    def __init__(self, tmp_path: Path) -> None:
        cfg = tmp_path / "quarterdeck.toml"
        cfg.write_text('[store]\nstale_after = "3650d"\n')
        self.db, logs = tmp_path / "store" / "qd.duckdb", tmp_path / "logs"
        self.log = write_jsonl(logs / "runs.jsonl", [started("r-0")])
        self.server = serve.Server(config_mod.load(str(cfg)), self.db, [logs])
        self.written, self.done = [1], threading.Event()
        self.answers: list[int] = []
        self.failures: list[BaseException] = []

    def write(self) -> None:
        while not self.done.is_set() and self.written[0] < 20_000:
            with self.log.open("a") as out:
                for n in range(self.written[0], self.written[0] + 20):
                    out.write(json.dumps(started(f"r-{n}")) + "\n")
            self.written[0] += 20
            self.done.wait(0.02)

    def read(self) -> None:
        params = named.params_for("runs", {"now": "2026-11-20T09:00:00", "limit": 5000})
        while not self.done.is_set():
            try:
                self.answers.append(len(self.server.query("runs", params)))
            except BaseException as exc:  # what a client would have been answered
                self.failures.append(exc)
                return

    def stored_more_and_answered(self) -> None:
        """Wait for the follower to store more lines and the readers to be answered again."""
        follower = self.server._follower
        assert follower is not None
        stored, asked = follower.stats.events, len(self.answers)
        until(lambda: follower.stats.events > stored, "more lines stored")
        until(lambda: len(self.answers) > asked, "reads answered")

    def __enter__(self) -> Busy:
        self.server.store = Store.open(self.db)
        self.server.start()
        self.threads = [threading.Thread(target=f) for f in (self.write, self.read, self.read)]
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        follower = self.server._follower
        assert follower is not None
        self.done.set()
        for thread in self.threads:
            thread.join(timeout=30)
        until(lambda: follower.stats.events == self.written[0], "every line written to be stored")
        self.server.finish()
        if exc[0] is not None:
            return
        assert not self.failures
        with Store.open(self.db, read_only=True) as store:
            events, distinct = store.con.execute(
                "SELECT count(*), count(DISTINCT event_id) FROM events"
            ).fetchone()
            runs = store.con.execute("SELECT count(*) FROM run_summary").fetchone()
        assert events == distinct == self.written[0]
        assert runs == (self.written[0],)  # the summaries caught up


def test_reads_and_the_follower_carry_on_across_reopens_and_store_each_line_once(
    tmp_path: Path,
) -> None:
    with Busy(tmp_path) as busy:
        for reopened in (1, 2):
            busy.stored_more_and_answered()
            assert busy.server.reopen(wait=10)
            assert busy.server.reopened == reopened
        busy.stored_more_and_answered()  # on the reopened store


def test_the_buffer_pool_is_emptied_after_checkpoints_while_reads_and_the_follower_go_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a moment the database's memory limit is one it cannot meet (queries/allocator.py):
    no read and no follower commit may run then, or it would run out of memory."""
    monkeypatch.setattr(serve, "WATCHDOG_EVERY", 0.05)
    monkeypatch.setattr(serve, "CHECKPOINT_EVERY", 0.05)
    with Busy(tmp_path) as busy:
        for emptied in range(1, 6):
            until(lambda e=emptied: busy.server.emptied >= e, "the buffer pool emptied again")
            busy.stored_more_and_answered()
        memory = busy.server.status()["memory"]
        assert memory["buffer_pool_emptied"] >= 5
        if allocator.available():
            assert memory["duckdb_bytes"] > 0 and memory["kept_bytes"] >= 0


def test_the_server_gives_back_what_the_allocators_freed_on_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maintenance thread releases the allocators' freed pages (queries/allocator.py,
    whose own test shows what a release gives back) again and again, with no one asking."""
    calls: list[bool] = []
    real = allocator.release

    def release() -> bool:
        calls.append(real())
        return calls[-1]

    monkeypatch.setattr(serve, "RELEASE_EVERY", 0.05)
    monkeypatch.setattr(serve.allocator, "release", release)
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[store]\nstale_after = "3650d"\n')
    db, logs = tmp_path / "store" / "qd.duckdb", tmp_path / "logs"
    write_jsonl(logs / "runs.jsonl", [started("r-0")])
    server = serve.Server(config_mod.load(str(cfg)), db, [logs])
    server.store = Store.open(db)
    server.start()
    try:
        until(lambda: len(calls) >= 3, "the maintenance thread to release, repeatedly")
    finally:
        server.finish()
    assert all(calls)  # each one reached an allocator (glibc's, at least, on Linux)
