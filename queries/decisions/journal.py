"""The decisions journal: an append-only JSON-lines file, hash-chained, the source of truth.

Each record carries `seq` (1, 2, …), `prev_hash` (the previous record's `hash`; 64 zeros for
the first) and `hash`:

    hash = sha256( canonical(record without "hash") )

where canonical JSON has sorted keys, compact separators and UTF-8 text, and the record
hashed includes `prev_hash` — so each hash covers the record's content plus the chain before
it. Changing, removing or reordering any record breaks every hash from it on.

A record is appended with flush + fsync before anyone is told it was recorded.

The journal and the control outbox are opened only as files of the recorder's own: never
through a symbolic link (`O_NOFOLLOW`), and only a regular file owned by this process's user
with no other hard link (`private_problem`), checked on the descriptor each write uses. Whoever
can write the outbox's folder (the runners may) could otherwise point it at the journal or the
store.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

GENESIS = "0" * 64


class JournalError(Exception):
    """The journal cannot be read or written; the message is one line for a person."""


def canonical(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def digest(record: dict[str, Any]) -> str:
    """The hash of a record: over its canonical JSON without `hash` (with `prev_hash`)."""
    body = {k: v for k, v in record.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode()).hexdigest()


def seal(record: dict[str, Any], *, seq: int, prev_hash: str) -> dict[str, Any]:
    """`record` with its place in the chain and its hash."""
    sealed = {**record, "seq": seq, "prev_hash": prev_hash}
    sealed["hash"] = digest(sealed)
    return sealed


@dataclass(frozen=True)
class Line:
    number: int  # line number in the file
    record: dict[str, Any] | None  # None when the line is not a JSON object
    text: str


def read(path: Path) -> Iterator[Line]:
    """Every line of the journal (none if it does not exist yet)."""
    try:
        handle = path.open("r", encoding="utf-8")
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalError(f"cannot read the decisions journal {path}: {exc.strerror}") from exc
    with handle:
        for number, text in enumerate(handle, 1):
            text = text.rstrip("\n")
            try:
                record = json.loads(text)
            except ValueError:
                record = None
            yield Line(number, record if isinstance(record, dict) else None, text)


def tail(path: Path) -> tuple[int, str]:
    """(seq, hash) of the last record, or (0, GENESIS) for an empty journal."""
    seq, last = 0, GENESIS
    for line in read(path):
        if line.record is None:
            raise JournalError(
                f"{path} line {line.number} is not a journal record; run "
                "`quarterdeck verify` before recording more decisions"
            )
        seq, last = int(line.record.get("seq", 0)), str(line.record.get("hash", ""))
    return seq, last


def private_problem(info: os.stat_result) -> str | None:
    """What makes a file (its `lstat` or `fstat`) unfit to hold decisions, or None: it must
    be a regular file of this process's user, with no other name (hard link)."""
    if stat.S_ISLNK(info.st_mode):
        return "is a symbolic link"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_uid != os.geteuid():
        return f"belongs to another user (uid {info.st_uid})"
    if info.st_nlink > 1:
        return "has another name (a hard link)"
    return None


def check_private(path: Path, what: str) -> None:
    """Raise `JournalError` if the file at `path`, when there, is not fit to hold decisions."""
    try:
        problem = private_problem(path.lstat())
    except FileNotFoundError:
        return
    if problem is not None:
        raise JournalError(f"{what}, {path}, {problem}; move it away (nothing was written to it)")


def open_private(path: Path, what: str) -> IO[str]:
    """`path` opened for appending as a file of this process's own (created if missing,
    under the umask): never through a symbolic link, never another user's file."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags, 0o666)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise JournalError(
                f"{what}, {path}, is a symbolic link; move it away (nothing was written to it)"
            ) from exc
        raise
    problem = private_problem(os.fstat(fd))
    if problem is not None:
        os.close(fd)
        raise JournalError(f"{what}, {path}, {problem}; move it away (nothing was written to it)")
    return os.fdopen(fd, "a", encoding="utf-8")


def append(path: Path, record: dict[str, Any]) -> None:
    """Append one sealed record durably (flush + fsync of the file and, when new, its
    folder), so it survives a crash the moment this returns."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists()
        with open_private(path, "the decisions journal") as handle:
            handle.write(canonical(record) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        if new:
            fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
    except OSError as exc:
        raise JournalError(f"cannot write the decisions journal {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class Break:
    """Where the chain first goes wrong."""

    line: int
    seq: int | None
    problem: str


def check_chain(path: Path) -> tuple[list[dict[str, Any]], Break | None]:
    """The journal's records, and the first break in the chain (None if it is whole)."""
    records: list[dict[str, Any]] = []
    prev = GENESIS
    for line in read(path):
        record = line.record
        if record is None:
            return records, Break(line.number, None, "the line is not a JSON object")
        seq = record.get("seq")
        expected = len(records) + 1
        if seq != expected:
            return records, Break(
                line.number,
                seq if isinstance(seq, int) else None,
                f"seq is {seq!r} where {expected} was due (a record was "
                "removed, reordered or inserted)",
            )
        if record.get("prev_hash") != prev:
            return records, Break(
                line.number,
                seq,
                "prev_hash does not match the hash of "
                "the record before (a record was removed or reordered)",
            )
        if record.get("hash") != digest(record):
            return records, Break(
                line.number,
                seq,
                "the hash does not match the record's content (the record was altered)",
            )
        records.append(record)
        prev = record["hash"]
    return records, None
