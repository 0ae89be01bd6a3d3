"""Recycling the server's database: close it and open it again when its memory has grown.

Now a safety net (`RECYCLE_GROWTH` 96 MiB in serve.py): most of what is described below was
memory freed but kept by the allocators, which the server now gives back every fraction of a
second (queries/allocator.py); no soak since has reopened.

Why (issue 13's soak, benchmarks/README): an open DuckDB database (1.5) that a follower
appends to in small commits, with the derived facts' updates between them, holds more and
more resident memory for as long as it stays open — +40–60 MiB over the first ~25k live
events, then level — that neither `duckdb_memory()` (steady, 60–110 MiB) nor Python's
objects (tracemalloc: ~4 MiB) account for, and that no setting gave back: `memory_limit`,
`threads`, `malloc_trim`, `MALLOC_ARENA_MAX`, `MALLOC_MMAP_THRESHOLD_`, the system Arrow
pool, new cursors on the same database. Closing the database and opening it again gives it
all back (a replay of 30k live events: 330 MiB before each reopen, 185 MiB after).

So the server reopens its database when its resident memory has grown `growth` bytes above
where it settled after the last open (`Recycling.due`), and only at a moment when nothing uses
it (`Gate.idle`): every query, decision, ingest, trigger evaluation, follower round and
checkpoint holds the gate shared while it uses the database; the reopen holds it alone, and
what arrives meanwhile waits for it (a fraction of a second), so no request fails. A reopen
waits at most `wait` seconds for the users in flight, and none is tried during an ingest. What is
stored is committed before the database closes (closing it checkpoints), and the follower
carries on from the offsets it keeps, on a new cursor: nothing is lost or stored twice.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


class Gate:
    """Many users of the database at once (`shared`), or the reopen alone (`idle`)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._users = 0
        self._alone = False
        self._wanted = False  # a reopen waits for the users in flight to finish

    @contextmanager
    def shared(self) -> Iterator[None]:
        """Use the database; waits while a reopen waits for its moment or runs."""
        with self._cond:
            self._cond.wait_for(lambda: not self._alone and not self._wanted)
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                self._cond.notify_all()

    @contextmanager
    def idle(self, timeout: float) -> Iterator[bool]:
        """True, holding the database alone, once the users in flight have finished (within
        `timeout` seconds); else False, holding nothing. Users arriving meanwhile wait (so a
        steady stream of them cannot put the reopen off for ever), at most `timeout`."""
        with self._cond:
            if self._alone or self._wanted:
                alone = False  # another reopen is under way
            else:
                self._wanted = True
                alone = self._cond.wait_for(lambda: not self._users, timeout)
                self._wanted = False
                self._alone = alone
                self._cond.notify_all()
        try:
            yield alone
        finally:
            if alone:
                with self._cond:
                    self._alone = False
                    self._cond.notify_all()


def resident_bytes() -> int | None:
    """This process's resident memory (VmRSS, from /proc: Linux), in bytes."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


class Recycling:
    """When to reopen: the resident memory is read `settle` seconds after each open (the
    caches filled by then), and a reopen is due once it has grown `growth` bytes above the
    reference (`floor`): the lowest of those readings so far — single readings swing by
    ±20 MiB, and a reference taken afresh at each open would drift up with them — raised
    only to a reading a reopen could not get under (the store's level has grown)."""

    def __init__(
        self,
        *,
        growth: int,
        settle: float,
        resident: Callable[[], int | None] = resident_bytes,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.growth = growth
        self.settle = settle
        self.resident = resident
        self.clock = clock
        self.floor: int | None = None
        self._opened_at = clock()
        self._settled = False  # read since the last open

    def opened(self) -> None:
        """The database was (re)opened now."""
        self._opened_at = self.clock()
        self._settled = False

    def due(self) -> bool:
        if self.clock() - self._opened_at < self.settle:
            return False
        now = self.resident()
        if now is None:
            return False
        if not self._settled:
            self._settled = True
            if self.floor is None or now < self.floor or now - self.floor >= self.growth:
                self.floor = now
            return False
        return self.floor is not None and now - self.floor >= self.growth
