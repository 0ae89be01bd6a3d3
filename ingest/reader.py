"""Reading a log file as batches of complete lines, with their line numbers and byte offsets.

Files are read in large chunks and split in C (`bytes.split`), so the cost per line is small
and memory stays flat however large the file is. Rules (DESIGN §3):

- a UTF-8 byte-order mark at the start is skipped (offsets still count it);
- lines end at `\\n`; a trailing `\\r` stays on the line (JSON treats it as white space);
- each line also has its *normalised* offset (`LineBatch.id_offsets`): where it would start
  in a copy of the file without the byte-order mark and with LF line endings. A line without
  an `event_id` gets its id from that and the fingerprint (also of the normalised first
  line), so a copy that only gained or lost a BOM or CRs (an editor, `unix2dos`, a Windows
  share) is the same events, not new ones. For a file with neither, it is the byte offset;
  a chunk is searched for CRs in C, and they are counted line by line only in a chunk that
  has some;
- a last line without a newline is read when the file is read to its end;
- a line longer than `max_line` bytes is not held in memory: its first bytes are kept as
  evidence, the rest is skipped, and reading goes on at the next line. A line of OTLP traces
  (a `TracesData` object: the Collector's file exporter writes one export batch a line, with
  prompts and completions in its attributes) may be up to `max_traces_line` bytes.

Offsets are positions in the decompressed stream for `.gz` files.
"""

from __future__ import annotations

import hashlib
import io
import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate, repeat
from operator import add
from pathlib import Path
from typing import BinaryIO

BOM = b"\xef\xbb\xbf"
MAX_LINE = 1024 * 1024
#: The limit for a line of OTLP traces, which begins `{"resourceSpans"`.
MAX_TRACES_LINE = 64 * 1024 * 1024
_TRACES = re.compile(rb'[ \t\r]*\{[ \t\r]*"resourceSpans"')
#: How much of an over-long line is kept in quarantine.
LONG_LINE_PREFIX = 64 * 1024
CHUNK = 16 * 1024 * 1024


@dataclass
class LongLine:
    """A line over the limit: where it started, how long it was, and its first bytes."""

    line_no: int
    byte_offset: int
    size: int
    prefix: bytes
    limit: int = MAX_LINE


@dataclass
class LineBatch:
    """Complete lines read from one chunk of a file.

    `data` holds the lines back to back with their newlines, starting at file offset
    `base_offset`; `lines[i]` is line `first_line_no + i` without its newline and starts at
    `starts[i]` within `data`. Lines over the limit are in `long_lines` instead, and appear in
    `lines` as empty placeholders so that numbering stays simple.
    """

    data: bytes
    base_offset: int
    first_line_no: int
    lines: list[bytes]
    starts: list[int]
    long_lines: list[LongLine] = field(default_factory=list)
    #: The bytes before the first line that a copy without a BOM and with LF endings would
    #: not have: the BOM's and one for each CRLF line end.
    shift: int = 0
    #: For a batch with CRLF line ends: how many there are before each line, and in all
    #: (one more item than `lines`); None when it has none (the usual LF file).
    crs: list[int] | None = None

    @property
    def end_shift(self) -> int:
        """`shift` just past the batch's last line."""
        return self.shift + (self.crs[-1] if self.crs else 0)

    def id_offsets(self) -> list[int] | None:
        """Each line's normalised offset (see the module's docstring), or None when that is
        its byte offset, as it is for every line of a file without a BOM or CRs."""
        if not self.shift and self.crs is None:
            return None
        base = self.base_offset - self.shift
        crs = self.crs or repeat(0)
        return [base + start - cr for start, cr in zip(self.starts, crs, strict=False)]

    def id_offset(self, index: int) -> int:
        """The normalised offset of `lines[index]`."""
        cr = self.crs[index] if self.crs else 0
        return self.base_offset + self.starts[index] - self.shift - cr

    @property
    def end_offset(self) -> int:
        """The file offset just past the batch's last line (and its newline)."""
        if not self.data and self.long_lines:  # a batch of one over-long line, skipped
            last = self.long_lines[-1]
            return last.byte_offset + last.size + 1
        return self.base_offset + len(self.data)


def open_binary(path: Path) -> BinaryIO:
    if path.suffix == ".gz":
        return GzipStream(path)  # type: ignore[return-value]
    return path.open("rb")


