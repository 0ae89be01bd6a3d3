"""What a server and its clients will not take on trust (issue 13, the tester's report):
ingest is a privileged action the server decides from the peer's uid; an upload is stored as
one, never under a followed log's name; the spool is bounded; the outbox and the journal are
never written through a symbolic link; a store reached through a link, or owned by another
user, is refused; a client talks only to a server running as the store's owner; a journal
changed behind the server refuses the next decision; evidence bundles are private. Real
`quarterdeck serve` processes, real sockets and another uid (setpriv) where it matters."""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.decisions import Paths, Refused
from quarterdeck.queries.store import Store
from quarterdeck.server.peer import Peer
from quarterdeck.server.serve import Server, ServeRefused, refuse_shared
from support.events import event, started, write_jsonl
from support.serving import Served, env, qd, until
from support.users import python_for

ME = pwd.getpwuid(os.geteuid()).pw_name
#: A uid that is not this process's (nobody's, where there is one).
OTHER = 65534


def store(folder: Path, runs: int = 1) -> Path:
    db = folder / "store" / "qd.duckdb"
    logs = write_jsonl(
        folder / "logs" / "runs.jsonl",
        [started(f"r-{i}", "2026-11-20T08:00:00Z") for i in range(runs)],
    )
    with Store.open(db) as opened:
        load_paths(opened.con, [logs])
    return db


def config(folder: Path, text: str = "") -> Path:
    path = folder / "quarterdeck.toml"
    path.write_text(
        f'[store]\nstale_after = "3650d"\n[operators."{ME}"]\nroles = ["operator"]\n' + text
    )
    return path


def forged(path: Path, approval: str = "apr-1") -> Path:
    """A line claiming an approval was decided by dana.k: what an ingest must not let anyone
    put in the store."""
    line = event(
        "approval.decided",
        "2026-11-20T08:01:00Z",
        "r-0",
        event_id=f"forged-{approval}",
        approval_id=approval,
        decision="approved",
        decided_by="dana.k",
    )
    return write_jsonl(path, [line])


def sources(db: Path) -> set[str]:
    with Store.open(db, read_only=True) as opened:
        return {row[0] for row in opened.con.execute("SELECT source FROM events").fetchall()}


# --- ingest: who may, what it is recorded as, how much ---------------------------------------


