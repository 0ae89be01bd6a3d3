"""Talking to `quarterdeck serve`: find the server of a store, ask it a named query, send it a
decision, ask how it is.

The server listens on `<store>.sock`, beside the store. No socket file means no server: the
caller opens the store in-process (embedded mode). A socket file nothing answers on is a server
that died without cleaning up; that is `ServerUnavailable` (exit 3) with a plain message, never
a guess — opening the store behind a server that may be restarting could race it.

HTTP over the Unix socket with the standard library's `http.client`: one short connection per
request, so a client holds nothing between commands. Before a byte is sent the client checks
who answers (`trusted`): the kernel's word on the process at the other end (`SO_PEERCRED`)
must be the user who owns the store, in a folder only that user can write — a socket put
there by anyone else (a fake server waiting for a decision's reason) is refused, exit 3.
Who the client is, the server reads from the socket itself (the kernel's peer credentials);
nothing sent here can claim another name.
Answers: a named query's table as Arrow IPC stream bytes, everything else JSON. Live updates
are a long-poll (`changes`): one request held open until the server's change counter moves.
A refusal (HTTP 403) is raised as `decisions.Refused`, so it exits 3 and reads as an embedded
one does.

`ingest` sends the bytes of files the client has read itself (the server never opens a path a
client names): one request, the files framed one after another (server/intake.py has the
format), streamed in pieces of `PIECE` bytes with chunked transfer encoding, so neither side
holds a file whole. The answer, once the server has loaded them, is the load's summary.
"""

from __future__ import annotations

import grp
import http.client
import json
import os
import pwd
import socket
import stat
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa

from quarterdeck.queries.decisions import Refused
from quarterdeck.queries.store import StoreError

SOCKET_SUFFIX = ".sock"
ARROW_STREAM = "application/vnd.apache.arrow.stream"
#: How long a client waits for the server to take its connection: a server that is there
#: takes it at once (the kernel queues it), so a longer wait is a server that is stuck.
CONNECT_TIMEOUT = 5.0
#: How long a command waits for an answer: a decision fsyncs twice, a query reads at most a
#: page (well under a second at a million events); one that waits longer is stuck (stopped,
#: say), and the server's watchdog logs what ran that long.
TIMEOUT = 30.0
#: How long a long-poll for changes is held open by the server when nothing changes.
CHANGES_WAIT = 25.0
#: An ingest waits for the server to load what it sent: as long as a load takes.
INGEST_TIMEOUT = 24 * 3600.0
INGEST_BODY = "application/vnd.quarterdeck.ingest"
#: Bytes of a file sent at a time, and the most the server takes in one piece.
PIECE = 1024 * 1024


class ServerUnavailable(StoreError):
    """A socket is there and no server answers on it."""

    exit_code = 3


class ServerUntrusted(StoreError):
    """What answers on the socket is not the store's server; nothing was sent to it."""

    exit_code = 3


class ServerError(StoreError):
    """The server answered with an error that is not a refusal."""


class Unreadable(StoreError):
    """A file the client was to send could not be read; the server loaded nothing."""


def socket_path(store: Path | str) -> Path:
    """Where the server of `store` listens: beside it, `<store>.sock` (beside the file a
    symlink names, so that a store reached through a link finds its server; a path is
    otherwise kept as given, relative ones too: a socket's path has a length limit)."""
    store = Path(store)
    try:
        if store.is_symlink():
            store = store.resolve()
    except PermissionError as exc:
        raise _no_access(store) from exc
    return store.with_name(store.name + SOCKET_SUFFIX)


def find(store: Path | str) -> Client | None:
    """The client of the server that serves `store`, or None when no socket is there."""
    path = socket_path(store)
    try:
        if not path.exists():
            return None
    except PermissionError as exc:
        raise _no_access(Path(store)) from exc
    return Client(path)


_CRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peer_credentials(sock: Any) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a connected Unix socket, as the
    kernel says (a `socket.socket` or asyncio's wrapper of one)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CRED.size)
    pid, uid, gid = _CRED.unpack(raw)
    return pid, uid, gid


def user_name(uid: int) -> str:
    """The login name of `uid`; `uid-N` for a uid with no name (a container's, say)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid-{uid}"


def trusted(sock: Any, socket_file: Path) -> None:
    """Raise `ServerUntrusted` unless the process on `sock` runs as the owner of the store
    beside `socket_file`, and that store's folder is writable by its owner only (as the
    server requires: else anyone could have put a store and a socket there)."""
    _, uid, _ = peer_credentials(sock)
    store = socket_file.with_name(socket_file.name.removesuffix(SOCKET_SUFFIX))
    try:
        owner = store.stat().st_uid
        folder = store.parent.stat()
    except OSError as exc:
        raise ServerUntrusted(
            f"cannot tell who should serve {store} ({exc.strerror or exc}); nothing was sent "
            f"to the process on {socket_file}"
        ) from None
    if uid != owner:
        raise ServerUntrusted(
            f"the process answering on {socket_file} runs as {user_name(uid)}, but {store} "
            f"belongs to {user_name(owner)}: it is not the store's server, and nothing was sent "
            "to it (tell whoever looks after the store)"
        )
    if folder.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or folder.st_uid not in (owner, 0):
        raise ServerUntrusted(
            f"{store.parent} can be written by others than {user_name(owner)}, so the socket in "
            "it may not be the store's server; nothing was sent to it (a server refuses "
            "such a folder: tell whoever looks after the store)"
        )


class NoAccess(StoreError):
    """A folder on the way to the store cannot be entered by this user."""

    exit_code = 3


def _no_access(store: Path) -> NoAccess:
    """Which folder on the way to `store` this user may not enter, said plainly."""
    closed = next(
        (f for f in reversed(store.absolute().parents) if not os.access(f, os.X_OK)),
        store.parent,
    )
    return NoAccess(
        f"cannot reach the store {store}: you may not enter {closed} (permission denied). "
        f"Whoever runs its server can give you access, usually by adding you to the folder's "
        f"group (`ls -ld {closed}`)"
    )


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.path = path
        self.waits = timeout  # for an answer; for the connection, at most `CONNECT_TIMEOUT`
        self.server_pid: int | None = None  # the kernel's word on who listens (SO_PEERCRED)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(min(self.waits, CONNECT_TIMEOUT))
        deadline = time.monotonic() + min(self.waits, CONNECT_TIMEOUT)
        try:
            while True:
                try:
                    sock.connect(str(self.path))
                    break
                except BlockingIOError:  # its queue of connections is full: a busy server
                    if time.monotonic() >= deadline:
                        raise TimeoutError("its queue of connections stayed full") from None
                    time.sleep(0.01)
            self.server_pid = peer_credentials(sock)[0]
            trusted(sock, self.path)
        except BaseException:
            sock.close()
            raise
        sock.settimeout(self.waits)
        self.sock = sock


class Client:
    def __init__(self, path: Path, *, timeout: float = TIMEOUT) -> None:
        self.path = path
        self.timeout = timeout

    @property
    def store(self) -> Path:
        """The store this server serves (its socket is beside it)."""
        return self.path.with_name(self.path.name.removesuffix(SOCKET_SUFFIX))

    def _request(
        self,
        method: str,
        url: str,
        body: dict[str, Any] | None = None,
        *,
        stream: tuple[str, Iterator[bytes]] | None = None,
        timeout: float | None = None,
    ) -> tuple[int, str, bytes]:
        """One request; `stream` (content type, pieces) is sent chunked instead of `body`."""
        waited = timeout if timeout is not None else self.timeout
        conn = _UnixConnection(self.path, waited)
        try:
            if stream is not None:
                headers = {"Content-Type": stream[0]}
                conn.request(method, url, body=stream[1], headers=headers, encode_chunked=True)
            else:
                data = json.dumps(body).encode() if body is not None else None
                headers = {"Content-Type": "application/json"} if data is not None else {}
                conn.request(method, url, body=data, headers=headers)
            response = conn.getresponse()
            return response.status, response.getheader("Content-Type") or "", response.read()
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise ServerUnavailable(
                f"no server answers on {self.path}: `quarterdeck serve` was stopped without "
                "cleaning up. Start it again (it replaces the socket), or remove the socket "
                "to use the store without a server."
            ) from exc
        except PermissionError as exc:
            raise ServerUnavailable(_not_allowed(self.path)) from exc
        except TimeoutError as exc:
            who = f"the server on {self.path}" + (
                f" (pid {conn.server_pid})" if conn.server_pid else ""
            )
            if conn.sock is None:
                raise ServerUnavailable(
                    f"{who} did not take the connection within {CONNECT_TIMEOUT:g} s: it is "
                    "stuck or has too much to do"
                ) from exc
            raise ServerUnavailable(
                f"{who} did not answer within {waited:g} s: it is stuck (stopped? "
                f"`kill -CONT {conn.server_pid}`) or overloaded; `quarterdeck status` and its "
                "log say more"
            ) from exc
        except OSError as exc:
            who = f"the server on {self.path}" + (
                f" (pid {conn.server_pid})" if conn.server_pid else ""
            )
            raise ServerUnavailable(f"{who} did not answer: {exc}") from exc
        finally:
            conn.close()

    def _json(self, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
        status, _, data = self._request(method, url, body)
        answer = json.loads(data) if data else {}
        _raise_for(status, answer)
        return answer

    def query(self, name: str, params: dict[str, Any]) -> pa.Table:
        """Named query `name` with `params` (JSON-ready) → its table."""
        status, kind, data = self._request("POST", f"/v1/query/{name}", params)
        if status != 200 or not kind.startswith(ARROW_STREAM):
            _raise_for(status, json.loads(data) if data else {})
            raise ServerError(f"the server answered query {name} with {kind or 'nothing'}")
        return pa.ipc.open_stream(pa.BufferReader(data)).read_all()

    def decide(self, request: dict[str, Any]) -> dict[str, Any]:
        """A decision request (server.recorder.DecisionRequest's fields) → what was recorded:
        `record` (the journal record), `summary`, `operator`, `journal`, `outbox`."""
        answer: dict[str, Any] = self._json("POST", "/v1/decisions", request)
        return answer

    def status(self) -> dict[str, Any]:
        answer: dict[str, Any] = self._json("GET", "/v1/status")
        return answer

    def whoami(self, *, read_only: bool = False) -> dict[str, Any]:
        """Who the server knows this client as: `operator`, `roles`, `read_only`, and
        `actions`, the decisions it may take at all (authority over a target is still
        checked per decision)."""
        answer: dict[str, Any] = self._json(
            "GET", f"/v1/whoami?read_only={'1' if read_only else '0'}"
        )
        return answer

    def plan(self, request: dict[str, Any]) -> dict[str, Any]:
        """What a decision request would do, authority checked, nothing recorded: `plan`
        (Plan's fields), `summary`, `operator`; a refusal raises `Refused`."""
        answer: dict[str, Any] = self._json("POST", "/v1/decisions/plan", request)
        return answer

    def changes(self, after: int, *, wait: float = CHANGES_WAIT) -> dict[str, Any]:
        """Long-poll: answers once the server's change counter is past `after`, or after about
        `wait` seconds: `counter`, `changed` (what changed since `after`), `server` (its pid
        and start, to tell a restart), `follow` (the follower's rate and lag)."""
        status, _, data = self._request(
            "GET", f"/v1/changes?after={after}&wait={wait:g}", timeout=wait + 30
        )
        answer: dict[str, Any] = json.loads(data) if data else {}
        _raise_for(status, answer)
        return answer

    # --- ingest ------------------------------------------------------------------------------

    def ingest(
        self,
        files: Sequence[tuple[Path, str, str, str]],
        progress: Callable[[int], None] | None = None,
    ) -> dict[str, Any]:
        """Send `files` — (path to read, kind, name to store it under, the folder that name
        is relative to as this side sees it: `SourceFile.root`) — for the server to
        load; `progress(bytes sent)` as they go. Returns the load's summary (as
        `LoadSummary.as_dict`). A file that cannot be read stops the upload before the server
        loads anything (`Unreadable`); a server that goes away is `ServerUnavailable`."""
        who = self.whoami()
        if who.get("ingest_refused"):  # the server's word; it refuses the upload itself too
            raise Refused(who["ingest_refused"])
        limit = who.get("ingest_limit")
        total = sum(path.stat().st_size for path, *_ in files)
        if isinstance(limit, int) and total > limit:
            raise ServerError(
                f"{total / 2**20:,.0f} MiB is over the server's limit for one ingest "
                f"({limit // 2**20:,} MiB, [serve] ingest_limit_mib); ingest fewer files at a time"
            )
        pieces = _ingest_body(files, progress)
        try:
            status, _, data = self._request(
                "POST",
                "/v1/ingest",
                stream=(INGEST_BODY, pieces),
                timeout=INGEST_TIMEOUT,
            )
        except ServerUnavailable as exc:
            if isinstance(exc.__cause__, _Unreadable):
                raise Unreadable(str(exc.__cause__)) from None
            if isinstance(exc.__cause__, _NOTHING_SENT):
                raise  # nothing was sent: the plain reason
            raise ServerUnavailable(
                f"the server on {self.path} went away during the ingest; what it had loaded "
                "before is kept (ingest again: what is stored already counts as duplicates)"
            ) from exc
        answer = json.loads(data) if data else {}
        if status == 422:  # the load failed: the loader's message, as embedded
            raise ServerError(answer.get("error") or "the load failed")
        _raise_for(status, answer)
        return dict(answer)


def _not_allowed(path: Path) -> str:
    """Why this user may not connect to the socket at `path`, naming its group when known."""
    try:
        group = grp.getgrgid(path.stat().st_gid).gr_name
    except (OSError, KeyError):
        return (
            f"you may not connect to the server on {path} (permission denied): ask whoever "
            "looks after it to add you to the socket's group ([serve] socket_group)"
        )
    return (
        f"you ({user_name(os.getuid())}) may not connect to the server on {path}: only its owner "
        f"and the group {group} may; ask whoever looks after it to add you to {group}"
    )


#: What a connection that never opened raises: nothing of an upload was sent.
_NOTHING_SENT = (ConnectionRefusedError, FileNotFoundError, PermissionError)


class _Unreadable(OSError):
    """Raised inside the upload when a file cannot be read (and so aborts it)."""


def _ingest_body(
    files: Sequence[tuple[Path, str, str, str]], progress: Callable[[int], None] | None
) -> Iterator[bytes]:
    sent = 0
    for path, kind, name, root in files:
        yield json.dumps({"name": name, "kind": kind, "root": root}).encode() + b"\n"
        try:
            with path.open("rb") as handle:
                while piece := handle.read(PIECE):
                    yield b"%d\n" % len(piece) + piece
                    sent += len(piece)
                    if progress is not None:
                        progress(sent)
        except OSError as exc:
            raise _Unreadable(f"cannot read {name}: {exc.strerror or exc}") from exc
        yield b"0\n"
    yield json.dumps({"end": len(files)}).encode() + b"\n"


class BadRequest(ServerError):
    """The server found what was sent unusable (HTTP 400): bad input, as a usage error."""

    exit_code = 2


def _raise_for(status: int, answer: Any) -> None:
    if status == 200:
        return
    message = answer.get("error") if isinstance(answer, dict) else None
    if status == 403:
        raise Refused(message or "refused by the server")
    if status == 400:
        raise BadRequest(f"the server answered 400: {message or 'it cannot use what was sent'}")
    if status == 503:  # too many connections (server/limits.py)
        raise ServerUnavailable(f"the server is busy: {message or 'try again shortly'}")
    raise ServerError(f"the server answered {status}: {message or 'no reason given'}")
