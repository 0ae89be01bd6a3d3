"""Proving the record: the journal's hash chain recomputed, then compared with the store.

`verify` reads only. It names the first record that is wrong (a broken chain, a decision in
one of journal and store but not the other, or one that differs between them) and repairs
nothing: the journal is the source of truth, and a difference is evidence to be looked at,
not smoothed over. What a crash left missing is `recording.reconcile`'s to add.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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
        return Verified(len(records), broken.seq or len(records) + 1,
                        f"journal {path} line {broken.line} ({where}): {broken.problem}")
    rows = {r[0]: r for r in con.execute(
        "SELECT decision_id, seq, record FROM decisions ORDER BY seq").fetchall()}
    for rec in records:
        row = rows.pop(rec["decision_id"], None)
        if row is None:
            return Verified(len(records), rec["seq"],
                            f"seq {rec['seq']} is in the journal but not in the store "
                            "(open the store for writing to reconcile it)")
        if row[2] != journal.canonical(rec) or row[1] != rec["seq"]:
            return Verified(len(records), rec["seq"],
                            f"seq {rec['seq']} differs between the journal and the store")
    if rows:
        seq = min(r[1] for r in rows.values())
        return Verified(len(records), seq,
                        f"seq {seq} is in the store but not in the journal (removed from it?)")
    return Verified(len(records))


