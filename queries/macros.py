"""SQL macros every connection gets: scope coverage, run status and the approval merge.

They are TEMP macros, installed on each connection when it opens, so a read-only connection
has them too and a new version of Quarterdeck never finds stale definitions in an old store.

Scope rules (DESIGN §2): a grant is `system:access[:object]`. Without an object it covers
every object of that system. `read` covers read; `write` covers read, create and update;
`delete` covers delete; `export` covers export; `*` covers everything. A `*` system or object
matches any. Matching is exact (case-sensitive). A run's scope is the one its run.started
gives; a run.started that gives none (a trace without `quarterdeck.scope`) takes the scope its
version was published with (`qd_run_scope`), and a run with neither has no grants. A touch
whose run's scope is unknown (no run.started seen yet) has `in_scope` NULL, never a guess.

The other way round, `qd_needed_grant` names the grant that would have covered an
out-of-scope touch: the narrowest one, `system:access:object`, with the least access that
covers the action (`write` for create and update); every view that shows such a touch (the
touch, a run's touches, `touched`, the evidence bundle) takes it from here.
"""

from __future__ import annotations

import duckdb

# Every known state of every approval: from events, from approval-system records, and from
# operators' decisions recorded here. `since` leaves out approval events before it (a refresh
# that knows its approvals' events are all later reads only those); `{only}` is empty, or a
# condition on `approval_id` (the states of some approvals: `approval_merge_of`).
_STATES_OF = """
        SELECT approval_id, run_id, state, ts AS state_at, 'event' AS source,
               action, risk, required_role, requested_by,
               CASE WHEN state = 'pending' THEN ts END AS requested_at,
               expires_at, decided_by,
               CASE WHEN state <> 'pending' THEN ts END AS decided_at,
               reason, context
        FROM approval_events WHERE ({since} IS NULL OR ts >= {since}){only}
        UNION ALL BY NAME
        SELECT approval_id, run_id, status AS state,
               coalesce(CASE WHEN status <> 'pending' THEN decided_at END,
                        requested_at, decided_at, loaded_at) AS state_at,
               'record:' || source AS source,
               action, risk, required_role, requested_by, requested_at, expires_at,
               decided_by, decided_at, reason, NULL::JSON AS context
        FROM approval_records WHERE true{only}
        UNION ALL BY NAME
        SELECT approval_id, CASE action WHEN 'approve' THEN 'approved' ELSE 'rejected' END
                   AS state,
               decided_at AS state_at, 'decision:' || decision_id AS source,
               operator AS decided_by, decided_at, reason
        FROM decisions WHERE action IN ('approve', 'reject'){only}
"""

# One row per approval, merged from all its states: descriptive fields from the latest
# state that has them, the decision from the latest decided state (a decided request
# never returns to pending). Stored in approval_summary at ingest.
_MERGE_OF = """
        SELECT approval_id,
               arg_min(run_id, state_at) FILTER (WHERE run_id IS NOT NULL) AS run_id,
               arg_max(action, state_at) FILTER (WHERE action IS NOT NULL) AS action,
               arg_max(risk, state_at) FILTER (WHERE risk IS NOT NULL) AS risk,
               arg_max(required_role, state_at) FILTER (WHERE required_role IS NOT NULL)
                   AS required_role,
               arg_max(requested_by, state_at) FILTER (WHERE requested_by IS NOT NULL)
                   AS requested_by,
               min(requested_at) AS requested_at,
               arg_max(expires_at, state_at) FILTER (WHERE expires_at IS NOT NULL)
                   AS expires_at,
               arg_max(context, state_at) FILTER (WHERE context IS NOT NULL) AS context,
               arg_max(state, state_at) FILTER (WHERE state <> 'pending') AS decided_state,
               arg_max(decided_by, state_at) FILTER (WHERE state <> 'pending') AS decided_by,
               arg_max(coalesce(decided_at, state_at), state_at)
                   FILTER (WHERE state <> 'pending') AS decided_at,
               arg_max(reason, state_at) FILTER (WHERE state <> 'pending') AS reason,
               list(DISTINCT source ORDER BY source) AS sources
        FROM ({states})
        GROUP BY approval_id
"""


