"""Derived facts, caught up from marks: what the store works out from the events it holds.

Loading stores events and approval records as they come (`queries.loading`); the facts derived
from them are brought up to date here, by `refresh_derived`, for everything stored since its
last call:

- the scope backfill: a touch gets `in_scope` once its run's `run.started` is stored (a touch
  logged before its run.started, even in an earlier load, is covered too), checked against
  the run's scope: the one its run.started gives, else the scope its version was published
  with (`qd_run_scope`); when a version's publish comes in after runs of it that gave no scope
  of their own, those runs are refreshed too, and their touches checked again;
- `run_summary`, one row per run, and `out_of_scope_touches`, a copy of the touches outside
  their run's scope, recomputed whole for every run with new events;
- `record_touches`, a copy of every touch with a record id, clustered by record (a record's
  lineage reads a row group or two, not the store): new touches appended, `in_scope` set
  with the events' own;
- `approval_summary`, one row per approval, recomputed whole for every approval with a new
  event or approval record;
- `release_events`, a copy of the `workflow.published` and `rollout.changed` events, and
  `identity_touches`, the touches that name an identity (both few, read often).

`derived_marks` holds the last `rowid` of `events` and of `approval_records` the derived facts
cover. A refresh and the move of those marks are one transaction, and each derived row is
recomputed from the events rather than added to, so a refresh cut short is simply done again
by whoever writes next, and one repeated changes nothing. A refresh of more runs than
`RUNS_PER_REFRESH` (a load of 10M events: 1M runs) is several such transactions, each a slice
of the events' rowids, so that its memory is that of a slice whatever the load's size.

No transaction here deletes and re-inserts a key of an index: `run_summary` (PRIMARY KEY
run_id) is upserted, its rows updated in place, and it has no other index; the tables
rewritten by delete + insert (`out_of_scope_touches`, `approval_summary`) have none. DuckDB
1.5.5 replays such a delete + insert wrongly after a kill -9 (duckdb/duckdb#24744) and the
next refresh of those keys raised a FatalException, on every restart. A store already damaged
that way, or any other fatal/internal DuckDB error here, is `StoreDamaged` (exit 3, a message
saying what to do), never a traceback.
"""

from __future__ import annotations

import re
import time

import duckdb

from quarterdeck.queries import macros
from quarterdeck.queries.statements import count, one_row, scalar, transaction
from quarterdeck.queries.store import StoreDamaged

#: Seconds between tries of a refresh that conflicted with another (each takes milliseconds).
CONFLICT_PAUSE = 0.05
#: The most runs one transaction of a refresh derives (about 200 MiB of DuckDB's memory at
#: most, measured: see `refresh_derived`); a load of more is refreshed in slices.
RUNS_PER_REFRESH = 200_000

# The runs a new publish bears on: those of its version stored already that gave no scope of
# their own (their touches were checked against no grants, or their version's earlier record).
# They are refreshed with the runs that have new events. And the runs seen starting already
# that start again (a run.started that may narrow their scope: `_NARROWER`): their touches are
# checked again too.
_REPUBLISHED = """
CREATE OR REPLACE TEMP TABLE _republished AS
SELECT s.run_id FROM run_summary s
JOIN (SELECT DISTINCT workflow, version FROM events
      WHERE rowid > $events AND rowid <= $upto AND type = 'workflow.published') p
  ON s.workflow = p.workflow AND s.workflow_version = p.version
WHERE s.has_start AND s.scope IS NULL
UNION
SELECT s.run_id FROM run_summary s
WHERE s.has_start AND s.run_id IN (SELECT run_id FROM events
                                   WHERE rowid > $events AND rowid <= $upto
                                     AND type = 'run.started')
"""

