"""Follow mode: every line exactly once, across appends, partial lines, rotation, truncation,
restarts and crashes; the follower process killed with SIGKILL mid-load loses nothing."""

from __future__ import annotations

import gzip
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from quarterdeck.ingest.follow import FileNotice, Follower
from quarterdeck.queries import allocator, loading
from quarterdeck.queries.store import Store
from support.layout import ROOT


def line(n: int, run: str = "r-1", ts: str = "2026-11-27T08:00:00Z") -> bytes:
    return (
        json.dumps(
            {
                "type": "step.started",
                "ts": ts,
                "run_id": run,
                "event_id": f"e{n}",
                "step_id": f"s{n}",
                "name": "classify",
                "kind": "llm",
            }
        ).encode()
        + b"\n"
    )


def failing(message: str) -> str:
    """An offset statement that fails inside the commit, as a crash or a full disk would."""
    return (
        f"SELECT error('{message}') FROM (SELECT $fingerprint, $path, $byte_offset, "
        "$line_no, $size, $done, $now, $shift)"
    )


def stored(store: Store) -> list[tuple[str, str, int, int]]:
    return store.con.execute(
        "SELECT event_id, source, line_no, byte_offset FROM events ORDER BY event_id"
    ).fetchall()


@pytest.fixture
def follower(store: Store, logs: Path) -> Iterator[Follower]:
    notices: list[FileNotice] = []
    f = Follower(store.cursor(), [logs], on_notice=notices.append, grace=0)
    f.notices = notices  # type: ignore[attr-defined]
    yield f
    f.close()


def test_a_partial_last_line_waits_for_its_newline(
    store: Store, logs: Path, follower: Follower
) -> None:
    path = logs / "a.jsonl"
    whole = line(1)
    path.write_bytes(line(0) + whole[:25])
    assert follower.poll() == 1
    offset = loading.saved_offsets(store.con)
    assert [o.byte_offset for o in offset.values()] == [len(line(0))]  # not past the fragment
    with path.open("ab") as h:
        h.write(whole[25:])
    assert follower.poll() == 1
    assert [row[0] for row in stored(store)] == ["e0", "e1"]
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0


