"""The server's follower, watched: `status` shows each followed file's lag (bytes not yet
stored, seconds since its last line was stored) and the follower's rate; each of its
transactions is under the watchdog and listed in `in_flight` while it runs; its units only
append, the positions folded into `follow_offsets` with the derived facts."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from quarterdeck import config as config_mod
from quarterdeck.ingest.follow import Follower
from quarterdeck.queries import loading
from quarterdeck.queries.store import Store
from quarterdeck.server import serve
from support.events import event, started, write_jsonl
from support.serving import Served, qd, until


def config(folder: Path) -> Path:
    path = folder / "quarterdeck.toml"
    path.write_text('[store]\nstale_after = "3650d"\n')
    return path


def test_status_shows_each_followed_files_lag(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    cfg, db = config(tmp_path), tmp_path / "store" / "qd.duckdb"
    log = write_jsonl(tmp_path / "logs" / "runs.jsonl", [started("r-1"), started("r-2")])
    server = serving(db, cfg, "--follow", str(tmp_path / "logs"), cwd=tmp_path)

    def followed() -> dict[str, Any] | None:
        files = server.status()["follow"]["followed"]
        return files[0] if files and files[0]["idle_s"] is not None else None

    first = until(followed, "the log to be stored")
    assert first == {"path": str(log), "behind_bytes": 0, "idle_s": first["idle_s"]}
    half = json.dumps(event("step.started", "2026-11-20T08:00:01Z", "r-1")).encode()
    with log.open("ab") as out:  # a line still being written is not read: it is behind
        out.write(half)
    until(lambda: followed()["behind_bytes"] == len(half), "the half line to count as behind")

    common = ("--db", str(db), "--config", str(cfg))
    as_json = json.loads(qd("status", "--format", "json", *common, cwd=tmp_path).stdout)
    assert as_json["follow"]["events"] == 2 and "rate_per_s" in as_json["follow"]
    text = qd("status", *common, cwd=tmp_path).stdout
    assert f"{log}: {len(half)} bytes behind, last line stored" in text
    assert "events/s" in text
    assert server.stop() == 0


def test_the_followers_transactions_are_watched(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg, db = config(tmp_path), tmp_path / "store" / "qd.duckdb"
    logs = tmp_path / "logs"
    write_jsonl(logs / "runs.jsonl", [started("r-1")])
    server = serve.Server(config_mod.load(str(cfg)), db, [logs])
    monkeypatch.setattr(serve, "WATCHDOG_LIMIT", -1.0)  # anything running is overdue
    seen: list[list[str]] = []
    with Store.open(db) as store:
        server.store = store
        follower = server._follower_on(store)
        watch = follower.watch
        assert watch is not None

        @contextmanager
        def spying(what: str) -> Iterator[object]:
            with watch(what):
                server._watchdog()
                seen.append([w["what"] for w in server.status()["in_flight"]])
                yield

        follower.watch = spying
        with caplog.at_level(logging.WARNING, "quarterdeck.serve"):
            follower.poll()
        follower.close()
        follower.con.close()
    assert ["follower: storing 1 line of 1 file"] in seen
    assert ["follower: refreshing derived facts"] in seen
    assert "follower: storing 1 line of 1 file has been running for" in caplog.text


def test_units_append_positions_and_a_refresh_folds_them(tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "logs" / "runs.jsonl", [started("r-1")])
    with Store.open(tmp_path / "qd.duckdb") as store:
        follower = Follower(store.cursor(), [log], refresh_gap=3600)
        follower.poll()  # the first round refreshes: everything folded
        with log.open("a") as out:
            out.write(json.dumps(started("r-2")) + "\n")
        follower.poll()  # within the gap: the unit only appended its position
        rows = store.con.execute("SELECT byte_offset FROM follow_positions").fetchall()
        size = log.stat().st_size
        assert rows == [(size,)]
        (folded,) = store.con.execute("SELECT byte_offset FROM follow_offsets").fetchall()
        assert folded[0] < size
        assert [o.byte_offset for o in loading.saved_offsets(store.con).values()] == [size]
        follower.close()  # stores and refreshes what it has: folded
        assert store.con.execute("SELECT count(*) FROM follow_positions").fetchone() == (0,)
        assert store.con.execute("SELECT byte_offset FROM follow_offsets").fetchall() == [(size,)]
        again = Follower(store.cursor(), [log])
        assert again.poll() == 0  # resumes where it was: nothing read twice
        again.close()