def test_ingest_is_the_servers_user_or_the_ingest_role(
    stranger: tuple[str, int, int], serving: Callable[..., Served]
) -> None:
    name, uid, gid = stranger
    folder = Path(tempfile.mkdtemp(prefix="qd-trust-", dir="/tmp"))
    try:
        folder.chmod(0o711)
        db = store(folder)
        db.parent.chmod(0o711)
        fake = forged(folder / "live" / "invoice-posting" / "live-2026-12-03.jsonl")
        fake.parent.parent.chmod(0o755)
        fake.parent.chmod(0o755)
        fake.chmod(0o644)
        cfg = config(folder, f'[serve]\nsocket_group = "{name}"\n')
        server = serving(db, cfg, cwd=folder)

        def ingest(*prefix: str, extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [*prefix, *python_for(prefix), "ingest", str(fake), "--db", str(db), *extra],
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=120,
            )

        member = ("setpriv", "--reuid", str(uid), "--regid", str(gid), "--clear-groups")
        refused = ingest(*member, "env", f"HOME={folder}")
        assert refused.returncode == 3, refused.stderr
        assert f"this server knows you as {name}" in refused.stderr
        assert 'the role "ingest"' in refused.stderr and "Traceback" not in refused.stderr
        # a client that does not ask first, naming the runner's log: refused by the server
        raw = (
            "from pathlib import Path; from quarterdeck import client; "
            f"c = client.Client(Path({str(db) + '.sock'!r})); "
            f"body = client._ingest_body([(Path({str(fake)!r}), 'events', "
            "'live/invoice-posting/live-2026-12-03.jsonl', '/srv/logs')], None); "
            "print(c._request('POST', '/v1/ingest', stream=(client.INGEST_BODY, body))[0])"
        )
        bypass = subprocess.run(
            [*member, "env", f"HOME={folder}", *python_for(member, raw)],
            cwd=folder, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert bypass.stdout.strip() == "403", bypass.stderr
        outsider = ("setpriv", "--reuid", str(uid), "--regid", str(OTHER), "--clear-groups")
        denied = ingest(*outsider, "env", f"HOME={folder}")
        assert denied.returncode == 3, denied.stderr
        assert f"only its owner and the group {name} may" in denied.stderr
        assert "Traceback" not in denied.stderr
        read_only = ingest(extra=("--read-only",))
        assert read_only.returncode == 3 and "read-only" in read_only.stderr
        assert f"ingest by {name}:" not in server.stderr(), "nothing of theirs was loaded"

        mine = ingest()  # the server's own user always may
        assert mine.returncode == 0, mine.stderr
        assert server.stop() == 0
        stored = sources(db)
        assert f"upload:{ME}:{fake}" in stored, "recorded as an upload, naming its sender"
        assert str(fake) not in stored, "never as the log it claims to be"
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_the_ingest_role_is_read_from_the_servers_config(tmp_path: Path) -> None:
    cfg = config(tmp_path, '[operators.ana]\nroles = ["ingest"]\n[operators.bo]\nroles = []\n')
    server = Server(config_mod.load(str(cfg)), tmp_path / "qd.duckdb")
    assert server.ingest_refusal(Peer(pid=1, uid=os.geteuid(), gid=0, name=ME)) is None
    assert server.ingest_refusal(Peer(pid=1, uid=OTHER - 1, gid=0, name="ana")) is None
    refusal = server.ingest_refusal(Peer(pid=1, uid=OTHER - 2, gid=0, name="bo"))
    assert refusal is not None and 'needs the role "ingest"' in refusal
    assert server.whoami(Peer(1, OTHER - 2, 0, "bo"), read_only=False)["ingest_refused"]


def test_an_upload_over_the_limit_is_refused_and_spools_nothing(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = store(tmp_path)
    cfg = config(tmp_path, "[serve]\ningest_limit_mib = 1\n")
    big = tmp_path / "in" / "big.jsonl"
    write_jsonl(big, [started(f"r-big-{i}") for i in range(12_000)])  # ~2.6 MiB
    server = serving(db, cfg, cwd=tmp_path)
    told = qd("ingest", str(big), "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert told.returncode == 1, told.stderr
    assert "over the server's limit for one ingest (1 MiB" in told.stderr
    assert "ingest by" not in server.stderr(), "refused before a byte was sent"
    # a client that does not ask first is stopped by the server itself
    found = client.find(db)
    assert found is not None
    body = client._ingest_body([(big, "events", "big.jsonl", "")], None)
    try:
        status, _, answer = found._request("POST", "/v1/ingest", stream=(client.INGEST_BODY, body))
    except client.ServerUnavailable:  # it stopped reading before the client finished
        pass
    else:
        assert status == 413 and b"over the server's limit" in answer
    until(lambda: "over the server's limit" in server.stderr(), "the server to refuse it")
    assert not list(db.parent.glob("*.ingest-*")), "the spool is removed"
    assert server.stop() == 0
    assert not any("big" in s for s in sources(db))


# --- the outbox, the journal and the store: never through a link, never another's ------------


def test_what_holds_decisions_must_be_the_servers_own_and_never_a_link(tmp_path: Path) -> None:
    db = store(tmp_path)
    paths = Paths(db.parent / "decisions.jsonl", db.parent / "control-outbox.jsonl")
    refuse_shared(db, paths)  # as made: fine

    paths.outbox.symlink_to(paths.journal)  # a runner points the outbox at the journal
    with pytest.raises(ServeRefused, match="the outbox, .*, is a symbolic link"):
        refuse_shared(db, paths)
    paths.outbox.unlink()
    paths.journal.write_text("")
    os.link(paths.journal, tmp_path / "another-name")
    with pytest.raises(ServeRefused, match="the journal, .*, has another name"):
        refuse_shared(db, paths)
    (tmp_path / "another-name").unlink()

    shared = tmp_path / "shared"  # a link to a store in a folder anyone can write
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    shutil.move(db, shared / db.name)
    db.symlink_to(shared / db.name)
    with pytest.raises(ServeRefused, match="the folder of the file the store links to"):
        refuse_shared(db, paths)
    shared.chmod(0o700)
    refuse_shared(db, paths)

    os.chown(shared, OTHER, -1)  # root serving from a folder another user owns
    with pytest.raises(ServeRefused, match=f"links to, .*, belongs to {client.user_name(OTHER)}"):
        refuse_shared(db, paths)
    os.chown(shared, 0, -1)
    os.chown(shared / db.name, OTHER, -1)  # or a store another user owns
    with pytest.raises(ServeRefused, match=f"the store, .*, belongs to {client.user_name(OTHER)}"):
        refuse_shared(db, paths)


def test_a_server_refuses_an_outbox_link_and_writes_none_through_one(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = store(tmp_path, runs=2)
    journal, outbox = db.parent / "decisions.jsonl", tmp_path / "runners" / "outbox.jsonl"
    outbox.parent.mkdir()
    cfg = config(tmp_path, f'[decisions]\noutbox = "{outbox}"\n')
    outbox.symlink_to(journal)
    refused = qd("serve", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert refused.returncode == 3
    assert f"the outbox, {outbox}, is a symbolic link" in refused.stderr
    assert "Traceback" not in refused.stderr and not journal.exists()

    outbox.unlink()
    server = serving(db, cfg, cwd=tmp_path)

    found = client.find(db)
    assert found is not None

    def decide(run: str, action: str = "pause") -> dict[str, Any]:
        return found.decide({"action": action, "run_id": run, "reason": "why"})

    decide("r-0")
    outbox.unlink()
    outbox.symlink_to(journal)  # swapped behind the running server
    with pytest.raises(Refused, match=f"the control outbox, {outbox}, is a symbolic link"):
        decide("r-1")
    assert len(journal.read_text().splitlines()) == 1, "nothing recorded, nothing written"
    outbox.unlink()

    # the journal's last line removed behind the server: the next decision is refused
    decide("r-1")
    lines = journal.read_text().splitlines(keepends=True)
    journal.write_text(lines[0].replace('"why"', '"why not"') + lines[1])  # an edit mid-chain
    with pytest.raises(Refused, match="not the size this process left it at after #2"):
        decide("r-0", "rollback")  # (a pause again would repeat #1, not yet acknowledged)
    journal.write_text("".join(lines))
    journal.write_text("".join(lines[:-1]))
    cut = qd(
        "decide", "rollback", "--run", "r-0", "--reason", "why", "--db", str(db),
        "--config", str(cfg), cwd=tmp_path,
    )  # fmt: skip
    assert cut.returncode == 3, cut.stderr
    assert "the journal was changed behind the server; run `quarterdeck verify`" in cut.stderr
    assert "its last record is #1, the store's last decision #2" in cut.stderr
    assert len(journal.read_text().splitlines()) == 1, "never appended to a broken chain"
    assert "ERROR" in server.stderr() and "500" not in cut.stderr
    assert server.stop() == 0


# --- clients: only the store's owner is its server -------------------------------------------


def test_a_client_sends_nothing_to_a_socket_not_served_by_the_stores_owner(
    tmp_path: Path,
) -> None:
    db = store(tmp_path)
    cfg = config(tmp_path)
    os.chown(db, OTHER, -1)  # the store is another user's; this process listens beside it
    received: list[bytes] = []
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(client.socket_path(db)))
        listening.listen()
        listening.settimeout(60)

        def fake_server() -> None:
            conn, _ = listening.accept()
            with conn:
                conn.settimeout(30)
                received.append(conn.recv(65536))

        thread = threading.Thread(target=fake_server)
        thread.start()
        decided = qd(
            "decide", "pause", "--run", "r-0", "--reason", "secret reason", "--db", str(db),
            "--config", str(cfg), cwd=tmp_path,
        )  # fmt: skip
        thread.join(timeout=60)
    assert decided.returncode == 3, decided.stderr
    assert f"runs as {ME}, but {db} belongs to {client.user_name(OTHER)}" in decided.stderr
    assert "nothing was sent" in decided.stderr and "Traceback" not in decided.stderr
    assert received == [b""], "the fake server never saw the request, nor its reason"


def test_ingest_to_a_socket_nothing_answers_on_says_so(tmp_path: Path) -> None:
    db = store(tmp_path)
    with socket.socket(socket.AF_UNIX) as dead:  # a server killed: its socket left behind
        dead.bind(str(client.socket_path(db)))
    log = write_jsonl(tmp_path / "in" / "a.jsonl", [started("r-new")])
    result = qd(
        "ingest", str(log), "--db", str(db), "--config", str(config(tmp_path)), cwd=tmp_path
    )
    assert result.returncode == 3
    assert "no server answers on" in result.stderr
    assert "went away during the ingest" not in result.stderr


# --- evidence ----------------------------------------------------------------------------------


def test_an_evidence_bundle_is_private_whatever_the_umask(tmp_path: Path) -> None:
    db = store(tmp_path)
    out = tmp_path / "bundle"
    written = subprocess.run(
        [sys.executable, "-m", "quarterdeck.cli", "evidence", "r-0", "--out", str(out),
         "--db", str(db), "--config", str(config(tmp_path))],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env(), umask=0o022,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    assert oct(out.stat().st_mode & 0o777) == oct(0o700)
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in out.iterdir()}
    assert modes and set(modes.values()) == {oct(0o600)}, modes
    assert json.loads((out / "evidence.json").read_text())["runs"]


def test_a_socket_in_a_folder_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    db = store(tmp_path)
    mine, theirs = socket.socketpair(socket.AF_UNIX)
    with mine, theirs:
        client.trusted(mine, client.socket_path(db))  # this process, the store's owner: fine
        db.parent.chmod(0o777)  # anyone could have put a store and a socket here
        with pytest.raises(client.ServerUntrusted, match="can be written by others than"):
            client.trusted(mine, client.socket_path(db))