def approval_merge_of(ids: str) -> str:
    """`qd_approval_merge(since := $since)` for the approvals in table `ids` (a name the
    caller wrote) alone: each state's source read for those only, where the macro, filtered
    after, merged every approval since `$since` first (1M approvals at 10M events: more
    than a load's memory limit holds)."""
    only = f" AND approval_id IN (SELECT approval_id FROM {ids})"
    return _MERGE_OF.format(states=_STATES_OF.format(since="$since", only=only))


# Which of a run's (or a step's) finishes is the one that counts, as the key of an
# arg_max: the latest; at the same instant the worse outcome (failed, rolled_back,
# cancelled, succeeded; a step's error over ok), then the greater event_id. Never the
# file's order: two finishes at one instant give one answer whichever was loaded first.
FINISH_ORDER = """
    CREATE OR REPLACE TEMP MACRO qd_finish_order(f_ts, f_status, f_event_id) AS
        {'ts': f_ts,
         'worse': CASE f_status WHEN 'failed' THEN 4 WHEN 'rolled_back' THEN 3
                                WHEN 'cancelled' THEN 2 WHEN 'error' THEN 2 ELSE 1 END,
         'event_id': f_event_id}
    """

# A run's finishes, as aggregates over `run_ends`: the one that counts (`e`: status, error,
# ts) and whether another says otherwise (`conflicting`: their statuses differ).
FINISHES = """
    arg_max({'status': status, 'error': error, 'ts': ts},
            qd_finish_order(ts, status, event_id)) AS e,
    count(DISTINCT status) > 1 AS conflicting
"""

# Whether a run's run.started events disagree, as an aggregate over them: another workflow,
# version, identity, environment or scope.
STARTS_DIFFER = """
    count(DISTINCT {'workflow': workflow, 'workflow_version': workflow_version,
                    'environment': environment, 'identity': identity, 'scope': scope}) > 1
"""

