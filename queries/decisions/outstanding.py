"""Outstanding decisions: a pause, resume or rollback its runners have not answered yet.

A runner acknowledges a decision with `control.applied` (applied, refused or failed). Until
it does, the decision is outstanding on each run it names — and on the workflow itself, for
a workflow's decision, until any of its runners answers it. A second decision of the same
action on the same target, taken before the first is answered (two operators at once, a key
pressed twice, a trigger's automatic pause racing an operator's), would reach the runner
twice and show twice in the Decisions view: `plan` refuses it, naming the first, and a
workflow decision leaves out the runs one is outstanding on (`authority`).

What a decision is outstanding on, exactly:

- the runs it names (a run's decision, or a workflow's naming its runs) that have no
  `control.applied` for it;
- the workflow itself, for a workflow's decision with no `control.applied` for it at all;
- only while it is the latest word of its kind on that target: a pause or a resume stops
  being outstanding once the other follows it (a resume taken before a pause is applied
  supersedes it); a rollback only by being answered;
- only for `REPEAT_AFTER`: a runner that is alive answers in seconds, and one that is gone
  answers nothing, ever. An operator is never locked out: from then on the same decision may
  be taken again, and its plan says which unanswered one it repeats (`repeats`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import duckdb

#: How long an unanswered decision holds off the same one again (see the module's docstring).
REPEAT_AFTER = timedelta(minutes=2)
#: The decisions that follow one another on a target: a pause and a resume supersede each
#: other; a rollback stands until it is answered.
KIND = {"pause": ("pause", "resume"), "resume": ("pause", "resume"), "rollback": ("rollback",)}

_COLUMNS = "decision_id, seq, decided_at, operator, action, target_kind, target"

_ON_RUNS = f"""
WITH named AS (
    SELECT {_COLUMNS}, unnest(runs) AS run_id FROM decisions
    WHERE list_contains($kind, action) AND target_kind IN ('run', 'workflow')
      AND list_has_any(runs, $runs)
), latest AS (  -- each run's latest decision of the kind
    SELECT * FROM named WHERE list_contains($runs, run_id)
    QUALIFY row_number() OVER (PARTITION BY run_id ORDER BY seq DESC) = 1
)
SELECT run_id, {_COLUMNS} FROM latest l
WHERE action = $action AND NOT EXISTS (
    SELECT 1 FROM controls c WHERE c.decision_id = l.decision_id AND c.run_id = l.run_id)
ORDER BY run_id
"""

_ON_WORKFLOW = f"""
WITH latest AS (
    SELECT {_COLUMNS} FROM decisions
    WHERE target_kind = 'workflow' AND target = $workflow AND list_contains($kind, action)
    ORDER BY seq DESC LIMIT 1
)
SELECT {_COLUMNS} FROM latest l
WHERE action = $action
  AND NOT EXISTS (SELECT 1 FROM controls c WHERE c.decision_id = l.decision_id)
"""


@dataclass(frozen=True)
class Outstanding:
    """A decision not answered yet on a target."""

    decision_id: str
    seq: int
    decided_at: datetime  # UTC, as stored
    operator: str
    action: str
    target_kind: str
    target: str

    def holds(self, now: datetime) -> bool:
        """Whether it still holds off the same decision (younger than `REPEAT_AFTER`)."""
        return _utc(now) - self.decided_at < REPEAT_AFTER

    @property
    def named(self) -> str:
        """The decision as a refusal names it: 'pause 01938a2b (#12) by alice at …Z', and
        for a workflow's decision on a run, the workflow."""
        of = f" of workflow {self.target}" if self.target_kind == "workflow" else ""
        return (
            f"{self.action}{of} {self.decision_id[:8]} (#{self.seq}) by {self.operator} at "
            f"{self.decided_at:%Y-%m-%d %H:%M:%S}Z"
        )

    def refusal(self, on: str, now: datetime) -> str:
        """Why the same decision on `on` ('run r-1', 'workflow w') is refused now."""
        again = self.decided_at + REPEAT_AFTER
        wait = max(0, int((again - _utc(now)).total_seconds()))
        return (
            f"{on} has a {self.action} outstanding: {self.named}, not yet acknowledged by its "
            f"runner (no control.applied); nothing was recorded. It may be repeated from "
            f"{again:%H:%M:%S}Z (in {wait}s), if the runner still has not answered"
        )


def on_runs(
    con: duckdb.DuckDBPyConnection, action: str, runs: list[str] | tuple[str, ...]
) -> dict[str, Outstanding]:
    """Each of `runs` that a decision of `action` is outstanding on, with that decision
    (however old: see `Outstanding.holds`)."""
    if action not in KIND or not runs:
        return {}
    rows = con.execute(
        _ON_RUNS, {"kind": list(KIND[action]), "runs": list(runs), "action": action}
    ).fetchall()
    return {row[0]: Outstanding(*row[1:]) for row in rows}


def on_workflow(con: duckdb.DuckDBPyConnection, action: str, workflow: str) -> Outstanding | None:
    """The workflow decision of `action` on `workflow` that none of its runners has answered
    yet, if it is the latest of its kind."""
    if action not in KIND:
        return None
    row = con.execute(
        _ON_WORKFLOW, {"kind": list(KIND[action]), "workflow": workflow, "action": action}
    ).fetchone()
    return Outstanding(*row) if row else None


def _utc(moment: datetime) -> datetime:
    """`moment` as the store keeps times: UTC, without a zone."""
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(UTC).replace(tzinfo=None)