# Each run's first run.started (its scope as given: NULL when it gave none), the scope its
# touches are checked against (`qd_run_scope`), and whether its run.started events disagree
# (`conflicting_start`: another workflow, version, identity, environment or scope; the
# first one still counts, the run's detail names the conflict).
_STARTS = (
    """
CREATE OR REPLACE TEMP TABLE _starts AS
SELECT run_id, s, qd_run_scope(true, s.scope, s.workflow, s.workflow_version) AS checked,
       conflicting_start
FROM (SELECT run_id, """
    + macros.STARTS_DIFFER
    + """ AS conflicting_start,
             arg_min({'ts': ts, 'workflow': workflow,
                              'workflow_version': workflow_version,
                              'environment': environment, 'identity': identity,
                              'trigger_kind': trigger_kind, 'trigger_by': trigger_by,
                              'scope': scope, 'session_id': session_id,
                              'user_id': user_id},
                     {'ts': ts, 'event_id': event_id}) AS s  -- one at the same instant
      FROM events WHERE type = 'run.started' AND {of _runs}
      GROUP BY run_id)
"""
)

# A run whose run.started events disagree has its touches checked against the narrower of
# their scopes (each as `qd_run_scope` gives it: `qd_narrower_scope`), the conservative
# choice: a touch is in scope only if every start allowed it. Its first start's scope stays
# the one it shows (run_summary.scope); its detail says the starts disagree. A few runs.
_NARROWER = """
UPDATE _starts t SET checked = n.checked
FROM (SELECT e.run_id,
             list_reduce(list(qd_run_scope(true, e.scope, s.s.workflow, s.s.workflow_version)
                              ORDER BY e.ts, e.event_id),
                         lambda a, b: qd_narrower_scope(a, b)) AS checked
      FROM events e JOIN _starts s ON e.run_id = s.run_id
      WHERE s.conflicting_start AND e.type = 'run.started' AND e.ts >= $lo
      GROUP BY e.run_id) n
WHERE t.run_id = n.run_id
"""

# Every touch of the load's runs whose scope is now known gets `in_scope` (a touch logged
# before its run.started, even in an earlier load, is covered too), and those of the runs a
# new publish bears on are checked again (a boolean, updated in place): in the events, then in
# the copies of them `record_touches` holds already.
_BACKFILL_SCOPE = """
UPDATE {table} t SET in_scope = qd_in_scope(s.checked, t.system, t.object, t.action)
FROM _starts s
WHERE {touch} t.ts >= $lo AND t.run_id = s.run_id AND (t.in_scope IS NULL{recheck})
"""
_RECHECK = " OR t.run_id IN (SELECT run_id FROM _republished)"
_BACKFILL = (
    _BACKFILL_SCOPE.replace("{table}", "events").replace("{touch}", "t.type = 'data.touched' AND"),
    _BACKFILL_SCOPE.replace("{table}", "record_touches").replace("{touch}", ""),
)

# The new touches with a record id, appended to `record_touches` in `record_key` order, so
# that each refresh's rows sit in row groups (or stretches of them) whose zone maps name few
# records (a record's own touches in any order: readers sort them; by ts and event_id too
# cost 5-25 % more). `hash` is DuckDB's: a DuckDB whose hash differs would need the table re-keyed
# (tests/store/test_lineage.py pins one value).
_APPEND_RECORD_TOUCHES = """
INSERT INTO record_touches
SELECT hash(system, object, record_id) AS record_key, event_id, run_id, step_id, ts, actor,
       system, object, record_id, action, fields, before, after, record_count,
       classification, in_scope
FROM events
WHERE rowid > $events AND rowid <= $upto AND type = 'data.touched' AND record_id IS NOT NULL
ORDER BY record_key
"""

