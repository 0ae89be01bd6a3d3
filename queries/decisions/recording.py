"""Recording a planned decision so that it can be defended later, and repairing a crash.

`record` makes a decision durable in this order:

1. appended to the journal (flush + fsync): from here on it is recorded;
2. stored in the `decisions` table (with the approval's merged state brought up to date);
3. written to the control outbox that runners read (flush + fsync), and the delivery stored.

A crash between 1 and 2 or 2 and 3 is repaired by `reconcile` when the store is next opened
for decisions: missing decisions are added from the journal and undelivered ones delivered
(runners deduplicate on `decision_id`). A decision that differs between journal and store is
never repaired; `verification.verify` reports it.

Nothing is appended to a broken chain: before a decision is sealed, the journal's last record
must be the store's last decision (same `seq`, same hash), the journal the size this process
left it at when it last appended to it, and the outbox a file of the recorder's own
(journal.py). A journal edited, cut or added to behind the recorder refuses
the decision (`JournalChanged`) until `quarterdeck verify` has been run and the journal put
right.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from quarterdeck.queries.decisions import journal
from quarterdeck.queries.decisions.authority import Operator, Plan, Refused


class JournalChanged(Refused):
    """The journal's last record is not the store's last decision: it was changed behind the
    recorder, and a decision sealed now would extend a chain that does not hold."""


@dataclass(frozen=True)
class Paths:
    """Where decisions go: the journal (the source of truth) and the outbox runners read."""

    journal: Path
    outbox: Path


def uuid7() -> str:
    """A UUIDv7: milliseconds since the epoch, then randomness (sortable by time)."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _stamp(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


#: The longest reason a decision takes, in characters: the same limit whether the server or
#: the command records it (a reason goes into the journal, the store and every runner's outbox).
MAX_REASON = 10_000


class BadReason(Refused):
    """A reason that cannot be recorded as given (too long): bad input, exit 2."""

    exit_code = 2


def checked_reason(reason: str) -> str:
    """`reason` without its surrounding blanks; `BadReason` if it is longer than `MAX_REASON`
    characters or not text (invalid UTF-8); an empty one is refused by `record`, which knows
    the action."""
    reason = reason.strip()
    try:
        reason.encode("utf-8")
    except UnicodeEncodeError as exc:  # bytes that are not UTF-8, as Python read them
        raise BadReason(
            f"the reason is not valid UTF-8 text (at character {exc.start + 1}); give it as UTF-8"
        ) from None
    if len(reason) > MAX_REASON:
        raise BadReason(
            f"the reason is {len(reason):,} characters; the most a decision takes is "
            f"{MAX_REASON:,} (put the rest in a document and name it)"
        )
    return reason


def record(
    con: duckdb.DuckDBPyConnection,
    decision: Plan,
    *,
    operator: Operator,
    reason: str,
    source: str,
    paths: Paths,
    now: datetime,
    decision_id: str | None = None,
) -> dict[str, Any]:
    """Record a planned decision (journal, store, outbox); returns the journal record.
    `decision_id` (a UUIDv7) may be chosen beforehand, e.g. to claim a trigger's trip."""
    reason = checked_reason(reason)
    if not reason:
        raise Refused(
            f"a reason is needed to {decision.action}: it is what will defend the decision later"
        )
    seq, prev = ready(con, paths)
    sealed = journal.seal(
        {
            "decision_id": decision_id or uuid7(),
            "decided_at": _stamp(now),
            "operator": operator.name,
            "roles": sorted(operator.roles),
            "action": decision.action,
            "target_kind": decision.target_kind,
            "target": decision.target,
            "runs": list(decision.runs),
            "approval_id": decision.approval_id,
            "reason": reason,
            "source": source,
            # a rollout decision: the version and the weights the runner is to apply
            **({"rollout": decision.details["rollout"]} if "rollout" in decision.details else {}),
        },
        seq=seq + 1,
        prev_hash=prev,
    )
    journal.append(paths.journal, sealed)  # recorded from here on
    _written[str(paths.journal)] = (_size(paths.journal), sealed["seq"])
    _store(con, sealed)
    _deliver(con, sealed, paths.outbox, now)
    return sealed


def ready(con: duckdb.DuckDBPyConnection, paths: Paths) -> tuple[int, str]:
    """The journal's tail (`seq`, hash) if a decision may be recorded now; else `Refused`
    (`JournalChanged` for a journal that is not the store's, or an outbox not fit to write).
    `record` asks it; so does whoever claims something (a trigger's trip) before recording."""
    seq, prev = journal.tail(paths.journal)
    _check_tail(con, seq, prev)
    size, last = _written.get(str(paths.journal), (None, seq))
    if size is not None and (last, size) != (seq, _size(paths.journal)):
        raise JournalChanged(
            "the journal was changed behind the server; run `quarterdeck verify` (it is not "
            f"the size this process left it at after #{last}; nothing was recorded)"
        )
    try:
        journal.check_private(paths.outbox, "the control outbox")
    except journal.JournalError as exc:  # before anything is recorded: a refusal
        raise Refused(str(exc)) from None
    return seq, prev


