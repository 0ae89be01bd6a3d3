"""A decision desk for tests: an operator with the given roles, a journal and an outbox in a
temp folder, the clock frozen at NOW."""

from __future__ import annotations

from pathlib import Path

from quarterdeck.desk import DecisionDesk
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store
from support.events import NOW


def desk_for(
    store: Store, tmp_path: Path, roles: set[str], *, name: str = "anna", read_only: bool = False
) -> DecisionDesk:
    return DecisionDesk(
        store,
        Operator(name, frozenset(roles), read_only=read_only),
        Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl"),
        stale_seconds=15 * 60,
        clock=lambda: NOW,
    )