# Every column of run_summary but its key and `scope`, in table order: what a refresh
# rewrites in place. DuckDB updates a list column (`scope`) by deleting and re-inserting the
# row, the very thing that goes wrong, so a run's scope is set apart, and only where it changed
# (once, when a run.started comes in after other events of its run: a few rows, which DuckDB
# logs row by row and replays right). `scope` is the run's own (NULL when its run.started gave
# none): a publish that comes in later changes no row's list, only counts, in place; readers
# take the scope the touches were checked against from `qd_run_scope`.
_SUMMARY_COLUMNS = (
    "workflow", "workflow_version", "environment", "identity", "trigger_kind", "trigger_by",
    "has_start", "started_at", "first_event_at", "last_event_at", "finished_at",
    "outcome", "outcome_error", "paused", "events", "steps", "step_errors", "touched",
    "reads", "creates", "updates", "deletes", "exports", "out_of_scope", "tokens_in",
    "tokens_out", "cost_usd", "session_id", "user_id", "conflicting_finish",
    "conflicting_start",
)  # fmt: skip

# Each run's row of run_summary, worked out from its events, for the runs in `{run_set}`.
_SUMMARY_ROWS = (
    """
    WITH ev AS (
        SELECT run_id, min(ts) AS first_ts, max(ts) AS last_ts, count(*) AS n,
               arg_min(workflow, ts) FILTER (WHERE workflow IS NOT NULL) AS workflow
        FROM events WHERE {of {run_set}} GROUP BY run_id
    ), sp AS (
        SELECT run_id, count(DISTINCT step_id) AS steps,
               count(*) FILTER (WHERE phase = 'finished' AND status = 'error') AS errors,
               -- HUGEINT (run_summary's too): sums of 64-bit counts cannot overflow it
               coalesce(sum(tokens_in), 0) AS tokens_in,
               coalesce(sum(tokens_out), 0) AS tokens_out,
               coalesce(sum(cost_usd), 0) AS cost_usd
        FROM steps WHERE {of {run_set}} GROUP BY run_id
    ), tc AS (
        SELECT run_id, count(*) AS touched,
               count(*) FILTER (WHERE action = 'read') AS reads,
               count(*) FILTER (WHERE action = 'create') AS creates,
               count(*) FILTER (WHERE action = 'update') AS updates,
               count(*) FILTER (WHERE action = 'delete') AS deletes,
               count(*) FILTER (WHERE action = 'export') AS exports,
               count(*) FILTER (WHERE in_scope = false) AS out_of_scope
        FROM touches WHERE {of {run_set}} GROUP BY run_id
    ), en AS (
        -- the finish that counts (`qd_finish_order`), and whether another says otherwise
        SELECT run_id, """
    + macros.FINISHES
    + """
        FROM run_ends WHERE {of {run_set}} GROUP BY run_id
    ), ct AS (
        SELECT run_id, arg_max(action, ts) = 'pause' AS paused
        FROM controls
        WHERE result = 'applied' AND action IN ('pause', 'resume') AND {of {run_set}}
        GROUP BY run_id
    )
    SELECT ev.run_id,
           coalesce(st.s.workflow, ev.workflow),
           st.s.workflow_version, st.s.environment, st.s.identity,
           st.s.trigger_kind, st.s.trigger_by, st.s.scope,
           st.s IS NOT NULL,
           coalesce(st.s.ts, ev.first_ts),
           ev.first_ts,
           ev.last_ts,
           en.e.ts, en.e.status, en.e.error,
           coalesce(ct.paused, false),
           ev.n,
           coalesce(sp.steps, 0), coalesce(sp.errors, 0),
           coalesce(tc.touched, 0), coalesce(tc.reads, 0), coalesce(tc.creates, 0),
           coalesce(tc.updates, 0), coalesce(tc.deletes, 0), coalesce(tc.exports, 0),
           coalesce(tc.out_of_scope, 0),
           CASE WHEN sp.run_id IS NULL THEN 0 ELSE sp.tokens_in END,
           CASE WHEN sp.run_id IS NULL THEN 0 ELSE sp.tokens_out END,
           coalesce(sp.cost_usd, 0),
           st.s.session_id, st.s.user_id,
           coalesce(en.conflicting, false), coalesce(st.conflicting_start, false)
    FROM ev
    LEFT JOIN _starts st USING (run_id)
    LEFT JOIN sp USING (run_id)
    LEFT JOIN tc USING (run_id)
    LEFT JOIN en USING (run_id)
    LEFT JOIN ct USING (run_id)
"""
)

