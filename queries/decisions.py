"""Operator decisions: who may take which, and recording them so they can be defended later.

`plan` checks authority and works out exactly what a decision covers (which runs, which
approval) or raises `Refused` with the reason — a refusal is never recorded. `record` then
makes it durable in this order:

1. appended to the journal (flush + fsync): from here on it is recorded;
2. stored in the `decisions` table (with the approval's merged state brought up to date);
3. written to the control outbox that runners read (flush + fsync), and the delivery stored.

A crash between 1 and 2 or 2 and 3 is repaired by `reconcile` when the store is next opened
for decisions: missing decisions are added from the journal and undelivered ones delivered
(runners deduplicate on `decision_id`). A decision that differs between journal and store is
never repaired; `verify` reports it.

Authority (DESIGN §4): pause, resume and rollback need the `operator` role; approve and reject
need the approval's `required_role`; nobody decides a request they (or the run's identity)
made; an expired or already decided request cannot be approved; every decision needs a reason.
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
import pyarrow as pa

from quarterdeck.queries import journal, runs

ACTIONS = ("pause", "resume", "rollback", "approve", "reject")
#: The role pause, resume and rollback need.
CONTROL_ROLE = "operator"
ACTIVE = ("running", "awaiting_approval", "stale", "paused")


class Refused(Exception):
    """The operator may not take this decision now; the message says why. Never recorded."""

    exit_code = 3


@dataclass(frozen=True)
class Operator:
    name: str
    roles: frozenset[str] = frozenset()
    read_only: bool = False

    def describe_roles(self) -> str:
        return ", ".join(sorted(self.roles)) or "no roles"


@dataclass(frozen=True)
class Plan:
    """Exactly what a decision will do, for the confirmation dialog and the record."""

    action: str
    target_kind: str  # run | workflow | approval
    target: str
    runs: tuple[str, ...]
    approval_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        """What the decision does, without naming every run."""
        if self.target_kind == "workflow":
            n = len(self.runs)
            return (f"{self.action} {n} active run{'s' if n != 1 else ''} of workflow "
                    f"{self.target}")
        return self.summary

    @property
    def summary(self) -> str:
        if self.target_kind == "approval":
            what = self.details.get("action") or self.target
            return f"{self.action} {self.target} ({what}) of run {', '.join(self.runs)}"
        if self.target_kind == "workflow":
            return f"{self.headline}: {', '.join(self.runs)}"
        return f"{self.action} run {self.target}"


@dataclass(frozen=True)
class Paths:
    journal: Path
    outbox: Path


# --- authority ----------------------------------------------------------------------------


def plan(
    con: duckdb.DuckDBPyConnection,
    operator: Operator,
    action: str,
    *,
    now: datetime,
    run_id: str | None = None,
    workflow: str | None = None,
    approval_id: str | None = None,
    stale_seconds: int = runs.DEFAULT_STALE_SECONDS,
) -> Plan:
    """What `action` would do, if `operator` may take it; else `Refused`."""
    if operator.read_only:
        raise Refused("read-only: this console and CLI take no decisions (--read-only or "
                      "[console] read_only in the config)")
    if action not in ACTIONS:
        raise Refused(f"unknown decision {action!r}; one of {', '.join(ACTIONS)}")
    if action in ("approve", "reject"):
        if not approval_id:
            raise Refused(f"{action} needs an approval id")
        return _plan_approval(con, operator, action, approval_id, now)
    if CONTROL_ROLE not in operator.roles:
        raise Refused(f"{action} needs the role {CONTROL_ROLE!r}; {operator.name} has "
                      f"{operator.describe_roles()} (roles are set in quarterdeck.toml, "
                      f"[operators.\"{operator.name}\"])")
    if (run_id is None) == (workflow is None):
        raise Refused(f"{action} takes a run or a workflow")
    if run_id is not None:
        return _plan_run(con, action, run_id, now, stale_seconds)
    assert workflow is not None
    return _plan_workflow(con, action, workflow, now, stale_seconds)


def _plan_run(con: duckdb.DuckDBPyConnection, action: str, run_id: str, now: datetime,
              stale_seconds: int) -> Plan:
    run = runs.run_overview(con, run_id, now=now, stale_seconds=stale_seconds)
    if run is None:
        raise Refused(f"no run {run_id!r} in the store")
    status = str(run["status"])
    if action == "pause" and status not in ACTIVE:
        raise Refused(f"run {run_id} is {status.replace('_', ' ')}: only an active run can "
                      "be paused")
    if action == "pause" and status == "paused":
        raise Refused(f"run {run_id} is already paused")
    if action == "resume" and status != "paused":
        raise Refused(f"run {run_id} is {status.replace('_', ' ')}, not paused: nothing to "
                      "resume")
    if action == "rollback" and status == "rolled_back":
        raise Refused(f"run {run_id} has already been rolled back")
    return Plan(action, "run", run_id, (run_id,),
                details={"workflow": run["workflow"], "status": status})


def _plan_workflow(con: duckdb.DuckDBPyConnection, action: str, workflow: str, now: datetime,
                   stale_seconds: int) -> Plan:
    wanted = {"pause": ("running", "awaiting_approval", "stale"), "resume": ("paused",),
              "rollback": ACTIVE}[action]
    rows = runs.run_history(con, now=now, where=runs.RunFilter(status=wanted, workflow=workflow),
                            stale_seconds=stale_seconds).to_pylist()
    if not rows:
        known = con.execute("SELECT count(*) FROM run_summary WHERE workflow = ?",
                            [workflow]).fetchall()[0][0]
        if not known:
            raise Refused(f"no workflow {workflow!r} in the store")
        if action != "resume":
            raise Refused(f"workflow {workflow} has no run to {action} "
                          f"(none is {' or '.join(s.replace('_', ' ') for s in wanted)})")
        # No paused run, but its runners may hold the workflow itself paused (no new runs
        # since a workflow pause): a resume tells them to go on.
    ids = tuple(sorted(r["run_id"] for r in rows))
    return Plan(action, "workflow", workflow, ids, details={"workflow": workflow})


def _plan_approval(con: duckdb.DuckDBPyConnection, operator: Operator, action: str,
                   approval_id: str, now: datetime) -> Plan:
    row = con.execute(
        """SELECT a.status, a.required_role, a.requested_by, a.expires_at, a.decided_by,
                  a.decided_at, a.run_id, a.action, s.identity, s.workflow
           FROM qd_approvals($now) a LEFT JOIN run_summary s USING (run_id)
           WHERE a.approval_id = $id""",
        {"now": now, "id": approval_id},
    ).fetchone()
    if row is None:
        raise Refused(f"no approval {approval_id!r} in the store")
    status, role, requested_by, expires_at, decided_by, decided_at, run_id, what, identity, \
        workflow = row
    if status in ("approved", "rejected"):
        raise Refused(f"{approval_id} was already {status} by {decided_by or 'someone'} at "
                      f"{decided_at:%Y-%m-%d %H:%M:%S}Z; a decided request stays decided")
    if status == "expired" and action == "approve":
        raise Refused(f"{approval_id} expired at {expires_at:%Y-%m-%d %H:%M:%S}Z; an expired "
                      "request cannot be approved (the run must ask again)")
    if role and role not in operator.roles:
        raise Refused(f"{action} of {approval_id} needs the role {role!r}; {operator.name} "
                      f"has {operator.describe_roles()}")
    if operator.name in {requested_by, identity}:
        raise Refused(f"separation of duties: {operator.name} requested {approval_id} (or "
                      "is the identity the run acts as) and cannot decide it")
    return Plan(action, "approval", approval_id, (run_id,) if run_id else (), approval_id,
                details={"action": what, "workflow": workflow, "required_role": role})


# --- recording ----------------------------------------------------------------------------


def uuid7() -> str:
    """A UUIDv7: milliseconds since the epoch, then randomness (sortable by time)."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _stamp(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


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
    reason = reason.strip()
    if not reason:
        raise Refused(f"a reason is needed to {decision.action}: it is what will defend the "
                      "decision later")
    seq, prev = journal.tail(paths.journal)
    sealed = journal.seal({
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
    }, seq=seq + 1, prev_hash=prev)
    journal.append(paths.journal, sealed)  # recorded from here on
    _store(con, sealed)
    _deliver(con, sealed, paths.outbox, now)
    return sealed


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
            [rec["decision_id"], rec["seq"], rec["decided_at"].removesuffix("Z"),
             rec["operator"], rec["action"], rec["target_kind"], rec["target"], rec["runs"],
             rec["approval_id"], rec["reason"], rec["source"], rec["prev_hash"], rec["hash"],
             journal.canonical(rec)],
        )
        if rec["approval_id"]:
            con.execute("DELETE FROM approval_summary WHERE approval_id = ?",
                        [rec["approval_id"]])
            con.execute("INSERT INTO approval_summary SELECT * FROM qd_approval_merge() "
                        "WHERE approval_id = ?", [rec["approval_id"]])
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def outbox_message(rec: dict[str, Any]) -> dict[str, Any]:
    """What a runner reads from the outbox for one decision."""
    return {k: rec[k] for k in ("decision_id", "seq", "decided_at", "operator", "action",
                                "target_kind", "target", "runs", "approval_id", "reason")}


