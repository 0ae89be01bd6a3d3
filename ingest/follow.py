"""Follow mode: watch files and folders and load new complete lines as they are written.

Rules (DESIGN §3, the lessons of Fluent Bit, Vector and Filebeat):

- Exactly once. Each unit of lines is stored in one transaction with the byte offset its
  file reached (`queries.loading.store_unit`), so a crash at any moment, `kill -9` included,
  followed by a restart repeats nothing and misses nothing.
- A file is known by its fingerprint (sha256 of its first complete line), not by its name or
  inode: a renamed file keeps its place, a new file in an old file's place starts at 0.
- A partial last line stays unread until its newline arrives; the offset never moves past it.
- Offsets are raw bytes; beside each is its shift (the BOM and CRLF line ends before it), so
  a resumed file's lines without an `event_id` get the ids a batch load of it, or of a copy
  with a BOM added or removed or its line ends changed, gives them (`reader`, `_shift_at`).
- Rotation (rename, then a new file under the old name): the old file is read to its end
  through the descriptor already open, then the new one from 0. If the old file still ends
  in a fragment after `ROTATE_GRACE` seconds of silence, the fragment is quarantined as
  `unterminated`.
- Truncation or replacement (the file is shorter than the offset, or its first line changed):
  reading starts again at 0, and the event is recorded in `file_events` and reported.
- Gzipped files are read once, when they have stopped changing, and never followed.
  Approval-record CSV files are read again whenever they change (records deduplicate).

`Follower.poll` does one round; `Follower.run` repeats it whenever watchfiles reports a change,
and at least every `interval` seconds (so it works where file events do not, e.g. NFS).

Each unit's commit only appends (events, records, quarantine, the files' positions); the derived
facts (`queries.derived`) and the fold of positions into `follow_offsets`, which update rows,
are done together at most every `refresh_gap` seconds while lines trickle in, and every
`REFRESH_EVERY` seconds of a long backlog. DuckDB folds its WAL into the store at an appending
commit even while readers are open, so the WAL stays bounded under a busy server's readers.
`watch(what)`, if given, wraps each transaction, so a server can say which one is running and
for how long (its watchdog); `files()` says how far behind each followed file is.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from quarterdeck.ingest.load import LoadError, SourceFile, discover, load_sources, plural
from quarterdeck.ingest.reader import (
    BOM,
    LONG_LINE_PREFIX,
    MAX_LINE,
    line_fingerprint,
    read_batches,
    same_stream,
    shared_start,
)
from quarterdeck.ingest.tools import ToolMap
from quarterdeck.ingest.units import Unit
from quarterdeck.ingest.validate import Rejection, check_batch
from quarterdeck.queries import allocator, derived, loading
from quarterdeck.queries.store import utc_now

#: Lines stored per transaction while catching up on a backlog.
FOLLOW_ROWS = 20_000
#: Bytes read from a file at a time.
READ_CHUNK = 1024 * 1024
#: Seconds a rotated file's descriptor is kept open, silent, for a writer finishing its line.
ROTATE_GRACE = 2.0
#: Seconds a gzipped file must have been left alone before it is read.
SETTLE = 1.0
#: Seconds between summary refreshes while a long backlog is being stored.
REFRESH_EVERY = 1.0
#: The least time between two refreshes when lines trickle in: each one is a dozen
#: statements, so a few a second keep the store current without keeping a core busy.
REFRESH_GAP = 0.3
#: Seconds between checkpoints while following. DuckDB folds its write-ahead log into the
#: store on its own only when no other transaction is writing, which a live console (the
#: trigger watch, decisions, readers) seldom gives it: the log, and the memory behind it,
#: would keep growing.
CHECKPOINT_EVERY = 30.0
#: How watchfiles wakes the follower (milliseconds): at most `WAKE_DEBOUNCE_MS` after the first
#: change it saw, or `WAKE_STEP_MS` after changes stop. A writer that never pauses (a busy
#: runner) is read every `WAKE_DEBOUNCE_MS`, the first wait between a line written and a
#: console showing it; at 200 lines/s that is still a few dozen lines a commit.
WAKE_DEBOUNCE_MS = 100
WAKE_STEP_MS = 25
#: Events whose timestamp is older than this when stored are backlog, not lag.
LIVE_WINDOW = 300.0

_TS = re.compile(r'"ts"\s*:\s*"(?P<ts>[^"]{10,40})"')


@dataclass
class FileNotice:
    """Something a person should know about a followed file."""

    path: str
    kind: str  # truncated | replaced | rotated | unterminated | shared_start | unreadable | skipped
    message: str


@dataclass(frozen=True)
class FileLag:
    """How far behind one followed file is: bytes written but not yet stored, and seconds since
    a line of it was last stored (None before any, since the follower started)."""

    path: str
    behind_bytes: int
    idle_s: float | None


@dataclass
class FollowStats:
    """What the follower has done, and how far behind the writers it is."""

    started: float = field(default_factory=time.monotonic)
    events: int = 0
    records: int = 0
    duplicates: int = 0
    conflicting_duplicates: int = 0  # an id stored already, with other content: quarantined
    quarantined: int = 0
    commits: int = 0
    files: int = 0
    lags: deque[float] = field(default_factory=lambda: deque(maxlen=2000))
    refresh_s: deque[float] = field(default_factory=lambda: deque(maxlen=500))
    _recent: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=512))

    def _count(self, counts: loading.UnitCounts, lags: list[float]) -> None:
        self.events += counts.events
        self.records += counts.records
        self.duplicates += counts.duplicates
        self.conflicting_duplicates += counts.conflicts
        self.quarantined += counts.quarantined_new
        self.commits += 1
        self.lags.extend(lags)
        self._recent.append((time.monotonic(), counts.events))

    def rate(self, window: float = 5.0) -> float:
        """Events stored per second over the last `window` seconds."""
        now = time.monotonic()
        span = min(window, max(now - self.started, 1e-9))
        return sum(n for t, n in self._recent if now - t <= window) / span

    def lag(self, q: float = 0.5) -> float | None:
        """Seconds from an event's timestamp to the commit that made it visible, at quantile
        `q` over the recent live events; None before any."""
        if not self.lags:
            return None
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class _Open:
    """A followed file: its open descriptor and how far it has been read and stored."""

    path: Path
    name: str  # what the store calls it (`load.discover`): relative to the followed folder
    handle: BinaryIO
    ident: tuple[int, int]  # (device, inode) of the descriptor
    fp: str  # its identity: the fingerprint of its first line (or `reader.shared_start`)
    first_len: int  # length of the first line, to notice a replaced file cheaply
    offset: int  # stored: just past the last complete line
    line_no: int  # stored: lines read so far
    shift: int = 0  # stored: the BOM and CRs before `offset` (`reader.LineBatch.shift`)
    read_offset: int = 0  # read but maybe not yet stored
    read_line_no: int = 0
    read_shift: int = 0
    mtime: int = 0
    quiet_since: float | None = None  # rotated: when it last gave us bytes
    stored_at: float | None = None  # monotonic: when a unit with its lines was last stored
    first: str = ""  # the fingerprint of its first line (its identity but for a shared start)

    def reset_reading(self) -> None:
        self.read_offset, self.read_line_no = self.offset, self.line_no
        self.read_shift = self.shift


def first_line(path: Path, limit: int = MAX_LINE) -> tuple[str, int] | None:
    """(fingerprint, length) of the file's first complete line, or None before it has one."""
    with open(path, "rb") as handle:
        return _first_line(handle, limit)