# Runs new to run_summary are appended in started_at order, so that a page of the newest runs
# (the run history, newest first) reads the row groups that hold them; DuckDB keeps the
# order of a plain INSERT … ORDER BY, not of an upsert's. The others are upserted: their
# rows updated in place.
_INSERT_NEW_RUNS = (
    "INSERT INTO run_summary"
    + _SUMMARY_ROWS.replace("{run_set}", "_new_runs")
    + "    ORDER BY coalesce(st.s.ts, ev.first_ts), ev.run_id"
)
_UPSERT_KNOWN_RUNS = (
    "INSERT INTO run_summary"
    + _SUMMARY_ROWS.replace("{run_set}", "_known_runs")
    + "    ON CONFLICT (run_id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _SUMMARY_COLUMNS)
)

_REFRESH_SUMMARY = (
    "DELETE FROM out_of_scope_touches WHERE run_id IN (SELECT run_id FROM _runs)",
    """
    INSERT INTO out_of_scope_touches
    SELECT * FROM touches
    WHERE in_scope = false AND {of _runs}
    ORDER BY ts, event_id
    """,
    "DELETE FROM identity_touches WHERE run_id IN (SELECT run_id FROM _runs)",
    """
    INSERT INTO identity_touches
    SELECT event_id, run_id, ts, identity, system, object, record_id, action FROM events
    WHERE type = 'data.touched' AND identity IS NOT NULL AND {of _runs}
    """,
)
# `{of RUNS}` in the statements above: the events of the runs in table RUNS (all at or after
# `lo`). When a refresh covers every event the store holds and no run is summarized yet (a
# first load into a new store), that is every event with a run, read with no join.
_OF = re.compile(r"\{of (\w+)\}")
_OF_RUNS = r"ts >= $lo AND run_id IN (SELECT run_id FROM \1)"
_OF_EVERY_RUN = "ts >= $lo AND run_id IS NOT NULL"


def _of(statement: str, every: bool) -> str:
    return _OF.sub(_OF_EVERY_RUN if every else _OF_RUNS, statement)


_SET_SCOPE = """
UPDATE run_summary r SET scope = s.s.scope
FROM _starts s
WHERE r.run_id = s.run_id AND r.scope IS DISTINCT FROM s.s.scope
"""


# The new workflow.published and rollout.changed events, copied apart (`release_events`):
# by rowid, so only the new rows are read; once each, whoever refreshed before.
_COPY_RELEASES = """
INSERT INTO release_events
SELECT event_id, type, ts, workflow, version, publisher, approved_by, identity, scope,
       source_ref, rollout_steps, weight, changed_by, reason, source, line_no
FROM events
WHERE rowid > $events AND rowid <= $upto AND type IN ('workflow.published', 'rollout.changed')
  AND event_id NOT IN (SELECT event_id FROM release_events)
"""

# The runs with new events that run_summary holds already, and those it does not (all of
# whose events are past the mark: a refresh summarizes every run of the events it covers).
_KNOWN_RUNS = """
CREATE OR REPLACE TEMP TABLE _known_runs AS
SELECT run_id, first_event_at FROM run_summary WHERE run_id IN (SELECT run_id FROM _runs)
"""
_NEW_RUNS = """
CREATE OR REPLACE TEMP TABLE _new_runs AS
SELECT run_id FROM _runs WHERE run_id NOT IN (SELECT run_id FROM _known_runs)
"""

_SPAN_START = """
SELECT least((SELECT min(ts) FROM events WHERE rowid > $events AND rowid <= $upto),
             (SELECT min(first_event_at) FROM _known_runs))
"""

