"""The columns of every table people read, each defined once: the console's panes and screens,
the command line's tables and the run history's sort all take theirs from here.

A `Column` names a field of a query's rows (`key`), the header people read (`header`),
whether the query can sort by it (`sortable`), and what kind of value it holds (`kind`: how
the command line writes it as text; the console draws its own cells, by key). A header is
written here and nowhere else; a view that shows fewer columns, or some in another order,
says so by key with `pick` or `without`, so it can name no column that is not defined here.

Each table lists its columns in the order the console shows them. A few columns exist for
one side only and say so where they are used: the console's CHANGE (a touch's before and
after, drawn as a diff) or RUNS/MIN (a trigger's runs in the window against its `min_runs`),
the command line's STEP or RUNS. JSON and CSV output carry every field of the rows, whatever
the table shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

#: What a column holds, for writing it as plain text: `text` and `count` as they are,
#: `number` a float in its shortest form, `time` a stored UTC timestamp, `duration`
#: seconds as `3m05s`, `flag` yes/no, `list` comma-separated.
#: `checked` a count that is `unknown` when nothing could be checked (None).
Kind = Literal["text", "count", "checked", "number", "time", "duration", "flag", "list"]


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    kind: Kind = "text"
    sortable: bool = False


def pick(columns: tuple[Column, ...], *keys: str) -> tuple[Column, ...]:
    """The columns with these keys, in the order given (a key not in `columns` is a bug)."""
    by_key = {c.key: c for c in columns}
    return tuple(by_key[key] for key in keys)


def without(columns: tuple[Column, ...], *keys: str) -> tuple[Column, ...]:
    """The columns in their order, leaving out these keys (each must be one of them)."""
    unknown = set(keys) - {c.key for c in columns}
    if unknown:
        raise KeyError(f"no column {', '.join(sorted(unknown))}")
    return tuple(c for c in columns if c.key not in keys)


#: The run history (`queries.runs.run_history`): what an investigator looks at first comes
#: first. Every column is one the history can be sorted by.
RUNS = (
    Column("run_id", "RUN", sortable=True),
    Column("workflow", "WORKFLOW", sortable=True),
    Column("status", "STATUS", sortable=True),
    Column("out_of_scope", "OUT OF SCOPE", "checked", sortable=True),
    Column("pending_approvals", "PENDING", "count", sortable=True),
    Column("started_at", "STARTED (UTC)", "time", sortable=True),
    Column("duration_s", "DURATION", "duration", sortable=True),
    Column("steps", "STEPS", "count", sortable=True),
    # steps that ended in error, recovered or not: a run can succeed after a tool failed
    Column("step_errors", "STEP ERRORS", "count", sortable=True),
    Column("tokens_in", "TOKENS IN", "count", sortable=True),
    Column("tokens_out", "TOKENS OUT", "count", sortable=True),
    Column("touched", "TOUCHED", "count", sortable=True),
    Column("environment", "ENV", sortable=True),
    Column("identity", "IDENTITY", sortable=True),
)

#: A run's steps (`queries.runs.run_steps`) as `quarterdeck run` prints them; EFFECT is
#: `unmapped` for a trace's tool step the tool map does not know (`ingest.tools`).
STEPS = (
    Column("step_id", "STEP"),
    Column("name", "NAME"),
    Column("kind", "KIND"),
    Column("tool", "TOOL"),
    Column("model", "MODEL"),
    Column("status", "STATUS"),
    Column("error", "ERROR"),
    Column("tokens_in", "TOKENS IN", "count"),
    Column("tokens_out", "TOKENS OUT", "count"),
    Column("started_at", "STARTED (UTC)", "time"),
    Column("finished_at", "FINISHED (UTC)", "time"),
    Column("duration_s", "DURATION", "duration"),  # a negative one: `⚠ skew -1s`
    Column("finishes", "FINISHES", "count"),  # more than 1: the step finished again
    Column("effect", "EFFECT"),
)

#: Touches (`queries.touches.touches`, a run's `queries.runs.run_touches`). What an
#: investigator reads first comes first, so that at 120 columns a touch's run, record, action
#: and the grant it lacked are on screen; who made it and in which workflow come after.
TOUCHES = (
    Column("ts", "TIME (UTC)", "time"),
    Column("run_id", "RUN"),
    Column("system", "SYSTEM"),
    Column("object", "OBJECT"),
    Column("record_id", "RECORD"),
    Column("action", "ACTION"),
    Column("in_scope", "IN SCOPE", "flag"),
    Column("needed_grant", "NEEDED GRANT"),  # out of scope: the grant that would have covered it
    Column("identity", "IDENTITY"),
    Column("workflow", "WORKFLOW"),
    Column("change", "CHANGE"),  # the console's, from `before` and `after`
    Column("step_id", "STEP"),
    Column("fields", "FIELDS / COUNT", "list"),  # the console adds `record_count`
    Column("classification", "CLASS"),
)

#: Approvals (`queries.approvals.approvals`): pending first, with the time left.
APPROVALS = (
    Column("approval_id", "APPROVAL"),
    Column("status", "STATUS"),
    Column("seconds_left", "TIME LEFT", "duration"),
    Column("risk", "RISK"),
    Column("action", "WHAT WILL HAPPEN"),
    Column("run_id", "RUN"),
    Column("workflow", "WORKFLOW"),
    Column("requested_by", "REQUESTED BY"),
    Column("required_role", "ROLE"),
    Column("expires_at", "EXPIRES (UTC)", "time"),
    Column("age_s", "AGE", "duration"),
    Column("decided_by", "DECIDED BY"),
    Column("reason", "REASON"),
)

#: Quarantined lines (`queries.quarantine.quarantined`).
QUARANTINE = (
    Column("source", "SOURCE"),
    Column("line", "LINE", "count"),
    Column("offset", "OFFSET", "count"),
    Column("error_class", "CLASS"),
    Column("error", "ERROR"),
    Column("superseded_by", "SUPERSEDED BY"),
    Column("raw_size", "SIZE", "count"),
    Column("raw", "LINE AS READ"),
)

#: Decisions with their lifecycle (`queries.decisions.decisions`), newest first.
DECISIONS = (
    Column("seq", "#", "count"),
    Column("decided_at", "DECIDED (UTC)", "time"),
    Column("operator", "OPERATOR"),
    Column("action", "ACTION"),
    Column("target", "TARGET"),
    # what happened before the runs it named: that list can be long, and scrolls far
    Column("state", "STATE"),
    Column("answers", "RUNS ANSWERED"),
    Column("reason", "REASON"),
    Column("runs", "RUNS", "list"),
    Column("delivered_at", "DELIVERED", "time"),
    Column("acked_at", "ANSWERED", "time"),
    Column("detail", "RUNNER SAID"),
)

#: One decision's outcome per run (`quarterdeck decisions --outcomes`, the console's Enter on a
#: decision): NAMED says whether the decision named the run or a runner answered for it.
DECISION_OUTCOMES = (
    Column("run_id", "RUN"),
    Column("workflow", "WORKFLOW"),
    Column("outcome", "OUTCOME"),
    Column("acked_at", "ANSWERED", "time"),
    Column("detail", "RUNNER SAID"),
    Column("named", "NAMED", "flag"),
)

#: Rollback triggers: a rule's latest evaluation (the console's pane), or an evaluation made
#: now (`queries.triggers.Evaluation.as_dict`, the `triggers` command).
TRIGGERS = (
    Column("phase", "PHASE"),
    Column("name", "TRIGGER"),
    Column("metric", "METRIC"),
    Column("value", "VALUE", "number"),
    Column("threshold", "THRESHOLD", "number"),
    Column("window", "WINDOW"),
    Column("runs_in_window", "RUNS", "count"),
    Column("min_runs", "RUNS/MIN", "count"),  # the console's: runs in the window / min_runs
    Column("history", "RECENT", "list"),
    Column("evaluated_at", "EVALUATED (UTC)", "time"),
    Column("changed_at", "PHASE SINCE", "time"),
    Column("on_trip", "ON TRIP"),
    Column("reason", "WHY"),
)

#: Findings (`queries.findings.findings`): what breaks the publish rules, newest first.
FINDINGS = (
    Column("kind", "FINDING"),
    Column("workflow", "WORKFLOW"),
    Column("version", "VERSION"),
    Column("run_id", "RUN"),
    Column("detail", "DETAIL"),
    Column("event_id", "EVENT"),
    Column("ts", "WHEN (UTC)", "time"),
)

#: A workflow's versions (`queries.versions.versions`): its publish record, weight and role
#: now, and its runs over the window.
WORKFLOWS = (
    Column("workflow", "WORKFLOW"),
    Column("version", "VERSION"),
    Column("role", "ROLE"),
    Column("weight", "WEIGHT %", "count"),
    Column("runs", "RUNS", "count"),
    Column("failed_ratio", "FAILED", "number"),
    Column("out_of_scope", "OUT OF SCOPE", "count"),
    Column("p95_duration_s", "P95 DURATION", "duration"),
    Column("findings", "FINDINGS", "count"),
    Column("publisher", "PUBLISHER"),
    Column("approved_by", "APPROVED BY", "list"),
    Column("published_at", "PUBLISHED (UTC)", "time"),
    Column("source_ref", "SOURCE"),
)
