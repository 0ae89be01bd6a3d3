"""How many connections the server keeps open, in all and per user, and for how long one that
says nothing stays.

A connection costs the server a file descriptor for as long as it is open, and each user's
connections are another user's loss: 19,990 idle connections once used up the descriptors,
and the follower and every other user's requests failed with them. So, before aiohttp sees a
connection, `Limits` counts it against `[serve] max_connections` (in all) and
`max_connections_per_user` (per uid, from the kernel's peer credentials): one over either is
answered at once with a 503 and closed, and never logged one by one (a line says how many
were refused, at most once per `REFUSED_LOG_EVERY` seconds). A connection that sends nothing
for `[serve] idle_timeout` seconds after it opened is closed; between two requests on one
connection aiohttp's keep-alive timeout (the same setting) closes it. A request in progress —
a long-poll held open, an ingest uploading — is never cut by either.

The total is kept well below the process's file-descriptor limit (raised to its hard limit
at start, `descriptors`), so the store, the logs the follower has open and the journal
always have descriptors left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import resource
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from aiohttp import web

from quarterdeck.server.peer import peer_of

log = logging.getLogger("quarterdeck.serve")

#: Descriptors kept for everything but the clients' connections: the store and its WAL, the
#: journal and outbox, the files followed (each open while followed), DuckDB's temporary
#: files, the spool of an ingest.
RESERVED_DESCRIPTORS = 256
REFUSED_LOG_EVERY = 60.0


def descriptors() -> int:
    """Raise this process's soft limit on open files to its hard limit; the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = 1024 * 1024 if hard == resource.RLIM_INFINITY else hard
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
    return soft


def _busy_answer(message: str) -> bytes:
    body = json.dumps({"error": message}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    )
    return head.encode() + body


class Limits:
    """Counts the open connections; wraps aiohttp's protocol factory (`factory`)."""

    def __init__(self, total: int, per_user: int, idle: float) -> None:
        available = descriptors() - RESERVED_DESCRIPTORS
        if total > available:
            log.warning(
                "[serve] max_connections = %d is more than this process can open; %d it is "
                "(raise the open-files limit, LimitNOFILE= in the unit, for more)",
                total,
                max(available, 1),
            )
            total = max(available, 1)
        self.total = total
        self.per_user = min(per_user, total)
        self.idle = idle
        self.open = 0
        self.by_uid: Counter[int] = Counter()
        self.refused = 0  # since the server started
        self._unlogged = 0  # refused since the last line that said so
        self._logged = 0.0

    def factory(self, make: Callable[[], asyncio.Protocol]) -> Callable[[], asyncio.Protocol]:
        return lambda: _Limited(self, make)

    def admit(self, uid: int) -> str | None:
        """Count a new connection of `uid` in; or why not (it is not counted then)."""
        if self.open >= self.total:
            why = f"the server has {self.open} connections open, its most; try again shortly"
        elif self.by_uid[uid] >= self.per_user:
            why = (
                f"you have {self.by_uid[uid]} connections open to this server, the most "
                "one user may; close some and try again"
            )
        else:
            self.open += 1
            self.by_uid[uid] += 1
            return None
        self.refused += 1
        self._unlogged += 1
        now = time.monotonic()
        if now - self._logged >= REFUSED_LOG_EVERY:
            log.warning(
                "refused %d connection%s: %s open (most %d), uid %d has %d (most %d)",
                self._unlogged,
                "" if self._unlogged == 1 else "s",
                self.open,
                self.total,
                uid,
                self.by_uid[uid],
                self.per_user,
            )
            self._logged, self._unlogged = now, 0
        return why

    def release(self, uid: int) -> None:
        self.open -= 1
        self.by_uid[uid] -= 1
        if self.by_uid[uid] <= 0:
            del self.by_uid[uid]

    def status(self) -> dict[str, Any]:
        return {
            "open": self.open,
            "max": self.total,
            "max_per_user": self.per_user,
            "refused": self.refused,
        }


class _Limited(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the count: a connection over a limit
    never reaches it."""

    def __init__(self, limits: Limits, make: Callable[[], asyncio.Protocol]) -> None:
        self.limits = limits
        self.make = make
        self.inner: asyncio.Protocol | None = None
        self.uid: int | None = None
        self.heard = False
        self.timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        sock = transport.get_extra_info("socket")
        try:
            uid = peer_of(sock).uid if sock is not None else -1
        except OSError:
            uid = -1
        why = self.limits.admit(uid)
        if why is not None:
            with contextlib.suppress(OSError, RuntimeError):
                transport.write(_busy_answer(why))
            transport.close()
            return
        self.uid = uid
        self.inner = self.make()
        self.inner.connection_made(transport)
        if self.limits.idle > 0:
            loop = asyncio.get_running_loop()
            self.timer = loop.call_later(self.limits.idle, self._silent, transport)

    def _silent(self, transport: asyncio.Transport) -> None:
        if not self.heard:  # opened and never asked anything: closed
            transport.close()

    def data_received(self, data: bytes) -> None:
        if self.inner is None:
            return
        self.heard = True
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received() if self.inner is not None else None

    def pause_writing(self) -> None:
        if self.inner is not None:
            self.inner.pause_writing()

    def resume_writing(self) -> None:
        if self.inner is not None:
            self.inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.timer is not None:
            self.timer.cancel()
        if self.inner is None:
            return
        assert self.uid is not None
        self.limits.release(self.uid)
        self.inner.connection_lost(exc)


class LimitedUnixSite(web.UnixSite):
    """aiohttp's Unix site, its connections counted by `limits` before aiohttp sees them."""

    __slots__ = ("_limits",)

    def __init__(self, runner: web.BaseRunner, path: str, limits: Limits) -> None:
        super().__init__(runner, path)
        self._limits = limits

    async def start(self) -> None:
        await super(web.UnixSite, self).start()  # BaseSite's: registers the site
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_unix_server(
            self._limits.factory(server), self._path, backlog=self._backlog
        )
