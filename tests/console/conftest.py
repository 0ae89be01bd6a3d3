"""Fixtures of the console's tests (the Pilot tests and the snapshots)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import started, write_jsonl
from support.serving import serving

__all__ = ["serving"]


def _request(approval_id: str, run_id: str, role: str) -> dict[str, Any]:
    return {
        "type": "approval.requested",
        "ts": "2026-11-20T08:50:00Z",
        "run_id": run_id,
        "event_id": f"{approval_id}-req",
        "approval_id": approval_id,
        "action": f"post invoices for {run_id}",
        "risk": "high",
        "required_role": role,
        "requested_by": "svc-agent",
        "expires_at": "2030-01-01T00:00:00Z",
    }


@pytest.fixture
def pending_store(
    tmp_path: Path, fleet_copy: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The test fleet plus two live runs waiting on approvals of different roles, at
    `qd.duckdb` in the working directory (as `fleet_store`)."""
    monkeypatch.chdir(tmp_path)
    fleet_copy(tmp_path / "qd.duckdb")
    store = Store.open(Path("qd.duckdb"))
    write_jsonl(
        tmp_path / "live" / "a.jsonl",
        [
            started("r-live-1", ts="2026-11-20T08:49:00Z"),
            started("r-live-2", ts="2026-11-20T08:49:30Z", workflow="payout-batch"),
            _request("apr-fin", "r-live-1", "finance-approver"),
            _request("apr-tre", "r-live-2", "treasury"),
        ],
    )
    load_paths(store.con, [tmp_path / "live"])
    yield store
    store.close()
