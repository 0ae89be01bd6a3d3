"""What tells the console the store changed: its own follower, or the server's change feed.

Embedded, DuckDB lets one process write a store, so the console that owns it also follows the
logs (DESIGN §1): `LiveFeed` runs `ingest.follow.Follower` on a thread with its own cursor.
Against `quarterdeck serve`, the server follows and `ServerFeed` long-polls its change counter
(`client.Client.changes`) on a thread. Either tells the app through the same message,
`Followed` (Textual's `post_message` is safe to call from other threads), and the app
refreshes what is on screen when told, so new lines show within a second of being stored.

The server going away (stopped, restarting) is a `ServerLost` message, said plainly in the
status bar; the feed keeps asking, once a second, and says `ServerBack` when it answers again —
the console never stops for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from textual.app import App
from textual.message import Message

from quarterdeck.client import Client
from quarterdeck.ingest.follow import FileNotice, Follower, FollowStats
from quarterdeck.ingest.tools import ToolMap
from quarterdeck.queries.store import Store, StoreError

#: Seconds between attempts to reach a server that did not answer.
RECONNECT_EVERY = 1.0


@dataclass(frozen=True)
class Flow:
    """How following goes, for the status bar: events stored per second, and the median lag
    from an event's timestamp to the commit that stored it (None before any)."""

    rate: float
    lag: float | None

    @classmethod
    def of(cls, stats: FollowStats) -> Flow:
        return cls(stats.rate(), stats.lag())


class Followed(Message):
    """New lines were stored (or, from a server, something else changed); `flow` is None when
    the server follows nothing."""

    def __init__(self, flow: Flow | None) -> None:
        super().__init__()
        self.flow = flow


class ServerLost(Message):
    """The server did not answer: why, in words."""

    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class ServerBack(Message):
    """The server answers again (`restarted`: a new server process)."""

    def __init__(self, restarted: bool) -> None:
        super().__init__()
        self.restarted = restarted


class FileNoticed(Message):
    """A followed file was rotated, truncated or replaced."""

    def __init__(self, notice: FileNotice) -> None:
        super().__init__()
        self.notice = notice


class FollowFailed(Message):
    def __init__(self, error: str) -> None:
        super().__init__()
        self.error = error


class LiveFeed:
    """Follows `paths` into `store` on a thread of its own while the console runs."""

    def __init__(
        self, store: Store, paths: Sequence[Path | str], tool_map: ToolMap | None = None
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app: App[None] | None = None
        # Created here, so a missing path is reported before the console opens.
        self.follower = Follower(
            store.cursor(),
            self.paths,
            on_commit=self._committed,
            on_notice=self._noticed,
            tool_map=tool_map,
        )

    @property
    def stats(self) -> FollowStats:
        return self.follower.stats

    def start(self, app: App[None]) -> None:
        self._app = app
        self._thread = threading.Thread(target=self._run, name="quarterdeck-follow", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Store what has been read, then let go (called when the console exits)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self.follower.run(self._stop, interval=0.5)
        except Exception as exc:  # shown in the console; the store keeps what was committed
            self._post(FollowFailed(f"following stopped: {exc}"))
        finally:
            self.follower.close()

    def _post(self, message: Message) -> None:
        if self._app is not None and not self._stop.is_set():
            self._app.post_message(message)

    def _committed(self, stats: FollowStats) -> None:
        self._post(Followed(Flow.of(stats)))

    def _noticed(self, notice: FileNotice) -> None:
        self._post(FileNoticed(notice))


class ServerFeed:
    """Long-polls the server's changes while the console runs; posts `Followed` when something
    changed, `ServerLost` / `ServerBack` as the server goes and comes back."""

    def __init__(self, server: Client, *, wait: float = 25.0) -> None:
        self.server = server
        self.wait = wait
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app: App[None] | None = None

    def start(self, app: App[None]) -> None:
        self._app = app
        self._thread = threading.Thread(target=self._run, name="quarterdeck-changes", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Stop asking (a long-poll in flight is left to its daemon thread)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        after = 0
        instance: Any = None
        lost = False
        while not self._stop.is_set():
            try:
                answer = self.server.changes(after, wait=self.wait)
            except StoreError as exc:
                if not lost:
                    lost = True
                    self._post(ServerLost(str(exc)))
                self._stop.wait(RECONNECT_EVERY)
                continue
            except Exception as exc:  # never the console's end: said, and tried again
                self._post(ServerLost(f"{type(exc).__name__}: {exc}"))
                lost = True
                self._stop.wait(RECONNECT_EVERY)
                continue
            restarted = instance is not None and answer.get("server") != instance
            instance = answer.get("server")
            if lost or restarted:
                lost = False
                self._post(ServerBack(restarted))
            changed = bool(answer.get("changed")) or restarted
            after = int(answer.get("counter", 0))
            if changed:
                follow = answer.get("follow")
                flow = Flow(follow["rate_per_s"], follow["lag_p50_s"]) if follow else None
                self._post(Followed(flow))

    def _post(self, message: Message) -> None:
        if self._app is not None and not self._stop.is_set():
            self._app.post_message(message)
