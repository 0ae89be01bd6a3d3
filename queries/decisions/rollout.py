"""Rollout decisions: promote a workflow's canary, roll it back to a version, pause it.

They go through the same path as every decision (authority here, then the journal, the store,
the outbox, and the runner's `control.applied`), with these rules:

- each needs the workflow's rollout role (`[workflows."W"] rollout_role`, by default
  `release-manager`), and a reason;
- `promote` takes the canary (`queries.versions.canary_and_stable`) to the next step of its
  published rollout (the first above its weight now); the stable version gets the rest, and
  at 100 every other version goes to 0. A canary at its last step, or no canary, is refused;
- `rollback-version` puts the named version (`--to`; by default the stable version) back to
  100 and every other to 0; a version never published, or one already at 100 alone, is
  refused;
- `pause-rollout` holds the canary where it is: the runner makes no step of its own until a
  promote or a rollback (the weights do not change).

A plan names no run (a rollout is about the share of new runs); it carries the version and
the weights the runner is to apply (`details["rollout"]`), which go into the journal record
and the outbox message. The runner acknowledges with `control.applied` (no run_id), then
writes `rollout.changed` for each version whose weight it changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import duckdb

from quarterdeck.queries import versions
from quarterdeck.queries.decisions.authority import Operator, Plan, Refused
from quarterdeck.queries.findings import DEFAULT_ROLLOUT_ROLE


def plan_rollout(
    con: duckdb.DuckDBPyConnection,
    operator: Operator,
    action: str,
    workflow: str | None,
    *,
    version: str | None,
    now: datetime,
    rollout_roles: Mapping[str, str] | None = None,
) -> Plan:
    """What a rollout decision would do, if `operator` may take it; else `Refused`."""
    if workflow is None:
        raise Refused(f"{action} takes a workflow (--workflow), not a run or an approval")
    role = (rollout_roles or {}).get(workflow, DEFAULT_ROLLOUT_ROLE)
    if role not in operator.roles:
        raise Refused(
            f"{action} of {workflow} needs the role {role!r}; {operator.name} has "
            f"{operator.describe_roles()} (roles are set in quarterdeck.toml, "
            f'[operators."{operator.name}"]; the role in [workflows."{workflow}"] rollout_role)'
        )
    known = versions.weights(con, at=now, workflow=workflow)
    if not known:
        raise Refused(f"workflow {workflow!r} has no published version in the store")
    canary, stable = versions.canary_and_stable(known)[workflow]
    now_weights = {v.version: v.weight for v in known}
    if action == "rollback-version":
        target = version or (stable.version if stable else None)
        if target is None:
            raise Refused(f"{workflow} has no stable version: name one with --to")
        if target not in now_weights:
            raise Refused(
                f"{workflow} has no published version {target!r}; published: "
                + ", ".join(sorted(now_weights))
            )
        weights = {v: (100 if v == target else 0) for v in now_weights}
        what = f"roll {workflow} back to {target}: {target} at 100 %, every other version at 0"
    elif version is not None:
        raise Refused(f"--to goes with rollback-version; {action} acts on the canary")
    elif canary is None:
        raise Refused(f"{workflow} has no canary (no version between 0 and 100 %) to {action}")
    elif action == "promote":
        steps = _steps(con, workflow, canary.version)
        nxt = next((s for s in steps if s > canary.weight), None)
        if nxt is None:
            raise Refused(f"{canary.version} of {workflow} is at its last step already")
        target = canary.version
        weights = dict(now_weights)
        weights[target] = nxt
        if nxt == 100:
            weights = {v: (100 if v == target else 0) for v in now_weights}
        elif stable is not None:
            weights[stable.version] = 100 - nxt
        what = f"promote {target} of {workflow} from {canary.weight} % to {nxt} %"
    else:
        target = canary.version
        weights = dict(now_weights)
        what = f"pause the rollout of {target} of {workflow} at {canary.weight} %"
    if action == "rollback-version" and weights == now_weights:
        raise Refused(f"{target} of {workflow} is at 100 % already: nothing to roll back")
    changed = {v: w for v, w in weights.items() if w != now_weights[v]}
    details: dict[str, Any] = {
        "workflow": workflow,
        "what": what,
        "rollout": {"version": target, "weights": changed or {target: weights[target]}},
    }
    return Plan(action, "workflow", workflow, (), details=details)


def _steps(con: duckdb.DuckDBPyConnection, workflow: str, version: str) -> list[int]:
    row = con.execute(
        "SELECT rollout_steps FROM publications WHERE workflow = ? AND version = ? "
        "ORDER BY ts, event_id LIMIT 1",
        [workflow, version],
    ).fetchone()
    return list(row[0]) if row and row[0] else [100]
