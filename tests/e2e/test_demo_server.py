"""The demo's real shape, headless: `quarterdeck demo --no-console` starts `quarterdeck serve`
on the demo's store (following the sample fleet and the live runner) and the runner; a
command run as another process reads the runner's live runs through the server; stopping the
demo stops both, and a demo killed outright leaves neither behind.

Each test waits on real processes (the server loads the sample fleet first), never for a
fixed time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from quarterdeck import client, demo
from quarterdeck.config import Settings, load
from quarterdeck.queries.store import StoreError
from support.serving import READY_S, env, qd, until


def children(pid: int) -> set[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone while we looked
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def gone(pid: int) -> bool:
    """Exited (a zombie nobody has reaped yet counts: it runs nothing)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state == "Z"


def serving(db: Path, demo_pid: int) -> bool:
    found = client.find(db)
    if found is None:
        return False
    try:
        return found.status()["pid"] in children(demo_pid)
    except StoreError:
        return False


@pytest.fixture
def started_demo(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path]]:
    """`quarterdeck demo --no-console` in `tmp_path/d`, up and serving; killed if a test
    leaves it running. It runs under umask 002, many systems' default for a user: the folders
    it makes would be group-writable, which the server refuses for a store's folder."""
    work = tmp_path / "d"
    err = (tmp_path / "demo.err").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "quarterdeck.cli", "demo", "--no-console", "--dir", str(work)]
        + ["--rate", "40", "--seed", "3"],
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=err,
        text=True,
        umask=0o002,
    )

    def up() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"demo exited {proc.returncode}:\n{(tmp_path / 'demo.err').read_text()}")
        return serving(work / "demo.duckdb", proc.pid)

    try:
        until(up, "the demo's server to answer", timeout=READY_S)
        yield proc, work
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


def test_the_demo_serves_its_store_and_stopping_it_stops_everything(
    started_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, work = started_demo
    db = work / "demo.duckdb"
    started = children(proc.pid)
    assert len(started) == 2  # the server and the runner
    config = load(str(work / "quarterdeck.toml"))  # the demo's rules, written for the server
    assert [t.name for t in config.trigger] == [t.name for t in demo.DEMO_TRIGGERS]

    def live_runs() -> list[dict[str, object]]:
        # the sample fleet ended days ago: a run started in the last 5 minutes is the runner's
        ran = qd("runs", "--since", "5m", "--format", "json", "--db", str(db), cwd=work.parent)
        assert ran.returncode == 0, ran.stderr
        return list(json.loads(ran.stdout))

    runs = until(live_runs, "the runner's live runs, read through the server")
    assert all(str(run["run_id"]).startswith("r-") for run in runs)
    status = client.find(db)
    assert status is not None
    stored = status.status()["follow"]["events"]
    assert stored > 0
    # the follower is woken by the runner's writes, and stores them
    until(lambda: status.status()["follow"]["events"] > stored + 50, "more live lines stored")

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert all(gone(pid) for pid in started)
    assert not client.socket_path(db).exists()  # the server stopped cleanly
    # the server's log says what it did, not each file event it was woken by
    assert "changes detected" not in (work / "serve.log").read_text()
    assert "Traceback" not in (work / "serve.log").read_text()


def test_a_demo_killed_outright_leaves_no_process_behind(
    started_demo: tuple[subprocess.Popen[str], Path],
) -> None:
    proc, work = started_demo
    started = children(proc.pid)
    assert len(started) == 2
    proc.kill()
    proc.wait()
    # the server hears of it from the kernel (SIGTERM), the runner by watching its parent
    until(lambda: all(gone(pid) for pid in started), "the server and the runner to stop")
    assert not client.socket_path(work / "demo.duckdb").exists()


def test_the_demo_config_reads_back_as_the_demo_settings(tmp_path: Path) -> None:
    written = demo.server_config(tmp_path, Settings(), tmp_path / "demo.duckdb")
    back = load(str(written))
    assert back.trigger == demo.DEMO_TRIGGERS
    assert back.store.path == str((tmp_path / "demo.duckdb").resolve())
    ((name, roles),) = back.operators.items()
    assert "operator" in roles.roles
    assert written.read_text().startswith(f'operator = "{name}"\n')


def test_a_server_that_cannot_start_is_reported_with_its_log(tmp_path: Path) -> None:
    work = tmp_path / "d"
    work.mkdir()
    (work / "demo.duckdb.sock").write_text("not a socket")  # serve refuses to remove it
    ran = qd("demo", "--no-console", "--dir", str(work), "--rate", "5", cwd=tmp_path)
    assert ran.returncode == 1
    assert f"the demo's server exited 3 before it answered; the end of {work}/serve.log" in (
        ran.stderr
    )
    assert "demo.duckdb.sock is there and is not a socket; move it away" in ran.stderr
    assert "Traceback" not in ran.stderr
