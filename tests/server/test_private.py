"""The server keeps its store and its decisions to itself: it will not start where another user
could write the store's folder, the journal or the outbox (each refusal names the path and the
chmod that fixes it), and the journal and outbox it creates are its user's only (the outbox
readable by `[serve] outbox_group` too)."""

from __future__ import annotations

import grp
import os
import pwd
from collections.abc import Callable
from pathlib import Path

import pytest

from quarterdeck import client
from quarterdeck.config import OUTBOX_NAME
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import started, write_jsonl
from support.serving import Served, qd


def store(folder: Path) -> Path:
    db = folder / "store" / "qd.duckdb"
    logs = write_jsonl(folder / "logs" / "runs.jsonl", [started("r-1", "2026-11-20T08:00:00Z")])
    with Store.open(db) as opened:
        load_paths(opened.con, [logs])
    return db


def config(folder: Path, text: str = "") -> Path:
    me = pwd.getpwuid(os.getuid()).pw_name
    path = folder / "quarterdeck.toml"
    path.write_text(
        f'[store]\nstale_after = "3650d"\n[operators."{me}"]\nroles = ["operator"]\n' + text
    )
    return path


@pytest.mark.parametrize("what", ["the store's folder", "the journal", "the outbox"])
def test_a_path_other_users_can_write_is_refused_with_the_fix(tmp_path: Path, what: str) -> None:
    db = store(tmp_path)
    shared = {
        "the store's folder": db.parent,
        "the journal": db.parent / "decisions.jsonl",
        "the outbox": db.parent / OUTBOX_NAME,
    }[what]
    if not shared.exists():
        shared.touch()
    shared.chmod(0o775 if shared.is_dir() else 0o620)
    cfg = config(tmp_path)
    refused = qd("serve", "--db", str(db), "--config", str(cfg), cwd=tmp_path)
    assert refused.returncode == 3
    assert f"{what}, {shared}, can be written by other users; `chmod go-w {shared}`" in (
        refused.stderr
    )
    assert "Traceback" not in refused.stderr
    assert not client.socket_path(db).exists()


def test_the_journal_and_outbox_it_creates_are_its_own(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    group = grp.getgrgid(os.getgid()).gr_name
    for folder, text, outbox_mode in (
        (tmp_path / "a", "", 0o600),
        (tmp_path / "b", f'[serve]\noutbox_group = "{group}"\n', 0o640),
    ):
        folder.mkdir()
        db, cfg = store(folder), config(folder, text)
        server = serving(db, cfg, cwd=folder)
        decided = qd(
            "decide", "pause", "--run", "r-1", "--reason", "mine", "--db", str(db),
            "--config", str(cfg), cwd=folder,
        )  # fmt: skip
        assert decided.returncode == 0, decided.stderr
        journal, outbox = db.parent / "decisions.jsonl", db.parent / OUTBOX_NAME
        assert oct(journal.stat().st_mode & 0o777) == oct(0o600)
        assert oct(outbox.stat().st_mode & 0o777) == oct(outbox_mode)
        assert server.stop() == 0
