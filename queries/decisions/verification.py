"""Proving the record: the journal's hash chain recomputed, then compared with the store.

`verify` reads only. It names the first record that is wrong (a broken chain, a decision in
one of journal and store but not the other, or one that differs between them) and repairs
nothing: the journal is the source of truth, and a difference is evidence to be looked at,
not smoothed over. What a crash left missing is `recording.reconcile`'s to add.

What operators see is checked, not only what was hashed: every column the store keeps and
shows for a decision (operator, action, target, runs, approval, reason, source, time, seq,
hashes, the stored journal line) is compared with the journal record, and so is the state an
approve or reject gave its request (decided state, by whom, when, why), wherever that state
is still the one the decision set. The first field that differs is named, with both values.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from quarterdeck.queries.decisions import journal


@dataclass
class Verified:
    records: int
    first_bad_seq: int | None = None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        return self.problem is None


def verify(con: duckdb.DuckDBPyConnection, path: Path) -> Verified:
    """Recompute the journal's chain and compare the journal with the store."""
    records, broken = journal.check_chain(path)
    if broken is not None:
        where = f"seq {broken.seq}" if broken.seq is not None else f"line {broken.line}"
        return Verified(
            len(records),
            broken.seq or len(records) + 1,
            f"journal {path} line {broken.line} ({where}): {broken.problem}",
        )
    cursor = con.execute(f"SELECT {', '.join(_COLUMNS)} FROM decisions ORDER BY seq")
    rows = {row[0]: dict(zip(_COLUMNS, row, strict=True)) for row in cursor.fetchall()}
    states = _decided_states(con)
    for rec in records:
        row = rows.pop(rec["decision_id"], None)
        if row is None:
            return Verified(
                len(records),
                rec["seq"],
                f"seq {rec['seq']} is in the journal but not in the store "
                "(open the store for writing to reconcile it)",
            )
        problem = _differs(row, rec) or _approval_differs(states, rec)
        if problem is not None:
            return Verified(len(records), rec["seq"], f"seq {rec['seq']}: {problem}")
    if rows:
        seq = min(r["seq"] for r in rows.values())
        return Verified(
            len(records),
            seq,
            f"seq {seq} is in the store but not in the journal (removed from it?)",
        )
    return Verified(len(records))


#: The decisions table's columns, each compared with the journal record's field of that name
#: (`record` with the whole record's canonical JSON).
_COLUMNS = (
    "decision_id",
    "seq",
    "decided_at",
    "operator",
    "action",
    "target_kind",
    "target",
    "runs",
    "approval_id",
    "reason",
    "source",
    "prev_hash",
    "hash",
    "record",
)


def _journal_value(rec: dict[str, Any], column: str) -> Any:
    if column == "record":
        return journal.canonical(rec)
    if column == "decided_at":  # journaled as ISO 8601 with `Z`, stored as naive UTC
        return datetime.fromisoformat(str(rec["decided_at"]).removesuffix("Z"))
    return rec.get(column)


def _differs(row: dict[str, Any], rec: dict[str, Any]) -> str | None:
    """The first column of the store's row that differs from the journal record."""
    for column in _COLUMNS:
        stored, journaled = row[column], _journal_value(rec, column)
        if stored != journaled:
            if column == "record":
                return (
                    "the journal line stored with the decision differs from the journal's "
                    "(a field not shown in a column was changed)"
                )
            return (
                f"the store's {column} differs from the journal's: {_show(stored)} in the "
                f"store, {_show(journaled)} in the journal"
            )
    return None


_STATE = {"approve": "approved", "reject": "rejected"}


def _decided_states(con: duckdb.DuckDBPyConnection) -> dict[str, dict[str, Any]]:
    """Each decided request's state as the store keeps and shows it, with the source of the
    latest decided state as the merge works it out from the states themselves."""
    cursor = con.execute(_DECIDED_STATES)
    names = [d[0] for d in cursor.description]
    return {row[0]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()}


_DECIDED_STATES = """
SELECT s.approval_id, s.decided_state, s.decided_by, s.decided_at, s.reason, s.sources,
       (SELECT arg_max(source, state_at) FROM qd_approval_states()
        WHERE approval_id = s.approval_id AND state <> 'pending') AS latest_source
FROM approval_summary s
WHERE s.approval_id IN (SELECT approval_id FROM decisions WHERE approval_id IS NOT NULL)
"""


def _approval_differs(states: dict[str, dict[str, Any]], rec: dict[str, Any]) -> str | None:
    """Where the request's latest decided state is this decision's, the state the store
    shows must be the decision's: approved or rejected, by the operator, then, for its reason."""
    if rec.get("action") not in _STATE or not rec.get("approval_id"):
        return None
    source = f"decision:{rec['decision_id']}"
    state = states.get(rec["approval_id"])
    if state is None or source not in (state["sources"] or []):
        return f"approval {_show(rec['approval_id'])} has no state from this decision in the store"
    if state["latest_source"] != source:
        return None  # a later state (the runner's answer, a record) is the one shown
    expected = {
        "decided_state": _STATE[rec["action"]],
        "decided_by": rec["operator"],
        "decided_at": _journal_value(rec, "decided_at"),
        "reason": rec["reason"],
    }
    for field, value in expected.items():
        if state[field] != value:
            return (
                f"approval {_show(rec['approval_id'])}'s {field} differs from the "
                f"decision's: {_show(state[field])} in the store, {_show(value)} in the "
                "journal"
            )
    return None


def _show(value: Any) -> str:
    text = repr(value.isoformat() if isinstance(value, datetime) else value)
    return text if len(text) <= 80 else text[:79] + "…"
