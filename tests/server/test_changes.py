"""The change feed consoles long-poll (`GET /v1/changes`), against a real server: it answers
when the follower stores lines, says what changed with the follower's stats, tells a client
that knew an earlier server that everything changed, and never holds up a stop."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from quarterdeck import client
from quarterdeck.queries.store import StoreError
from support.events import started, write_jsonl
from support.serving import Served, until


def events_changed(server: client.Client, after: int) -> dict[str, Any] | None:
    answer = server.changes(after, wait=0)
    return answer if "events" in answer["changed"] else None


def test_a_long_poll_answers_when_lines_are_stored_and_a_restart_is_everything(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    live = write_jsonl(tmp_path / "logs" / "live.jsonl", [started("r-1")])
    db = tmp_path / "store" / "qd.duckdb"
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text('[store]\nstale_after = "3650d"\n')
    served = serving(db, cfg, "--follow", str(live), cwd=tmp_path)
    server = client.find(db)
    assert server is not None
    now = until(lambda: events_changed(server, 0), "the first line stored and said")
    assert now["follow"]["events"] == 1

    answers: list[dict[str, Any]] = []
    poll = threading.Thread(target=lambda: answers.append(server.changes(now["counter"])))
    poll.start()  # held open: nothing changes until the line below is stored
    with live.open("a") as handle:
        handle.write(json.dumps(started("r-2")) + "\n")
    poll.join(timeout=60)
    (answer,) = answers
    assert answer["counter"] > now["counter"] and answer["changed"] == ["events"]
    assert answer["follow"]["events"] == 2

    held: list[dict[str, Any] | Exception] = []

    def hold() -> None:
        try:
            held.append(server.changes(answer["counter"]))
        except StoreError as exc:
            held.append(exc)

    waiting = threading.Thread(target=hold)
    waiting.start()
    # this process's requests in flight: the status request asking, and the long-poll
    until(lambda: served.status()["clients"][0]["requests"] >= 2, "the long-poll to be held")
    assert served.stop() == 0  # the long-poll in flight is answered, not waited out
    waiting.join(timeout=60)
    assert held and not isinstance(held[0], Exception)

    serving(db, cfg, cwd=tmp_path)
    again = server.changes(answer["counter"], wait=0)  # a counter from the server before
    assert again["changed"] == ["events", "decisions", "triggers"]
    assert again["server"] != answer["server"]