def _first_line(handle: BinaryIO, limit: int = MAX_LINE) -> tuple[str, int] | None:
    handle.seek(0)
    head = b""
    while len(head) <= limit + len(BOM):
        block = handle.read(min(64 * 1024, limit + len(BOM) + 1))
        if not block:
            return None
        head += block
        end = head.find(b"\n")
        if end >= 0:
            break
    else:
        end = limit + len(BOM)  # an over-long first line: its first bytes identify it
    line = head[:end]
    skip = len(BOM) if line.startswith(BOM) else 0
    return line_fingerprint(line[skip:]), end


def _shift_at(handle: BinaryIO, offset: int, saved: int | None) -> int | None:
    """The shift (`reader.LineBatch.shift`) at `offset` of the file behind `handle`, which a
    file with its fingerprint was read up to with the shift `saved` (None: stored before
    shifts were kept). None when this file cannot be resumed there: another copy of that
    file, with a BOM added or removed or its line ends changed (read from the start, its
    lines are known by their ids). A file without a BOM whose LF line ends at `offset`,
    read so far with no BOM nor CRLF (or before shifts were kept: the ids of an LF file are
    its byte offsets' either way), is resumed as it is (the usual file: one read of 5 bytes);
    any other is read up to `offset` to count them."""
    if offset == 0:
        return 0
    handle.seek(0)
    bom = handle.read(len(BOM)) == BOM
    handle.seek(max(offset - 2, 0))
    end = handle.read(2)
    if not saved and not bom and end.endswith(b"\n") and end != b"\r\n":
        return 0
    handle.seek(0)
    shift, left, last = 0, offset, b""
    while left > 0:
        block = handle.read(min(READ_CHUNK, left))
        if not block:
            return None
        left -= len(block)
        shift += (last + block[:1]).count(b"\r\n") + block.count(b"\r\n")
        last = block[-1:]
    shift += len(BOM) if bom else 0
    return shift if saved is None or saved == shift else None