_APPROVALS_START = """
SELECT CASE WHEN count(*) FILTER (WHERE requested_at IS NULL) > 0
            THEN NULL  -- a known approval with no request time: read all its events
            ELSE least($lo, min(requested_at) - INTERVAL 1 DAY) END  -- a day for skew
FROM (SELECT a.approval_id, s.requested_at FROM _approvals a
      JOIN approval_summary s USING (approval_id))
"""

_REFRESH_APPROVALS = (
    """
    CREATE OR REPLACE TEMP TABLE _approvals AS
    SELECT DISTINCT approval_id FROM events
    WHERE rowid > $events AND rowid <= $upto AND approval_id IS NOT NULL
      AND type IN ('approval.requested', 'approval.decided')
    UNION
    SELECT approval_id FROM approval_records WHERE rowid > $records
    """,
    "DELETE FROM approval_summary WHERE approval_id IN (SELECT approval_id FROM _approvals)",
    "INSERT INTO approval_summary " + macros.approval_merge_of("_approvals"),
)


def refresh_derived(con: duckdb.DuckDBPyConnection, *, tries: int = 1) -> int:
    """Bring derived facts (scope of touches whose run arrived late, run and approval
    summaries) up to date for every event and approval record stored since the last call,
    whoever stored them; returns the number of runs refreshed. Cheap when nothing is new.

    Events of more than `RUNS_PER_REFRESH` runs are refreshed a slice of rowids at a time,
    each slice its own transaction that moves the marks to its end (what a follower's
    refreshes do anyway): no statement works on more runs than that at once, so a load's
    refresh of any size fits its memory limit.

    Two refreshes at once on cursors of one database (a server's follower and an ingest it
    runs) conflict on the marks, and the later commit fails; with `tries` above 1 a conflict
    is tried again, after a pause, that many times in all."""
    tried = 1
    while True:
        try:
            return _refresh_slices(con)
        except (duckdb.FatalException, duckdb.InternalException) as exc:
            raise StoreDamaged("refreshing the derived facts", exc) from exc
        except duckdb.TransactionException:
            if tried >= tries:
                raise
            tried += 1
            time.sleep(CONFLICT_PAUSE)


def _refresh_slices(con: duckdb.DuckDBPyConnection) -> int:
    """Refresh everything past the marks, in slices of events' rowids of about
    `RUNS_PER_REFRESH` runs each when there are more; the runs refreshed, each counted once
    (a run whose events span two slices is refreshed in both)."""
    runs, extra, slices = _refresh(con)
    if not slices:
        return runs
    total, ends = slices
    for upto in ends:
        extra += _refresh(con, upto)[1]
    return total + extra


# The runs with events past the mark, up to a rowid: how many slices a refresh takes.
_RUNS_PAST_MARK = """
SELECT count(DISTINCT run_id) FROM events WHERE rowid > $1 AND rowid <= $2
"""


