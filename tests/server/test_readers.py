"""The server's read cursors (server/readers.py): one per worker thread, kept between requests,
seeing every commit, replaced after a failure, closed when the server stops. A real store in
a temporary folder; threads of this process stand in for the server's workers.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pytest

from quarterdeck.queries.store import Store
from quarterdeck.server.readers import Readers


def in_thread(fn):  # type: ignore[no-untyped-def]
    """What `fn` returns or raises, called in a thread of its own."""
    out: list[object] = []

    def call() -> None:
        try:
            out.append(fn())
        except Exception as exc:
            out.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    if isinstance(out[0], Exception):
        raise out[0]
    return out[0]


def test_a_thread_keeps_its_cursor_and_another_thread_gets_its_own(tmp_path: Path) -> None:
    readers = Readers()
    with Store.open(tmp_path / "s.duckdb") as store:
        mine = readers.get(store)
        assert readers.get(store) is mine
        theirs = in_thread(lambda: readers.get(store))
        assert theirs is not mine
        readers.close()
        for cursor in (mine, theirs):
            with pytest.raises(duckdb.ConnectionException):
                cursor.execute("SELECT 1")
        with pytest.raises(RuntimeError, match="stopping"):
            in_thread(lambda: readers.get(store))


def test_a_kept_cursor_sees_what_was_committed_after_it_opened(tmp_path: Path) -> None:
    readers = Readers()
    with Store.open(tmp_path / "s.duckdb") as store:
        cursor = readers.get(store)
        cursor.execute("SELECT count(*) FROM events").fetchall()
        writer = store.cursor()
        writer.execute("CREATE TABLE later AS SELECT 42 AS answer")
        writer.close()
        assert readers.get(store).execute("SELECT answer FROM later").fetchall() == [(42,)]
        readers.close()


def test_a_cursor_a_failure_left_in_a_broken_transaction_is_not_reused(tmp_path: Path) -> None:
    readers = Readers()
    with Store.open(tmp_path / "s.duckdb") as store:
        broken = readers.get(store)
        broken.execute("BEGIN TRANSACTION")
        with pytest.raises(duckdb.Error):
            broken.execute("SELECT error('boom')")
        with pytest.raises(duckdb.Error, match="aborted"):
            broken.execute("SELECT 1")
        readers.discard()  # what Server.query does when a query raises
        fresh = readers.get(store)
        assert fresh is not broken
        assert fresh.execute("SELECT count(*) FROM events").fetchall() == [(0,)]
        readers.close()
