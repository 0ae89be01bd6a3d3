"""The server's change counter: what clients long-poll instead of re-querying every table.

Every write the server makes bumps one counter, naming what changed: `events` (the follower
committed lines), `decisions` (a decision was recorded), `triggers` (evaluations were stored).
A client asks `changes?after=N` with the counter it last saw; the answer comes at once if the
counter is past N, else when it moves, else after the wait the client asked for (a long-poll:
no request is answered more often than something changes, and an idle console costs one
request held open). A counter the client saw that is ahead of this one means the server was
restarted since (the counter starts at 0 with the process): everything is said to have changed.

Bumps come from the server's threads and waits from its event loop, so a waiter is a future
woken through its loop's `call_soon_threadsafe`; the counter itself is under a lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

KINDS = ("events", "decisions", "triggers")


class Changes:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counter = 0
        self._last: dict[str, int] = {}  # kind → the counter when it last changed
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False

    @property
    def counter(self) -> int:
        with self._lock:
            return self._counter

    def bump(self, kind: str) -> None:
        """Something of `kind` changed (any thread)."""
        with self._lock:
            self._counter += 1
            self._last[kind] = self._counter
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # that loop has closed: nobody waits
                loop.call_soon_threadsafe(_wake, future)

    def close(self) -> None:
        """The server is stopping: answer every long-poll now, and any later one at once."""
        with self._lock:
            self._closed = True
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_wake, future)

    def since(self, after: int) -> tuple[int, list[str]]:
        """The counter, and what changed after `after` (everything, if `after` is from a
        server that ran before this one)."""
        with self._lock:
            if after > self._counter:
                return self._counter, list(KINDS)
            return self._counter, [k for k in KINDS if self._last.get(k, 0) > after]

    async def wait(self, after: int, timeout: float) -> tuple[int, list[str]]:
        """`since(after)` once the counter is not `after`, or after `timeout` seconds."""
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._counter != after or self._closed:
                future = None
            else:
                future = loop.create_future()
                self._waiters.append((loop, future))
        if future is not None:
            try:
                await asyncio.wait_for(future, timeout)
            except TimeoutError:
                pass
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._waiters.remove((loop, future))
        return self.since(after)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
