"""Giving the memory DuckDB and the process have freed back to the system.

Why (issue 13; benchmarks/follow_memory.py): a server that follows logs frees and allocates
memory faster than its allocators give freed pages back, and the pages they keep are most of
what looked like growth. Two allocators keep them:

- DuckDB 1.5's Linux build allocates its buffers with the jemalloc it carries inside
  (`duckdb_je_*`, not the process's malloc). jemalloc returns a freed buffer's pages ("dirty",
  then "muzzy") to the system only as they age, a little at each later allocation in the same
  arena, and DuckDB purges an arena by itself only from an idle worker thread. Replaying 30k
  live events through the follower: jemalloc held 80–98 MiB of live allocations in 140–220 MiB
  resident; purging every 10 rounds, 85–104 MiB resident. `duckdb_memory()` counts only the
  live part; `malloc_trim` and glibc's settings cannot reach the rest (it is not glibc's).
- glibc's malloc (DuckDB's own objects, Arrow results, Python's larger objects) keeps the
  pages of freed chunks inside each thread's arena; `malloc_trim(0)` gives back every whole
  free page (in a 10-minute soak's server: 28 MiB at once).

Closing the database gave both back, which is what the server's reopening (server/recycle.py)
was getting. `release()` asks for them directly, as DuckDB itself does when it closes a
database (`arena.<all>.purge`, then `malloc_trim(0)`): a few milliseconds, touching no live
data. Where DuckDB was built without jemalloc or the C library is not glibc (macOS, Windows,
musl), that part does nothing.

A third holder is DuckDB's buffer pool itself, which `empty_buffer_pool` empties: every
temporary buffer of a hash join or an aggregate leaves a `BlockHandle` allocated for as long
as the pool's eviction queue holds a (dead) entry for it, and a queue is purged only once it
holds 32,768 entries (8 queues: ~33 MiB of glibc's heap, filled over minutes by a follower's
refreshes); the pages the tables were read from stay cached up to the memory limit (80 % of
RAM by default). Asking for a memory limit no database meets makes DuckDB walk every queue,
dropping the dead entries and evicting every unpinned buffer, and then refuse the limit; the
limit is set back. Replaying a follower's statements in bare DuckDB
(benchmarks/duckdb_kept_pages.py --empty 250): glibc's heap flat at 10.3–11.5 MiB over 3,000
rounds, against a climb from 11 to 29; the process flat at 68–70 MiB against 80 → 137. It
costs 5–22 ms, and what is read next comes from the file (the OS's cache) again.
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import duckdb

#: jemalloc's index for "every arena" (MALLCTL_ARENAS_ALL).
ALL_ARENAS = 4096

_lock = threading.Lock()
_found: tuple[Callable[..., int] | None, Callable[..., int] | None] | None = None


@dataclass(frozen=True)
class AllocatorStats:
    """What DuckDB's jemalloc holds, in bytes: allocated by DuckDB now (`allocated`), the pages
    that hold them (`active`), freed pages not yet given back (`dirty` + `muzzy`)."""

    allocated: int
    active: int
    dirty: int
    muzzy: int


def _functions() -> tuple[Callable[..., int] | None, Callable[..., int] | None]:
    """(`duckdb_je_mallctl` of the loaded DuckDB, glibc's `malloc_trim`), each None if absent."""
    global _found
    with _lock:
        if _found is None:
            mallctl: Callable[..., int] | None = None
            path = getattr(sys.modules.get("_duckdb"), "__file__", None)
            try:
                function = ctypes.CDLL(path).duckdb_je_mallctl if path else None
            except (OSError, AttributeError):
                function = None
            if function is not None:
                function.restype = ctypes.c_int
                function.argtypes = [
                    ctypes.c_char_p,
                    ctypes.c_void_p,
                    ctypes.POINTER(ctypes.c_size_t),
                    ctypes.c_void_p,
                    ctypes.c_size_t,
                ]
                mallctl = function
            trim: Callable[..., int] | None = None
            try:
                trim = ctypes.CDLL(None).malloc_trim
                trim.restype, trim.argtypes = ctypes.c_int, [ctypes.c_size_t]
            except (OSError, AttributeError):
                trim = None
            _found = (mallctl, trim)
        return _found


def available() -> bool:
    """Whether this DuckDB allocates with a jemalloc that `release` can reach."""
    return _functions()[0] is not None


def release() -> bool:
    """Give every arena's freed pages back to the system (DuckDB's jemalloc, then glibc's
    malloc); False if neither allocator could be reached."""
    mallctl, trim = _functions()
    done = False
    if mallctl is not None:
        done = mallctl(f"arena.{ALL_ARENAS}.purge".encode(), None, None, None, 0) == 0
    if trim is not None:
        trim(0)
        done = True
    return done


#: A memory limit no open database meets (DuckDB refuses it after evicting all it can).
UNMET_LIMIT = "1MB"


def memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    """The database's memory limit as DuckDB shows it (rounded down to a tenth of its unit)."""
    row = con.execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def empty_buffer_pool(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """Evict every buffer DuckDB can and drop the dead entries of its eviction queues (see
    above), then set the memory limit to `limit`. Read that once (`memory_limit`) and pass the
    same each time: read and written back each time, it would go down by a tenth of its unit
    a few times (DuckDB shows it rounded down), and `RESET memory_limit` does not reach the
    buffer pool (DuckDB 1.5.5: the setting reads the default, the pool keeps `UNMET_LIMIT`).
    Nothing else may use the database meanwhile: for a moment its limit may be
    `UNMET_LIMIT`, and a query would run out of memory. Data not yet checkpointed is written
    to the temporary directory: call it after a CHECKPOINT."""
    try:
        con.execute(f"SET memory_limit = '{UNMET_LIMIT}'")
    except duckdb.OutOfMemoryException:
        pass  # refused once everything that could be evicted was: what it is for
    finally:
        con.execute(f"SET memory_limit = '{limit}'")


def stats() -> AllocatorStats | None:
    """What DuckDB's jemalloc holds now (None where there is none)."""
    mallctl = _functions()[0]
    if mallctl is None:
        return None
    epoch = ctypes.c_uint64(1)
    size = ctypes.c_size_t(ctypes.sizeof(epoch))
    mallctl(b"epoch", ctypes.byref(epoch), ctypes.byref(size), ctypes.byref(epoch), size)

    def read(name: str) -> int:
        value = ctypes.c_size_t(0)
        length = ctypes.c_size_t(ctypes.sizeof(value))
        if mallctl(name.encode(), ctypes.byref(value), ctypes.byref(length), None, 0):
            return 0
        return int(value.value)

    arenas, page = f"stats.arenas.{ALL_ARENAS}", read("arenas.page")
    return AllocatorStats(
        allocated=read("stats.allocated"),
        active=read("stats.active"),
        dirty=read(f"{arenas}.pdirty") * page,
        muzzy=read(f"{arenas}.pmuzzy") * page,
    )