MACROS = (
    """
    CREATE OR REPLACE TEMP MACRO qd_access_covers(granted, action) AS
        CASE granted
            WHEN '*' THEN true
            WHEN 'read' THEN action = 'read'
            WHEN 'write' THEN action IN ('read', 'create', 'update')
            WHEN 'delete' THEN action = 'delete'
            WHEN 'export' THEN action = 'export'
            ELSE false
        END
    """,
    """
    CREATE OR REPLACE TEMP MACRO qd_grant_covers(g, t_system, t_object, t_action) AS
        split_part(g, ':', 1) IN (t_system, '*')
        AND qd_access_covers(split_part(g, ':', 2), t_action)
        AND split_part(g, ':', 3) IN ('', '*', t_object)
    """,
    """
    CREATE OR REPLACE TEMP MACRO qd_needed_grant(t_in_scope, t_system, t_object, t_action) AS
        CASE WHEN t_in_scope = false
             THEN t_system || ':'
                  || CASE t_action WHEN 'create' THEN 'write' WHEN 'update' THEN 'write'
                                   ELSE t_action END
                  || ':' || t_object
        END
    """,
    # A grant of a run within a grant of its version's published scope: all it allows, the
    # published one allows (`write` allows what `read` does; no object means every object).
    """
    CREATE OR REPLACE TEMP MACRO qd_grant_within(g, p) AS
        split_part(p, ':', 1) IN (split_part(g, ':', 1), '*')
        AND (split_part(p, ':', 2) IN (split_part(g, ':', 2), '*')
             OR (split_part(g, ':', 2) = 'read' AND split_part(p, ':', 2) = 'write'))
        AND (split_part(p, ':', 3) IN ('', '*')
             OR split_part(p, ':', 3) = split_part(g, ':', 3))
    """,
    """
    CREATE OR REPLACE TEMP MACRO qd_beyond_scope(scope, published) AS
        list_filter(coalesce(scope, []::VARCHAR[]),
                    lambda g: NOT coalesce(list_bool_or(
                        list_transform(published, lambda p: qd_grant_within(g, p))), false))
    """,
    # The grants of scope `a` within some grant of scope `b`, and the narrower of two
    # scopes: every grant of either within the other (`crm:read` of `crm:read` and `crm:*`).
    # Conservative: where two grants only overlap (`crm:write`, `crm:*:Contact`) neither is
    # kept, and a touch they would both allow is out of scope.
    """
    CREATE OR REPLACE TEMP MACRO qd_scope_within(a, b) AS
        list_filter(a, lambda g: coalesce(list_bool_or(
                        list_transform(b, lambda p: qd_grant_within(g, p))), false))
    """,
    """
    CREATE OR REPLACE TEMP MACRO qd_narrower_scope(a, b) AS
        list_distinct(qd_scope_within(a, b) || qd_scope_within(b, a))
    """,
    # The scope a workflow's version was published with (its first publish, as findings
    # hold it); NULL when the version was never published.
    """
    CREATE OR REPLACE TEMP MACRO qd_published_scope(p_workflow, p_version) AS (
        SELECT first(p.scope ORDER BY p.ts, p.event_id) FROM publications p
        WHERE p.workflow = p_workflow AND p.version = p_version
    )
    """,
    # The scope a run's touches are checked against: the scope its run.started gives, else
    # its version's published scope, else none (every touch out of scope); unknown (NULL)
    # until its run.started is seen.
    """
    CREATE OR REPLACE TEMP MACRO qd_run_scope(has_start, own, r_workflow, r_version) AS
        CASE WHEN has_start
             THEN coalesce(own, qd_published_scope(r_workflow, r_version), []::VARCHAR[])
        END
    """,
    """
    CREATE OR REPLACE TEMP MACRO qd_in_scope(scope, t_system, t_object, t_action) AS
        CASE WHEN scope IS NULL THEN NULL
             ELSE list_bool_or(
                 list_transform(scope, lambda g: qd_grant_covers(g, t_system, t_object, t_action))
             ) IS TRUE
        END
    """,
    FINISH_ORDER,
    """
    CREATE OR REPLACE TEMP MACRO qd_run_status(
        outcome, paused, pending, last_event_at, now_ts, stale_seconds
    ) AS
        CASE
            WHEN outcome IS NOT NULL THEN outcome
            WHEN paused THEN 'paused'
            WHEN pending > 0 THEN 'awaiting_approval'
            WHEN last_event_at < now_ts - to_seconds(stale_seconds) THEN 'stale'
            ELSE 'running'
        END
    """,
    "CREATE OR REPLACE TEMP MACRO qd_approval_states(since := NULL) AS TABLE "
    + _STATES_OF.format(since="since", only=""),
    "CREATE OR REPLACE TEMP MACRO qd_approval_merge(since := NULL) AS TABLE "
    + _MERGE_OF.format(states="SELECT * FROM qd_approval_states(since := since)"),
    # As of `now_ts`: a pending request past its expiry is expired. `pending_only` keeps the
    # pending ones, with a condition DuckDB checks as it reads `decided_state` (few requests
    # are undecided): the other columns are read for those rows only.
    """
    CREATE OR REPLACE TEMP MACRO qd_approvals(now_ts, pending_only := false) AS TABLE
        SELECT approval_id, run_id, action, risk, required_role, requested_by, requested_at,
               expires_at, context,
               coalesce(decided_state,
                        CASE WHEN expires_at IS NOT NULL AND expires_at <= now_ts
                             THEN 'expired' ELSE 'pending' END) AS status,
               decided_by, decided_at, reason, sources
        FROM approval_summary
        WHERE NOT pending_only
           OR (decided_state IS NULL AND (expires_at IS NULL OR expires_at > now_ts))
    """,
)


def install(con: duckdb.DuckDBPyConnection) -> None:
    for statement in MACROS:
        con.execute(statement)
