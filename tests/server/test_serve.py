"""The server and its clients, as real processes on a real socket: a command through the
server prints what it prints in-process; decisions from clients at once make one linear chain;
who decides is who the kernel says connected; SIGTERM, kill -9 and a restart; the follower's
exactly-once across a kill."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from quarterdeck import client
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import started, write_jsonl
from support.serving import Served, qd, until
from support.users import python_for

RUNS = 40


def config(folder: Path, text: str = "") -> Path:
    path = folder / "quarterdeck.toml"
    path.write_text('[store]\nstale_after = "3650d"\n' + text)
    return path


def live_runs(folder: Path, n: int = RUNS) -> Path:
    """A store with `n` running runs of workflow `invoice-posting`, started a minute ago."""
    at = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    logs = write_jsonl(folder / "logs" / "runs.jsonl", [started(f"r-{i}", at) for i in range(n)])
    db = folder / "store" / "qd.duckdb"
    with Store.open(db) as store:
        load_paths(store.con, [logs])
    return db


def test_the_serve_section_is_validated_strictly(tmp_path: Path) -> None:
    from quarterdeck import config as config_mod

    good = config(tmp_path, '[serve]\nfollow = ["logs"]\nevaluate_every = "30s"\n')
    assert config_mod.load(str(good)).serve.evaluate_every == 30
    for text, message in (
        ('[serve]\nsokcet_group = "ops"\n', "serve.sokcet_group: unknown setting"),
        ('[serve]\nevaluate_every = "soon"\n', "serve.evaluate_every: 'soon' is not a duration"),
        ("[serve]\nfollow = 3\n", "serve.follow: Input should be a valid list"),
        ("[serve]\nevaluate_every = inf\n", "serve.evaluate_every: Input should be a finite"),
    ):
        with pytest.raises(config_mod.ConfigError, match=message):
            config_mod.load(str(config(tmp_path, text)))


# --- reading ---------------------------------------------------------------------------------


def test_read_commands_through_the_server_print_what_they_print_in_process(
    tmp_path: Path, fleet_copy: Callable[[Path], Path], serving: Callable[..., Served]
) -> None:
    db = fleet_copy(tmp_path / "store" / "qd.duckdb")
    cfg = config(
        tmp_path,
        '[[trigger]]\nname = "failures"\nmetric = "failed_run_ratio"\nwindow = "3650d"\n'
        "threshold = 0.5\n",
    )
    commands = [
        ("runs", "--status", "succeeded,failed", "--format", "json"),
        ("runs", "--workflow", "invoice-posting", "--status", "failed", "--limit", "3"),
        ("touched", "--out-of-scope", "--format", "csv"),
        ("touched", "--limit", "7"),
        ("approvals",),  # the table: JSON has the seconds left, which move between the runs
        ("quarantine", "--format", "json"),
        ("decisions",),
        ("triggers", "--at", "2026-11-20T09:00:00Z", "--format", "json"),
        ("verify",),
    ]
    common = ("--db", str(db), "--config", str(cfg))
    embedded = [qd(*c, *common, cwd=tmp_path) for c in commands]
    server = serving(db, cfg, cwd=tmp_path)
    served = [qd(*c, *common, cwd=tmp_path) for c in commands]
    for command, alone, through in zip(commands, embedded, served, strict=True):
        assert alone.returncode in (0, 4), (command, alone.stderr)
        assert (through.returncode, through.stdout, through.stderr) == (
            alone.returncode,
            alone.stdout,
            alone.stderr,
        ), command
    # the commands asked the server: it counted them as its clients
    assert len(server.status()["clients"]) >= len(commands)
    assert server.stop() == 0


def test_a_client_can_name_queries_and_typed_parameters_only(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = live_runs(tmp_path, 2)
    serving(db, config(tmp_path), cwd=tmp_path)
    server = client.find(db)
    assert server is not None
    assert server.query("runs", {"now": "2026-12-01T00:00:00", "limit": 1}).num_rows == 1
    with pytest.raises(client.ServerError, match="404: no query named 'sql'"):
        server.query("sql", {"text": "DROP TABLE events"})
    with pytest.raises(client.ServerError, match="400: where: Extra inputs are not permitted"):
        server.query("runs", {"now": "2026-12-01T00:00:00", "where": "1=1"})
    with pytest.raises(client.ServerError, match="400: limit: Input should be greater than 0"):
        server.query("runs", {"now": "2026-12-01T00:00:00", "limit": 0})
    with pytest.raises(client.ServerError, match="400: .*exactly one of run_id"):
        server.decide({"action": "pause", "reason": "x"})


# --- deciding --------------------------------------------------------------------------------


def test_two_clients_deciding_at_once_make_one_linear_chain(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = live_runs(tmp_path)
    me = pwd.getpwuid(os.getuid()).pw_name
    cfg = config(tmp_path, f'[operators."{me}"]\nroles = ["operator"]\n')
    server = serving(db, cfg, cwd=tmp_path)
    loop = (
        'for i in $(seq {first} {last}); do "$0" -m quarterdeck.cli decide pause --run r-$i '
        '--reason "client {name}" --db {db} --config {cfg} || exit 1; done'
    )
    clients = [
        subprocess.Popen(
            [
                "sh",
                "-c",
                loop.format(first=first, last=first + 19, name=name, db=db, cfg=cfg),
                sys.executable,
            ],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for first, name in ((0, "a"), (20, "b"))
    ]
    for proc in clients:
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert out.count("recorded #") == 20
    records = [json.loads(x) for x in (db.parent / "decisions.jsonl").read_text().splitlines()]
    assert [r["seq"] for r in records] == list(range(1, 41))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(records, records[1:], strict=False))
    assert {r["operator"] for r in records} == {me}
    order = [r["reason"] for r in records]
    assert sorted(order) == ["client a"] * 20 + ["client b"] * 20
    # the two loops ran at once: the chain has them interleaved, not one after the other
    assert any(a != b for a, b in zip(order, order[1:], strict=False))
    assert sum(a != b for a, b in zip(order, order[1:], strict=False)) > 1
    verified = qd("verify", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "verified: 40 decisions" in verified.stdout
    listed = qd(
        "decisions", "--format", "json", "--db", str(db), "--config", str(cfg), cwd=tmp_path
    )
    assert len(json.loads(listed.stdout)) == 40
    assert server.stop() == 0
    assert qd("verify", "--db", str(db), "--config", str(cfg), cwd=tmp_path).returncode == 0


def test_operator_naming_someone_else_is_refused_by_the_server(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = live_runs(tmp_path, 2)
    me = pwd.getpwuid(os.getuid()).pw_name
    cfg = config(
        tmp_path,
        f'[operators."{me}"]\nroles = ["operator"]\n[operators.dana]\nroles = ["operator"]\n',
    )
    serving(db, cfg, cwd=tmp_path)
    common = ("--db", str(db), "--config", str(cfg))
    other = qd(
        "decide",
        "pause",
        "--run",
        "r-0",
        "--reason",
        "x",
        "--operator",
        "dana",
        *common,
        cwd=tmp_path,
    )
    assert other.returncode == 3
    assert other.stderr == (
        f"quarterdeck: refused: this server knows you as {me}: --operator dana names someone else\n"
    )
    mine = qd(
        "decide", "pause", "--run", "r-0", "--reason", "x", "--operator", me, *common, cwd=tmp_path
    )
    assert mine.returncode == 0, mine.stderr
    assert f"by {me}" in mine.stdout
    read_only = qd(
        "decide", "pause", "--run", "r-1", "--reason", "x", "--read-only", *common, cwd=tmp_path
    )
    assert read_only.returncode == 3


@pytest.mark.parametrize("has_role", [False, True])
def test_a_client_is_who_the_kernel_says_it_is(
    has_role: bool, stranger: tuple[str, int, int], serving: Callable[..., Served]
) -> None:
    name, uid, gid = stranger
    # a folder the test user can enter (pytest's own temp folders are private to root)
    folder = Path(tempfile.mkdtemp(prefix="qd-serve-", dir="/tmp"))
    try:
        folder.chmod(0o711)
        db = live_runs(folder, 2)
        db.parent.chmod(0o711)
        roles = f'[operators."{name}"]\nroles = ["operator"]\n' if has_role else ""
        cfg = config(
            folder,
            f'[serve]\nsocket_group = "{name}"\n[operators.dana]\nroles = ["operator"]\n' + roles,
        )
        server = serving(db, cfg, cwd=folder)
        as_stranger = (
            "setpriv",
            "--reuid",
            str(uid),
            "--regid",
            str(gid),
            "--clear-groups",
            "env",
            f"HOME={folder}",
        )
        decided = subprocess.run(
            [
                *as_stranger,
                *python_for(as_stranger),
                "decide",
                "pause",
                "--run",
                "r-0",
                "--reason",
                "from elsewhere",
                "--db",
                str(db),
                *(() if has_role else ("--operator", "dana")),
            ],
            cwd=folder,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if not has_role:
            assert decided.returncode == 3, decided.stderr
            assert "refused" in decided.stderr and "Traceback" not in decided.stderr
            assert (
                not (db.parent / "decisions.jsonl").exists()
                or not (db.parent / "decisions.jsonl").read_text()
            )
        else:
            assert decided.returncode == 0, decided.stderr
            assert f"by {name}" in decided.stdout
            (record,) = [
                json.loads(x) for x in (db.parent / "decisions.jsonl").read_text().splitlines()
            ]
            assert record["operator"] == name and record["roles"] == ["operator"]
        assert server.stop() == 0
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_an_auto_trigger_decides_once_per_trip_on_the_clients_chain(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = live_runs(tmp_path, 3)  # started a minute ago, silent since: stale after 30 s
    me = pwd.getpwuid(os.getuid()).pw_name
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text(
        '[store]\nstale_after = "30s"\n[serve]\nevaluate_every = "0.2s"\n'
        f'[operators."{me}"]\nroles = ["operator"]\n'
        '[[trigger]]\nname = "stalled"\nworkflow = "invoice-posting"\nmetric = "stale_runs"\n'
        'window = "1h"\nthreshold = 0\nauto = true\n'
    )
    server = serving(db, cfg, cwd=tmp_path)
    journal = db.parent / "decisions.jsonl"
    until(lambda: journal.exists() and journal.read_text(), "the automatic decision")
    until(lambda: (server.status()["triggers"] or {}).get("evaluations", 0) >= 5, "evaluations")
    (auto,) = [json.loads(x) for x in journal.read_text().splitlines()]  # once per trip
    assert auto["operator"] == auto["source"] == "trigger:stalled"
    assert sorted(auto["runs"]) == ["r-0", "r-1", "r-2"] and auto["action"] == "pause"
    common = ("--db", str(db), "--config", str(cfg))
    mine = qd("decide", "rollback", "--run", "r-0", "--reason", "stuck", *common, cwd=tmp_path)
    assert mine.returncode == 0, mine.stderr
    assert "recorded #2" in mine.stdout
    verified = qd("verify", *common, cwd=tmp_path)
    assert verified.returncode == 0, verified.stderr
    assert "verified: 2 decisions" in verified.stdout
    assert server.stop() == 0


# --- the process ------------------------------------------------------------------------------


def test_sigterm_exits_0_kill_9_leaves_a_socket_a_restart_replaces(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = tmp_path / "store" / "qd.duckdb"  # the server creates it
    cfg = config(tmp_path)
    sock = client.socket_path(db)
    first = serving(db, cfg, cwd=tmp_path)
    assert oct(sock.stat().st_mode & 0o777) == oct(0o660)
    assert oct(db.stat().st_mode & 0o777) == oct(0o600)  # the server's user only
    assert first.stop(signal.SIGTERM) == 0
    assert not sock.exists()
    assert "Traceback" not in first.stderr()

    second = serving(db, cfg, cwd=tmp_path)
    assert second.stop(signal.SIGKILL) == -signal.SIGKILL
    assert sock.exists()  # left behind
    stale = qd("runs", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert stale.returncode == 3
    assert stale.stderr.startswith(f"quarterdeck: no server answers on {sock}")
    assert "Traceback" not in stale.stderr

    third = serving(db, cfg, cwd=tmp_path)
    assert "replacing" in third.stderr()
    ok = qd("runs", "--format", "json", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout) == []
    assert third.stop() == 0


def test_no_server_means_embedded_and_status_says_so(tmp_path: Path) -> None:
    db = live_runs(tmp_path, 1)
    cfg = config(tmp_path)
    ran = qd("runs", "--format", "json", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert ran.returncode == 0 and len(json.loads(ran.stdout)) == 1
    status = qd("status", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert status.returncode == 1
    assert status.stderr == (
        f"quarterdeck: no server serves {db} (start one with `quarterdeck serve`)\n"
    )


def test_a_store_other_users_can_write_is_refused(tmp_path: Path) -> None:
    db = live_runs(tmp_path, 1)
    db.chmod(0o666)
    cfg = config(tmp_path)
    refused = qd("serve", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert refused.returncode == 3
    assert "can be written by other users" in refused.stderr
    assert not client.socket_path(db).exists()


def test_status_reports_the_server(tmp_path: Path, serving: Callable[..., Served]) -> None:
    db = live_runs(tmp_path, 1)
    cfg = config(tmp_path)
    logs = tmp_path / "logs"
    server = serving(db, cfg, "--follow", str(logs), cwd=tmp_path)
    result = qd("status", "--format", "json", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    status = json.loads(result.stdout)
    assert status["pid"] == server.proc.pid
    assert status["rss_bytes"] > 0 and status["uptime_s"] >= 0
    assert status["follow"]["paths"] == [str(logs)]
    assert any(c["requests"] == 1 for c in status["clients"])  # this request
    table = qd("status", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert table.stdout.splitlines()[0] == f"pid          {server.proc.pid}"
    link = tmp_path / "elsewhere.duckdb"  # the store reached through a symlink: same server
    link.symlink_to(db)
    linked = qd("status", "--format", "json", "--db", str(link), "--config", str(cfg), cwd=tmp_path)
    assert linked.returncode == 0 and json.loads(linked.stdout)["pid"] == server.proc.pid
    assert server.stop() == 0


# --- following ------------------------------------------------------------------------------


def line(n: int, run: str) -> bytes:
    event = {
        "type": "step.started",
        "ts": "2026-11-27T08:00:00Z",
        "run_id": run,
        "event_id": f"e{n}",
        "step_id": f"s{n}",
        "name": "classify",
        "kind": "llm",
    }
    return json.dumps(event).encode() + b"\n"


def stored_events(db: Path) -> int:
    with Store.open(db) as store:
        (count,) = store.con.execute("SELECT count(*) FROM events").fetchone()
    return int(count)


def test_the_follower_stores_every_line_once_across_a_kill_and_a_restart(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    total = 0
    for part in range(4):  # enough that the first server is killed mid-way
        with (logs / f"part-{part}.jsonl").open("wb") as h:
            h.write(b"".join(line(total + i, run=f"r-{(total + i) // 50}") for i in range(60_000)))
        total += 60_000
    db = tmp_path / "store" / "qd.duckdb"
    cfg = config(tmp_path, f'[serve]\nfollow = ["{logs}"]\n')

    # killed mid-load: what it committed stays, once
    first = serving(db, cfg, cwd=tmp_path)
    until(lambda: first.status()["follow"]["events"] > 0, "the first commit")
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    after_kill = stored_events(db)
    assert 0 < after_kill < total, "the kill did not land mid-load; make the load longer"

    # stopped by SIGTERM while following (the rest may be stored by then): it stores what it
    # has read and exits 0
    second = serving(db, cfg, cwd=tmp_path)  # replaces the socket the kill left
    until(lambda: second.status()["follow"]["events"] > 0, "the second server's first commit")
    assert second.stop(signal.SIGTERM) == 0
    after_term = stored_events(db)
    assert after_kill < after_term <= total

    third = serving(db, cfg, cwd=tmp_path)
    until(
        lambda: third.status()["follow"]["events"] >= total - after_term,
        "the rest of the lines",
        timeout=300,
    )
    assert third.status()["follow"]["duplicates"] == 0
    assert third.stop() == 0
    with Store.open(db) as store:
        count, distinct = store.con.execute(
            "SELECT count(*), count(DISTINCT event_id) FROM events"
        ).fetchone()
        runs = store.con.execute("SELECT count(*) FROM run_summary").fetchone()[0]
    assert count == distinct == total
    assert runs == total // 50
