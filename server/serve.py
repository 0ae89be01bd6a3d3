"""The `quarterdeck serve` process: owns one store and answers its clients until SIGTERM.

What it keeps true, and how:
- It is the only process with the DuckDB file open: it opens it read-write (DuckDB's lock
  refuses a second server, or a console or ingest holding the store, with exit 3), and clients
  find it by its socket, `<store>.sock`, instead of opening the file.
- Private by default: the process runs under umask 077, so the store, its WAL, the journal and
  the outbox are created readable by the server's user only (the outbox by `[serve]
  outbox_group` too, mode 0640); it refuses to start when another user can write the store,
  its WAL, the journal, the outbox or the store's folder, or owns them, or when the journal or
  the outbox is a symbolic link (`refuse_shared`). The socket is mode 0660 (group `[serve]
  socket_group` if set): who may connect is who may ask, and what each may decide — and
  whether it may load files (`INGEST_ROLE`) — is settled per request from the kernel's peer
  credentials (peer.py).
- A socket left by a server that was killed is replaced: holding the store's lock proves no
  other server serves it. A path there that is not a socket is never removed.
- The follower (today's: offsets in the same transaction, fingerprints, rotation,
  truncation) runs on a thread with its own cursor. Its units only append; the derived facts
  (run and approval summaries) are refreshed at most every `DERIVED_EVERY` seconds, so that
  most commits update no row and DuckDB can fold the WAL while clients read (ingest/follow.py).
  `status` shows each followed file's lag and the follower's rate. The triggers are evaluated every
  `[serve] evaluate_every` on another, holding the recorder, so an automatic decision is on
  the same chain as the clients' (recorder.py).
- Clients learn what changed by long-polling a counter (changes.py) that the follower's
  commits, the recorder's decisions and the stored trigger evaluations bump; stopping answers
  every long-poll at once, so none holds the stop up. The waits on a line's way to a
  console's screen are short, so on a quiet machine it shows within a second: the follower
  wakes within 0.1 s of it (ingest/follow.py), the summaries take it within `DERIVED_EVERY`
  and the counter is bumped once they have (so a console never asks before its answer would
  show the line), and a console refreshes within 0.3 s of the bump.
- Bounded: every query is one short read that returns its whole result, on its worker
  thread's cursor, kept from request to request (readers.py); the WAL is checkpointed every
  `CHECKPOINT_EVERY` seconds, and after each checkpoint, alone on the database for a few
  milliseconds, DuckDB's buffer pool is emptied (the entries its eviction queues keep for
  every temporary buffer, and the pages it cached); the pages DuckDB's allocator and glibc's
  keep after memory is freed are given back every `RELEASE_EVERY` seconds
  (queries/allocator.py: these were the growth); as a safety net, the database is closed and
  opened again, at a moment no one uses it, if the server's resident memory has still grown
  `RECYCLE_GROWTH` above where it settled after the last open (recycle.py); the watchdog
  logs any query, decision, ingest or follower transaction still running after
  `WATCHDOG_LIMIT` seconds, and `status` lists each under `in_flight`.
- SIGTERM or SIGINT: stop taking requests, let those in flight finish, store what the follower
  has read, close the store, remove the socket, exit 0.

Logs go to stderr, one line per event.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import grp
import itertools
import logging
import os
import signal
import stat
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
from aiohttp import web

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.desk import DECISION_ACTIONS, DecisionDesk, offers
from quarterdeck.ingest.follow import FileNotice, Follower, FollowStats
from quarterdeck.ingest.load import LoadError, SourceFile, load_sources
from quarterdeck.queries import allocator, named
from quarterdeck.queries.decisions import JournalChanged, Operator, Paths, Refused, journal
from quarterdeck.queries.store import OwnCursor, Store, StoreError, utc_now
from quarterdeck.server import intake, routes
from quarterdeck.server.changes import Changes
from quarterdeck.server.limits import LimitedUnixSite, Limits
from quarterdeck.server.peer import Clients, Peer, name_of
from quarterdeck.server.readers import Readers
from quarterdeck.server.recorder import DecisionRequest, Recorder
from quarterdeck.server.recycle import Gate, Recycling, resident_bytes
from quarterdeck.watch import TriggerWatch, Trip

log = logging.getLogger("quarterdeck.serve")

CHECKPOINT_EVERY = 20.0
WATCHDOG_EVERY = 5.0
#: Seconds between two releases of the memory DuckDB and the process have freed
#: (queries/allocator.py: ~0.03 ms when nothing was freed, ~5 ms after a 300k-row grouping).
RELEASE_EVERY = 0.25
WATCHDOG_LIMIT = 30.0
SOCKET_MODE = 0o660
FOLLOW_INTERVAL = 0.5
#: After a failed follower round, the pause before following again; doubled while it keeps
#: failing, up to `FOLLOW_RETRY_MAX`.
FOLLOW_RETRY = 0.5
FOLLOW_RETRY_MAX = 30.0
#: The least time between two refreshes of the derived facts while following: new lines show
#: in the summaries within about this long (plus the refresh itself, ~0.1 s at the demo's
#: size), and the commits between them only append.
DERIVED_EVERY = 0.25
#: The longest the buffer pool's emptying (after each checkpoint) waits for what uses the
#: database to finish; what arrives meanwhile waits too, at most this long.
EMPTY_WAIT = 0.25
#: The database is reopened once the server's resident memory has grown this much above where
#: it was `RECYCLE_SETTLE` seconds after the last open (recycle.py): a safety net, never reached
#: in the soaks since the allocators give back what they keep (16 MiB before; each reopen
#: stalls clients 0.3–1.5 s and the buffer pool fills its queues again) ...
RECYCLE_GROWTH = 96 * 1024 * 1024
RECYCLE_SETTLE = 60.0
#: ... once what uses it has finished, if within this many seconds (else at the next try);
#: what arrives meanwhile waits, at most this long.
RECYCLE_WAIT = 0.5


#: The role that may load files into the store through the server (`quarterdeck ingest`);
#: the server's own user always may.
INGEST_ROLE = "ingest"


class ServeRefused(StoreError):
    """The server will not start on this store as it is."""

    exit_code = 3


def _group_id(name: str, setting: str) -> int:
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        raise ServeRefused(f"[serve] {setting} = {name!r}: no such group") from None


def refuse_shared(store: Path, paths: Paths) -> None:
    """What holds decisions — the store and its WAL, the journal, the outbox — and the store's
    folder (where a WAL or a journal could be put in place before the server creates it; for
    a store reached through a symbolic link, the folder of the file it names too) must not be
    writable by other users: the journal's chain and the store could be changed behind the
    server. The store, its folders, the journal and the outbox must be the server's user's
    own (root serving a store another user owns could be made to write where that user
    chooses), and the journal and the outbox regular files, never symbolic links (whoever can
    write the outbox's folder could point it at the journal). A missing file is fine: the
    server creates it, under umask 077."""
    real = store.resolve()
    folders = [("the store's folder", store.parent)]
    if real.parent != store.parent.resolve():
        folders.append(("the folder of the file the store links to", real.parent))
    for what, folder in folders:  # root's folder is safe: root could do anything anyway
        _refuse_shared_path(what, folder, own=True, root_may_own=True)
    for what, path in (
        ("the store", real),
        ("the store's WAL", store.with_name(store.name + ".wal")),
        ("the store's WAL", real.with_name(real.name + ".wal")),
    ):
        _refuse_shared_path(what, path, own=True)
    for what, path in (("the journal", paths.journal), ("the outbox", paths.outbox)):
        try:
            journal.check_private(path, what)
        except journal.JournalError as exc:
            raise ServeRefused(str(exc)) from None
        _refuse_shared_path(what, path, own=True)
    _refuse_shared_path("the journal's folder", paths.journal.parent, own=False)


def _refuse_shared_path(what: str, path: Path, *, own: bool, root_may_own: bool = False) -> None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    owners = {os.geteuid(), 0} if root_may_own else {os.geteuid()}
    if own and info.st_uid not in owners:
        raise ServeRefused(
            f"{what}, {path}, belongs to {name_of(info.st_uid)}, not to {name_of(os.geteuid())} "
            f"who runs the server; `chown {name_of(os.geteuid())} {path}` (or serve as its "
            "owner) and start again"
        )
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        fix = f"`chmod go-w {path}`"
        if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_ISVTX:  # /tmp and the like
            fix = f"keep the store in a folder of its own (or {fix})"
        raise ServeRefused(
            f"{what}, {path}, can be written by other users; {fix} and start again "
            "(the server keeps its store and its decisions to itself)"
        )


class Server:
    def __init__(
        self,
        settings: config_mod.Settings,
        path: Path,
        follow: Sequence[Path] = (),
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.path = path
        self.follow = [Path(p) for p in follow]
        self.clock = clock
        self.socket = client.socket_path(path)
        self.clients = Clients()
        self.limits = Limits(
            settings.serve.max_connections,
            settings.serve.max_connections_per_user,
            settings.serve.idle_timeout,
        )
        self.changes = Changes()  # what the consoles long-poll (changes.py)
        self.stop = threading.Event()
        self._asked_to_stop = threading.Event()
        self._reload_asked = threading.Event()  # SIGHUP: read the roles again
        self._config_mtime = _mtime(settings.source)
        self.started = time.monotonic()
        self.started_at = utc_now()
        self.paths = config_mod.decision_paths(settings, path, self.follow)
        self.context = named.Context(
            stale_seconds=int(settings.store.stale_after),
            rules=tuple(settings.rules()),
            journal=self.paths.journal,
            publish_rules=settings.publish_rules(),
        )
        self._socket_gid = (
            _group_id(settings.serve.socket_group, "socket_group")
            if settings.serve.socket_group
            else None
        )
        self._outbox_gid = (
            _group_id(settings.serve.outbox_group, "outbox_group")
            if settings.serve.outbox_group
            else None
        )
        self._inflight: dict[int, tuple[str, float, bool]] = {}
        self._ids = itertools.count()
        self._inflight_lock = threading.Lock()
        self._loading = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._follower: Follower | None = None
        self._follower_stats: FollowStats | None = None  # carried over to a new follower
        self._follow_error: dict[str, Any] | None = None  # following's failure, until it works
        self._last_evaluation: dict[str, Any] | None = None
        self.store: Store | None = None
        self._readers = Readers()  # the worker threads' read cursors (readers.py)
        self._recorder: Recorder | None = None
        self._watch: TriggerWatch | None = None
        self._gate = Gate()  # held shared by each use of the database, alone by a reopen
        self._recycling = Recycling(growth=RECYCLE_GROWTH, settle=RECYCLE_SETTLE)
        self.reopened = 0
        self.emptied = 0  # times the buffer pool was emptied (`_empty_buffer_pool`)
        self._memory_limit: str | None = None  # DuckDB's, set back after each emptying

    # --- the process -------------------------------------------------------------------------

    def run(self) -> int:
        """Serve until SIGTERM or SIGINT; 0 once everything in flight has finished."""
        # a signal while the store opens and the threads start is kept, and acted on as
        # soon as the server could answer: it stops then, cleanly, rather than dying mid-way
        self._keep_stop_signals()
        self.open()
        try:
            self.start()
            asyncio.run(self._serve())
        finally:
            # asyncio put the default handlers back: a second SIGTERM (a parent-death signal
            # sent again, an impatient Ctrl+C) must not cut the finishing short
            self._keep_stop_signals()
            self.finish()
        log.info("stopped")
        return 0

    def open(self) -> None:
        """Open the store, private, refusing one that others can write or another holds."""
        os.umask(0o077)
        refuse_shared(self.path, self.paths)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(self.path)
        for folder in intake.remove_stale(self.path):
            log.info("removed %s, an ingest's spool left by a server that was killed", folder)

    def _keep_stop_signals(self) -> None:
        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, lambda *_: self._asked_to_stop.set())
        signal.signal(signal.SIGHUP, lambda *_: self._reload_asked.set())

    def start(self) -> None:
        """Start the follower, the trigger watch and the maintenance on the open store."""
        store = self.store
        assert store is not None, "open the store first"
        self._recycling.opened()
        self._recorder = Recorder(
            store,
            self.paths,
            stale_seconds=self.context.stale_seconds,
            clock=self.clock,
            rollout_roles=self.settings.rollout_roles(),
        )
        repaired = self._recorder.reconcile()
        if repaired.added or repaired.delivered:
            log.info(
                "journal: %d decisions stored, %d delivered after a crash",
                len(repaired.added),
                len(repaired.delivered),
            )
        self._prepare_outbox()
        if self.follow:
            self._follower = self._follower_on(store)
            self._thread("follow", self._run_follower)
            log.info("following %s", ", ".join(map(str, self.follow)))
        if self.context.rules:
            # the desk gives the watch the journal and outbox; its operator never decides
            desk = DecisionDesk(
                store,
                Operator("quarterdeck-serve", frozenset()),
                self.paths,
                stale_seconds=self.context.stale_seconds,
                clock=self.clock,
            )
            watch = self._watch = TriggerWatch(
                store,
                self.context.rules,
                desk,
                stale_seconds=self.context.stale_seconds,
                clock=self.clock,
            )
            self._thread("triggers", lambda: self._run_triggers(watch))
        self._thread("maintenance", self._run_maintenance)

    def _follower_on(self, store: Store) -> Follower:
        """The follower of `self.follow`, on a cursor of its own: each of its transactions is
        watched (`_busy`), its derived facts refreshed in batches."""
        cursor = store.cursor()
        try:
            follower = Follower(
                cursor,
                self.follow,
                on_commit=self._committed,
                on_notice=self._noticed,
                refresh_gap=DERIVED_EVERY,
                watch=self._busy,
                tool_map=self.settings.tool_map(),
                skip=[self.paths.outbox],  # decisions, not run events
            )
        except BaseException:
            cursor.close()
            raise
        if self._follower_stats is not None:  # a follower started again counts on
            follower.stats = self._follower_stats
        return follower

    def _prepare_outbox(self) -> None:
        if self._outbox_gid is None:
            return
        outbox = self.paths.outbox
        outbox.parent.mkdir(parents=True, exist_ok=True)
        try:
            handle = journal.open_private(outbox, "the outbox")  # never through a link
        except journal.JournalError as exc:
            raise ServeRefused(str(exc)) from None
        with handle:
            os.fchown(handle.fileno(), -1, self._outbox_gid)
            os.fchmod(handle.fileno(), 0o640)

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        stopping = asyncio.Event()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stopping.set)
        if self._asked_to_stop.is_set():
            stopping.set()
        self._replace_stale_socket()
        serve = self.settings.serve
        runner = web.AppRunner(
            routes.build(self),
            handle_signals=False,
            access_log=None,
            keepalive_timeout=serve.idle_timeout,  # between two requests on one connection
        )
        await runner.setup()
        try:
            await LimitedUnixSite(runner, str(self.socket), self.limits).start()
            if self._socket_gid is not None:
                os.chown(self.socket, -1, self._socket_gid)
            os.chmod(self.socket, SOCKET_MODE)
            log.info("serving %s on %s (pid %d)", self.path, self.socket, os.getpid())
            await stopping.wait()
            log.info("stopping: finishing what is in flight")
            self.changes.close()  # long-polls answer now rather than hold the stop up
        finally:
            await runner.cleanup()

    def _replace_stale_socket(self) -> None:
        """We hold the store's lock, so a socket here was left by a server that died."""
        try:
            mode = self.socket.lstat().st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ServeRefused(f"{self.socket} is there and is not a socket; move it away")
        log.warning("replacing %s, left by a server that did not stop cleanly", self.socket)
        self.socket.unlink()

    def finish(self) -> None:
        """Stop the threads (each finishes what it is doing), close the store and the
        socket."""
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        self._readers.close()
        if self._recorder is not None:
            self._recorder.close()
        if self.store is not None:
            self.store.close()
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISSOCK(self.socket.lstat().st_mode):
                self.socket.unlink()

    def _thread(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=f"quarterdeck-{name}", daemon=True)
        self._threads.append(thread)
        thread.start()

    @property
    def recorder(self) -> Recorder:
        assert self._recorder is not None, "the server has not started"
        return self._recorder

    # --- the threads -------------------------------------------------------------------------

    def _run_follower(self) -> None:
        """Follow until the server stops. A round that fails (a folder removed mid-scan, no
        file descriptors left, a bug) does not end following: the failure is logged once,
        shown in `status` (`follow.error`), and following starts again — a new follower, on a
        new cursor, from the offsets stored — after a pause that doubles while it keeps
        failing (`FOLLOW_RETRY`..`FOLLOW_RETRY_MAX` s). The server itself runs on: its clients
        and decisions do not depend on the follower, and a restart would meet the same cause."""
        pause = FOLLOW_RETRY
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                if self._follower is None:
                    with self._gate.shared():
                        assert self.store is not None
                        self._follower = self._follower_on(self.store)
                self._follower.run(self.stop, interval=FOLLOW_INTERVAL, around=self._following)
            except Exception as exc:
                self._following_failed(exc)
                self._drop_follower()
                if time.monotonic() - began > FOLLOW_RETRY_MAX:
                    pause = FOLLOW_RETRY  # it had been following well: start again soon
                self.stop.wait(pause)
                pause = min(pause * 2, FOLLOW_RETRY_MAX)
        if self._follower is not None:
            self._follower.close()

    def _drop_follower(self) -> None:
        """Let a failed follower go: what it read and can store is stored, its files and its
        cursor closed (inside the gate: a reopen rebinds the follower's cursor)."""
        with self._gate.shared():
            follower, self._follower = self._follower, None
            if follower is None:
                return
            self._follower_stats = follower.stats
            with contextlib.suppress(Exception):
                follower.close()
            with contextlib.suppress(Exception):
                follower.con.close()

    @contextlib.contextmanager
    def _following(self) -> Iterator[None]:
        """One follower round, inside the gate; one that ends well clears a failure."""
        with self._gate.shared():
            yield
        if self._follow_error is not None:
            log.info(
                "following again, after %d failed %s",
                self._follow_error["failures"],
                "try" if self._follow_error["failures"] == 1 else "tries",
            )
            self._follow_error = None

    def _following_failed(self, exc: Exception) -> None:
        message = f"{type(exc).__name__}: {exc}"
        error = self._follow_error
        if error is None:
            # the first of a run of failures is logged, with its traceback (a bug shows
            # where); the same failure again is only counted
            log.error("following failed; retrying (what was committed is kept)", exc_info=exc)
            self._follow_error = {"message": message, "since": _stamp(utc_now()), "failures": 1}
            return
        error["failures"] += 1
        if error["message"] != message:
            log.error("following failed again, otherwise: %s; retrying", message)
            error["message"] = message

    def _noticed(self, notice: FileNotice) -> None:
        log.warning("%s", notice.message)

    def _run_triggers(self, watch: TriggerWatch) -> None:
        every = self.settings.serve.evaluate_every
        evaluations = 0
        while not self.stop.is_set():
            try:
                with (
                    self._busy("trigger evaluation"),
                    self._gate.shared(),
                    self.recorder.exclusive(),
                ):
                    trips = watch.evaluate()
                evaluations += 1
                self._evaluated(trips)
                self._last_evaluation = {
                    "at": _stamp(utc_now()),
                    "rules": len(watch.rules),
                    "evaluations": evaluations,
                }
                for trip in trips:
                    if trip.decision is not None:
                        log.warning("%s: decided #%s", trip.reason, trip.decision["seq"])
                    elif trip.refused:
                        # a journal changed behind the server is for its keeper to see
                        broken = "the journal was changed behind" in trip.refused
                        (log.error if broken else log.warning)(
                            "%s: not decided: %s", trip.reason, trip.refused
                        )
                    else:
                        log.warning("%s: an operator decides", trip.reason)
            except Exception:
                log.exception("evaluating the triggers failed; trying again in %ss", every)
            self.stop.wait(every)

    def _run_maintenance(self) -> None:
        checkpointed = watched = time.monotonic()
        to_empty = False
        while not self.stop.wait(RELEASE_EVERY):
            # the pages DuckDB and the process have freed, given back to the system as soon
            # as they are freed rather than as they age (queries/allocator.py)
            allocator.release()
            if time.monotonic() - watched < WATCHDOG_EVERY:
                continue
            watched = time.monotonic()
            self._watchdog()
            self.reload_roles_if_asked()
            if self._recycling.due() and self._reopen_or_stop():
                checkpointed = time.monotonic()  # closing the database checkpointed it
                to_empty = False  # and emptied its buffer pool
            elif time.monotonic() - checkpointed >= CHECKPOINT_EVERY:
                checkpointed = time.monotonic()
                with self._gate.shared():
                    assert self.store is not None
                    cursor = self.store.cursor()
                    try:
                        with contextlib.suppress(duckdb.TransactionException):
                            cursor.execute("CHECKPOINT")
                    finally:
                        cursor.close()
                to_empty = True
            if to_empty and self._empty_buffer_pool():
                to_empty = False  # else tried again at the next round, until it is

    def reload_roles_if_asked(self) -> bool:
        """Read `[operators.*]` again from the config file on SIGHUP, or once the file has
        changed (checked every `WATCHDOG_EVERY` seconds): a role added is honoured, a role
        removed no longer is, from the next request on. Only the roles: the rest of the config
        (what is followed, the triggers, the socket) is read at start. A config that no longer
        reads keeps the roles as they were, and says why. True if the roles changed."""
        source = self.settings.source
        mtime = _mtime(source)
        if not self._reload_asked.is_set() and mtime == self._config_mtime:
            return False
        why = "SIGHUP" if self._reload_asked.is_set() else f"{source} changed"
        self._reload_asked.clear()
        self._config_mtime = mtime
        if source is None:
            log.warning("%s: no config file to read the roles from (started without one)", why)
            return False
        try:
            fresh = config_mod.load(source)
        except config_mod.ConfigError as exc:
            log.error("%s: %s; the roles stay as they were", why, exc)
            return False
        if fresh.operators == self.settings.operators:
            log.info("%s: the roles are unchanged", why)
            return False
        self.settings = self.settings.model_copy(update={"operators": fresh.operators})
        roles = "; ".join(
            f"{name}: {', '.join(o.roles) or 'none'}" for name, o in sorted(fresh.operators.items())
        )
        log.info("%s: roles read again from %s: %s", why, source, roles or "no operators")
        return True

    def _empty_buffer_pool(self) -> bool:
        """Empty DuckDB's buffer pool (queries/allocator.py: what its eviction queues keep and
        the pages it cached), alone on the database for the few milliseconds it takes, once
        what uses it has finished (within `EMPTY_WAIT` seconds); False if not now (an ingest
        may take long, or the server is stopping)."""
        if self._loading.locked():
            return False
        with self._gate.idle(EMPTY_WAIT) as alone:
            if not alone or self.stop.is_set():
                return False
            assert self.store is not None
            cursor = self.store.cursor()
            try:
                if self._memory_limit is None:  # read once (allocator.empty_buffer_pool)
                    self._memory_limit = allocator.memory_limit(cursor)
                allocator.empty_buffer_pool(cursor, self._memory_limit)
            finally:
                cursor.close()
        allocator.release()
        self.emptied += 1
        return True

    def _reopen_or_stop(self) -> bool:
        """`reopen`; a store that cannot be opened again stops the server, cleanly (SIGTERM):
        what was committed is kept, and a restart carries on from the offsets stored."""
        try:
            return self.reopen()
        except Exception:
            log.exception("reopening the store failed; stopping")
            os.kill(os.getpid(), signal.SIGTERM)
            self.stop.wait()
            return False

    def reopen(self, wait: float = RECYCLE_WAIT) -> bool:
        """Close the database and open it again, giving back the memory DuckDB holds while it
        is open (recycle.py), once what uses it has finished, if within `wait` seconds; False
        if not (or during an ingest, or when the server is stopping). Requests arriving
        meanwhile wait for it; each part carries on with a new cursor on the reopened store."""
        if self._loading.locked():
            return False  # an ingest may take long: not now
        asked = time.monotonic()
        with self._gate.idle(wait) as alone:
            if not alone or self.stop.is_set():
                return False
            assert self.store is not None
            with self._busy("reopening the store"):
                started, before = time.monotonic(), resident_bytes()
                # every connection is closed, or DuckDB would keep the database open
                self._readers.reset()
                if self._follower is not None:  # (a refresh due is done on its new cursor)
                    self._follower.con.close()
                for part in self._parts():
                    part.release()
                self.store.close()  # the last connection: DuckDB checkpoints and lets go
                self.store = Store.open(self.path)
                for part in self._parts():
                    part.rebind(self.store)
                if self._follower is not None:
                    self._follower.rebind(self.store.cursor())
        self.reopened += 1
        self._recycling.opened()
        log.info(
            "reopened the store in %.2f s (after %.2f s for what was in flight to finish): "
            "resident memory %s MiB, was %s MiB",
            time.monotonic() - started,
            started - asked,
            _mib(resident_bytes()),
            _mib(before),
        )
        return True

    def _parts(self) -> list[OwnCursor]:
        """What keeps a cursor of its own on the store, besides the follower and the readers."""
        parts: list[OwnCursor] = [self.recorder]
        if self._watch is not None:
            parts.append(self._watch)
            if self._watch.desk is not None:
                parts.append(self._watch.desk)
        return parts

    def _watchdog(self) -> None:
        now = time.monotonic()
        with self._inflight_lock:
            for key, (what, began, told) in list(self._inflight.items()):
                if not told and now - began > WATCHDOG_LIMIT:
                    self._inflight[key] = (what, began, True)
                    log.warning("%s has been running for %.0f s", what, now - began)

    @contextlib.contextmanager
    def _busy(self, what: str) -> Iterator[None]:
        key = next(self._ids)
        with self._inflight_lock:
            self._inflight[key] = (what, time.monotonic(), False)
        try:
            yield
        finally:
            with self._inflight_lock:
                del self._inflight[key]

    # --- what the routes ask (each in a worker thread) ----------------------------------------

    def query(self, name: str, params: named.Params) -> bytes:
        """Named query `name` → its whole table as Arrow IPC stream bytes."""
        assert self.store is not None
        with self._busy(f"query {name}"), self._gate.shared():
            cursor = self._readers.get(self.store)
            try:
                table = named.run(cursor, name, params, self.context)
            except BaseException:
                self._readers.discard()  # whatever state it was left in, no one reuses it
                raise
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        body: bytes = sink.getvalue().to_pybytes()
        return body

    def _operator(self, peer: Peer, request: DecisionRequest) -> Operator:
        """The peer, with the roles this server's config gives it; an `--operator` naming
        someone else is refused."""
        if request.operator is not None and request.operator != peer.name:
            raise Refused(
                f"this server knows you as {peer.name}: --operator {request.operator} "
                "names someone else"
            )
        return config_mod.operator(self.settings, peer.name, read_only=request.read_only)

    def decide(self, peer: Peer, request: DecisionRequest) -> dict[str, Any]:
        """Record `request` as the peer, with the roles this server's config gives it."""
        operator = self._operator(peer, request)
        with self._busy(f"{request.action} by {peer.name}"), self._gate.shared():
            try:
                plan, record = self.recorder.decide(operator, request)
            except JournalChanged as exc:  # refused, and the server's keeper must know
                log.error("%s by %s refused: %s", request.action, peer.name, exc)
                raise
        self.changes.bump("decisions")
        log.info("recorded #%s: %s, by %s", record["seq"], plan.summary, operator.name)
        return {
            "record": record,
            "summary": plan.summary,
            "operator": operator.name,
            "journal": str(self.paths.journal),
            "outbox": str(self.paths.outbox),
        }

    # --- what the console asks: who am I, a preview, what changed ------------------------------

    def whoami(self, peer: Peer, *, read_only: bool) -> dict[str, Any]:
        """The peer as this server knows it, the decisions it may take at all, and whether
        it may ingest (`ingest_refused`: why not) and how much at a time."""
        operator = config_mod.operator(self.settings, peer.name, read_only=read_only)
        return {
            "operator": operator.name,
            "roles": sorted(operator.roles),
            "read_only": operator.read_only,
            "actions": [a for a in DECISION_ACTIONS if offers(operator, a)],
            "ingest_refused": self.ingest_refusal(peer),
            "ingest_limit": self.ingest_limit,
        }

    def ingest_refusal(self, peer: Peer) -> str | None:
        """Why the peer may not load files into the store (None: it may). What is loaded is
        taken as fact — approvals decided, controls applied, runs finished — so only the
        server's own user and those its config gives the role `ingest` may."""
        if peer.uid == os.geteuid():
            return None
        if INGEST_ROLE in config_mod.operator(self.settings, peer.name).roles:
            return None
        return (
            f"this server knows you as {peer.name}, who may not load files into its store: "
            f'that needs the role "{INGEST_ROLE}" in its [operators."{peer.name}"] roles'
        )

    @property
    def ingest_limit(self) -> int:
        """The most bytes one ingest may send (`[serve] ingest_limit_mib`)."""
        return self.settings.serve.ingest_limit_mib * 1024 * 1024

    def plan(self, peer: Peer, request: DecisionRequest) -> dict[str, Any]:
        """What `request` would do, as the peer; raises `Refused` as `decide` would."""
        operator = self._operator(peer, request)
        with self._busy(f"planning {request.action} by {peer.name}"), self._gate.shared():
            plan = self.recorder.plan(operator, request)
        return {
            "plan": dataclasses.asdict(plan),
            "summary": plan.summary,
            "operator": operator.name,
        }

    def changed(self, counter: int, changed: list[str]) -> dict[str, Any]:
        """A long-poll's answer: the counter, what changed, which server, and how the
        follower is doing (for the console's status bar)."""
        return {
            "counter": counter,
            "changed": changed,
            "server": {"pid": os.getpid(), "started_at": _stamp(self.started_at)},
            "follow": self._follow_status(),
        }

    def _committed(self, stats: FollowStats) -> None:
        self.changes.bump("events")

    def _evaluated(self, trips: list[Trip]) -> None:
        self.changes.bump("triggers")
        if any(trip.decision is not None for trip in trips):
            self.changes.bump("decisions")

    def ingest(self, peer: Peer, sources: list[SourceFile]) -> dict[str, Any]:
        """Load files a client sent (spooled by intake.py) as an embedded load would: its
        summary. One load at a time: a load sets process-wide knobs (the collector, the switch
        interval, DuckDB's memory limit) that two at once would leave set."""
        assert self.store is not None
        names = ", ".join(s.source for s in sources[:3]) + (", ..." if len(sources) > 3 else "")
        with self._loading, self._busy(f"ingest of {names} by {peer.name}"), self._gate.shared():
            cursor = self.store.cursor()
            try:
                summary = load_sources(cursor, sources, tool_map=self.settings.tool_map())
            except LoadError as exc:
                log.warning("ingest of %s by %s failed: %s", names, peer.name, exc)
                raise
            finally:
                cursor.close()
        log.info("ingest by %s: %s", peer.name, summary.line())
        return summary.as_dict()

    def status(self) -> dict[str, Any]:
        now = time.monotonic()
        with self._inflight_lock:
            running = [
                {"what": what, "running_s": round(now - began, 1)}
                for what, began, _ in self._inflight.values()
            ]
        return {
            "pid": os.getpid(),
            "store": str(self.path),
            "socket": str(self.socket),
            "started_at": _stamp(self.started_at),
            "uptime_s": round(now - self.started, 1),
            "rss_bytes": resident_bytes(),
            "store_reopened": self.reopened,
            "memory": self._memory_status(),
            "wal_bytes": _size(self.path.with_name(self.path.name + ".wal")),
            "follow": self._follow_status(),
            "triggers": self._last_evaluation,
            "clients": self.clients.connected(),
            "connections": self.limits.status(),
            "in_flight": running,
        }

    def _memory_status(self) -> dict[str, Any]:
        """Where the server's memory is (queries/allocator.py): DuckDB's live allocations and
        the freed pages its allocator still keeps (None where it has no jemalloc), and how
        often the buffer pool was emptied."""
        held = allocator.stats()
        return {
            "duckdb_bytes": None if held is None else held.allocated,
            "kept_bytes": None if held is None else held.dirty + held.muzzy,
            "buffer_pool_emptied": self.emptied,
        }

    def _follow_status(self) -> dict[str, Any] | None:
        if not self.follow:
            return None
        follower = self._follower
        stats = follower.stats if follower is not None else self._follower_stats or FollowStats()
        return {
            "paths": [str(p) for p in self.follow],
            "files": stats.files,
            "events": stats.events,
            "duplicates": stats.duplicates,
            "conflicting_duplicates": stats.conflicting_duplicates,
            "quarantined": stats.quarantined,
            "rate_per_s": round(stats.rate(), 1),
            "lag_p50_s": stats.lag(0.5),
            "lag_p95_s": stats.lag(0.95),
            "followed": [
                {"path": f.path, "behind_bytes": f.behind_bytes, "idle_s": f.idle_s}
                for f in (follower.files() if follower is not None else [])
            ],
            # why following is failing, since when, how many tries; None while it works
            "error": self._follow_error,
        }


def _stamp(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds") + "Z"


def _mtime(path: str | None) -> int | None:
    if path is None:
        return None
    try:
        return os.stat(path).st_mtime_ns
    except OSError:
        return None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _mib(size: int | None) -> str:
    return "?" if size is None else f"{size / 1024 / 1024:.0f}"