def _deliver(con: duckdb.DuckDBPyConnection, rec: dict[str, Any], outbox: Path,
             now: datetime) -> None:
    outbox.parent.mkdir(parents=True, exist_ok=True)
    with outbox.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(outbox_message(rec), separators=(",", ":")) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    con.execute("INSERT INTO deliveries VALUES (?, ?, ?)",
                [rec["decision_id"], now.replace(tzinfo=None), str(outbox)])


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


# --- proving ------------------------------------------------------------------------------


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


# --- reading ------------------------------------------------------------------------------

_DECISIONS = """
WITH acks AS (
    SELECT decision_id, count(*) FILTER (WHERE result = 'applied') AS applied,
           count(*) FILTER (WHERE result <> 'applied') AS refused,
           max(ts) AS acked_at,
           string_agg(DISTINCT detail, '; ') FILTER (WHERE detail IS NOT NULL) AS detail
    FROM controls WHERE decision_id IN (SELECT decision_id FROM decisions)
    GROUP BY decision_id
), answered AS (  -- an approve/reject is applied when the runner logs the decision
    SELECT d.decision_id, min(e.ts) AS at
    FROM decisions d JOIN approval_events e
      ON e.approval_id = d.approval_id AND e.state <> 'pending' AND e.ts >= d.decided_at
         - INTERVAL 5 SECOND
    GROUP BY d.decision_id
), sent AS (
    SELECT decision_id, min(delivered_at) AS delivered_at FROM deliveries GROUP BY decision_id
)
SELECT d.seq, d.decision_id, d.decided_at, d.operator, d.action, d.target_kind, d.target,
       d.runs, d.approval_id, d.reason, d.source, s.delivered_at,
       coalesce(a.applied, 0) + CASE WHEN w.at IS NOT NULL THEN len(d.runs) ELSE 0 END
           AS applied_runs,
       coalesce(a.refused, 0) AS refused_runs, coalesce(a.acked_at, w.at) AS acked_at,
       a.detail,
       CASE WHEN w.at IS NOT NULL OR coalesce(a.applied, 0) >= greatest(len(d.runs), 1)
                THEN 'applied'
            WHEN coalesce(a.applied, 0) > 0 THEN 'partly applied'
            WHEN coalesce(a.refused, 0) > 0 THEN 'refused'
            WHEN s.delivered_at IS NOT NULL THEN 'delivered'
            ELSE 'recorded' END AS state,
       d.hash
FROM decisions d LEFT JOIN acks a USING (decision_id) LEFT JOIN answered w USING (decision_id)
LEFT JOIN sent s USING (decision_id)
WHERE ($run_id IS NULL OR list_contains(d.runs, $run_id))
ORDER BY d.seq DESC
LIMIT $limit
"""


def decisions(con: duckdb.DuckDBPyConnection, *, run_id: str | None = None,
              limit: int | None = None) -> pa.Table:
    """Decisions, newest first, each with its lifecycle: recorded → delivered → applied (or
    refused, from the runners' `control.applied`)."""
    return con.execute(_DECISIONS, {"run_id": run_id,
                                    "limit": limit if limit is not None else 2**62}
                       ).to_arrow_table()
