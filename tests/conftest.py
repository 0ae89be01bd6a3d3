"""Shared fixtures: a real DuckDB store in a temp dir, real log files, a fixed clock."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.ingest.load import LoadSummary, load_paths
from quarterdeck.queries.store import Store

#: The moment the tests' store is looked at (UTC).
NOW = datetime(2026, 11, 20, 9, 0, 0)
FLEET_END = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)


async def until(pilot: Any, condition: Callable[[], object], timeout: float = 10.0) -> None:
    """Wait, in a Pilot session's loop, until `condition()` holds (fails after `timeout`)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


def event(type_: str, ts: str, run_id: str = "r-1", **fields: Any) -> dict[str, Any]:
    return {"type": type_, "ts": ts, "run_id": run_id, **fields}


def started(run_id: str = "r-1", ts: str = "2026-11-20T08:00:00Z", *,
            scope: list[str] | None = None, workflow: str = "invoice-posting",
            **fields: Any) -> dict[str, Any]:
    return event("run.started", ts, run_id, event_id=f"{run_id}-start", workflow=workflow,
                 workflow_version="1.0.0", environment="prod", identity="svc-agent",
                 scope=scope if scope is not None else ["ledger:write:Invoice"], **fields)


def write_jsonl(path: Path, lines: list[dict[str, Any] | bytes | str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        for line in lines:
            if isinstance(line, dict):
                line = json.dumps(line)
            if isinstance(line, str):
                line = line.encode()
            handle.write(line + b"\n")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "store" / "qd.duckdb")
    yield opened
    opened.close()


@pytest.fixture
def ingest(store: Store) -> Callable[..., LoadSummary]:
    def run(*paths: Path | str) -> LoadSummary:
        return load_paths(store.con, list(paths))

    return run


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated sample fleet (fixed seed and end), shared read-only by tests."""
    from quarterdeck.runner.fleet import generate

    out = tmp_path_factory.mktemp("fleet")
    generate(out, runs=120, seed=11, days=2, end=FLEET_END)
    return out


@pytest.fixture
def fleet_store(
    tmp_path: Path, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The fleet loaded into a store at `qd.duckdb` in the working directory (so the
    console's status bar shows a short, stable path)."""
    monkeypatch.chdir(tmp_path)
    opened = Store.open(Path("qd.duckdb"))
    load_paths(opened.con, [fleet_dir])
    yield opened
    opened.close()