class GzipStream(io.RawIOBase):
    """Reads a .gz file, multi-member ones included, and keeps everything that could be
    decompressed when the file is truncated (`gzip` would drop the last block): reading
    ends at the last complete line, `truncated` says so and `fragment` holds the rest."""

    PIECE = 256 * 1024

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.fileobj = path.open("rb")
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._pending: list[bytes] = []
        self._size = 0
        self._done = False
        self.truncated = False
        self.fragment = b""  # the incomplete last line of a truncated file

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        want = size if size >= 0 else 1 << 62
        while self._size < want and not self._done:
            data = self.fileobj.read(self.PIECE)
            if not data:
                self._done = True
                self.truncated = not self._inflate.eof
                if self.truncated:  # hold back the broken last line
                    whole = b"".join(self._pending)
                    cut = whole.rfind(b"\n") + 1
                    self._pending, self.fragment = [whole[:cut]], whole[cut:]
                    self._size = cut
                break
            out = self._inflate.decompress(data)
            while self._inflate.eof and self._inflate.unused_data:  # the next member
                rest = self._inflate.unused_data
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
                out += self._inflate.decompress(rest)
            if out:
                self._pending.append(out)
                self._size += len(out)
        data = b"".join(self._pending)
        chunk, rest = data[:want], data[want:]
        self._pending = [rest] if rest else []
        self._size = len(rest)
        return chunk

    def close(self) -> None:
        self.fileobj.close()
        super().close()


def fingerprint(path: Path, *, complete_only: bool = True, max_line: int = MAX_LINE) -> str | None:
    """sha256 of the file's first complete line (its first `max_line` bytes if longer).

    A file is identified by this, not by its name or inode, so a renamed or compressed copy
    of a log is recognised and a replaced file is not mistaken for the old one. A file that
    holds only an unterminated line has no fingerprint yet, unless `complete_only` is False
    (a batch load reads it whole), when that line is used.
    """
    with open_binary(path) as handle:
        head = handle.read(max_line + len(BOM))
        at_eof = not handle.read(1)
    if head.startswith(BOM):
        head = head[len(BOM) :]
    end = head.find(b"\n")
    if end < 0:
        if not (complete_only is False and at_eof and head):
            return None  # no complete line yet
        end = len(head)
    return line_fingerprint(head[:end])


def line_fingerprint(line: bytes) -> str:
    """The fingerprint of a file whose first line (after its BOM, if it has one) is `line`:
    the CR of a CRLF line end aside, so that a copy with other line ends is the same file."""
    return hashlib.sha256(line.rstrip(b"\r")).hexdigest()


def shared_start(fp: str, name: str) -> str:
    """The identity of a file whose first line another file of the same load or follow
    shares, but not the rest (`same_stream`): its fingerprint and its name together."""
    return hashlib.sha256(f"{fp}\0{name}".encode()).hexdigest()


def same_stream(a: Path, b: Path, piece: int = 1024 * 1024) -> bool:
    """Whether one file's lines begin the other's: a copy of a log, or a copy taken as it
    grew (decompressed, for .gz), as against another log that only starts the same way.
    Compared as the lines are known (a BOM and the CR of a CRLF line end aside: a copy that
    gained or lost them is the same lines), up to the shorter one's end; an unreadable file
    is not the same stream."""
    try:
        with open_binary(a) as left, open_binary(b) as right:
            lefts, rights = _normalised(left, piece), _normalised(right, piece)
            x = y = b""
            while True:
                x = x or next(lefts, b"")
                y = y or next(rights, b"")
                if not x or not y:
                    return True
                n = min(len(x), len(y))
                if x[:n] != y[:n]:
                    return False
                x, y = x[n:], y[n:]
    except (OSError, EOFError, zlib.error):
        return False


def _normalised(handle: BinaryIO, piece: int) -> Iterator[bytes]:
    """The bytes of `handle` without a BOM at the start and with CRLF line ends as LF."""
    first, held = True, b""
    while block := handle.read(piece):
        if first:
            first = False
            block = block.removeprefix(BOM)
        if held:
            block, held = held + block, b""
        if block.endswith(b"\r"):  # the CR of a CRLF split between two pieces
            block, held = block[:-1], b"\r"
        if block:
            yield block.replace(b"\r\n", b"\n") if b"\r" in block else block
    if held:
        yield held


