"""Who is on the other end of the socket, as the kernel says: never what the client claims.

`SO_PEERCRED` gives the pid, uid and gid of the process that connected; the uid's login name
is the operator name the server's `[operators.NAME]` roles are looked up under. A uid with no
name (a container's, say) is `uid-N`, as the embedded command line names it. `Clients` keeps
who has been asking, for `quarterdeck status`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from quarterdeck.client import peer_credentials, user_name

#: A uid's login name, `uid-N` for one with no name (the operator name roles are read under).
name_of = user_name


@dataclass(frozen=True)
class Peer:
    pid: int
    uid: int
    gid: int
    name: str


def peer_of(sock: Any) -> Peer:
    """The peer of a connected Unix socket (a `socket.socket` or asyncio's wrapper of one)."""
    pid, uid, gid = peer_credentials(sock)
    return Peer(pid=pid, uid=uid, gid=gid, name=name_of(uid))


#: A client that asked within this many seconds counts as connected (each command is one
#: short request; the console's long-polls will hold theirs open).
RECENT_S = 60.0


class Clients:
    """The clients with a request in flight or seen lately, by process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[int, int], tuple[Peer, int, float]] = {}

    def enter(self, peer: Peer) -> None:
        now = time.monotonic()
        with self._lock:
            self._forget(now)  # kept: who asked in the last minute, not everyone ever
            _, busy, _ = self._seen.get((peer.uid, peer.pid), (peer, 0, 0.0))
            self._seen[(peer.uid, peer.pid)] = (peer, busy + 1, now)

    def leave(self, peer: Peer) -> None:
        with self._lock:
            _, busy, _ = self._seen.get((peer.uid, peer.pid), (peer, 1, 0.0))
            self._seen[(peer.uid, peer.pid)] = (peer, busy - 1, time.monotonic())

    def connected(self) -> list[dict[str, Any]]:
        now = time.monotonic()
        with self._lock:
            self._forget(now)
            return [
                {
                    "user": peer.name,
                    "uid": peer.uid,
                    "pid": peer.pid,
                    "requests": busy,
                    "idle_s": round(now - seen, 1),
                }
                for peer, busy, seen in self._seen.values()
            ]

    def _forget(self, now: float) -> None:
        for key, (_, busy, seen) in list(self._seen.items()):
            if busy <= 0 and now - seen > RECENT_S:
                del self._seen[key]
