"""Opening the store: one DuckDB file, migrated to the newest schema on open.

DuckDB allows one read-write process or many read-only ones, never both. A process that finds
the file locked gets `StoreLocked`, whose message names the holder's PID and what to do. A
fatal or internal DuckDB error (a store a crash left damaged) is `StoreDamaged`, exit 3: the
process says what happened and what to do, and stops rather than dying the same way in a loop.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from quarterdeck.queries import macros
from quarterdeck.queries.migrations import LATEST, SchemaTooNew, current_version, migrate

DEFAULT_DIR = ".quarterdeck"
DEFAULT_NAME = "quarterdeck.duckdb"
ENV_DB = "QUARTERDECK_DB"


class StoreError(Exception):
    """The store could not be opened or used; the message is one line for a person."""

    exit_code = 1


class StoreLocked(StoreError):
    """Another process holds the store."""

    exit_code = 3

    def __init__(self, path: Path, pid: int | None, holder: str | None) -> None:
        who = f"process {pid}" if pid else "another process"
        if holder:
            who += f" ({holder})"
        super().__init__(
            f"the store {path} is in use by {who}. DuckDB lets one process write a store: "
            f"stop that one (a console or an ingest), or point --db at another store."
        )
        self.path = path
        self.pid = pid


class StoreDamaged(StoreError):
    """DuckDB failed fatally or internally on the store (a corrupted index, say): this process
    can no longer use it, and retrying in a loop would only fail the same way."""

    exit_code = 3

    def __init__(self, doing: str, exc: BaseException, path: Path | None = None) -> None:
        where = f"the store {path}" if path else "the store"
        super().__init__(
            f"DuckDB failed fatally {doing} in {where}: {_first_line(exc)}. The store may be "
            f"damaged (an index left wrong by a crash, for one); this process stops. The logs "
            f"are the source of truth: move the store aside and load them again with "
            f"`quarterdeck ingest`; keep the damaged file to report it."
        )


def default_path(cwd: Path | None = None) -> Path:
    """Where a store lives when nothing says otherwise: .quarterdeck/quarterdeck.duckdb
    under the working directory (--db, $QUARTERDECK_DB and the config come first)."""
    return (cwd or Path.cwd()) / DEFAULT_DIR / DEFAULT_NAME


def utc_now() -> datetime:
    """Now, the way the store keeps times: naive, in UTC."""
    return datetime.now(UTC).replace(tzinfo=None)


_LOCK_PID = re.compile(r"Conflicting lock is held in (?P<holder>.*?) \(PID (?P<pid>\d+)\)")


def _holder_name(pid: int) -> str | None:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return None
    name = Path(words[0]).name
    rest = " ".join(words[1:8])
    text = f"{name} {rest}".strip()
    return text if len(text) <= 100 else text[:99] + "…"


@dataclass
class Store:
    """An open store. `con` belongs to the thread that opened it; use `cursor()` elsewhere."""

    path: Path
    con: duckdb.DuckDBPyConnection
    read_only: bool = False
    migrated: list[int] = field(default_factory=list)

    @classmethod
    def open(cls, path: Path | str, read_only: bool = False) -> Store:
        path = Path(path)
        if read_only and not path.exists():
            raise StoreError(f"no store at {path}; load logs first with `quarterdeck ingest`")
        if not read_only:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create {path.parent}: {exc.strerror}") from exc
        try:
            con = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            match = _LOCK_PID.search(str(exc))
            if match:
                pid = int(match["pid"])
                raise StoreLocked(path, pid, _holder_name(pid)) from exc
            raise StoreError(f"cannot open the store {path}: {_first_line(exc)}") from exc
        except (duckdb.FatalException, duckdb.InternalException) as exc:
            raise StoreDamaged("opening it", exc, path) from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot open the store {path}: {_first_line(exc)}") from exc
        store = cls(path=path, con=con, read_only=read_only)
        try:
            store._prepare()
        except _NeedsUpgrade:
            con.close()
            cls.open(path).close()  # upgrade it once (refused, naming the holder, if in use)
            return cls.open(path, read_only=True)
        except BaseException:
            con.close()
            raise
        return store

    def _prepare(self) -> None:
        _session(self.con)
        try:
            if self.read_only:
                version = current_version(self.con)
                if 0 < version < LATEST:
                    raise _NeedsUpgrade()
                if version != LATEST:
                    raise StoreError(
                        f"the store {self.path} has schema version {version}, this Quarterdeck "
                        f"expects {LATEST}; open it once without --read-only to upgrade it"
                    )
            else:
                self.migrated = migrate(self.con)
        except SchemaTooNew as exc:
            raise StoreError(str(exc)) from exc
        except (duckdb.FatalException, duckdb.InternalException) as exc:
            raise StoreDamaged("preparing it", exc, self.path) from exc
        except duckdb.Error as exc:
            raise StoreError(f"cannot prepare the store {self.path}: {_first_line(exc)}") from exc
        macros.install(self.con)
        if self.migrated:
            self._rederive()

    def _rederive(self) -> None:
        """An open that upgraded the store brings its derived facts up to date before anyone
        reads them: a migration may have emptied a derived table and moved its marks back
        (V8 made run_summary anew). Cheap when nothing is behind."""
        from quarterdeck.queries.derived import refresh_derived  # derived raises StoreDamaged

        try:
            refresh_derived(self.con)
        except duckdb.Error as exc:
            raise StoreError(f"cannot prepare the store {self.path}: {_first_line(exc)}") from exc

    def cursor(self) -> duckdb.DuckDBPyConnection:
        """A cursor for another thread: same database, its own transaction state."""
        cur = self.con.cursor()
        _session(cur)
        macros.install(cur)
        return cur

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _session(con: duckdb.DuckDBPyConnection) -> None:
    """Settings every connection to the store has: times in UTC, and no progress bar (DuckDB
    draws one on stdout for a statement past 2 s, on a busy machine or a large load, which
    would corrupt `--format json` output and the console's screen)."""
    con.execute("SET TimeZone = 'UTC'")
    con.execute("SET enable_progress_bar = false")


class OwnCursor:
    """A part that queries the store on a cursor of its own (`_cursor`), one call at a time
    (`_lock`). `rebind` moves it to the same store opened again (a server reopening its
    database, server/recycle.py)."""

    _cursor: duckdb.DuckDBPyConnection
    _lock: threading.Lock

    def release(self) -> None:
        """Close the cursor: the store is about to close. `rebind` before the next call."""
        with self._lock:
            self._cursor.close()

    def rebind(self, store: Store) -> None:
        """Carry on with a new cursor on `store`, the same store opened again."""
        with self._lock:
            self._cursor = store.cursor()


class _NeedsUpgrade(Exception):
    """A read-only open found an older schema: the store is upgraded first."""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
