"""The server's read cursors: one per worker thread, kept from request to request.

A named query runs in one of the event loop's worker threads. Opening a DuckDB cursor, with
its session settings and TEMP macros (queries/store.py, queries/macros.py), costs about as
much as a page of runs itself (benchmarks/bench_server.py), so each worker thread keeps the
cursor it opened and reuses it. What keeps that safe:
- A cursor is used by the thread that opened it only (a `threading.local`), one request at
  a time, so two requests never share a transaction.
- Each read is one autocommitted statement whose whole result is fetched, so a kept cursor
  holds no transaction or partly read result between requests (an open one would stop
  DuckDB from folding its WAL, issue 13) and every request sees the latest commit.
- A request that fails discards its thread's cursor (`discard`): whatever state the error
  left it in, the next request on that thread opens a fresh one.
- The cursors are closed when the server stops (`close`), before the store is; the workers
  are at most the loop's default executor's, so their number is bounded.
- When the server reopens its database (server/recycle.py) every cursor is closed (`reset`,
  while no request runs) and each thread opens a new one on the reopened store at its next
  request.
"""

from __future__ import annotations

import contextlib
import threading

import duckdb

from quarterdeck.queries.store import Store


class Readers:
    def __init__(self) -> None:
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: set[duckdb.DuckDBPyConnection] = set()
        self._closed = False
        self._generation = 0  # how many times `reset` was called

    def get(self, store: Store) -> duckdb.DuckDBPyConnection:
        """This thread's cursor on `store`, opened on first use."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cursor is None or getattr(self._local, "generation", 0) != self._generation:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the server is stopping")
                cursor = store.cursor()
                self._open.add(cursor)
                self._local.generation = self._generation
            self._local.cursor = cursor
        return cursor

    def discard(self) -> None:
        """Close this thread's cursor (a request on it failed); the next `get` opens another."""
        cursor: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        self._local.cursor = None
        if cursor is not None:
            with self._lock:
                self._open.discard(cursor)
            with contextlib.suppress(duckdb.Error):
                cursor.close()

    def close(self) -> None:
        """Close every thread's cursor; called once no request is in flight."""
        self._close_all(closing=True)

    def reset(self) -> None:
        """Close every thread's cursor, while no request is in flight (the store is about to
        be reopened); each thread opens a new one at its next `get`."""
        self._close_all(closing=False)

    def _close_all(self, *, closing: bool) -> None:
        with self._lock:
            self._closed = closing
            self._generation += 1
            cursors, self._open = self._open, set()
        for cursor in cursors:
            with contextlib.suppress(duckdb.Error):
                cursor.close()
