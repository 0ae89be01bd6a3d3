"""Batch ingest: files and folders in, validated events and approval records into the store.

`load_paths` finds the files itself (`discover`); `load_sources` takes files already found,
each with the name it is stored under (`SourceFile.name`): the server loads the bytes a
client sent it from a private spool file, under the name the client knows the file by, so the
store records exactly what an embedded load of the client's files would.

Two threads share the work: a reader thread reads and validates (pydantic), while the calling
thread hands the previous batch to DuckDB, which parses the lines that passed, deduplicates and
inserts them. Every batch is its own transaction, so an interrupted load keeps what it
committed and a re-run adds only the rest.

(A child process for the reader was measured too: no faster on two cores, so not kept.)
"""

from __future__ import annotations

import csv
import gc
import hashlib
import io
import json
import os
import queue
import re
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from itertools import accumulate
from pathlib import Path
from stat import S_ISREG as _is_regular
from typing import Any

import duckdb
import pyarrow as pa
from pydantic import ValidationError

from quarterdeck.ingest.models import ApprovalRecord
from quarterdeck.ingest.reader import (
    BOM,
    LONG_LINE_PREFIX,
    fingerprint,
    line_fingerprint,
    open_binary,
    read_batches,
    same_stream,
    shared_start,
)
from quarterdeck.ingest.tools import ToolMap
from quarterdeck.ingest.units import Unit, record_row
from quarterdeck.ingest.validate import Rejection, check_batch, explain
from quarterdeck.queries import derived, loading
from quarterdeck.queries.statements import one_row
from quarterdeck.queries.store import utc_now

#: JSON lines: v1 events, approval records, or OTLP traces (the Collector's file exporter).
EVENT_SUFFIXES = (".jsonl", ".jsonl.gz", ".ndjson", ".ndjson.gz", ".json", ".json.gz")
RECORD_SUFFIXES = (".csv",)
#: DuckDB's row group (rows). Each batch but the last stores a whole number of them, the
#: lines beyond held back for the next: DuckDB writes a batch's rows straight to the store's
#: blocks, ending in a partial row group, and the first checkpoint after the load merged
#: those partial groups by rewriting every row group after the first of them, most of the
#: load's events (measured, 500k touches: a 7-10 s checkpoint at load average 10, 0.1 s
#: once the groups are whole).
ROW_GROUP_ROWS = 122_880
#: Rows handed to DuckDB at once, one row group: large enough that per-statement overhead vanishes,
#: small enough that memory stays flat, and that the writer starts early (the load waits on
#: the reader: measured, 500k touches on an idle machine, one row group a batch against
#: 200k rows: 6.7-7.1 s against 7.6 s, the writer idle 1.5-1.7 s against 2.6-2.8 s).
BATCH_ROWS = ROW_GROUP_ROWS
#: Seconds between GIL hand-overs during a load (measured: 5 ms default → 0.2 ms makes the
#: DuckDB side of a 1M-event load ~35% faster on two cores).
SWITCH_INTERVAL = 0.0002
#: DuckDB's memory limit during a load (restored afterwards).
LOAD_MEMORY_LIMIT = "256MB"
#: A load's summary refresh is tried again when it meets another at the same moment (a
#: server's follower refreshing while a client's files load); alone, it never conflicts.
REFRESH_TRIES = 20

Progress = Callable[[int, int], None]


class LoadError(Exception):
    """The load could not run (or could not finish); the message is one line for a person."""


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where the bytes are read from
    kind: str  # "events" (JSON lines, possibly gzipped) or "approvals_csv"
    size: int
    name: str = ""  # what the store calls it (quarantine, records, files); `path` if empty
    root: str = ""  # the folder `name` is relative to, absolute ("": the name is a path)

    @property
    def source(self) -> str:
        return self.name or str(self.path)


@dataclass
class LoadSummary:
    files: int = 0
    events: int = 0
    approval_records: int = 0
    duplicates: int = 0
    # lines whose event_id was stored with other content: quarantined (and counted there)
    conflicting_duplicates: int = 0
    quarantined: int = 0
    # quarantined lines (half-written) whose completed line this load read: marked superseded
    superseded: int = 0
    quarantined_new: int = 0  # not quarantined by an earlier load already
    blank_lines: int = 0
    runs_updated: int = 0
    bytes: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["seconds"] = round(self.seconds, 3)
        data["events_per_second"] = round(self.events_per_second)
        return data

    def line(self) -> str:
        known = self.quarantined - self.quarantined_new
        return (
            f"{plural(self.files, 'file')}: {plural(self.events, 'event')} loaded, "
            f"{plural(self.approval_records, 'approval record')}, "
            f"{plural(self.duplicates, 'duplicate')} skipped, "
            f"{plural(self.quarantined, 'line')} quarantined"
            + (f" ({known:,} already known)" if known else "")
            + (
                f" ({plural(self.conflicting_duplicates, 'conflicting duplicate')}: an id "
                "loaded already, with other content)"
                if self.conflicting_duplicates
                else ""
            )
            + (
                f", {plural(self.superseded, 'quarantined line')} superseded by the completed line"
                if self.superseded
                else ""
            )
            + (f", {plural(self.blank_lines, 'blank line')}" if self.blank_lines else "")
            + f" in {self.seconds:.2f}s ({self.events_per_second:,.0f} events/s)"
        )


