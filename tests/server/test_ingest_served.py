"""`quarterdeck ingest` against a store a server serves: the client reads its files and sends
their bytes, the server loads them; the summary and the stored rows are what an embedded load
of the same files gives, each file's name marked as an upload by its sender
(`upload:<who>:<name>`). Real `quarterdeck serve` processes on real sockets throughout."""

from __future__ import annotations

import gzip
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import derived
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl
from support.serving import Served, env, qd, until

SAMPLE = Path(__file__).resolve().parents[2] / "sample_logs"

#: What is stored about each source, by table: enough to see that names, line numbers,
#: offsets and classes are the ones an embedded load records.
ROWS = {
    "events": "SELECT event_id, type, run_id, source, line_no, byte_offset FROM events",
    "quarantine": "SELECT source, line_no, byte_offset, error_class, error, raw FROM quarantine",
    "approval_records": "SELECT record_key, approval_id, status, source, line_no "
    "FROM approval_records",
    "files": "SELECT path, fingerprint, size, byte_offset, lines FROM files",
    "source_roots": "SELECT source, root FROM source_roots",
    "run_summary": "SELECT run_id, workflow, outcome, events, touched, out_of_scope "
    "FROM run_summary",
}


def config(folder: Path) -> Path:
    path = folder / "quarterdeck.toml"
    path.write_text('[store]\nstale_after = "3650d"\n')
    return path


def inputs(folder: Path) -> list[Path]:
    """A log with bad lines, a gzipped log, approval records as CSV, and a folder."""
    bad = write_jsonl(
        folder / "in" / "bad.jsonl",
        [
            started("r-bad"),
            b"{not json",
            event("step.started", "2026-11-20T08:00:01", "r-bad", event_id="no-offset"),
            event("step.started", "2026-11-20T08:00:02Z", "r-bad", event_id="s1", step_id="s1"),
            b"\xff\xfe",
        ],
    )
    plain = write_jsonl(
        folder / "in" / "zipped.jsonl",
        [started("r-gz"), event("run.finished", "2026-11-20T08:05:00Z", "r-gz", status="ok")],
    )
    zipped = plain.with_name("zipped.jsonl.gz")
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    csv = folder / "in" / "approvals.csv"
    shutil.copy(SAMPLE / "approvals" / "approval-system-export.csv", csv)
    fleet = folder / "in" / "fleet"
    shutil.copytree(SAMPLE / "invoice-posting", fleet / "invoice-posting")
    return [bad, zipped, csv, fleet]


