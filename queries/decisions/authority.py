"""Authority: who may take which decision, and exactly what a decision would cover.

`plan` checks authority and works out what a decision covers (which runs, which approval) or
raises `Refused` with the reason, worded for the operator. A refusal is never recorded: only a
`Plan` can be (`recording.record`).

The rules (DESIGN §4): pause, resume and rollback need the `operator` role; approve and reject
need the approval's `required_role`; nobody decides a request they (or the run's identity)
made; an expired or already decided request cannot be approved; a read-only operator decides
nothing. (Every decision needs a reason too; `recording.record` refuses one without.)

A workflow decision covers the workflow's live runs only (`WORKFLOW_SCOPE`): a pause the
running and awaiting-approval ones, a rollback those and the paused ones, a resume the paused
ones. A workflow pause holds the workflow itself too (its runners start no run of it until a
resume), so it is recorded even when none of its runs is active; a resume with no paused run
only if the workflow is held (a workflow pause or rollback since its last resume); a rollback
needs a live run to roll back.

A stale run (no event for `stale_seconds`) is history, not a live run: its runner has
most likely gone and would never acknowledge, so it is left out unless the operator asks for
it (`include_stale`), and the plan says how many were left out (`details["stale_left_out"]`).
A single run is the operator's own pick and may be stale.

A decision its runners have not answered yet is outstanding (`outstanding`): the same decision
again on the same target is refused, naming it, for `outstanding.REPEAT_AFTER` (then it may be
repeated, and the plan says what it repeats: `details["repeats"]`). A run's decision is
refused while a workflow's naming that run is outstanding (it covers the run). A workflow
decision leaves out the runs one is outstanding on — a run's own, or a workflow's naming it —
(`details["outstanding"]`: run → the decision), and is refused while the workflow's own is
outstanding unless runs that one does not cover remain (its stale runs, asked for now, or
runs started since).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal, get_args

import duckdb

from quarterdeck.queries import runs
from quarterdeck.queries.decisions import outstanding

Action = Literal[
    "pause",
    "resume",
    "rollback",
    "approve",
    "reject",
    "promote",
    "rollback-version",
    "pause-rollout",
]
ACTIONS: tuple[str, ...] = get_args(Action)
#: The decisions about a workflow's rollout (`decisions.rollout`).
ROLLOUT = ("promote", "rollback-version", "pause-rollout")
#: The role pause, resume and rollback need.
CONTROL_ROLE = "operator"
ACTIVE = ("running", "awaiting_approval", "stale", "paused")
#: The run statuses a workflow decision covers, and how its headline names them.
WORKFLOW_SCOPE: dict[str, tuple[str, tuple[str, ...]]] = {
    "pause": ("active", ("running", "awaiting_approval")),
    "resume": ("paused", ("paused",)),
    "rollback": ("active", ("running", "awaiting_approval", "paused")),
}
#: What a workflow decision does, as the dialog and the palette both say it.
VERB_PHRASE = {"pause": "pause", "resume": "resume", "rollback": "roll back"}


def workflow_scope(action: str, workflow: str, n: int | None = None) -> str:
    """What a workflow decision covers, in the words the dialog's headline and the palette
    share: "resume 3 paused runs of invoice-posting" (or "the paused runs of …" uncounted)."""
    adjective, _ = WORKFLOW_SCOPE[action]
    count = "the" if n is None else f"{n:,}"
    runs = "run" if n == 1 else "runs"
    return f"{VERB_PHRASE[action]} {count} {adjective} {runs} of {workflow}"


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
        if "rollout" in self.details:
            return str(self.details["what"])
        if self.target_kind == "workflow":
            if not self.runs:  # the workflow itself: held, or let go
                adjective, _ = WORKFLOW_SCOPE[self.action]
                return f"{self.action} {self.target} (no run of it is {adjective} now)"
            stale = " (stale ones included)" if self.details.get("include_stale") else ""
            return workflow_scope(self.action, self.target, len(self.runs)) + stale
        return self.summary

    @property
    def summary(self) -> str:
        if self.target_kind == "approval":
            what = self.details.get("action") or self.target
            return f"{self.action} {self.target} ({what}) of run {', '.join(self.runs)}"
        if "rollout" in self.details:
            return self.headline
        if self.target_kind == "workflow":
            later = f"; {self.later_note}" if self.later_note else ""
            runs = f": {', '.join(self.runs)}" if self.runs else ""
            pending = f"; {self.pending_note}" if self.pending_note else ""
            return f"{self.headline}{runs}{self.stale_note}{pending}{later}"
        pending = f" ({self.pending_note})" if self.pending_note else ""
        return f"{self.action} run {self.target}{pending}"

    @property
    def later_note(self) -> str:
        """What a workflow pause or rollback does beyond the runs it names: its runners hold
        the workflow, so a run of it that starts later is held too, until a resume."""
        if self.target_kind != "workflow" or self.action not in ("pause", "rollback"):
            return ""
        done = "held" if self.action == "pause" else "rolled back"
        return (
            f"runs of {self.target} that start later are {done} too: its runners start none "
            "until the workflow is resumed"
        )

    @property
    def pending_note(self) -> str:
        """What a decision left out or repeats because an earlier one is not answered yet."""
        notes = []
        pending: dict[str, str] = self.details.get("outstanding") or {}
        if pending:
            listed = sorted(pending.items())
            shown = ", ".join(f"{run} ({named})" for run, named in listed[:3])
            more = f" and {len(listed) - 3:,} more" if len(listed) > 3 else ""
            notes.append(
                f"{len(listed):,} run{'s' if len(listed) != 1 else ''} left out, with a "
                f"{self.action} not yet acknowledged: {shown}{more}"
            )
        if self.details.get("repeats"):
            notes.append(f"repeats {self.details['repeats']}, never acknowledged")
        return "; ".join(notes)

    @property
    def stale_note(self) -> str:
        """What a workflow decision left out: its stale runs, unless asked for."""
        n = int(self.details.get("stale_left_out") or 0)
        if not n:
            return ""
        return f"; {n} stale run{'s' if n != 1 else ''} left out (--include-stale includes them)"


def as_confirmed(confirmed: Plan, fresh: Plan) -> Plan:
    """The plan an operator confirmed (a dialog's, opened a moment ago), less the runs that
    `fresh` — the same decision planned again as it is recorded — leaves out because a
    decision taken meanwhile is outstanding on them: the runner is not asked twice."""
    pending: dict[str, str] = fresh.details.get("outstanding") or {}
    dropped = {run: pending[run] for run in confirmed.runs if run in pending}
    if not dropped:
        return confirmed
    return replace(
        confirmed,
        runs=tuple(run for run in confirmed.runs if run not in dropped),
        details={
            **confirmed.details,
            "outstanding": {**(confirmed.details.get("outstanding") or {}), **dropped},
        },
    )


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
    include_stale: bool = False,
    version: str | None = None,
    rollout_roles: Mapping[str, str] | None = None,
) -> Plan:
    """What `action` would do, if `operator` may take it; else `Refused`. A workflow's
    stale runs are covered only with `include_stale`. Rollout decisions (`decisions.rollout`)
    take a workflow and, to roll back, a `version`; `rollout_roles` names each workflow's
    rollout role (else `release-manager`)."""
    if operator.read_only:
        raise Refused(
            "read-only: this console and CLI take no decisions (--read-only or "
            "[console] read_only in the config)"
        )
    if action not in ACTIONS:
        raise Refused(f"unknown decision {action!r}; one of {', '.join(ACTIONS)}")
    if action in ROLLOUT:
        from quarterdeck.queries.decisions.rollout import plan_rollout

        if run_id is not None or approval_id is not None:
            raise Refused(f"{action} takes a workflow (--workflow), not a run or an approval")
        return plan_rollout(
            con,
            operator,
            action,
            workflow,
            version=version,
            now=now,
            rollout_roles=rollout_roles,
        )
    if version is not None:
        raise Refused(f"a version (--to) goes with rollback-version, not with {action}")
    if action in ("approve", "reject"):
        if not approval_id:
            raise Refused(f"{action} needs an approval id")
        return _plan_approval(con, operator, action, approval_id, now)
    if CONTROL_ROLE not in operator.roles:
        raise Refused(
            f"{action} needs the role {CONTROL_ROLE!r}; {operator.name} has "
            f"{operator.describe_roles()} (roles are set in quarterdeck.toml, "
            f'[operators."{operator.name}"])'
        )
    if (run_id is None) == (workflow is None):
        raise Refused(f"{action} takes a run or a workflow")
    if run_id is not None:
        return _plan_run(con, action, run_id, now, stale_seconds)
    assert workflow is not None
    return _plan_workflow(con, action, workflow, now, stale_seconds, include_stale)


def _plan_run(
    con: duckdb.DuckDBPyConnection, action: str, run_id: str, now: datetime, stale_seconds: int
) -> Plan:
    run = runs.run_overview(con, run_id, now=now, stale_seconds=stale_seconds)
    if run is None:
        raise Refused(f"no run {run_id!r} in the store")
    status = str(run["status"])
    if action == "pause" and status not in ACTIVE:
        raise Refused(
            f"run {run_id} is {status.replace('_', ' ')}: only an active run can be paused"
        )
    if action == "pause" and status == "paused":
        raise Refused(f"run {run_id} is already paused")
    if action == "resume" and status != "paused":
        raise Refused(f"run {run_id} is {status.replace('_', ' ')}, not paused: nothing to resume")
    if action == "rollback" and status == "rolled_back":
        raise Refused(f"run {run_id} has already been rolled back")
    details: dict[str, Any] = {"workflow": run["workflow"], "status": status}
    earlier = outstanding.on_runs(con, action, [run_id]).get(run_id)
    if earlier is not None:
        if earlier.holds(now):
            raise Refused(earlier.refusal(f"run {run_id}", now))
        details["repeats"] = earlier.named
    return Plan(action, "run", run_id, (run_id,), details=details)


def _plan_workflow(
    con: duckdb.DuckDBPyConnection,
    action: str,
    workflow: str,
    now: datetime,
    stale_seconds: int,
    include_stale: bool,
) -> Plan:
    _, live = WORKFLOW_SCOPE[action]
    details: dict[str, Any] = {"workflow": workflow}
    earlier = outstanding.on_workflow(con, action, workflow)
    if earlier is not None and not earlier.holds(now):
        details["repeats"] = earlier.named
    stale_too = action != "resume"  # a stale run is not paused: nothing to resume
    found = runs.run_history(
        con,
        now=now,
        where=runs.RunFilter(status=(*live, "stale") if stale_too else live, workflow=workflow),
        stale_seconds=stale_seconds,
    ).to_pylist()
    rows = [r for r in found if include_stale or r["status"] != "stale"]
    left_out = len(found) - len(rows)
    pending = {
        run: o.named
        for run, o in outstanding.on_runs(con, action, [r["run_id"] for r in rows]).items()
        if o.holds(now)
    }
    if pending:  # already on their way: the runner is not asked twice
        rows = [r for r in rows if r["run_id"] not in pending]
        details["outstanding"] = pending
    if not rows and earlier is not None and earlier.holds(now):
        # the same again, with no run it does not cover already (runs that are stale, or
        # started since, are new to it: a decision that names them is no repeat)
        raise Refused(earlier.refusal(f"workflow {workflow}", now))
    if not rows:
        known = con.execute(
            "SELECT count(*) FROM run_summary WHERE workflow = ?", [workflow]
        ).fetchall()[0][0]
        if not known:
            raise Refused(f"no workflow {workflow!r} in the store")
        if action == "rollback":
            stale = (
                f"; {left_out} stale run{'s' if left_out != 1 else ''} left out "
                "(--include-stale includes them)"
                if left_out
                else ""
            )
            waiting = (
                f"; {len(pending):,} {'has' if len(pending) == 1 else 'have'} a rollback not "
                f"yet acknowledged: {', '.join(f'{r} ({n})' for r, n in sorted(pending.items()))}"
                if pending
                else ""
            )
            raise Refused(
                f"workflow {workflow} has no run to {VERB_PHRASE[action]} "
                f"(none is {', '.join(s.replace('_', ' ') for s in live)}){stale}{waiting}; "
                "a pause of the workflow holds the runs that start later"
            )
        # A pause holds the workflow itself: its runners start none of its runs until a
        # resume. A resume with no paused run lets the workflow go, if it is held.
        if action == "resume" and not _held(con, workflow):
            raise Refused(
                f"workflow {workflow} has no paused run and is not held (no workflow pause or "
                "rollback since its last resume): nothing to resume"
            )
    ids = tuple(sorted(r["run_id"] for r in rows))
    details["stale_left_out"] = left_out
    if include_stale:
        details["include_stale"] = True
    return Plan(action, "workflow", workflow, ids, details=details)


def _held(con: duckdb.DuckDBPyConnection, workflow: str) -> bool:
    """Whether the workflow's runners hold it: its latest workflow pause, rollback or resume
    is not a resume."""
    row = con.execute(
        "SELECT action FROM decisions WHERE target_kind = 'workflow' AND target = ? "
        "AND action IN ('pause', 'resume', 'rollback') ORDER BY seq DESC LIMIT 1",
        [workflow],
    ).fetchone()
    return row is not None and row[0] != "resume"


def _plan_approval(
    con: duckdb.DuckDBPyConnection, operator: Operator, action: str, approval_id: str, now: datetime
) -> Plan:
    row = con.execute(
        """SELECT a.status, a.required_role, a.requested_by, a.expires_at, a.decided_by,
                  a.decided_at, a.run_id, a.action, s.identity, s.workflow
           FROM qd_approvals($now) a LEFT JOIN run_summary s USING (run_id)
           WHERE a.approval_id = $id""",
        {"now": now, "id": approval_id},
    ).fetchone()
    if row is None:
        raise Refused(f"no approval {approval_id!r} in the store")
    (
        status,
        role,
        requested_by,
        expires_at,
        decided_by,
        decided_at,
        run_id,
        what,
        identity,
        workflow,
    ) = row
    if status in ("approved", "rejected"):
        raise Refused(
            f"{approval_id} was already {status} by {decided_by or 'someone'} at "
            f"{decided_at:%Y-%m-%d %H:%M:%S}Z; a decided request stays decided"
        )
    if status == "expired" and action == "approve":
        raise Refused(
            f"{approval_id} expired at {expires_at:%Y-%m-%d %H:%M:%S}Z; an expired "
            "request cannot be approved (the run must ask again)"
        )
    if role and role not in operator.roles:
        raise Refused(
            f"{action} of {approval_id} needs the role {role!r}; {operator.name} "
            f"has {operator.describe_roles()}"
        )
    if operator.name in {requested_by, identity}:
        raise Refused(
            f"separation of duties: {operator.name} requested {approval_id} (or "
            "is the identity the run acts as) and cannot decide it"
        )
    return Plan(
        action,
        "approval",
        approval_id,
        (run_id,) if run_id else (),
        approval_id,
        details={"action": what, "workflow": workflow, "required_role": role},
    )