#: The size of each journal this process last appended to, and the seq it appended: a journal
#: edited anywhere since (by a length, not only at its end) is not the one left.
_written: dict[str, tuple[int, int]] = {}


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _check_tail(con: duckdb.DuckDBPyConnection, seq: int, last_hash: str) -> None:
    """The journal's tail (`seq`, its hash) must be the store's last decision."""
    row = con.execute("SELECT seq, hash FROM decisions ORDER BY seq DESC LIMIT 1").fetchone()
    stored_seq, stored_hash = (int(row[0]), str(row[1])) if row else (0, journal.GENESIS)
    if (seq, last_hash) != (stored_seq, stored_hash):
        differs = (
            f"its last record is #{seq}, the store's last decision #{stored_seq}"
            if seq != stored_seq
            else f"its record #{seq} is not the one stored"
        )
        raise JournalChanged(
            f"the journal was changed behind the server; run `quarterdeck verify` ({differs}; "
            "nothing was recorded)"
        )


def _store(con: duckdb.DuckDBPyConnection, rec: dict[str, Any], *, tries: int = 5) -> None:
    """Store a journaled decision. Another writer of this process (the follower refreshing
    the same approval's summary) can conflict; the transaction is then tried again."""
    for attempt in range(tries):
        try:
            _store_once(con, rec)
            return
        except duckdb.TransactionException:
            if attempt == tries - 1:
                raise
            time.sleep(0.05 * (attempt + 1))


def _store_once(con: duckdb.DuckDBPyConnection, rec: dict[str, Any]) -> None:
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(
            "INSERT INTO decisions VALUES (?, ?, ?::TIMESTAMP, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                rec["decision_id"],
                rec["seq"],
                rec["decided_at"].removesuffix("Z"),
                rec["operator"],
                rec["action"],
                rec["target_kind"],
                rec["target"],
                rec["runs"],
                rec["approval_id"],
                rec["reason"],
                rec["source"],
                rec["prev_hash"],
                rec["hash"],
                journal.canonical(rec),
            ],
        )
        if rec["approval_id"]:
            con.execute("DELETE FROM approval_summary WHERE approval_id = ?", [rec["approval_id"]])
            con.execute(
                "INSERT INTO approval_summary SELECT * FROM qd_approval_merge() "
                "WHERE approval_id = ?",
                [rec["approval_id"]],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def outbox_message(rec: dict[str, Any]) -> dict[str, Any]:
    """What a runner reads from the outbox for one decision (a rollout decision's version and
    weights in `rollout`)."""
    rollout = {"rollout": rec["rollout"]} if "rollout" in rec else {}
    return rollout | {
        k: rec[k]
        for k in (
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
        )
    }


def _deliver(
    con: duckdb.DuckDBPyConnection, rec: dict[str, Any], outbox: Path, now: datetime
) -> None:
    outbox.parent.mkdir(parents=True, exist_ok=True)
    with journal.open_private(outbox, "the control outbox") as handle:
        handle.write(json.dumps(outbox_message(rec), separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    con.execute(
        "INSERT INTO deliveries VALUES (?, ?, ?)",
        [rec["decision_id"], now.replace(tzinfo=None), str(outbox)],
    )


@dataclass
class Reconciled:
    added: list[int] = field(default_factory=list)  # seqs stored from the journal
    delivered: list[int] = field(default_factory=list)  # seqs written to the outbox


def reconcile(con: duckdb.DuckDBPyConnection, paths: Paths, *, now: datetime) -> Reconciled:
    """Add what the store is missing from the journal, deliver what was never delivered.
    Nothing that differs is touched (see `verify`)."""
    done = Reconciled()
    records, _ = journal.check_chain(paths.journal)
    stored = {row[0] for row in con.execute("SELECT decision_id FROM decisions").fetchall()}
    for rec in records:
        if rec["decision_id"] not in stored:
            _store(con, rec)
            done.added.append(rec["seq"])
    undelivered = con.execute(
        "SELECT record FROM decisions d WHERE NOT EXISTS "
        "(SELECT 1 FROM deliveries v WHERE v.decision_id = d.decision_id) ORDER BY seq"
    ).fetchall()
    for (text,) in undelivered:
        rec = json.loads(text)
        _deliver(con, rec, paths.outbox, now)
        done.delivered.append(rec["seq"])
    return done
