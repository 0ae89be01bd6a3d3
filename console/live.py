"""The console's own follower: a thread with its own DuckDB cursor, feeding the app.

DuckDB lets one process write a store, so the console that owns it also follows the logs
(DESIGN §1). The thread runs `ingest.follow.Follower` and tells the app what it stored through
messages (Textual's `post_message` is safe to call from other threads); the app refreshes what
is on screen when told, so new lines show within a second of being written.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

from textual.app import App
from textual.message import Message

from quarterdeck.ingest.follow import FileNotice, Follower, FollowStats
from quarterdeck.queries.store import Store


class Followed(Message):
    """The follower stored a unit of lines."""

    def __init__(self, stats: FollowStats) -> None:
        super().__init__()
        self.stats = stats


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

    def __init__(self, store: Store, paths: Sequence[Path | str]) -> None:
        self.paths = [Path(p) for p in paths]
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._app: App[None] | None = None
        # Created here, so a missing path is reported before the console opens.
        self.follower = Follower(
            store.cursor(), self.paths, on_commit=self._committed, on_notice=self._noticed
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
        self._post(Followed(stats))

    def _noticed(self, notice: FileNotice) -> None:
        self._post(FileNoticed(notice))
