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


def test_reads_and_the_follower_carry_on_across_reopens_and_store_each_line_once(
    tmp_path: Path,
) -> None:
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[store]\nstale_after = "3650d"\n')
    db, logs = tmp_path / "store" / "qd.duckdb", tmp_path / "logs"
    log = write_jsonl(logs / "runs.jsonl", [started("r-0")])
    server = serve.Server(config_mod.load(str(cfg)), db, [logs])
    server.store = Store.open(db)
    server.start()
    written, done = [1], threading.Event()
    answers: list[int] = []
    failures: list[BaseException] = []

    def write() -> None:
        while not done.is_set() and written[0] < 20_000:
            with log.open("a") as out:
                for n in range(written[0], written[0] + 20):
                    out.write(json.dumps(started(f"r-{n}")) + "\n")
            written[0] += 20
            done.wait(0.02)

    def read() -> None:
        params = named.params_for("runs", {"now": "2026-11-20T09:00:00", "limit": 5000})
        while not done.is_set():
            try:
                answers.append(len(server.query("runs", params)))
            except BaseException as exc:  # what a client would have been answered
                failures.append(exc)
                return

    threads = [threading.Thread(target=f) for f in (write, read, read)]
    follower = server._follower
    assert follower is not None
    try:
        for thread in threads:
            thread.start()
        for reopened in (1, 2):
            stored = follower.stats.events
            until(lambda s=stored: follower.stats.events > s, "more lines stored")
            asked = len(answers)
            until(lambda a=asked: len(answers) > a, "reads answered")
            assert server.reopen(wait=10)
            assert server.reopened == reopened
        after = len(answers)
        until(lambda: len(answers) > after, "reads answered on the reopened store")
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
        until(lambda: follower.stats.events == written[0], "every line written to be stored")
        server.finish()
    assert not failures
    with Store.open(db, read_only=True) as store:
        events, distinct = store.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        runs = store.con.execute("SELECT count(*) FROM run_summary").fetchone()
    assert events == distinct == written[0]
    assert runs == (written[0],)  # the summaries caught up across the reopens


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