def _slices(
    con: duckdb.DuckDBPyConnection, events_mark: int, events_max: int
) -> tuple[int, list[int]] | None:
    """The runs with events past the mark and where each slice of them ends (a rowid), when
    they are more than one transaction derives; None when they are not."""
    new = events_max - events_mark
    if new <= RUNS_PER_REFRESH:  # fewer events than that: fewer runs
        return None
    runs = scalar(con, _RUNS_PAST_MARK, [events_mark, events_max])
    slices = -(-runs // RUNS_PER_REFRESH)
    if slices <= 1:
        return None
    step = -(-new // slices)
    return runs, [
        min(end, events_max) for end in range(events_mark + step, events_max + step, step)
    ]


def _refresh(
    con: duckdb.DuckDBPyConnection, upto: int | None = None
) -> tuple[int, int, tuple[int, list[int]] | None]:
    """Refresh the events past the mark up to rowid `upto` (None: all of them, or the first
    slice of them if they are too many, `_slices`), and every approval record past its
    mark, in one transaction. Returns the runs refreshed, how many of those had no new events
    (runs a new publish bears on), and the slices still to do (None: none)."""
    with transaction(con):
        events_mark, records_mark = one_row(
            con, "SELECT events_rowid, records_rowid FROM derived_marks"
        )
        events_max = scalar(con, "SELECT coalesce(max(rowid), -1) FROM events")
        records_max = scalar(con, "SELECT coalesce(max(rowid), -1) FROM approval_records")
        slices = None
        if upto is None:
            slices = _slices(con, events_mark, events_max)
            upto = slices[1].pop(0) if slices else events_max
        upto = min(upto, events_max)
        if upto <= events_mark and records_max <= records_mark:
            return 0, 0, None
        upto = max(upto, events_mark)
        span = {"events": events_mark, "upto": upto}
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _runs AS SELECT DISTINCT run_id FROM events "
            "WHERE rowid > $events AND rowid <= $upto AND run_id IS NOT NULL",
            span,
        )
        con.execute(_REPUBLISHED, span)
        republished = added = count(con, "_republished")
        if republished:  # those with no new events are refreshed too
            added = scalar(
                con,
                "INSERT INTO _runs SELECT run_id FROM _republished "
                "WHERE run_id NOT IN (SELECT run_id FROM _runs)",
            )
        # The new publishes first: the scope check reads them.
        con.execute(_COPY_RELEASES, span)
        # Every event of these runs is at or after `lo`: the new rows' earliest, or where an
        # earlier summary of the run began. Bounding each scan by it lets DuckDB skip the
        # row groups (a stretch of time each) that cannot hold them: a refresh costs the
        # runs it touches, not the store.
        con.execute(_KNOWN_RUNS)
        con.execute(_NEW_RUNS)
        known = count(con, "_known_runs")
        every = events_mark < 0 and upto == events_max and not known
        lo = {"lo": one_row(con, _SPAN_START, span)[0]}
        con.execute(_of(_STARTS, every), lo)
        if scalar(con, "SELECT count(*) FROM _starts WHERE conflicting_start"):
            con.execute(_NARROWER, lo)
        # Touches of runs a new publish bears on are checked again, whatever they were;
        # otherwise only those not checked yet.
        recheck = _RECHECK if republished else ""
        con.execute(_BACKFILL[0].replace("{recheck}", recheck), lo)
        if scalar(con, "SELECT count(*) FROM (SELECT 1 FROM record_touches LIMIT 1)"):
            con.execute(_BACKFILL[1].replace("{recheck}", recheck), lo)
        con.execute(_APPEND_RECORD_TOUCHES, span)
        for statement in (_of(statement, every) for statement in _REFRESH_SUMMARY):
            con.execute(statement, lo if "$lo" in statement else None)
        if known:
            con.execute(_of(_UPSERT_KNOWN_RUNS, False), lo)
            # a new run's row has its scope already; a known run's may have changed
            con.execute(_SET_SCOPE)
        if known < count(con, "_runs"):
            con.execute(_of(_INSERT_NEW_RUNS, every), lo)
        params = {**span, "records": records_mark}
        con.execute(_REFRESH_APPROVALS[0], params)
        if scalar(con, "SELECT count(*) FROM _approvals"):
            # Their events are all at or after the runs' `lo`, or around the request time
            # their summaries already know of (an approval-system record can name an
            # approval whose events came in long ago).
            since = one_row(con, _APPROVALS_START, lo)[0]
            for statement in _REFRESH_APPROVALS[1:]:
                con.execute(statement, {"since": since} if "$since" in statement else None)
        con.execute(
            "UPDATE derived_marks SET events_rowid = ?, records_rowid = ?",
            [upto, records_max],
        )
        return count(con, "_runs"), added, slices