def read_batches(
    handle: BinaryIO,
    *,
    start_offset: int = 0,
    start_shift: int = 0,
    first_line_no: int = 1,
    at_eof_read_partial: bool = True,
    chunk: int = CHUNK,
    max_line: int = MAX_LINE,
    max_traces_line: int = MAX_TRACES_LINE,
) -> Iterator[LineBatch]:
    """Yield batches of complete lines from `handle`, positioned at `start_offset`, where
    the normalised offset is `start_shift` less (`LineBatch.end_shift` of the batch that
    ended there).

    With `at_eof_read_partial` (batch ingest), a last line without a newline is yielded too;
    without it (follow mode) it is left unread, and the offset never moves past it.
    """
    offset = start_offset
    shift = start_shift
    line_no = first_line_no
    carry = b""
    skipping: LongLine | None = None  # inside an over-long line, looking for its end
    last = b""  # the last byte of the block before (a long line's end may be its CR)
    first = start_offset == 0
    while True:
        block = handle.read(chunk)
        at_eof = not block
        if first and block:
            first = False
            if block.startswith(BOM):
                block = block[len(BOM) :]
                offset += len(BOM)
                shift += len(BOM)
        if skipping is not None:
            end = block.find(b"\n")
            if end < 0 and not at_eof:
                skipping.size += len(block)
                last = block[-1:]
                continue
            if end < 0:  # EOF inside the long line
                if not at_eof_read_partial:
                    return
                yield LineBatch(
                    b"", offset + skipping.size, line_no, [], [], [skipping], shift=shift
                )
                return
            skipping.size += end
            done = skipping
            skipping = None
            cr = (block[end - 1 : end] if end else last) == b"\r"
            yield LineBatch(
                b"", done.byte_offset, line_no, [b""], [0], [done], shift, [0, 1] if cr else None
            )
            shift += cr
            offset = done.byte_offset + done.size + 1
            line_no += 1
            block = block[end + 1 :]
            if not block:
                continue
        data = carry + block if carry else block
        carry = b""
        if at_eof:
            if data and at_eof_read_partial:
                yield _split(
                    data, offset, line_no, max_line, max_traces_line, final=True, shift=shift
                )
            return
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            limit = _limit(data, max_line, max_traces_line)
            if len(data) > limit:
                skipping = LongLine(line_no, offset, len(data), data[:LONG_LINE_PREFIX], limit)
                last = data[-1:]
            else:
                carry = data
            continue
        carry = data[cut:]
        batch = _split(
            data[:cut], offset, line_no, max_line, max_traces_line, final=False, shift=shift
        )
        offset += cut
        shift = batch.end_shift
        line_no += len(batch.lines)
        yield batch
        limit = _limit(carry, max_line, max_traces_line)
        if len(carry) > limit:
            skipping = LongLine(line_no, offset, len(carry), carry[:LONG_LINE_PREFIX], limit)
            last = carry[-1:]
            carry = b""


def _limit(line: bytes, max_line: int, max_traces_line: int) -> int:
    """How long the line `line` begins may be: longer for OTLP traces."""
    return max(max_line, max_traces_line) if _TRACES.match(line) else max_line


def _split(
    data: bytes,
    base: int,
    line_no: int,
    max_line: int,
    max_traces_line: int,
    *,
    final: bool,
    shift: int = 0,
) -> LineBatch:
    lines = data.split(b"\n")
    if not final or lines[-1] == b"":
        lines.pop()  # the empty tail after the last newline
    starts = list(accumulate(map(add, map(len, lines), repeat(1)), initial=0))
    starts.pop()
    crs = None
    # CRLF line ends, counted before an over-long line is emptied; a search for one byte is
    # memchr (measured, 72 MB: 4 ms, against 60 ms for b"\r\n")
    if b"\r" in data:
        crs = list(accumulate((line.endswith(b"\r") for line in lines), initial=0))
        if not crs[-1]:  # CRs, but none ending a line
            crs = None
    batch = LineBatch(data, base, line_no, lines, starts, shift=shift, crs=crs)
    if not lines or max(map(len, lines)) <= max_line:
        return batch
    for index, line in enumerate(lines):
        limit = _limit(line, max_line, max_traces_line) if len(line) > max_line else max_line
        if len(line) > limit:
            batch.long_lines.append(
                LongLine(
                    line_no + index,
                    base + starts[index],
                    len(line),
                    line[:LONG_LINE_PREFIX],
                    limit,
                )
            )
            lines[index] = b""
    return batch