class Follower:
    """Follows `paths` (files and folders, searched recursively) into the store behind `con`.

    `con` must be this follower's own connection or cursor. `on_commit(stats)` is called
    once what was stored is visible (after the summaries caught up: each round, and every
    `REFRESH_EVERY` seconds of a long backlog); `on_notice(notice)` for truncations,
    replacements and rotations.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        paths: Iterable[Path | str],
        *,
        on_commit: Callable[[FollowStats], None] | None = None,
        on_notice: Callable[[FileNotice], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
        batch_rows: int = FOLLOW_ROWS,
        grace: float = ROTATE_GRACE,
        refresh_gap: float = REFRESH_GAP,
        watch: Callable[[str], AbstractContextManager[object]] | None = None,
        tool_map: ToolMap | None = None,
        skip: Iterable[Path] = (),
    ) -> None:
        self.con = con
        # files in a followed folder that are never followed (the control outbox decisions
        # are written to: its lines are not run events), by their resolved paths
        self.skip = {Path(p).resolve() for p in skip}
        self._skipped: set[Path] = set()  # said once each
        self.tool_map = tool_map  # traces' tool steps touch what it says
        self.paths = [Path(p) for p in paths]
        missing = [str(p) for p in self.paths if not p.exists()]
        if missing:
            raise LoadError(f"no such file or folder: {', '.join(missing)}")
        self.on_commit = on_commit
        self.on_notice = on_notice
        self.clock = clock
        self.batch_rows = batch_rows
        self.grace = grace
        self.refresh_gap = refresh_gap
        self.watch = watch
        self.stats = FollowStats()
        self._open: dict[Path, _Open] = {}
        self._draining: list[_Open] = []
        self._once: dict[Path, tuple[int, int]] = {}  # .gz/.csv read: (size, mtime)
        self._unreadable: set[Path] = set()  # said to be unreadable (until it can be read)
        self._unit = Unit()
        self._unit_files: dict[str, _Open] = {}
        self._rounds = 0
        self._checkpointed = time.monotonic()
        self._dirty = False  # stored since the last summary refresh
        self._refreshed = time.monotonic()
        self._saved = loading.saved_offsets(con)
        derived.refresh_derived(con)  # catch up after a writer that was cut short

    # --- one round ------------------------------------------------------------------------

    def poll(self) -> int:
        """Read and store everything new; returns the number of new events stored."""
        before = self.stats.events
        for source in discover(self.paths, strict=False):
            if source.path in self._open or self._skips(source.path):
                continue
            if source.kind == "approvals_csv" or source.path.name.endswith(".gz"):
                self._read_once(source)  # (its root recorded as any load's)
            else:
                loading.record_roots(self.con, [(source.source, source.root)], now=self.clock())
                self._start(source.path, source.source)
        for tracked in list(self._open.values()):
            if self._check(tracked):
                self._read(tracked)
        for tracked in list(self._draining):
            self._drain(tracked)
        self._commit()
        if self._dirty and (
            not self._rounds or time.monotonic() - self._refreshed >= self.refresh_gap
        ):
            self._refresh()  # else at the next round (at most `interval` away)
        self._rounds += 1
        if time.monotonic() - self._checkpointed >= CHECKPOINT_EVERY:
            self._checkpoint()
        return self.stats.events - before

    def _skips(self, path: Path) -> bool:
        """Whether `path` is one not to follow (said once, the first time it is found)."""
        if not self.skip or not any(path.name == s.name for s in self.skip):
            return False
        if path.resolve() not in self.skip:
            return False
        if path not in self._skipped:
            self._skipped.add(path)
            if self.on_notice is not None:
                self.on_notice(
                    FileNotice(
                        str(path),
                        "skipped",
                        f"{path} is the control outbox, in a followed folder: not followed "
                        "(its lines are decisions, not run events)",
                    )
                )
        return True

    def _checkpoint(self, tries: int = 20) -> bool:
        """Fold the write-ahead log into the store, trying a few times in the gaps between
        other writers (FORCE CHECKPOINT would wait for them, and can wait for ever)."""
        self._checkpointed = time.monotonic()
        for _ in range(tries):
            try:
                self.con.execute("CHECKPOINT")
                return True
            except duckdb.TransactionException:
                time.sleep(0.02)
        return False

    def run(
        self,
        stop: threading.Event,
        *,
        interval: float = 1.0,
        around: Callable[[], AbstractContextManager[object]] = contextlib.nullcontext,
    ) -> None:
        """Poll until `stop` is set: on every change watchfiles reports, and every `interval`
        seconds regardless, each round inside `around()` (a server's gate: its database is
        not reopened during one). Stops after storing what it has read."""
        with around():
            self.poll()
        for _ in self._wakeups(stop, interval):
            if stop.is_set():
                break
            with around():
                self.poll()

    def rebind(self, con: duckdb.DuckDBPyConnection) -> None:
        """Carry on with `con`, a cursor on the same store opened again, between two rounds:
        each round stored what it read, so the files' places hold (a refresh still due is
        done on `con`, from the marks in the store)."""
        self.con = con

    def files(self) -> list[FileLag]:
        """Each file followed now (rotated ones still being read included): how far behind.
        Safe to call from another thread: it reads sizes, never the files."""
        now = time.monotonic()
        lags = []
        for t in [*list(self._open.values()), *list(self._draining)]:
            try:
                size = os.stat(t.path).st_size if t.quiet_since is None else _size(t.handle)
            except (OSError, ValueError):  # gone, or its descriptor just closed
                continue
            lags.append(
                FileLag(
                    str(t.path),
                    max(size - t.offset, 0),
                    None if t.stored_at is None else round(now - t.stored_at, 1),
                )
            )
        return lags

    def _watched(self, what: str) -> AbstractContextManager[object]:
        return self.watch(what) if self.watch is not None else contextlib.nullcontext()

    def close(self) -> None:
        """Store what has been read and let go of every file."""
        with contextlib.suppress(duckdb.Error):
            self._commit()
            if self._dirty:
                self._refresh()
        for tracked in [*self._open.values(), *self._draining]:
            tracked.handle.close()
        self._open.clear()
        self._draining.clear()

    # --- files ----------------------------------------------------------------------------

    def _start(self, path: Path, name: str) -> None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open while the file is followed
        except OSError as exc:  # gone already, or unreadable for now: the next round tries again
            if path.exists() and path not in self._unreadable:
                self._unreadable.add(path)  # said once, not every round
                self._notice(
                    path,
                    "unreadable",
                    None,
                    None,
                    f"{path} cannot be read ({exc.strerror or exc}); it is tried again every "
                    "round and read once it can be",
                )
            return
        self._unreadable.discard(path)
        head = _first_line(handle)
        if head is None:  # no complete line yet: nothing can be read or identified
            handle.close()
            return
        first, first_len = head
        fp = first  # its identity, unless another file begins with the same line
        stat = os.fstat(handle.fileno())
        twin = next((t for t in [*self._open.values(), *self._draining] if t.first == first), None)
        if twin is not None and (
            twin.ident == (stat.st_dev, stat.st_ino) or same_stream(path, twin.path)
        ):
            handle.close()  # the same file under a second name (renamed while we read it), or
            return  # a copy of it: known by its fingerprint
        shared = shared_start(first, name)
        if twin is not None or shared in self._saved:
            # Another file that begins with the same line (a common header, a blank line):
            # known by its name as well from now on, so neither is taken for the other.
            if shared not in self._saved:
                self._notice(
                    path,
                    "shared_start",
                    first,
                    0,
                    f"{path} begins with the same line as {twin.path if twin else 'another file'}"
                    "; it is followed as a file of its own, known by its name as well (renamed, "
                    "it is read again from the start)",
                )
            fp = shared
        saved = self._saved.get(fp)
        offset, line_no, shift = 0, 0, 0
        if saved is not None:
            if stat.st_size < saved.byte_offset:
                self._notice(
                    path,
                    "truncated",
                    fp,
                    saved.byte_offset,
                    f"{path} is shorter ({stat.st_size:,} bytes) than where reading "
                    f"had reached ({saved.byte_offset:,}); reading it again from the "
                    "start",
                )
            else:
                resumed = _shift_at(handle, saved.byte_offset, saved.shift)
                if resumed is not None:  # else another copy of it: read from the start
                    offset, line_no, shift = saved.byte_offset, saved.line_no, resumed
                if resumed is not None and saved.shift is None:  # worked out once: kept
                    kept = dataclasses.replace(saved, path=str(path), shift=resumed)
                    loading.store_unit(self.con, offsets=[kept], now=self.clock())
                    self._saved[fp] = kept
        tracked = _Open(
            path,
            name,
            handle,
            (stat.st_dev, stat.st_ino),
            fp,
            first_len,
            offset,
            line_no,
            shift,
            mtime=stat.st_mtime_ns,
            first=first,
        )
        tracked.reset_reading()
        self._open[path] = tracked
        self.stats.files = len(self._open)

    def _check(self, t: _Open) -> bool:
        """Is `t` still the file at its path, unchanged but for appends? Deals with rotation,
        truncation and replacement; returns whether to read it now."""
        try:
            stat = os.stat(t.path)
        except OSError:
            stat = None
        if stat is None or (stat.st_dev, stat.st_ino) != t.ident:
            # Rotated (or removed): finish the old file through its descriptor; the file now
            # at the path, if any, is found as a new one.
            del self._open[t.path]
            old = os.fstat(t.handle.fileno())
            head = _first_line(t.handle, max(t.first_len, 1))
            if old.st_size < t.read_offset or head is None or head[0] != t.first:
                # Emptied or rewritten before it was moved: what the descriptor holds now
                # is another file, found (and read from 0) by its fingerprint wherever it is.
                t.handle.close()
                self._commit()
                self._notice(
                    t.path,
                    "replaced",
                    t.fp,
                    t.offset,
                    f"{t.path} was rewritten, then moved; reading what it holds now from the start",
                )
                self._follow_new(t.path, t.name)
                return False
            what = "was moved or removed" if stat is None else "was rotated"
            self._notice(
                t.path,
                "rotated",
                t.fp,
                t.offset,
                f"{t.path} {what}; reading the old file to its end"
                + ("" if stat is None else ", then the new one from the start"),
            )
            t.quiet_since = time.monotonic()
            self._draining.append(t)
            self._drain(t)
            self._follow_new(t.path, t.name)
            return False
        if stat.st_mtime_ns == t.mtime and stat.st_size >= t.read_offset:
            return stat.st_size > t.read_offset
        t.mtime = stat.st_mtime_ns
        if stat.st_size < t.read_offset:
            self._restart(
                t,
                "truncated",
                f"{t.path} was truncated ({stat.st_size:,} bytes, reading had "
                f"reached {t.read_offset:,}); reading it again from the start",
            )
            return False
        head = _first_line(t.handle, max(t.first_len, 1))
        if head is None or head[0] != t.first:
            self._restart(
                t,
                "replaced",
                f"{t.path} was replaced by a different file; reading it from the start",
            )
            return False
        return True

    def _restart(self, t: _Open, kind: str, message: str) -> None:
        self._commit()  # what was read before the change is stored with its old offset
        del self._open[t.path]
        t.handle.close()
        self._notice(t.path, kind, t.fp, t.offset, message)
        # The old offset is void: stored as 0 at once, so a restart cannot resume past it.
        reset = loading.Offset(t.fp, str(t.path), 0, 0, 0)
        loading.store_unit(self.con, offsets=[reset], now=self.clock())
        self._saved[t.fp] = reset
        self._follow_new(t.path, t.name)

    def _follow_new(self, path: Path, name: str) -> None:
        """Start on the file now at `path` (after a rotation or reset) without waiting."""
        if path.exists() and not path.name.endswith(".gz"):
            self._start(path, name)
            if path in self._open:
                self._read(self._open[path])

    def _read(self, t: _Open) -> int:
        """Read new complete lines of `t` into the unit; returns bytes read."""
        t.handle.seek(t.read_offset)
        start = t.read_offset
        for batch in read_batches(
            t.handle,
            start_offset=t.read_offset,
            start_shift=t.read_shift,
            first_line_no=t.read_line_no + 1,
            at_eof_read_partial=False,
            chunk=READ_CHUNK,
        ):
            self._unit.add(batch, check_batch(batch, self.tool_map), t.name, t.fp)
            t.read_offset, t.read_shift = batch.end_offset, batch.end_shift
            t.read_line_no = batch.first_line_no + len(batch.lines) - 1
            self._unit_files[t.fp] = t
            if self._unit.rows >= self.batch_rows:
                self._commit()
        return t.read_offset - start

    def _drain(self, t: _Open) -> None:
        """Read a rotated file; let it go once it has been silent for the grace period."""
        if self._read(t):
            t.quiet_since = time.monotonic()
        if t.quiet_since is not None and time.monotonic() - t.quiet_since < self.grace:
            return
        size = os.fstat(t.handle.fileno()).st_size
        if size > t.read_offset:
            t.handle.seek(t.read_offset)
            fragment = t.handle.read(min(size - t.read_offset, LONG_LINE_PREFIX))
            self._unit.reject(
                t.name,
                t.fp,
                Rejection(
                    t.read_line_no + 1,
                    t.read_offset,
                    "unterminated",
                    "the file was rotated away with its last line unfinished "
                    f"({size - t.read_offset:,} bytes without a newline)",
                    fragment,
                    size - t.read_offset,
                    t.read_offset - t.read_shift,
                ),
            )
            t.read_offset = size
            self._unit_files[t.fp] = t
            self._notice(
                t.path,
                "unterminated",
                t.fp,
                t.offset,
                f"{t.path} was rotated with an unfinished last line; it is "
                "quarantined as 'unterminated'",
            )
        self._commit()
        self._draining.remove(t)
        t.handle.close()

    def _read_once(self, source: SourceFile) -> None:
        """A gzipped log (read once, after it settles) or an approval-records CSV (read
        again whenever it changes)."""
        path = source.path
        try:
            stat = path.stat()
        except OSError:
            return
        seen = (stat.st_size, stat.st_mtime_ns)
        if self._once.get(path) == seen:
            return
        if self._rounds and time.time() - stat.st_mtime_ns / 1e9 < SETTLE:
            return  # appeared while we watch and may still be being written: next round
        self._once[path] = seen
        gz = path.name.endswith(".gz")
        key = "gz:" + hashlib.sha256(str(path.resolve()).encode()).hexdigest() if gz else ""
        if gz and (saved := self._saved.get(key)) is not None and saved.done:
            return
        self._commit()
        with self._watched(f"follower: loading {path}"):
            summary = load_sources(self.con, [source], tool_map=self.tool_map)
        self.stats.events += summary.events
        self.stats.records += summary.approval_records
        self.stats.duplicates += summary.duplicates
        self.stats.conflicting_duplicates += summary.conflicting_duplicates
        self.stats.quarantined += summary.quarantined_new
        if gz:
            offset = loading.Offset(key, str(path), stat.st_size, 0, stat.st_size, done=True)
            loading.store_unit(self.con, offsets=[offset], now=self.clock())
            self._saved[key] = offset

    # --- storing --------------------------------------------------------------------------

    def _commit(self) -> None:
        """Store the unit and the offsets its files reached, in one transaction."""
        unit, files = self._unit, self._unit_files
        if unit.empty and not files:
            return
        offsets = [
            loading.Offset(
                t.fp,
                str(t.path),
                t.read_offset,
                t.read_line_no,
                _size(t.handle),
                shift=t.read_shift,
            )
            for t in files.values()
        ]
        now = self.clock()
        try:
            what = f"follower: storing {plural(unit.rows, 'line')} of {plural(len(files), 'file')}"
            with self._watched(what):
                counts = unit.store(self.con, now=now, offsets=offsets)
        except BaseException:
            for t in files.values():
                t.reset_reading()  # read again what was not stored
            self._unit, self._unit_files = Unit(), {}
            raise
        stored_at = time.monotonic()
        for t in files.values():
            if t.read_line_no > t.line_no:
                t.stored_at = stored_at
            t.offset, t.line_no, t.shift = t.read_offset, t.read_line_no, t.read_shift
        for offset in offsets:
            self._saved[offset.fingerprint] = offset
        self._unit, self._unit_files = Unit(), {}
        self.stats._count(counts, _lags(unit, now))
        self._dirty = True
        if time.monotonic() - self._refreshed >= REFRESH_EVERY:
            self._refresh()

    def _refresh(self) -> None:
        """Bring the summaries up to date; then what was stored is visible to readers."""
        started = time.monotonic()
        try:
            with self._watched("follower: refreshing derived facts"):
                derived.refresh_derived(self.con)
                loading.fold_positions(self.con)
        except duckdb.TransactionException:
            return  # another writer (a decision) touched the same summary: next round
        finally:
            # what the refresh's joins and groupings freed, given back now rather than as
            # the allocators age it (queries/allocator.py): a follower in a console or an
            # `ingest --follow` has no server's maintenance to do it
            allocator.release()
        self.stats.refresh_s.append(time.monotonic() - started)

        self._dirty = False
        self._refreshed = time.monotonic()
        if self.on_commit is not None:
            self.on_commit(self.stats)

    def _notice(
        self, path: Path, kind: str, fp: str | None, offset: int | None, message: str
    ) -> None:
        if kind != "unterminated":
            loading.record_file_event(
                self.con,
                path=str(path),
                kind=kind,
                fingerprint=fp,
                byte_offset=offset,
                detail=message,
                now=self.clock(),
            )
        if self.on_notice is not None:
            self.on_notice(FileNotice(str(path), kind, message))

    # --- waiting --------------------------------------------------------------------------

    def _wakeups(self, stop: threading.Event, interval: float) -> Iterable[object]:
        """Yields when a followed path changed, or after `interval` seconds of quiet."""
        try:
            import watchfiles

            yield from watchfiles.watch(
                *self.paths,
                stop_event=stop,
                debounce=WAKE_DEBOUNCE_MS,
                step=WAKE_STEP_MS,
                rust_timeout=int(interval * 1000),
                yield_on_timeout=True,
                raise_interrupt=False,
                watch_filter=None,
            )
        except (OSError, RuntimeError):  # no file events here (inotify limits, say): poll
            while not stop.wait(min(interval, 0.25)):
                yield None


def _size(handle: BinaryIO) -> int:
    return os.fstat(handle.fileno()).st_size


def _lags(unit: Unit, now: datetime) -> list[float]:
    """Seconds from each live event's own timestamp to `now` (the commit). Events older than
    `LIVE_WINDOW` are a backlog being caught up on, not lag; a clock ahead of ours counts 0."""
    if not unit.tables:
        return []
    lines = pa.chunked_array([t.column("line") for t in unit.tables]).combine_chunks()
    stamps = pc.extract_regex(lines, _TS.pattern).field("ts").to_pylist()
    commit = now.replace(tzinfo=UTC).timestamp()
    lags = []
    for text in stamps:
        try:
            ts = datetime.fromisoformat(text)
        except (TypeError, ValueError):
            continue
        if ts.tzinfo is not None and abs(lag := commit - ts.timestamp()) < LIVE_WINDOW:
            lags.append(max(lag, 0.0))
    return lags