def test_each_summary_refresh_gives_back_what_it_freed(
    store: Store, logs: Path, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a server's maintenance (a console's follower, `ingest --follow`), the follower
    itself hands the allocators' freed pages back after each refresh (queries/allocator.py,
    whose own test shows what a release gives back)."""
    calls: list[bool] = []
    real = allocator.release
    monkeypatch.setattr(allocator, "release", lambda: calls.append(real()) or calls[-1])
    (logs / "a.jsonl").write_bytes(line(0))
    assert follower.poll() == 1
    assert calls == [True]  # glibc's, at least, on Linux
    assert store.con.execute("SELECT count(*) FROM run_summary").fetchone() == (1,)


def test_every_stored_line_points_at_its_bytes(
    store: Store, logs: Path, follower: Follower
) -> None:
    path = logs / "a.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + line(0) + line(1))
    follower.poll()
    with path.open("ab") as h:
        h.write(line(2))
    follower.poll()
    for event_id, source, line_no, offset in stored(store):
        assert source == "a.jsonl"  # relative to the followed folder: logs / source is it
        data = (logs / source).read_bytes()
        root = store.con.execute("SELECT root FROM source_roots WHERE source = ?", [source])
        assert root.fetchone() == (str(logs.resolve()),)  # the folder it is relative to
        assert json.loads(data[offset:].split(b"\n", 1)[0])["event_id"] == event_id
        assert line_no == int(event_id[1:]) + 1


def test_rotation_reads_the_old_file_to_its_end_then_the_new_one(
    store: Store, logs: Path, follower: Follower
) -> None:
    path = logs / "app.jsonl"
    path.write_bytes(line(0))
    follower.poll()
    with path.open("ab") as h:  # written just before the rename: still to be read
        h.write(line(1) + b'{"type": "step.sta')
    path.rename(logs / "app.1.jsonl")
    path.write_bytes(line(2))
    follower.poll()
    follower.poll()
    assert [row[0] for row in stored(store)] == ["e0", "e1", "e2"]
    assert [n.kind for n in follower.notices] == ["rotated", "unterminated"]  # type: ignore
    assert store.con.execute("SELECT error_class, raw FROM quarantine").fetchall() == [
        ("unterminated", b'{"type": "step.sta')
    ]
    assert follower.stats.duplicates == 0  # the renamed file was known by its fingerprint


def test_files_that_begin_with_the_same_line_are_each_read_whole(
    store: Store, logs: Path, follower: Follower
) -> None:
    header = line(0, run="r-header")  # the same first line in both (a common header)
    (logs / "a.jsonl").write_bytes(header + line(1) + line(2))
    follower.poll()
    (logs / "b.jsonl").write_bytes(header + line(3) + line(4) + line(5))
    follower.poll()
    with (logs / "b.jsonl").open("ab") as h:
        h.write(line(6))
    follower.poll()
    assert [row[0] for row in stored(store)] == ["e0", "e1", "e2", "e3", "e4", "e5", "e6"]
    assert follower.stats.duplicates == 1  # the header's event, stored once
    notices = [n for n in follower.notices if n.kind == "shared_start"]  # type: ignore
    assert len(notices) == 1 and notices[0].path.endswith("b.jsonl")
    follower.close()
    # A restart knows each again, even with the first one gone: b resumes where it was.
    (logs / "a.jsonl").unlink()
    with (logs / "b.jsonl").open("ab") as h:
        h.write(line(7))
    again = Follower(store.cursor(), [logs])
    assert again.poll() == 1
    assert again.stats.duplicates == 0
    again.close()
    assert [row[0] for row in stored(store)][-1] == "e7"


def test_a_copy_of_a_followed_file_adds_nothing_even_without_event_ids(
    store: Store, logs: Path, follower: Follower
) -> None:
    body = b"".join(
        json.dumps({"type": "step.started", "ts": "2026-11-27T08:00:00Z", "run_id": "r-1",
                    "step_id": f"s{n}"}).encode() + b"\n"
        for n in range(3)
    )  # fmt: skip
    (logs / "app.jsonl").write_bytes(body)
    follower.poll()
    (logs / "app.copy.jsonl").write_bytes(body)  # cp app.jsonl app.copy.jsonl
    follower.poll()
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (3,)


def test_a_rotated_file_whose_successor_has_the_same_first_line_loses_nothing(
    store: Store, logs: Path, follower: Follower
) -> None:
    header = line(0, run="r-header")
    path = logs / "app.jsonl"
    path.write_bytes(header + line(1) + line(2) + line(3))
    follower.poll()
    path.rename(logs / "app.1.jsonl")
    path.write_bytes(header + line(4))  # the new file begins as the old one did
    follower.poll()
    follower.poll()
    assert [row[0] for row in stored(store)] == ["e0", "e1", "e2", "e3", "e4"]


def test_a_file_that_cannot_be_read_is_said_once_and_read_once_it_can(
    store: Store, logs: Path, follower: Follower, monkeypatch: pytest.MonkeyPatch
) -> None:
    import quarterdeck.ingest.follow as follow_module

    path = logs / "locked.jsonl"
    path.write_bytes(line(0))

    def denied(name: object, *args: object, **kwargs: object) -> object:
        if Path(str(name)) == path:  # mode 000 as another user sees it (tests run as root)
            raise PermissionError(13, "Permission denied", str(name))
        return open(name, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(follow_module, "open", denied, raising=False)
    follower.poll()
    follower.poll()
    notices = [n for n in follower.notices if n.kind == "unreadable"]  # type: ignore
    assert len(notices) == 1 and "Permission denied" in notices[0].message
    assert stored(store) == []
    monkeypatch.undo()
    follower.poll()
    assert [row[0] for row in stored(store)] == ["e0"]


def test_truncation_starts_again_and_is_recorded(
    store: Store, logs: Path, follower: Follower
) -> None:
    path = logs / "app.jsonl"
    path.write_bytes(line(0) + line(1) + line(2))
    follower.poll()
    with path.open("r+b") as h:  # copytruncate: the same file, emptied, then written again
        h.truncate(0)
        h.write(line(3))
    follower.poll()
    assert [row[0] for row in stored(store)] == ["e0", "e1", "e2", "e3"]
    kinds = store.con.execute("SELECT kind FROM file_events").fetchall()
    assert kinds in ([("truncated",)], [("replaced",)])
    assert "from the start" in follower.notices[0].message  # type: ignore[attr-defined]


def test_a_restart_resumes_exactly_where_the_last_commit_ended(store: Store, logs: Path) -> None:
    path = logs / "app.jsonl"
    path.write_bytes(line(0) + line(1))
    first = Follower(store.cursor(), [logs])
    first.poll()
    first.close()
    with path.open("ab") as h:
        h.write(line(2))
    second = Follower(store.cursor(), [logs])
    assert second.poll() == 1
    assert second.stats.duplicates == 0  # nothing was read twice
    second.close()


def test_gzipped_files_are_read_once_and_csv_records_again_when_changed(
    store: Store, logs: Path, follower: Follower
) -> None:
    with gzip.open(logs / "old.jsonl.gz", "wb") as h:
        h.write(line(0) + line(1))
    csv = logs / "approvals.csv"
    csv.write_text("approval_id,status,run_id\nap-1,pending,r-1\n")
    follower.poll()
    assert store.con.execute("SELECT count(*) FROM events").fetchone()[0] == 2
    with csv.open("a") as h:
        h.write("ap-1,approved,r-1\n")
    os.utime(csv, (time.time() - 10, time.time() - 10))  # settled
    follower.poll()
    follower.poll()
    assert store.con.execute("SELECT count(*) FROM approval_records").fetchone()[0] == 2
    again = Follower(store.cursor(), [logs])
    again.poll()
    assert again.stats.events == 0 and again.stats.records == 0
    again.close()


def test_a_failed_commit_stores_nothing_and_the_lines_are_read_again(
    store: Store, logs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (logs / "app.jsonl").write_bytes(line(0) + line(1))
    follower = Follower(store.cursor(), [logs])
    monkeypatch.setattr(loading, "_SAVE_OFFSET", failing("disk full"))
    with pytest.raises(Exception, match="disk full"):
        follower.poll()
    assert stored(store) == []  # the events went with the offset: all or nothing
    monkeypatch.undo()
    assert follower.poll() == 2
    follower.close()


def test_lag_is_measured_from_the_event_time(store: Store, logs: Path) -> None:
    from datetime import UTC, datetime, timedelta

    follower = Follower(store.cursor(), [logs])
    now = datetime.now(UTC)
    stamp = (now - timedelta(seconds=3)).isoformat().replace("+00:00", "Z")
    old = (now - timedelta(days=3)).isoformat().replace("+00:00", "Z")
    (logs / "app.jsonl").write_bytes(line(0, ts=stamp) + line(1, ts=old))
    follower.poll()
    assert len(follower.stats.lags) == 1  # the backlog event is not lag
    assert 2.5 < follower.stats.lag() < 60
    follower.close()


# --- the model ----------------------------------------------------------------------------


class FollowedLog(RuleBasedStateMachine):
    """A writer appends, half-writes, rotates and truncates a log while a follower polls,
    restarts and crashes mid-commit. Nothing is stored twice or read twice; nothing is
    missed except lines that a truncation destroyed before they were read."""

    def __init__(self) -> None:
        super().__init__()
        import tempfile

        self.dir = Path(tempfile.mkdtemp(prefix="qd-follow-"))
        self.logs = self.dir / "logs"
        self.logs.mkdir()
        self.store = Store.open(self.dir / "qd.duckdb")
        self.follower = Follower(self.store.cursor(), [self.logs], grace=0)
        self.path = self.logs / "app.jsonl"
        self.path.write_bytes(b"")
        self.next = 0
        self.partial: bytes | None = None  # the rest of a half-written line
        self.written: set[str] = set()  # complete lines ever written
        self.unread_on_truncate: set[str] = set()  # lines a truncation may have destroyed
        self.in_file: set[str] = set()  # complete lines in the current file
        self.abandoned: set[str] = set()  # fragments left behind by a rotation
        self.rotations = 0
        self.duplicates = 0

    @initialize()
    def nothing(self) -> None:
        pass

    def _write(self, data: bytes) -> None:
        with self.path.open("ab") as h:
            h.write(data)

    @rule(n=st.integers(1, 5))
    def append(self, n: int) -> None:
        if self.partial is not None:
            self.finish_partial()
        data = b""
        for _ in range(n):
            data += line(self.next)
            self.written.add(f"e{self.next}")
            self.in_file.add(f"e{self.next}")
            self.next += 1
        self._write(data)

    @precondition(lambda self: self.partial is None)
    @rule(cut=st.integers(1, 60))
    def half_write(self, cut: int) -> None:
        whole = line(self.next)
        self._write(whole[:cut])
        self.partial = whole[cut:]

    @precondition(lambda self: self.partial is not None)
    @rule()
    def finish_partial(self) -> None:
        assert self.partial is not None
        self._write(self.partial)
        self.partial = None
        self.written.add(f"e{self.next}")
        self.in_file.add(f"e{self.next}")
        self.next += 1

    @rule()
    def rotate(self) -> None:
        if self.partial is not None:  # the writer gives up on its half line
            self.abandoned.add(f"e{self.next}")
            self.next += 1
            self.partial = None
        self.rotations += 1
        self.path.rename(self.logs / f"app.{self.rotations}.jsonl")
        self.path.write_bytes(b"")
        self.in_file = set()

    @rule()
    def truncate(self) -> None:
        if self.partial is not None:
            self.next += 1
            self.partial = None
        self.unread_on_truncate |= self.in_file
        self.in_file = set()
        with self.path.open("r+b") as h:
            h.truncate(0)

    @rule()
    def poll(self) -> None:
        self.follower.poll()
        # what has been stored is known: a later truncation cannot destroy it
        self.unread_on_truncate -= self._stored_ids()

    @rule()
    def restart(self) -> None:
        self.follower.close()
        self.duplicates += self.follower.stats.duplicates
        self.follower = Follower(self.store.cursor(), [self.logs], grace=0)

    @rule()
    def crash_mid_commit(self) -> None:
        """The process dies inside a transaction: nothing of it is stored; a new follower
        starts from the store alone."""
        original = loading._SAVE_OFFSET
        loading._SAVE_OFFSET = failing("crash")
        try:
            self.follower.poll()
        except Exception:
            pass
        finally:
            loading._SAVE_OFFSET = original
        self.duplicates += self.follower.stats.duplicates
        self.follower = Follower(self.store.cursor(), [self.logs], grace=0)  # no close()

    def _stored_ids(self) -> set[str]:
        return {row[0] for row in self.store.con.execute("SELECT event_id FROM events").fetchall()}

    @invariant()
    def never_twice_never_invented(self) -> None:
        rows = self.store.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        assert rows[0] == rows[1]
        assert self._stored_ids() <= self.written
        assert self.follower.stats.duplicates == 0  # no byte was read twice

    def teardown(self) -> None:
        try:
            self.follower.poll()
            self.follower.poll()
            got = self._stored_ids()
            assert self.written - self.unread_on_truncate <= got, "a line was missed"
            assert self.duplicates == 0
        finally:
            self.follower.close()
            self.store.close()


FollowedLog.TestCase.settings = settings(
    max_examples=25,  # 48 s at 60, 37 s at 40 on the 2-core machine; CI keeps under 10 minutes
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_follow_model = FollowedLog.TestCase


# --- a real process, killed -----------------------------------------------------------------


def _quarterdeck(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "quarterdeck.cli", *args],
        cwd=cwd,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_a_follower_killed_mid_load_restarts_with_every_line_exactly_once(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    total = 0
    for part in range(4):  # enough that the first follower is stopped mid-way
        with (logs / f"part-{part}.jsonl").open("wb") as h:
            h.write(b"".join(line(total + i, run=f"r-{(total + i) // 50}") for i in range(60_000)))
        total += 60_000
    db = tmp_path / "qd.duckdb"
    first = _quarterdeck(
        "ingest", "--follow", str(logs), "--db", str(db), "--report-every", "0", cwd=ROOT
    )
    # The first status line comes once a unit has been committed (and summarised): the load
    # is under way, and far from done.
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in first.stderr], daemon=True).start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if "events stored" in lines.get(timeout=1):
                break
        except queue.Empty:
            continue
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=10)
    assert first.returncode == -signal.SIGKILL
    second = _quarterdeck(
        "ingest", "--follow", "--once", str(logs), "--db", str(db), "--json", cwd=ROOT
    )
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    report = json.loads(out)
    assert report["duplicates"] == 0, "the restart read again what had been committed"
    with Store.open(db) as store:
        count, distinct = store.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        runs = store.con.execute("SELECT count(*) FROM run_summary").fetchone()[0]
    assert count == distinct == total
    assert 0 < report["events"] < total, "the kill did not land mid-load; make the load longer"
    assert runs == total // 50  # summaries caught up after the kill


def test_sigterm_stops_the_follower_cleanly(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "a.jsonl").write_bytes(line(0))
    proc = _quarterdeck(
        "ingest",
        "--follow",
        str(logs),
        "--db",
        str(tmp_path / "qd.duckdb"),
        "--report-every",
        "0",
        cwd=ROOT,
    )
    assert proc.stderr is not None
    seen = ""
    while "1 event stored" not in seen:  # its status line: the line is committed
        text = proc.stderr.readline()
        assert text, f"the follower ended before it stored the line:\n{seen}"
        seen += text
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    err = seen + err
    assert proc.returncode == 0, err
    assert "1 event stored" in out
    assert "Traceback" not in err
