"""Run-event lines for tests, built as a runner writes them, and the fixed moment the tests'
store is looked at.

Pure data: no store, no files but the one `write_jsonl` is told to write.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

#: The moment the tests' store is looked at (naive UTC, as the store's clock gives it).
NOW = datetime(2026, 11, 20, 9, 0, 0)
#: Where the generated test fleet ends (see the `fleet_dir` fixture).
FLEET_END = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)


def event(type_: str, ts: str, run_id: str = "r-1", **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "run_id": run_id, **fields}


def started(
    run_id: str = "r-1",
    ts: str = "2026-11-20T08:00:00Z",
    *,
    scope: list[str] | None = None,
    workflow: str = "invoice-posting",
    **fields: Any,
) -> dict[str, Any]:
    given = {
        "event_id": f"{run_id}-start",
        "workflow": workflow,
        "workflow_version": "1.0.0",
        "environment": "prod",
        "identity": "svc-agent",
        "scope": scope if scope is not None else ["ledger:write:Invoice"],
        **fields,
    }
    return event("run.started", ts, run_id, **given)


def write_jsonl(path: Path, lines: list[dict[str, Any] | bytes | str]) -> Path:
    """One line per item: a dict as JSON, bytes and str as they are (bad input included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            if isinstance(line, str):
                line = line.encode()
            handle.write(line + b"\n")
    return path


def published(
    version: str,
    ts: str = "2026-11-20T07:00:00Z",
    *,
    workflow: str = "invoice-posting",
    publisher: str = "alice",
    approved_by: tuple[str, ...] = ("bob",),
    identity: str = "svc-agent",
    scope: list[str] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """A `workflow.published` line (no run_id): by default what `started` runs as and uses."""
    return {
        "type": "workflow.published",
        "ts": ts,
        "event_id": f"pub-{workflow}-{version}",
        "workflow": workflow,
        "version": version,
        "publisher": publisher,
        "approved_by": list(approved_by),
        "identity": identity,
        "scope": scope if scope is not None else ["ledger:write:Invoice"],
        "source_ref": f"git:{version}",
        **fields,
    }


def rollout(
    version: str, weight: int, ts: str, *, workflow: str = "invoice-posting", **fields: Any
) -> dict[str, Any]:
    """A `rollout.changed` line (no run_id)."""
    return {
        "type": "rollout.changed",
        "ts": ts,
        "workflow": workflow,
        "version": version,
        "weight": weight,
        "by": "release-bot",
        "reason": "test",
        **fields,
    }
