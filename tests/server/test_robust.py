"""The server where a tester broke it, and its clients: a follower that fails carries on
(logged once, shown in `status`); connections are bounded in all and per user, the excess
refused with a 503 and never a traceback each, idle ones closed; `triggers` through a server
needs no rules of its own; a folder the user cannot enter, a reason too long or not UTF-8, a
server that does not answer: each a plain message and the README's exit code."""

from __future__ import annotations

import contextlib
import grp
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.ingest import load
from quarterdeck.ingest.follow import FileNotice, Follower
from quarterdeck.queries.decisions import MAX_REASON
from quarterdeck.queries.named import LIMIT_PROBLEM, MAX_LIMIT
from quarterdeck.queries.store import Store
from quarterdeck.server import serve
from quarterdeck.server.limits import Limits
from quarterdeck.server.peer import Peer
from support.events import started, write_jsonl
from support.serving import Served, env, qd, until
from support.users import python_for


def _minute_ago() -> str:
    return (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the follower ------------------------------------------------------------------------------


def test_a_folder_removed_during_the_walk_is_passed_over(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_jsonl(tmp_path / name / "deep" / "x.jsonl", [started(f"r-{name}")])
    walk = load._walk(tmp_path)
    first = next(walk)  # the top folder has been listed; its subfolders not yet
    shutil.rmtree(tmp_path / "b")  # (rglob raised FileNotFoundError here)
    seen = [first, *walk]
    assert tmp_path / "a" / "deep" / "x.jsonl" in seen
    assert [p.name for p in seen].count("x.jsonl") == 1


def test_a_failing_follower_is_logged_once_shown_and_tried_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    logs = tmp_path / "logs"
    log = write_jsonl(logs / "runs.jsonl", [started("r-1")])
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[store]\nstale_after = "3650d"\n')
    monkeypatch.setattr(serve, "FOLLOW_RETRY", 0.02)
    failing = {"left": 5}
    poll = Follower.poll

    def flaky(self: Follower) -> int:
        if failing["left"]:
            failing["left"] -= 1
            raise OSError(24, "Too many open files")
        return poll(self)

    monkeypatch.setattr(Follower, "poll", flaky)
    server = serve.Server(config_mod.load(str(cfg)), tmp_path / "store" / "qd.duckdb", [logs])
    caplog.set_level(logging.INFO, logger="quarterdeck.serve")
    umask = os.umask(0o022)  # `open` sets the server's own, 077: put this one back after
    server.open()
    try:
        server.start()
        error = until(lambda: (server.status()["follow"] or {}).get("error"), "the failure")
        assert error["message"] == "OSError: [Errno 24] Too many open files"
        assert error["since"].endswith("Z") and error["failures"] >= 1
        until(lambda: server.status()["follow"]["events"] == 1, "following to carry on")
        with log.open("a") as out:  # and it goes on following
            out.write(json.dumps(started("r-2")) + "\n")
        until(lambda: server.status()["follow"]["events"] == 2, "the next line")
        assert server.status()["follow"]["error"] is None
    finally:
        server.finish()
        os.umask(umask)
    failed = [r for r in caplog.records if "following failed" in r.getMessage()]
    assert len(failed) == 1 and failed[0].exc_info is not None  # one line, one traceback
    assert any("following again, after 5 failed tries" in r.getMessage() for r in caplog.records)


# --- connections --------------------------------------------------------------------------------


def test_limits_count_in_all_and_per_user() -> None:
    limits = Limits(total=3, per_user=2, idle=1.0)
    assert limits.admit(1000) is None and limits.admit(1000) is None
    assert "the most one user may" in (limits.admit(1000) or "")
    assert limits.admit(1001) is None
    assert "its most" in (limits.admit(1002) or "")  # three open: the total
    limits.release(1000)
    assert limits.admit(1002) is None
    assert limits.status() == {"open": 3, "max": 3, "max_per_user": 2, "refused": 2}


def test_connections_are_bounded_and_the_server_carries_on(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    logs = tmp_path / "logs"
    log = write_jsonl(logs / "runs.jsonl", [started(f"r-{i}", _minute_ago()) for i in range(3)])
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        '[store]\nstale_after = "30s"\n'
        "[serve]\nmax_connections = 60\nmax_connections_per_user = 40\n"
        'idle_timeout = "1s"\nevaluate_every = "0.2s"\n'
        '[[trigger]]\nname = "stalled"\nworkflow = "invoice-posting"\nmetric = "stale_runs"\n'
        'window = "1h"\nthreshold = 0\nauto = false\n'
    )
    db = tmp_path / "store" / "qd.duckdb"
    server = serving(db, cfg, "--follow", str(logs), cwd=tmp_path)
    until(lambda: server.status()["follow"]["events"] == 3, "the log to be stored")
    until(lambda: server.status()["triggers"], "a trigger evaluation")

    # `triggers` from a folder with no config of its own: the server's rules, exit 4
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    tripped = qd("triggers", "--db", str(db), cwd=elsewhere)
    assert tripped.returncode == 4, tripped.stderr
    assert "stalled" in tripped.stdout and tripped.stderr == ""

    with contextlib.ExitStack() as held:
        conns = []
        for _ in range(300):
            sock = held.enter_context(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            sock.connect(str(client.socket_path(db)))  # (waits while the backlog is full)
            sock.settimeout(30)
            conns.append(sock)
        with log.open("a") as out:  # the follower goes on meanwhile
            out.write(json.dumps(started("r-3", _minute_ago())) + "\n")
        answers = [_everything(sock) for sock in conns]  # the idle ones closed after 1 s
    refused = [a for a in answers if a.startswith(b"HTTP/1.1 503")]
    assert len(refused) == 260 and answers.count(b"") == 40
    assert b"the most one user may" in refused[0]
    status = until(
        lambda: (s := server.status())["follow"]["events"] == 4 and s, "the line written"
    )
    assert status["connections"] == {"open": 1, "max": 60, "max_per_user": 40, "refused": 260}
    assert status["follow"]["error"] is None
    busy = server.stderr()
    assert "Traceback" not in busy and busy.count("refused 1 connection") == 1
    assert server.stop() == 0


def _everything(sock: socket.socket) -> bytes:
    data = b""
    while piece := sock.recv(65536):
        data += piece
    return data


# --- what a client is told -----------------------------------------------------------------------


def test_an_ingest_to_a_socket_nobody_listens_on_says_nothing_was_sent(tmp_path: Path) -> None:
    path = tmp_path / "qd.duckdb.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as left:
        left.bind(str(path))  # a socket file with no server behind it
    log = write_jsonl(tmp_path / "runs.jsonl", [started("r-1")])
    with pytest.raises(client.ServerUnavailable, match=f"^no server answers on {path}"):
        client.Client(path).ingest([(log, "events", "runs.jsonl", str(tmp_path))])


def test_a_server_that_does_not_answer_is_named_within_the_timeout(tmp_path: Path) -> None:
    path = tmp_path / "qd.duckdb.sock"
    (tmp_path / "qd.duckdb").touch()  # ours, as the listening process is: a server it trusts
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listening:
        listening.bind(str(path))
        listening.listen(8)  # connections queue; nothing ever answers (a stopped server)
        with pytest.raises(client.ServerUnavailable) as stuck:
            client.Client(path, timeout=0.3).status()
    message = str(stuck.value)
    assert f"(pid {os.getpid()}) did not answer within 0.3 s" in message
    assert f"kill -CONT {os.getpid()}" in message
    assert stuck.value.exit_code == 3


@pytest.mark.parametrize("served", [False, True], ids=["embedded", "served"])
def test_a_bad_reason_or_limit_is_bad_input_either_way(
    served: bool, tmp_path: Path, serving: Callable[..., Served]
) -> None:
    logs = write_jsonl(tmp_path / "logs" / "runs.jsonl", [started("r-1", _minute_ago())])
    db = tmp_path / "store" / "qd.duckdb"
    with Store.open(db) as store:
        load.load_paths(store.con, [logs])
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[store]\nstale_after = "3650d"\n')
    if served:
        server = serving(db, cfg, cwd=tmp_path)
        with pytest.raises(client.BadRequest) as raw:  # a client that does not check first
            client.Client(client.socket_path(db)).decide(
                {"action": "pause", "run_id": "r-1", "reason": "x" * (MAX_REASON + 1)}
            )
        assert raw.value.exit_code == 2
        for limit in (MAX_LIMIT + 1, 2**63):  # a row cap, said as the command says it
            with pytest.raises(client.BadRequest) as capped:
                client.Client(client.socket_path(db)).query(
                    "runs", {"now": "2026-12-01T00:00:00", "limit": limit}
                )
            assert str(capped.value).endswith(f"limit: Value error, {LIMIT_PROBLEM}")
            assert capped.value.exit_code == 2
        at_most = client.Client(client.socket_path(db)).query(
            "runs", {"now": "2026-12-01T00:00:00", "limit": MAX_LIMIT}
        )
        assert at_most.num_rows == 1
    common = ("--db", str(db), "--config", str(cfg))
    capped = qd("runs", "--limit", "9" * 30, *common, cwd=tmp_path)  # (a BIGINT's too)
    assert capped.returncode == 2, capped.stderr
    assert capped.stderr.endswith(f"argument --limit: must be {LIMIT_PROBLEM}\n")
    long = qd(
        "decide", "pause", "--run", "r-1", "--reason", "x" * (MAX_REASON + 1), *common, cwd=tmp_path
    )
    assert long.returncode == 2, long.stderr
    assert long.stderr == (
        f"quarterdeck: the reason is {MAX_REASON + 1:,} characters; the most a decision takes "
        f"is {MAX_REASON:,} (put the rest in a document and name it)\n"
    )
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "quarterdeck.cli",
            "decide",
            "pause",
            "--run",
            "r-1",
            "--reason",
            b"caf\xe9",
            *common,
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env(),
    )
    assert bad.returncode == 2, bad.stderr
    assert "the reason is not valid UTF-8 text (at character 4)" in bad.stderr
    assert not (db.parent / "decisions.jsonl").exists()
    if served:
        assert server.stop() == 0


def test_a_folder_or_a_socket_the_user_may_not_use_is_exit_3(
    stranger: tuple[str, int, int], tmp_path: Path, serving: Callable[..., Served]
) -> None:
    name, uid, gid = stranger
    folder = Path(tempfile.mkdtemp(prefix="qd-closed-", dir="/tmp"))
    try:
        folder.chmod(0o711)
        closed = folder / "store"
        closed.mkdir(mode=0o750)
        as_stranger = ("setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups")
        python = ("env", f"HOME={folder}", *python_for(as_stranger))

        def run(*command: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*as_stranger, *python, *command],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=60,
            )

        for command in ("runs", "status", "console"):
            ran = run(command, "--db", str(closed / "qd.duckdb"))
            assert ran.returncode == 3, (command, ran.stderr)
            assert ran.stderr.startswith(
                f"quarterdeck: cannot reach the store {closed / 'qd.duckdb'}: you may not enter "
                f"{closed} (permission denied)"
            ), ran.stderr
        # a socket of a group the user is not in (the server's own, with no socket_group)
        db = folder / "open" / "qd.duckdb"
        cfg = folder / "server.toml"
        cfg.write_text('[store]\nstale_after = "3650d"\n')
        server = serving(db, cfg, cwd=folder)
        db.parent.chmod(0o711)
        ran = run("status", "--db", str(db))
        assert ran.returncode == 3, ran.stderr
        group = grp.getgrgid(os.getgid()).gr_name
        assert ran.stderr == (
            f"quarterdeck: you ({name}) may not connect to the server on {db}.sock: only its "
            f"owner and the group {group} may; ask whoever looks after it to add you to {group}\n"
        )
        assert server.stop() == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_option_is_named_as_given(tmp_path: Path) -> None:
    db = tmp_path / "qd.duckdb"
    ran = qd("workflows", "--at", "nope", "--db", str(db), cwd=tmp_path)
    assert ran.returncode == 2
    assert "--at 'nope': give a duration" in ran.stderr and "--since" not in ran.stderr


# --- roles --------------------------------------------------------------------------------------


def test_roles_are_read_again_on_sighup_or_when_the_config_changes(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[operators.ana]\nroles = ["operator"]\n')
    server = serve.Server(config_mod.load(str(cfg)), tmp_path / "store" / "qd.duckdb")
    ana = Peer(pid=1, uid=4321, gid=4321, name="ana")
    caplog.set_level(logging.INFO, logger="quarterdeck.serve")
    assert server.whoami(ana, read_only=False)["roles"] == ["operator"]
    assert not server.reload_roles_if_asked()  # nothing changed

    before = cfg.stat().st_mtime_ns
    cfg.write_text('[operators.ana]\nroles = []\n[operators.bo]\nroles = ["operator"]\n')
    os.utime(cfg, ns=(before + 10**9, before + 10**9))
    assert server.reload_roles_if_asked()  # the file changed: a removed role is gone
    assert server.whoami(ana, read_only=False)["roles"] == []
    assert f"{cfg} changed: roles read again from {cfg}: ana: none; bo: operator" in caplog.text

    cfg.write_text('[operators.ana]\nroles = ["operator"]\n')
    os.utime(cfg, ns=(before + 10**9, before + 10**9))  # the same time: only a SIGHUP tells
    kept = {
        number: signal.getsignal(number)
        for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT)
    }
    try:
        server._keep_stop_signals()
        os.kill(os.getpid(), signal.SIGHUP)
        until(server._reload_asked.is_set, "the SIGHUP")
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
    assert server.reload_roles_if_asked()
    assert server.whoami(ana, read_only=False)["roles"] == ["operator"]

    cfg.write_text("[operators.ana]\nroles = 3\n")  # a config that no longer reads
    os.utime(cfg, ns=(before + 2 * 10**9, before + 2 * 10**9))
    assert not server.reload_roles_if_asked()
    assert "the roles stay as they were" in caplog.text
    assert server.whoami(ana, read_only=False)["roles"] == ["operator"]


def test_an_outbox_in_a_followed_folder_is_not_followed(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_jsonl(logs / "runs.jsonl", [started("r-1")])
    outbox = logs / "control-outbox.jsonl"
    outbox.write_text('{"decision_id": "d-1", "action": "pause"}\n')
    notices: list[FileNotice] = []
    with Store.open(tmp_path / "qd.duckdb") as store:
        follower = Follower(store.cursor(), [logs], on_notice=notices.append, skip=[outbox])
        follower.poll()
        follower.poll()
        follower.close()
    assert follower.stats.events == 1 and follower.stats.quarantined == 0
    assert [(n.path, n.kind) for n in notices] == [(str(outbox), "skipped")]  # said once
