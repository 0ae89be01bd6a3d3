"""Through `quarterdeck serve` (the single recorder), as embedded: two operators pausing one
run at once record one pause; the other is refused (exit 3) naming it; the runner's answer,
followed by the server, lets the next decision through. Real server, real processes."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from quarterdeck import client
from quarterdeck.queries.decisions import Refused
from support.events import event, started, write_jsonl
from support.serving import Served, env, until


def test_two_pauses_of_one_run_at_once_record_one(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    logs = tmp_path / "logs"
    write_jsonl(logs / "runs.jsonl", [started("r-0", now), started("r-1", now)])
    me = pwd.getpwuid(os.getuid()).pw_name
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text(f'[operators."{me}"]\nroles = ["operator"]\n')
    db = tmp_path / "store" / "qd.duckdb"
    serving(db, cfg, "--follow", str(logs), cwd=tmp_path)
    common = ("--db", str(db), "--config", str(cfg))

    def listed(name: str) -> list[dict]:  # asked in-process: a poll starts no process
        server = client.find(db)
        assert server is not None
        asked = {"now": datetime.now(UTC).isoformat()} if name == "runs" else {}
        rows: list[dict] = server.query(name, asked).to_pylist()
        return rows

    until(lambda: len(listed("runs")) == 2, "the runs to be followed")
    decide = [sys.executable, "-m", "quarterdeck.cli", "decide", "pause", "--run", "r-0", *common]
    both = [
        subprocess.Popen(
            [*decide, "--reason", f"operator {n}"],
            cwd=tmp_path,
            env=env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in (1, 2)
    ]
    answers = [(p.wait(timeout=120), *p.communicate()) for p in both]
    assert sorted(code for code, _, _ in answers) == [0, 3], answers
    (first,) = listed("decisions")
    (_, _, refusal) = next(a for a in answers if a[0] == 3)
    assert "run r-0 has a pause outstanding: pause " in refusal
    assert f"{first['decision_id'][:8]} (#1) by {me} at " in refusal
    assert "Traceback" not in refusal

    # the workflow's pause leaves r-0 out; the same again is refused (asked in-process)
    server = client.find(db)
    assert server is not None
    workflow = {"action": "pause", "workflow": "invoice-posting", "reason": "hold"}
    held = server.decide(workflow)
    assert "1 run left out, with a pause not yet acknowledged: r-0 (pause " in held["summary"]
    with pytest.raises(Refused, match="workflow invoice-posting has a pause outstanding"):
        server.decide(workflow)

    # the runner applies the first pause and logs it; the server follows: r-0 is paused, and
    # its resume is taken
    ack = event(
        "control.applied", now, "r-0", event_id="ack-1", decision_id=first["decision_id"],
        action="pause", result="applied",
    )  # fmt: skip
    write_jsonl(logs / "acks.jsonl", [ack])
    until(
        lambda: [r["status"] for r in listed("runs") if r["run_id"] == "r-0"] == ["paused"],
        "the runner's answer to be followed",
    )
    server.decide({"action": "resume", "run_id": "r-0", "reason": "checked"})
    assert [d["seq"] for d in listed("decisions")] == [3, 2, 1]