def stored(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    with Store.open(db, read_only=True) as store:
        return {name: sorted(store.con.execute(sql).fetchall()) for name, sql in ROWS.items()}


def unmarked(rows: dict[str, list[tuple[Any, ...]]], who: str) -> dict[str, list[Any]]:
    """`rows` with each name marked as an upload by `who` given back as the client sent it."""
    mark = f"upload:{who}:"
    return {
        table: sorted(
            tuple(v.removeprefix(mark) if isinstance(v, str) else v for v in row) for row in found
        )
        for table, found in rows.items()
    }


def summary(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout)
    for timed in ("seconds", "events_per_second"):
        counts.pop(timed)
    return dict(counts)


def test_ingest_through_the_server_stores_what_an_embedded_ingest_stores(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    cfg = config(tmp_path)
    paths = [str(p) for p in inputs(tmp_path)]
    embedded_db, served_db = tmp_path / "embedded" / "qd.duckdb", tmp_path / "served" / "qd.duckdb"
    embedded = qd(
        "ingest", *paths, "--json", "--db", str(embedded_db), "--config", str(cfg), cwd=tmp_path
    )
    server = serving(served_db, cfg, cwd=tmp_path)
    through = qd(
        "ingest", *paths, "--json", "--db", str(served_db), "--config", str(cfg), cwd=tmp_path
    )
    assert summary(through) == summary(embedded)
    loaded = summary(through)
    assert loaded["quarantined"] >= 3 and loaded["approval_records"] > 0

    again = qd("ingest", *paths, "--db", str(served_db), "--config", str(cfg), cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert "0 events loaded" in again.stdout
    repeated = loaded["events"] + loaded["approval_records"] + loaded["duplicates"]
    assert f"{repeated:,} duplicates" in again.stdout
    assert f"({loaded['quarantined']} already known)" in again.stdout

    assert server.stop() == 0
    assert not list(served_db.parent.glob("*.ingest-*")), "the spool is removed"
    me = pwd.getpwuid(os.getuid()).pw_name
    assert unmarked(stored(served_db), me) == stored(embedded_db)
    # a file in a folder given is named relative to that folder, a file given as given, each
    # marked as sent by this user: never a name a followed log could have
    sources = {row[3] for row in stored(served_db)["events"]}
    assert all(s.startswith(f"upload:{me}:") for s in sources)
    sources = {s.removeprefix(f"upload:{me}:") for s in sources}
    assert "invoice-posting/runs-2026-11-24.jsonl" in sources
    assert paths[0] in sources and not any(
        s.startswith(str(tmp_path / "in" / "fleet")) for s in sources
    )
    # and the folder each name is relative to, as the client saw it (a path given absolute
    # is its own name: no root)
    roots = dict(unmarked({"roots": stored(served_db)["source_roots"]}, me)["roots"])
    assert roots["invoice-posting/runs-2026-11-24.jsonl"] == str(
        (tmp_path / "in" / "fleet").resolve()
    )
    assert paths[0] not in roots


def test_a_missing_path_is_a_usage_error_before_anything_is_sent(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    cfg, db = config(tmp_path), tmp_path / "store" / "qd.duckdb"
    log = write_jsonl(tmp_path / "in" / "a.jsonl", [started("r-1")])
    server = serving(db, cfg, cwd=tmp_path)
    result = qd(
        "ingest",
        str(log),
        str(tmp_path / "nowhere.jsonl"),
        "--db",
        str(db),
        "--config",
        str(cfg),
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert f"no such file or folder: {tmp_path / 'nowhere.jsonl'}" in result.stderr
    assert "Traceback" not in result.stderr
    follow = qd("ingest", "--follow", str(log), "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert follow.returncode == 2
    assert "the server follows" in follow.stderr and "[serve] follow" in follow.stderr
    assert "ingest by" not in server.stderr()
    assert server.status()["in_flight"] == []


def test_a_client_gone_mid_upload_loads_nothing(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    cfg, db = config(tmp_path), tmp_path / "store" / "qd.duckdb"
    left = db.parent / "qd.duckdb.ingest-k1ll3d"  # a spool a killed server left
    left.mkdir(parents=True)
    (left / "000000.data").write_bytes(b"{}\n")
    server = serving(db, cfg, cwd=tmp_path)
    assert not left.exists()
    line = json.dumps(started("r-half")).encode() + b"\n"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(server.db) + ".sock")
        head = b'{"name": "a.jsonl", "kind": "events"}\n' + b"%d\n" % len(line) + line
        sock.sendall(
            b"POST /v1/ingest HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/vnd.quarterdeck.ingest\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(head) + head + b"\r\n"
        )
    until(lambda: "nothing was loaded" in server.stderr(), "the server to drop the upload")
    runs = qd("runs", "--format", "json", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert runs.returncode == 0, runs.stderr
    assert json.loads(runs.stdout) == []
    assert not list(db.parent.glob("*.ingest-*"))


def test_a_server_that_goes_away_mid_ingest_is_exit_3(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    cfg, db = config(tmp_path), tmp_path / "store" / "qd.duckdb"
    big = tmp_path / "in" / "big.jsonl"
    big.parent.mkdir()
    with big.open("w") as out:  # enough lines that the load is still going when it is seen
        for i in range(150_000):
            out.write(json.dumps(started(f"r-{i}")) + "\n")
    server = serving(db, cfg, cwd=tmp_path)
    ingest = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "quarterdeck.cli",
            "ingest",
            str(big),
            "--db",
            str(db),
            "--config",
            str(cfg),
        ],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    until(
        lambda: any(w["what"].startswith("ingest") for w in server.status()["in_flight"]),
        "the server to be loading",
    )
    server.stop(signal.SIGKILL)
    _, err = ingest.communicate(timeout=60)
    assert ingest.returncode == 3, err
    assert "went away during the ingest" in err and "Traceback" not in err


def test_a_loads_refresh_waits_out_a_concurrent_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In a server the follower refreshes the summaries on its cursor while a client's files
    load on another: the load's refresh, meeting the follower's, is tried again."""
    log = write_jsonl(tmp_path / "runs.jsonl", [started("r-1"), started("r-2")])
    with Store.open(tmp_path / "qd.duckdb") as store:
        load_paths(store.con, [log])
        store.con.execute("UPDATE derived_marks SET events_rowid = -1")  # all to do again
        follower, loader = store.cursor(), store.cursor()
        follower.execute("BEGIN TRANSACTION")
        follower.execute("UPDATE derived_marks SET events_rowid = events_rowid")
        with pytest.raises(duckdb.TransactionException):
            derived.refresh_derived(loader)  # alone, the conflict is an error
        tries: list[int] = []
        refresh = derived._refresh

        def counted(con: duckdb.DuckDBPyConnection) -> tuple[int, int, object]:
            tries.append(1)
            return refresh(con)

        monkeypatch.setattr(derived, "_refresh", counted)
        answer: list[int] = []
        waiting = threading.Thread(
            target=lambda: answer.append(derived.refresh_derived(loader, tries=10_000))
        )
        waiting.start()
        until(lambda: len(tries) >= 2, "the refresh to be tried again")
        follower.execute("COMMIT")
        waiting.join(timeout=60)
        assert answer == [2]
