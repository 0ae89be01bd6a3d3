"""Findings, workflows and a rollout decision through `quarterdeck serve`: what the commands
print in-process, and a rollback-version recorded by the server for the caller's uid."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from quarterdeck.server.peer import name_of
from support.events import published, rollout, started, write_jsonl
from support.serving import Served, qd


def test_findings_workflows_and_rollback_version_through_the_server(
    tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db = tmp_path / "store" / "qd.duckdb"
    lines = [
        published("1.4.0", "2026-11-20T07:00:00Z"),
        published("1.5.0", "2026-11-20T08:00:00Z", publisher="mallory",
                  rollout={"steps": [10, 50, 100]}),
        rollout("1.4.0", 90, "2026-11-20T08:00:00Z"),
        started("r-1", workflow_version="1.5.0", scope=["ledger:write:Invoice", "bank:export"]),
    ]  # fmt: skip
    with Store.open(db) as store:
        load_paths(store.con, [write_jsonl(tmp_path / "logs" / "r.jsonl", lines)])
    cfg = tmp_path / "quarterdeck.toml"
    cfg.write_text(
        '[workflows."invoice-posting"]\npublishers = ["alice"]\n\n'
        f'[operators."{name_of(os.getuid())}"]\nroles = ["release-manager"]\n'
    )
    common = ("--db", str(db), "--config", str(cfg))
    commands = [
        ("findings", "--format", "json"),
        ("workflows", "--at", "2026-11-20T09:00:00Z", "--window", "2h", "--format", "json"),
    ]
    embedded = [qd(*c, *common, cwd=tmp_path) for c in commands]
    server = serving(db, cfg, cwd=tmp_path)
    served = [qd(*c, *common, cwd=tmp_path) for c in commands]
    for command, alone, through in zip(commands, embedded, served, strict=True):
        assert alone.returncode == 0, (command, alone.stderr)
        assert (through.returncode, through.stdout) == (0, alone.stdout), command
    kinds = {f["kind"] for f in json.loads(served[0].stdout)}
    assert kinds == {"unauthorized_publisher", "scope_exceeds_published"}

    back = qd("decide", "rollback-version", "--workflow", "invoice-posting", "--reason",
              "canary fails", *common, cwd=tmp_path)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert "roll invoice-posting back to 1.4.0" in back.stdout
    listed = json.loads(qd("decisions", "--format", "json", *common, cwd=tmp_path).stdout)
    assert (listed[0]["action"], listed[0]["state"]) == ("rollback-version", "delivered")
    assert server.stop() == 0
