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
"""

from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

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
            import duckdb  # noqa: F401 - the module whose allocator this is: loaded first

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