def plural(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def discover(paths: Iterable[Path | str], *, strict: bool = True) -> list[SourceFile]:
    """The files to load: named files as they are, folders searched recursively.

    Each is named (`SourceFile.name`, what the store calls the source) for a person going back
    to the logs from an event: a file found in a folder by its path relative to that folder
    (`invoice-posting/runs-2026-11-26.jsonl`, whether the folder was given as `logs/`, `.` or
    an absolute path, and whoever loads it: a batch load, the follower, a client sending it to
    the server); a file named directly by the path as given, the only name its owner chose for
    it (made relative to the working directory, an absolute path given would turn into a
    `../../` chain). The name is a label: what makes an event, a record or a quarantined line
    the same on a second read is the file's fingerprint, never its name. No name begins with
    `upload:`, which marks a file a client sent the server (`not_upload`).

    `strict` (a batch load): a missing path or nothing to load is an error. Otherwise (follow
    mode) paths come and go, and whatever is there now is returned.
    """
    paths = list(paths)
    found: list[SourceFile] = []
    missing: list[str] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            children = sorted(p for p in _walk(path) if _kind(p))
        elif path.exists():
            children = [path]
        else:
            missing.append(str(path))
            continue
        for child in children:
            try:
                stat = child.stat()
            except OSError:  # gone between listing and looking
                continue
            if not _is_regular(stat.st_mode):
                continue
            if child != path:
                name, root = child.relative_to(path).as_posix(), str(path.resolve())
            else:
                name, root = str(path), "" if path.is_absolute() else str(Path.cwd().resolve())
            found.append(
                SourceFile(
                    child, _kind(child) or "events", stat.st_size, name=not_upload(name), root=root
                )
            )
    if strict and missing:
        raise LoadError(f"no such file or folder: {', '.join(missing)}")
    if strict and not found:
        raise LoadError(
            "nothing to load: no .jsonl, .jsonl.gz, .ndjson or .csv files in "
            + ", ".join(str(p) for p in paths)
        )
    return found


def not_upload(name: str) -> str:
    """A file's name as read from disk, never mistakable for an upload's: a runner may name
    its log `upload:alice:x.jsonl` in a followed folder, and is then `./upload:alice:x.jsonl`
    (the same path, relative to the same root)."""
    return f"./{name}" if loading.source_kind(name) == "upload" else name


def _walk(folder: Path) -> Iterator[Path]:
    """Every entry below `folder`, not entering linked folders (as `rglob` does); a folder
    removed or made unreadable during the walk is passed over (`os.walk` ignores the error),
    where `rglob` raised: a follower scans folders that change under it."""
    for parent, folders, files in os.walk(folder):
        base = Path(parent)
        for name in (*folders, *files):
            yield base / name


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(EVENT_SUFFIXES):
        return "events"
    if name.endswith(RECORD_SUFFIXES):
        return "approvals_csv"
    return None


def load_paths(
    con: duckdb.DuckDBPyConnection,
    paths: Iterable[Path | str],
    *,
    progress: Progress | None = None,
    tool_map: ToolMap | None = None,
) -> LoadSummary:
    """Load files and folders into the store behind `con` (traces' tool steps touching what
    `tool_map` says)."""
    return load_sources(con, discover(paths), progress=progress, tool_map=tool_map)


def load_sources(
    con: duckdb.DuckDBPyConnection,
    sources: list[SourceFile],
    *,
    progress: Progress | None = None,
    tool_map: ToolMap | None = None,
) -> LoadSummary:
    """Load `sources` (found already) into the store behind `con`."""
    started = time.perf_counter()
    summary = LoadSummary(files=len(sources))
    total = sum(s.size for s in sources)
    derived.refresh_derived(con, tries=REFRESH_TRIES)  # catch up after a load cut short
    loading.record_roots(con, [(s.source, s.root) for s in sources], now=utc_now())
    gc_was_enabled = gc.isenabled()
    gc.disable()  # batches are object-heavy; reference counting frees them
    # DuckDB takes the GIL for moments while it scans the Arrow batches it is handed; with
    # the default 5 ms switch interval it waits on the validating thread for most of a load.
    switch = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    # DuckDB keeps what it wrote cached up to its memory limit (80% of RAM by default), so
    # a load's memory would grow with the input; a small limit keeps it flat (and measured
    # faster: less to manage).
    memory = one_row(con, "SELECT current_setting('memory_limit')")[0]
    con.execute(f"SET memory_limit = '{LOAD_MEMORY_LIMIT}'")
    try:
        _run(con, sources, summary, total, progress, tool_map)
    finally:
        sys.setswitchinterval(switch)
        if gc_was_enabled:
            gc.enable()
        try:  # under the load's limit too: a slice of runs at a time (`derived`)
            try:
                summary.runs_updated = derived.refresh_derived(con, tries=REFRESH_TRIES)
            except duckdb.OutOfMemoryException:
                # A safety net, never needed in the loads measured (10M events, 1M runs: a
                # slice's peak well under the limit): a store of a shape not measured (runs
                # of a million events, or an approval's states by the thousand) whose slice
                # needs more is refreshed from where it stopped with DuckDB's own limit.
                con.execute(f"SET memory_limit = '{memory}'")
                summary.runs_updated = derived.refresh_derived(con, tries=REFRESH_TRIES)
        except duckdb.Error as exc:
            summary.problems.append(f"could not update run summaries: {exc}")
        finally:
            con.execute(f"SET memory_limit = '{memory}'")
        summary.seconds = time.perf_counter() - started
    return summary


# --- the reader thread -------------------------------------------------------------------


@dataclass
class _FileDone:
    path: str
    fingerprint: str
    size: int
    byte_offset: int
    lines: int


@dataclass
class _Unit(Unit):
    """One unit of work for the writer, possibly from several files (small files are pooled
    so that every transaction is large)."""

    files_done: list[_FileDone] = field(default_factory=list)
    position: int = 0  # bytes of input consumed so far (compressed bytes for .gz)


_END = "end-of-input"


class _Damaged(Exception):
    def __init__(self, message: str, fragment: bytes) -> None:
        super().__init__(message)
        self.fragment = fragment


class _Producer:
    """Reads and validates every source, handing full units to the writer through `out`."""

    def __init__(
        self,
        sources: list[SourceFile],
        out: queue.Queue[Any],
        stop: threading.Event,
        tool_map: ToolMap | None = None,
    ) -> None:
        self.sources, self.out, self.stop = sources, out, stop
        self.tool_map = tool_map
        self.unit = _Unit()
        self.done_bytes = 0
        self.firsts: dict[str, Path] = {}  # each first line's fingerprint: its first file

    def run(self) -> None:
        try:
            for source in self.sources:
                if self.stop.is_set():
                    return
                if source.kind == "approvals_csv":
                    self._csv(source)
                else:
                    self._events(source)
                self.done_bytes += source.size
                self.unit.position = self.done_bytes
            self._hand_over()
            self._put(_END)
        except LoadError as exc:  # handed to the writer, which reports it
            self._put(exc)
        except BaseException as exc:
            self._put(LoadError(f"reading the input failed: {exc!r}"))

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.out.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _hand_over(self) -> None:
        unit, self.unit = self.unit, _Unit(position=self.unit.position)
        self._put(unit)

    def _events(self, source: SourceFile) -> None:
        path, name = source.path, source.source
        try:
            fp = fingerprint(path, complete_only=False) or hashlib.sha256(b"").hexdigest()
            handle = open_binary(path)
        except OSError as exc:
            raise LoadError(f"cannot read {name}: {exc.strerror or exc}") from exc
        except (EOFError, zlib.error) as exc:  # not gzip at all, or damaged from its start
            self._undecodable(source, exc)
            return
        first = self.firsts.setdefault(fp, path)
        if first != path and not same_stream(path, first):
            # Another file of this load begins with the same line but is not a copy of it:
            # its lines without an event_id must not be taken for that file's.
            fp = shared_start(fp, name)
        raw_file = getattr(handle, "fileobj", None) or handle
        lines_read = offset = 0
        try:
            for batch in read_batches(handle):
                unit = self.unit
                unit.add(batch, check_batch(batch, self.tool_map), name, fp)
                lines_read = batch.first_line_no + len(batch.lines) - 1
                offset = batch.base_offset + len(batch.data)
                unit.position = self.done_bytes + raw_file.tell()
                if unit.rows >= BATCH_ROWS:
                    self._hand_over()
                if self.stop.is_set():
                    return
            if getattr(handle, "truncated", False):
                fragment = handle.fragment  # type: ignore[attr-defined]
                raise _Damaged("it ends before its compressed stream does", fragment)
        except (_Damaged, EOFError, zlib.error) as exc:
            # A truncated or corrupt archive: keep every line read before the damage.
            fragment = exc.fragment if isinstance(exc, _Damaged) else b""
            self.unit.reject(
                name,
                fp,
                Rejection(
                    lines_read + 1,
                    offset,
                    "truncated_file",
                    f"the compressed file is damaged after line {lines_read:,} ({exc}); the lines "
                    "before were loaded",
                    fragment[:LONG_LINE_PREFIX],
                    len(fragment),
                ),
            )
        except OSError as exc:
            raise LoadError(f"cannot read {name}: {exc.strerror or exc}") from exc
        finally:
            handle.close()
        self.unit.files_done.append(_FileDone(name, fp, source.size, offset, lines_read))

    def _undecodable(self, source: SourceFile, exc: Exception) -> None:
        """A compressed file none of which can be read: quarantined whole (its first bytes
        kept), named, and the load goes on with the other files."""
        try:
            with source.path.open("rb") as handle:
                head = handle.read(LONG_LINE_PREFIX)
        except OSError as error:
            raise LoadError(f"cannot read {source.source}: {error.strerror or error}") from error
        fp = hashlib.sha256(head).hexdigest()  # of its raw bytes: it has no first line
        self.unit.reject(
            source.source,
            fp,
            Rejection(
                1,
                0,
                "truncated_file",
                f"{source.source} cannot be decompressed ({exc}); nothing in it was loaded",
                head,
                source.size,
            ),
        )
        self.unit.files_done.append(_FileDone(source.source, fp, source.size, 0, 0))

    def _csv(self, source: SourceFile) -> None:
        name = source.source
        fp, records, rejections, lines, size = _read_csv(source.path, name)
        self.unit.records.extend(records)
        self.unit.rejections.extend((name, fp, r) for r in rejections)
        self.unit.files_done.append(_FileDone(name, fp, source.size, size, lines))


def _not_a_header(header: list[str]) -> str | None:
    """Why the first row of an approval-records CSV is no header row, or None if it is one."""
    if any("\udc80" <= ch <= "\udcff" for cell in header for ch in cell):
        return "the header row is not UTF-8, so no row of this file can be read"
    if "approval_id" not in [cell.strip() for cell in header]:
        return (
            "the file's first row is not a header naming its columns (approval_id, run_id, "
            "status, …), so no row of this file can be read"
        )
    return None


def _read_csv(path: Path, name: str) -> tuple[str, list[dict[str, Any]], list[Rejection], int, int]:
    """An approval-system CSV export (stored as `name`): a header, then one record per row.

    Returns the fingerprint, the records, the rejected rows, the lines read and the size.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"cannot read {name}: {exc.strerror or exc}") from exc
    body = data[len(BOM) :] if data.startswith(BOM) else data
    first_line = body.split(b"\n", 1)[0]
    fp = line_fingerprint(first_line)
    raw_fp = hashlib.sha256(data.split(b"\n", 1)[0]).hexdigest()
    # what its bad rows were quarantined by, with their byte offsets, until now
    legacy = raw_fp if raw_fp != fp else None
    starts = [0] + [m.end() for m in re.finditer(b"\n", data)]
    starts.append(len(data))
    key_offsets = _key_offsets(data, starts)
    reader = csv.reader(io.StringIO(body.decode("utf-8", errors="surrogateescape"), newline=""))
    header = next(reader, [])
    records: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    first = reader.line_num + 1
    unheaded = _not_a_header(header)
    if unheaded is not None and header:  # the first row is data (or unreadable): keep it too
        raw = data[: starts[min(reader.line_num, len(starts) - 1)]].rstrip(b"\r\n")
        rejections.append(
            Rejection(1, 0, "malformed_csv", unheaded, raw, len(raw), legacy_fingerprint=legacy)
        )
    for cells in reader:
        last = reader.line_num
        raw = data[starts[first - 1] : starts[min(last, len(starts) - 1)]].rstrip(b"\r\n")
        offset = starts[first - 1]
        line_no, first = first, last + 1
        if not any(cell.strip() for cell in cells):
            continue
        problem: tuple[str, str] | None = None
        if unheaded is not None:
            problem = ("malformed_csv", unheaded)
        elif len(cells) != len(header):
            problem = ("malformed_csv", f"row has {len(cells)} cells, the header has {len(header)}")
        else:
            try:
                # CSV has no null: an empty cell means the field is absent.
                row = {name: cell for name, cell in zip(header, cells, strict=True) if cell != ""}
                payload = json.dumps(row, ensure_ascii=False).encode()
            except UnicodeEncodeError:
                problem = ("invalid_utf8", "row is not UTF-8")
            else:
                try:
                    record = ApprovalRecord.model_validate_json(payload)
                except ValidationError as exc:
                    problem = explain(payload, exc, what="approval record")
        if problem:
            rejections.append(
                Rejection(
                    line_no,
                    offset,
                    *problem,
                    raw,
                    len(raw),
                    None if key_offsets is None else key_offsets[line_no - 1],
                    legacy,
                )
            )
        else:
            records.append(record_row(record, line_no, name))
    return fp, records, rejections, reader.line_num, len(data)


def _key_offsets(data: bytes, starts: list[int]) -> list[int] | None:
    """Where each line (beginning at `starts`) would begin in a copy of the CSV `data` without
    a BOM and with LF line ends (as `reader.LineBatch.id_offsets`): what its rows are
    quarantined by, so that such a copy's are not quarantined again. None when that is
    where it begins (a CSV with neither)."""
    bom = data.startswith(BOM)
    if not bom and b"\r\n" not in data:
        return None
    crs = accumulate((data[at - 2 : at] == b"\r\n" for at in starts[1:]), initial=0)
    shift = len(BOM) if bom else 0
    return [0] + [at - shift - cr for at, cr in zip(starts[1:], list(crs)[1:], strict=True)]


# --- the writer (calling thread) ----------------------------------------------------------


def _run(
    con: duckdb.DuckDBPyConnection,
    sources: list[SourceFile],
    summary: LoadSummary,
    total: int,
    progress: Progress | None,
    tool_map: ToolMap | None,
) -> None:
    work: queue.Queue[Any] = queue.Queue(maxsize=2)
    stop = threading.Event()
    producer = _Producer(sources, work, stop, tool_map)
    reader = threading.Thread(target=producer.run, daemon=True, name="quarterdeck-reader")
    reader.start()
    held = _Unit()  # event lines (and the files they end) held back for the next batch
    try:
        while True:
            try:
                unit = work.get(timeout=0.5)
            except queue.Empty:
                if not reader.is_alive():
                    raise LoadError("the reader stopped unexpectedly") from None
                continue
            if unit == _END:
                if held.tables or held.files_done:
                    _write(con, held, summary)
                break
            if isinstance(unit, BaseException):
                raise unit
            held = _whole_row_groups(unit, held)
            _write(con, unit, summary)
            if progress:
                progress(min(unit.position, total), total)
    except duckdb.Error as exc:
        raise LoadError(f"the store refused a batch: {str(exc).splitlines()[0]}") from exc
    finally:
        stop.set()
        reader.join(timeout=5)
    summary.bytes = total


def _whole_row_groups(unit: _Unit, held: _Unit) -> _Unit:
    """Take the lines `held` back from the last batch into `unit`, and hold back the lines
    beyond its last whole row group, with the files they end: what is returned goes with
    the next batch, so a file is recorded as read in the transaction that stores its last
    line. (A load cut short is loaded again by a re-run, as it always was.)"""
    tables = held.tables + unit.tables
    files = held.files_done + unit.files_done
    rows = sum(table.num_rows for table in tables)
    keep = rows - rows % ROW_GROUP_ROWS
    if keep == rows:
        unit.tables, unit.rows, unit.files_done = tables, rows, files
        return _Unit()
    lines = pa.concat_tables(tables)
    unit.tables, unit.rows, unit.files_done = [lines.slice(0, keep)] if keep else [], keep, []
    return _Unit(tables=[lines.slice(keep)], rows=rows - keep, files_done=files)


def _write(con: duckdb.DuckDBPyConnection, unit: _Unit, summary: LoadSummary) -> None:
    now = utc_now()
    counts = unit.store(con, now=now)
    summary.events += counts.events
    summary.approval_records += counts.records
    summary.duplicates += counts.duplicates
    summary.conflicting_duplicates += counts.conflicts
    summary.superseded += counts.superseded
    summary.quarantined += counts.quarantined
    summary.quarantined_new += counts.quarantined_new
    summary.blank_lines += unit.blank
    for done in unit.files_done:
        loading.record_file(
            con,
            path=done.path,
            fingerprint=done.fingerprint,
            size=done.size,
            byte_offset=done.byte_offset,
            lines=done.lines,
            now=now,
        )
