"""Taking in the files a client sends to be ingested (`POST /v1/ingest`), onto private spool.

The server never opens a path because a client named it: it may run as another user and could
read what the client cannot. The client reads its own files and sends their bytes; the server
writes them to a spool folder of its own and loads them from there, under the names the client
gives them (`SourceFile.name`: a file's path relative to the folder the client named, as
`load.discover` names it), so the store records what an embedded load would.

The body (`client.INGEST_BODY`), one file after another:

    {"name": "a.jsonl.gz", "kind": "events", "root": "/home/x/logs"}\\n
                                                      a header line: the name, what it is,
                                                      and the folder the name is relative to
                                                      as the client sees it (optional)
    <n>\\n<n bytes>                                    pieces of its bytes, n ≤ client.PIECE
    0\\n                                               the file's end
    ...
    {"end": <number of files>}\\n                      the upload is complete

Rules:
- Bounded memory: at most one piece (`client.PIECE`) is held at a time; the rest is on disk.
- Private: the spool folder is created by `tempfile.mkdtemp` (mode 0700) beside the store,
  where the server's own files live, and its files under the server's umask (077). It is
  removed when the request ends, however it ends; one left by a server that was killed is
  removed when the next server starts (`remove_stale`).
- All or nothing before loading: nothing is loaded until the body is complete (its `end`
  line names as many files as were sent). A client that goes away mid-upload, or a body that
  breaks these rules, leaves the store untouched (`Incomplete`, `BadUpload`).
- Bounded disk: an upload larger than the server's limit (`[serve] ingest_limit_mib`), or
  one that would leave less than `RESERVE` bytes free where the spool is, is refused
  (`TooLarge`) and its spool removed; nothing is loaded.
- Marked as an upload: each file is loaded under `upload_name` — `upload:<who>:<name>` — so
  the store, the quarantine and an evidence bundle can never present a file a client sent
  (under whatever name and root it claims) as a log the server follows or a folder it read;
  and no file read from disk is named so (`load.not_upload`: a followed log a runner named
  `upload:…` is `./upload:…`), so neither can pass for the other.
- `.gz` is kept as the client's file ends (`.gz` or not), since the loader reads a gzipped
  file by that suffix, as the embedded load reads the client's file.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from collections.abc import Awaitable
from pathlib import Path
from typing import Any

from aiohttp import StreamReader
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

from quarterdeck.client import PIECE
from quarterdeck.ingest.load import SourceFile
from quarterdeck.queries.loading import UPLOAD_PREFIX

KINDS = ("events", "approvals_csv")
#: The longest header line taken: a name, a kind, a root and JSON's punctuation.
MAX_HEADER = 64 * 1024
SPOOL_PREFIX = ".ingest-"
#: The free space an upload must leave on the spool's file system.
RESERVE = 256 * 1024 * 1024


class BadUpload(Exception):
    """The body does not follow the ingest format; nothing was loaded."""


class TooLarge(BadUpload):
    """The upload is over the server's limit, or would fill its disk; nothing was loaded."""


class Incomplete(Exception):
    """The client stopped sending before the upload was complete; nothing was loaded."""


def upload_name(who: str, name: str) -> str:
    """What the store calls a file `who` sent under `name`: never a followed log's name."""
    return f"{UPLOAD_PREFIX}{who}:{name}"


def spool_folder(store: Path) -> Path:
    """A new private folder beside `store` for one upload."""
    return Path(tempfile.mkdtemp(prefix=store.name + SPOOL_PREFIX, dir=store.parent))


def remove_stale(store: Path) -> list[Path]:
    """Spool folders left by a server that was killed (the caller holds the store's lock, so
    no other server is writing them)."""
    stale = sorted(store.parent.glob(store.name + SPOOL_PREFIX + "*"))
    for folder in stale:
        shutil.rmtree(folder, ignore_errors=True)
    return stale


async def receive(content: StreamReader, folder: Path, *, who: str, limit: int) -> list[SourceFile]:
    """Write the files of an ingest body `who` sends into `folder`, at most `limit` bytes in
    all; the sources to load, in order, named as uploads (`upload_name`)."""
    sources: list[SourceFile] = []
    loop = asyncio.get_running_loop()
    total = 0
    while True:
        header = await _header(content)
        if "end" in header:
            if header["end"] != len(sources):
                raise BadUpload(f"the body ends after {len(sources)} files, not {header['end']}")
            if await _guarded(content.read(1)):
                raise BadUpload("bytes after the end of the upload")
            return sources
        name, kind = header.get("name"), header.get("kind")
        if not isinstance(name, str) or not name or kind not in KINDS:
            raise BadUpload(f"a file's header needs a name and a kind ({', '.join(KINDS)})")
        root = header.get("root") or ""
        if not isinstance(root, str):
            raise BadUpload("a file's root is the folder its name is relative to, as text")
        suffix = ".gz" if Path(name).suffix == ".gz" else ".data"
        path = folder / f"{len(sources):06d}{suffix}"
        size = 0
        with path.open("wb") as out:
            while n := await _length(content):
                total += n
                _check_room(folder, total, limit)
                data = await _exactly(content, n)
                await loop.run_in_executor(None, out.write, data)
                size += n
        sources.append(SourceFile(path, str(kind), size, name=upload_name(who, name), root=root))


def _check_room(folder: Path, total: int, limit: int) -> None:
    if total > limit:
        raise TooLarge(
            f"the upload is over the server's limit of {limit // 2**20:,} MiB ([serve] "
            "ingest_limit_mib); ingest fewer files at a time"
        )
    if shutil.disk_usage(folder).free < RESERVE:
        raise TooLarge(
            f"the server's disk is nearly full (under {RESERVE // 2**20} MiB free where it "
            "spools uploads); nothing was loaded"
        )


async def _header(content: StreamReader) -> dict[str, Any]:
    line = await _line(content)
    try:
        header = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        header = None
    if not isinstance(header, dict):
        raise BadUpload("a file's header is not a JSON object")
    return header


async def _length(content: StreamReader) -> int:
    line = await _line(content)
    if not line.isdigit() or int(line) > PIECE:
        raise BadUpload(f"a piece's length must be a number up to {PIECE}")
    return int(line)


async def _line(content: StreamReader) -> bytes:
    try:
        line = await _guarded(content.readuntil(b"\n", max_size=MAX_HEADER))
    except LineTooLong as exc:
        raise BadUpload("a header line is too long") from exc
    if not line.endswith(b"\n"):  # the body ended mid-line, or before its `end`
        raise Incomplete("the client stopped sending mid-upload")
    return line[:-1]


async def _exactly(content: StreamReader, n: int) -> bytes:
    return await _guarded(content.readexactly(n))


async def _guarded(reading: Awaitable[bytes]) -> bytes:
    """What `reading` gives; a connection lost or a body cut short is `Incomplete`."""
    try:
        return await reading
    except LineTooLong:
        raise
    except (asyncio.IncompleteReadError, ConnectionError, HttpProcessingError) as exc:
        raise Incomplete(f"the client stopped sending mid-upload ({exc})") from exc
