"""Versioned store schema.

Each migration moves the store from version N-1 to N inside one transaction and is never
edited once released: a new version of Quarterdeck appends a migration, opens an old store and
upgrades it. Times are stored as TIMESTAMP in UTC (offsets are normalised at ingest).

Derived facts that depend on "now" (stale runs, expired approvals) are never stored; they are
computed by the queries in `queries.runs` and `queries.approvals` as of a given moment.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import duckdb

from quarterdeck.queries.macros import FINISH_ORDER, FINISHES, STARTS_DIFFER


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


V1 = Migration(
    1,
    "events (one wide table), typed views, approval records, quarantine, files, run summary",
    (
        # One row per event. The envelope, then every type's own fields (NULL where a type
        # does not have them): one INSERT per batch loads everything, and DuckDB's columnar
        # storage keeps the empty columns nearly free. The log line itself stays in the log
        # (the source of truth); `source`, `line_no` and `byte_offset` point at it.
        """
        CREATE TABLE events (
            event_id         VARCHAR NOT NULL,
            type             VARCHAR NOT NULL,
            ts               TIMESTAMP NOT NULL,
            run_id           VARCHAR NOT NULL,
            workflow         VARCHAR,
            step_id          VARCHAR,
            actor            VARCHAR,
            attrs            JSON,
            -- run.started
            workflow_version VARCHAR,
            environment      VARCHAR,
            identity         VARCHAR,
            trigger_kind     VARCHAR,
            trigger_by       VARCHAR,
            scope            VARCHAR[],
            -- step.started / step.finished (also `status`, `error`)
            name             VARCHAR,
            kind             VARCHAR,
            tool             VARCHAR,
            model            VARCHAR,
            tokens_in        BIGINT,
            tokens_out       BIGINT,
            cost_usd         DOUBLE,
            -- data.touched (also `action`)
            system           VARCHAR,
            object           VARCHAR,
            record_id        VARCHAR,
            fields           VARCHAR[],
            before           JSON,
            after            JSON,
            record_count     BIGINT,
            classification   VARCHAR,
            in_scope         BOOLEAN,      -- NULL until the run's scope is known
            -- approval.requested / approval.decided
            approval_id      VARCHAR,
            risk             VARCHAR,
            required_role    VARCHAR,
            requested_by     VARCHAR,
            expires_at       TIMESTAMP,
            context          JSON,
            decision         VARCHAR,
            decided_by       VARCHAR,
            reason           VARCHAR,
            -- control.applied (also `action`)
            decision_id      VARCHAR,
            result           VARCHAR,
            detail           VARCHAR,
            -- shared by several types
            action           VARCHAR,
            status           VARCHAR,
            error            VARCHAR,
            -- metric (also `name`)
            value            DOUBLE,
            -- where the event came from
            source           VARCHAR NOT NULL,
            line_no          BIGINT NOT NULL,
            byte_offset      BIGINT NOT NULL
        )
        """,
        """
        CREATE VIEW run_starts AS
        SELECT event_id, run_id, ts, workflow, workflow_version, environment, identity,
               trigger_kind, trigger_by, coalesce(scope, []::VARCHAR[]) AS scope
        FROM events WHERE type = 'run.started'
        """,
        """
        CREATE VIEW steps AS
        SELECT event_id, run_id, step_id, ts,
               CASE type WHEN 'step.started' THEN 'started' ELSE 'finished' END AS phase,
               name, kind, tool, model, status, error, tokens_in, tokens_out, cost_usd
        FROM events WHERE type IN ('step.started', 'step.finished')
        """,
        """
        CREATE VIEW touches AS
        SELECT event_id, run_id, step_id, ts, actor, system, object, record_id, action,
               fields, before, after, record_count, classification, in_scope
        FROM events WHERE type = 'data.touched'
        """,
        """
        CREATE VIEW approval_events AS
        SELECT event_id, run_id, step_id, ts, approval_id,
               CASE type WHEN 'approval.requested' THEN 'pending' ELSE decision END AS state,
               action, risk, required_role, requested_by, expires_at, context, decided_by,
               reason
        FROM events WHERE type IN ('approval.requested', 'approval.decided')
        """,
        """
        CREATE VIEW controls AS
        SELECT event_id, run_id, ts, decision_id, action, result, detail
        FROM events WHERE type = 'control.applied'
        """,
        """
        CREATE VIEW run_ends AS
        SELECT event_id, run_id, ts, status, error FROM events WHERE type = 'run.finished'
        """,
        """
        CREATE VIEW metrics AS
        SELECT event_id, run_id, ts, name, value FROM events WHERE type = 'metric'
        """,
        """
        CREATE TABLE approval_records (
            record_key    VARCHAR NOT NULL,     -- source fingerprint + position: idempotent
            approval_id   VARCHAR NOT NULL,
            status        VARCHAR NOT NULL,
            run_id        VARCHAR,
            action        VARCHAR,
            risk          VARCHAR,
            required_role VARCHAR,
            requested_by  VARCHAR,
            requested_at  TIMESTAMP,
            expires_at    TIMESTAMP,
            decided_by    VARCHAR,
            decided_at    TIMESTAMP,
            reason        VARCHAR,
            source        VARCHAR NOT NULL,
            line_no       BIGINT NOT NULL,
            loaded_at     TIMESTAMP NOT NULL
        )
        """,
        """
        CREATE TABLE quarantine (
            quarantine_key VARCHAR NOT NULL,    -- source fingerprint + byte offset: idempotent
            source         VARCHAR NOT NULL,
            line_no        BIGINT NOT NULL,
            byte_offset    BIGINT NOT NULL,
            error_class    VARCHAR NOT NULL,
            error          VARCHAR NOT NULL,
            raw            BLOB NOT NULL,       -- the line, or its first bytes when over-long
            raw_size       BIGINT NOT NULL,     -- the line's real length in bytes
            quarantined_at TIMESTAMP NOT NULL
        )
        """,
        """
        CREATE TABLE files (
            path        VARCHAR NOT NULL,
            fingerprint VARCHAR,
            size        BIGINT NOT NULL,
            byte_offset BIGINT NOT NULL,       -- how far the file has been read
            lines       BIGINT NOT NULL,
            loaded_at   TIMESTAMP NOT NULL
        )
        """,
        """
        CREATE TABLE run_summary (
            run_id           VARCHAR PRIMARY KEY,
            workflow         VARCHAR,
            workflow_version VARCHAR,
            environment      VARCHAR,
            identity         VARCHAR,
            trigger_kind     VARCHAR,
            trigger_by       VARCHAR,
            scope            VARCHAR[],
            has_start        BOOLEAN NOT NULL,
            started_at       TIMESTAMP NOT NULL,
            first_event_at   TIMESTAMP NOT NULL,  -- with last_event_at: bounds every event
            last_event_at    TIMESTAMP NOT NULL,
            finished_at      TIMESTAMP,
            outcome          VARCHAR,           -- the latest run.finished status, if any
            outcome_error    VARCHAR,
            paused           BOOLEAN NOT NULL,  -- the latest applied pause/resume was a pause
            events           BIGINT NOT NULL,
            steps            BIGINT NOT NULL,
            step_errors      BIGINT NOT NULL,
            touched          BIGINT NOT NULL,
            reads            BIGINT NOT NULL,
            creates          BIGINT NOT NULL,
            updates          BIGINT NOT NULL,
            deletes          BIGINT NOT NULL,
            exports          BIGINT NOT NULL,
            out_of_scope     BIGINT NOT NULL,
            tokens_in        BIGINT NOT NULL,
            tokens_out       BIGINT NOT NULL,
            cost_usd         DOUBLE NOT NULL
        )
        """,
        "CREATE INDEX run_summary_started ON run_summary (started_at)",
        # Every approval merged from its events and records (see queries.macros), kept up
        # to date at ingest; what depends on "now" (expired) is decided when it is read.
        """
        CREATE TABLE approval_summary (
            approval_id   VARCHAR NOT NULL,
            run_id        VARCHAR,
            action        VARCHAR,
            risk          VARCHAR,
            required_role VARCHAR,
            requested_by  VARCHAR,
            requested_at  TIMESTAMP,
            expires_at    TIMESTAMP,
            context       JSON,
            decided_state VARCHAR,               -- approved | rejected | expired, or NULL
            decided_by    VARCHAR,
            decided_at    TIMESTAMP,
            reason        VARCHAR,
            sources       VARCHAR[] NOT NULL
        )
        """,
    ),
)

V2 = Migration(
    2,
    "follow checkpoints, file resets, derived-facts marks",
    (
        # How far the follower has read each file, keyed by the file's fingerprint (sha256 of
        # its first complete line), not by its name or inode: a renamed file keeps its place,
        # a replaced one does not. Written in the same transaction as the rows those bytes
        # produced, so a crash at any moment loses nothing and repeats nothing.
        """
        CREATE TABLE follow_offsets (
            fingerprint VARCHAR PRIMARY KEY,
            path        VARCHAR NOT NULL,      -- where the file was last seen
            byte_offset BIGINT NOT NULL,       -- just past the last complete line read
            line_no     BIGINT NOT NULL,       -- lines read so far
            size        BIGINT NOT NULL,       -- the file's size when last read
            done        BOOLEAN NOT NULL,      -- read once and never again (.gz, closed)
            updated_at  TIMESTAMP NOT NULL
        )
        """,
        # Truncations, replacements and rotations the follower saw: shown, never hidden.
        """
        CREATE TABLE file_events (
            seen_at     TIMESTAMP NOT NULL,
            path        VARCHAR NOT NULL,
            kind        VARCHAR NOT NULL,      -- truncated | replaced | rotated
            fingerprint VARCHAR,               -- the file's fingerprint before
            byte_offset BIGINT,                -- how far it had been read
            detail      VARCHAR NOT NULL
        )
        """,
        # Derived facts (scope backfill, run and approval summaries) are brought up to date
        # for every row past these marks; the marks move in the same transaction. A load cut
        # short (even by kill -9) is caught up by the next writer.
        """
        CREATE TABLE derived_marks (
            events_rowid  BIGINT NOT NULL,
            records_rowid BIGINT NOT NULL
        )
        """,
        """
        INSERT INTO derived_marks
        SELECT (SELECT coalesce(max(rowid), -1) FROM events),
               (SELECT coalesce(max(rowid), -1) FROM approval_records)
        """,
    ),
)

V3 = Migration(
    3,
    "operator decisions (from the journal) and their delivery to runners",
    (
        # One row per decision, as appended to the decisions journal (the source of truth:
        # `record` is the journal line's canonical JSON, `hash` chains it to the one before).
        """
        CREATE TABLE decisions (
            decision_id VARCHAR PRIMARY KEY,
            seq         BIGINT NOT NULL UNIQUE,
            decided_at  TIMESTAMP NOT NULL,
            operator    VARCHAR NOT NULL,
            action      VARCHAR NOT NULL,      -- pause | resume | rollback | approve | reject
            target_kind VARCHAR NOT NULL,      -- run | workflow | approval
            target      VARCHAR NOT NULL,
            runs        VARCHAR[] NOT NULL,    -- the runs the decision covers
            approval_id VARCHAR,
            reason      VARCHAR NOT NULL,
            source      VARCHAR NOT NULL,      -- console | cli | trigger:<name>
            prev_hash   VARCHAR NOT NULL,
            hash        VARCHAR NOT NULL,
            record      VARCHAR NOT NULL       -- the journal line, canonical JSON
        )
        """,
        # A decision written to the control outbox that runners read.
        """
        CREATE TABLE deliveries (
            decision_id  VARCHAR NOT NULL,
            delivered_at TIMESTAMP NOT NULL,
            outbox       VARCHAR NOT NULL
        )
        """,
    ),
)

V4 = Migration(
    4,
    "out-of-scope touches kept apart, so the investigator's filter stays fast",
    (
        # Out-of-scope touches are few (well under 1% of touches) and scattered through the
        # events table, so filtering for them read every row group (~300 ms at 10M events).
        # A copy of just those rows, kept by `derived.refresh_derived`, answers in milliseconds.
        "CREATE TABLE out_of_scope_touches AS SELECT * FROM touches WHERE false",
        "INSERT INTO out_of_scope_touches SELECT * FROM touches WHERE in_scope = false",
    ),
)

V5 = Migration(
    5,
    "rollback triggers: every evaluation, and each trip with the decision taken on it",
    (
        """
        CREATE TABLE trigger_evaluations (
            name           VARCHAR NOT NULL,
            evaluated_at   TIMESTAMP NOT NULL,   -- the moment the window ends
            phase          VARCHAR NOT NULL,     -- ok | warning | tripped | inconclusive | error
            value          DOUBLE,
            threshold      DOUBLE NOT NULL,
            window_s       DOUBLE NOT NULL,
            runs_in_window BIGINT NOT NULL,
            reason         VARCHAR
        )
        """,
        # A trip: the first Tripped evaluation after one that was not. One decision at most.
        """
        CREATE TABLE trigger_trips (
            name        VARCHAR NOT NULL,
            tripped_at  TIMESTAMP NOT NULL,
            decision_id VARCHAR,
            evidence    VARCHAR[] NOT NULL,
            PRIMARY KEY (name, tripped_at)
        )
        """,
    ),
)

V6 = Migration(
    6,
    "a run's token sums may be unknown: past 64 bits they are NULL, not a failed refresh",
    (
        # DuckDB alters no table an index depends on: the index is made again after
        "DROP INDEX run_summary_started",
        "ALTER TABLE run_summary ALTER COLUMN tokens_in DROP NOT NULL",
        "ALTER TABLE run_summary ALTER COLUMN tokens_out DROP NOT NULL",
        "CREATE INDEX run_summary_started ON run_summary (started_at)",
    ),
)

V7 = Migration(
    7,
    "followed files' positions appended with each unit, folded into follow_offsets in batches",
    (
        # A commit that updates a row cannot fold the WAL into the store while any reader is
        # open, and follow_offsets was updated by every unit the follower stored (measured:
        # a reader open, units of 500 rows: WAL 30 MB with the update, 0 appending). A unit
        # now appends its files' positions here; `loading.fold_positions` moves the latest
        # into follow_offsets when the derived facts are refreshed, which updates anyway.
        """
        CREATE TABLE follow_positions (
            fingerprint VARCHAR NOT NULL,
            path        VARCHAR NOT NULL,
            byte_offset BIGINT NOT NULL,
            line_no     BIGINT NOT NULL,
            size        BIGINT NOT NULL,
            done        BOOLEAN NOT NULL,
            updated_at  TIMESTAMP NOT NULL
        )
        """,
    ),
)

V8 = Migration(
    8,
    "run_summary made anew and re-derived: rows updated in place, no index but its key",
    (
        # DuckDB 1.5.5 replays a large insert (row groups written ahead) into a PRIMARY KEY
        # without the temporary duplicate a delete + insert of the same key in one transaction
        # needs (duckdb/duckdb#24744): after a kill -9 before a checkpoint, the rows were in
        # the table but not in its index, and the next refresh of those runs died with a
        # FatalException, on every restart. `derived` now upserts run_summary, which updates
        # rows in place; an update of an indexed column is still a delete + insert, so the
        # index on started_at goes (measured at 1M runs: an hour's range 1.45 ms with it,
        # 2.0 ms without; zone maps serve it, rows are in time order).
        #
        # The table is made again, empty, and the derived marks go back to the start, so that
        # a store whose index a crash already left wrong gets a sound one: such a table cannot
        # even be read (DuckDB fails binding its index), but it can be dropped. The store
        # re-derives every run from its events on the open that migrates it (`store`).
        "DROP TABLE run_summary",
        """
        CREATE TABLE run_summary (
            run_id           VARCHAR PRIMARY KEY,
            workflow         VARCHAR,
            workflow_version VARCHAR,
            environment      VARCHAR,
            identity         VARCHAR,
            trigger_kind     VARCHAR,
            trigger_by       VARCHAR,
            scope            VARCHAR[],
            has_start        BOOLEAN NOT NULL,
            started_at       TIMESTAMP NOT NULL,
            first_event_at   TIMESTAMP NOT NULL,  -- with last_event_at: bounds every event
            last_event_at    TIMESTAMP NOT NULL,
            finished_at      TIMESTAMP,
            outcome          VARCHAR,           -- the latest run.finished status, if any
            outcome_error    VARCHAR,
            paused           BOOLEAN NOT NULL,  -- the latest applied pause/resume was a pause
            events           BIGINT NOT NULL,
            steps            BIGINT NOT NULL,
            step_errors      BIGINT NOT NULL,
            touched          BIGINT NOT NULL,
            reads            BIGINT NOT NULL,
            creates          BIGINT NOT NULL,
            updates          BIGINT NOT NULL,
            deletes          BIGINT NOT NULL,
            exports          BIGINT NOT NULL,
            out_of_scope     BIGINT NOT NULL,
            tokens_in        BIGINT,
            tokens_out       BIGINT,
            cost_usd         DOUBLE NOT NULL
        )
        """,
        "UPDATE derived_marks SET events_rowid = -1",
    ),
)

V9 = Migration(
    9,
    "a run's session (conversation) and user, as agent frameworks' traces give them; "
    "steps' attrs (a tool step's declared effect)",
    (
        # Appended: the ingest's INSERT lists the events' columns in table order.
        "ALTER TABLE events ADD COLUMN session_id VARCHAR",
        "ALTER TABLE events ADD COLUMN user_id VARCHAR",
        """
        CREATE OR REPLACE VIEW run_starts AS
        SELECT event_id, run_id, ts, workflow, workflow_version, environment, identity,
               trigger_kind, trigger_by, coalesce(scope, []::VARCHAR[]) AS scope,
               session_id, user_id
        FROM events WHERE type = 'run.started'
        """,
        # attrs: whether the tool map knew a trace's tool (`ingest.tools`)
        """
        CREATE OR REPLACE VIEW steps AS
        SELECT event_id, run_id, step_id, ts,
               CASE type WHEN 'step.started' THEN 'started' ELSE 'finished' END AS phase,
               name, kind, tool, model, status, error, tokens_in, tokens_out, cost_usd, attrs
        FROM events WHERE type IN ('step.started', 'step.finished')
        """,
        # Stores before this version have no sessions to derive: no refresh needed.
        "ALTER TABLE run_summary ADD COLUMN session_id VARCHAR",
        "ALTER TABLE run_summary ADD COLUMN user_id VARCHAR",
    ),
)

V10 = Migration(
    10,
    "workflow versions: published and rolled out (events with no run), touches' identity",
    (
        # `workflow.published` and `rollout.changed` are about a workflow's version, not a
        # run: they are stored with the other events (one load path, one dedup) and no run_id.
        "ALTER TABLE events ALTER COLUMN run_id DROP NOT NULL",
        "ALTER TABLE events ADD COLUMN version VARCHAR",
        "ALTER TABLE events ADD COLUMN publisher VARCHAR",
        "ALTER TABLE events ADD COLUMN approved_by VARCHAR[]",
        "ALTER TABLE events ADD COLUMN source_ref VARCHAR",
        "ALTER TABLE events ADD COLUMN rollout_steps INTEGER[]",
        "ALTER TABLE events ADD COLUMN weight INTEGER",
        "ALTER TABLE events ADD COLUMN changed_by VARCHAR",
        # They are few and scattered through events (a scan by type read every row group:
        # ~100 ms at 1M events), so the derived refresh keeps a copy of them apart.
        """
        CREATE TABLE release_events AS
        SELECT event_id, type, ts, workflow, version, publisher, approved_by, identity, scope,
               source_ref, rollout_steps, weight, changed_by, reason, source, line_no
        FROM events WHERE false
        """,
        """
        INSERT INTO release_events
        SELECT event_id, type, ts, workflow, version, publisher, approved_by, identity, scope,
               source_ref, rollout_steps, weight, changed_by, reason, source, line_no
        FROM events WHERE type IN ('workflow.published', 'rollout.changed')
        """,
        """
        CREATE VIEW publications AS
        SELECT event_id, ts, workflow, version, publisher,
               coalesce(approved_by, []::VARCHAR[]) AS approved_by, identity,
               coalesce(scope, []::VARCHAR[]) AS scope, source_ref, rollout_steps,
               source, line_no
        FROM release_events WHERE type = 'workflow.published'
        """,
        """
        CREATE VIEW rollout_changes AS
        SELECT event_id, ts, workflow, version, weight, changed_by, reason
        FROM release_events WHERE type = 'rollout.changed'
        """,
        # The touches made with an identity named on the touch (a credential that may not be
        # the run's own): few, so kept apart like out-of-scope touches, by the same refresh.
        """
        CREATE TABLE identity_touches AS
        SELECT event_id, run_id, ts, identity, system, object, record_id, action
        FROM events WHERE false
        """,
        """
        INSERT INTO identity_touches
        SELECT event_id, run_id, ts, identity, system, object, record_id, action
        FROM events WHERE type = 'data.touched' AND identity IS NOT NULL
        """,
    ),
)

V11 = Migration(
    11,
    "the folder each source's name is relative to",
    (
        # A source is stored under its name relative to the folder that was ingested or
        # followed (`load.discover`); to go back from an event to its log a reviewer needs
        # that folder too, as the process that read the file saw it (absolute). The latest
        # load of a name says where it was.
        """
        CREATE TABLE source_roots (
            source  VARCHAR PRIMARY KEY,
            root    VARCHAR NOT NULL,
            seen_at TIMESTAMP NOT NULL
        )
        """,
    ),
)

V12 = Migration(
    12,
    "touches with a record id kept apart, clustered by record, so a record's lineage is a lookup",
    (
        # A record's touches are scattered through the events table (one in each of dozens
        # of row groups at 10M events), so its lineage read every row group: +350 ms for the
        # command at 10M against 20k events. A copy of the touches with a record id, each
        # refresh's rows appended in `record_key` order (a hash of system, object and record
        # id), lets DuckDB's zone maps skip every row group that cannot hold the record. Kept
        # by `derived.refresh_derived` (appended; `in_scope` set as it is on the events).
        """
        CREATE TABLE record_touches AS
        SELECT NULL::UBIGINT AS record_key, * FROM touches WHERE false
        """,
        # The touches the derived facts cover already (the rest come with the next refresh)
        """
        INSERT INTO record_touches
        SELECT hash(system, object, record_id) AS record_key, event_id, run_id, step_id, ts,
               actor, system, object, record_id, action, fields, before, after,
               record_count, classification, in_scope
        FROM events
        WHERE type = 'data.touched' AND record_id IS NOT NULL
          AND rowid <= (SELECT events_rowid FROM derived_marks)
        ORDER BY record_key, ts, event_id
        """,
    ),
)

V13 = Migration(
    13,
    "run_summary and out_of_scope_touches rewritten in time order, so a page of the newest "
    "reads the row groups that hold them",
    (
        # The run history sorts run_summary by started_at (newest first) and cuts a page:
        # DuckDB keeps a top-N and skips the row groups whose started_at cannot make it, but
        # only when the rows are in time order. A batch load appended its runs in hash order
        # (588k runs at 10M events: every row group read for a page of 50). `derived` now
        # appends each refresh's new runs in started_at order; this puts the stored ones in
        # it. The table is made again (its rows copied out and back): no key is deleted and
        # inserted again in one table (duckdb/duckdb#24744, V8), and nothing is re-derived.
        "CREATE TEMP TABLE _run_summary AS SELECT * FROM run_summary",
        "DROP TABLE run_summary",
        """
        CREATE TABLE run_summary (
            run_id           VARCHAR PRIMARY KEY,
            workflow         VARCHAR,
            workflow_version VARCHAR,
            environment      VARCHAR,
            identity         VARCHAR,
            trigger_kind     VARCHAR,
            trigger_by       VARCHAR,
            scope            VARCHAR[],
            has_start        BOOLEAN NOT NULL,
            started_at       TIMESTAMP NOT NULL,
            first_event_at   TIMESTAMP NOT NULL,  -- with last_event_at: bounds every event
            last_event_at    TIMESTAMP NOT NULL,
            finished_at      TIMESTAMP,
            outcome          VARCHAR,           -- the latest run.finished status, if any
            outcome_error    VARCHAR,
            paused           BOOLEAN NOT NULL,  -- the latest applied pause/resume was a pause
            events           BIGINT NOT NULL,
            steps            BIGINT NOT NULL,
            step_errors      BIGINT NOT NULL,
            touched          BIGINT NOT NULL,
            reads            BIGINT NOT NULL,
            creates          BIGINT NOT NULL,
            updates          BIGINT NOT NULL,
            deletes          BIGINT NOT NULL,
            exports          BIGINT NOT NULL,
            out_of_scope     BIGINT NOT NULL,
            tokens_in        BIGINT,
            tokens_out       BIGINT,
            cost_usd         DOUBLE NOT NULL,
            session_id       VARCHAR,
            user_id          VARCHAR
        )
        """,
        "INSERT INTO run_summary BY NAME SELECT * FROM _run_summary ORDER BY started_at, run_id",
        "DROP TABLE _run_summary",
        # The same for the newest out-of-scope touches (`touched --out-of-scope`): a page of
        # 50 read a vector of every column in as many places as it had rows (this table has
        # no index; `derived` appends each refresh's rows in ts order).
        "CREATE TEMP TABLE _out_of_scope AS SELECT * FROM out_of_scope_touches",
        "DROP TABLE out_of_scope_touches",
        "CREATE TABLE out_of_scope_touches AS SELECT * FROM _out_of_scope ORDER BY ts, event_id",
        "DROP TABLE _out_of_scope",
    ),
)

V14 = Migration(
    14,
    "each event's line hash, so a line repeating an id with other content is told apart",
    (
        # Appended: the ingest's INSERT lists the events' columns in table order. The hash
        # of the line as read (`loading`): a repeat of it byte for byte is a duplicate with
        # no parse, any other is compared field by field. Events stored before it have none,
        # and a repeat of one of them counts as a plain duplicate, as it always did.
        "ALTER TABLE events ADD COLUMN line_hash UBIGINT",
    ),
)

V15 = Migration(
    15,
    "a quarantined line superseded by the line at its place loading later",
    (
        # A batch load reads a half-written last line and quarantines it; once the line is
        # complete, a later load stores it. The quarantined fragment is then marked (never
        # dropped): when, and the event it became (`loading.supersede`).
        "ALTER TABLE quarantine ADD COLUMN superseded_at TIMESTAMP",
        "ALTER TABLE quarantine ADD COLUMN superseded_by VARCHAR",
    ),
)

V16 = Migration(
    16,
    "a run's token sums as HUGEINT: two steps of 2^63 - 1 tokens no longer sum to unknown",
    (
        # The table made again as V13 made it (no key deleted and inserted again in one
        # table: duckdb/duckdb#24744), the two sums HUGEINT; the runs whose sum had passed
        # 64 bits (stored NULL, "unknown") get theirs from their steps.
        *V13.statements[:2],
        V13.statements[2]
        .replace("tokens_in        BIGINT", "tokens_in        HUGEINT")
        .replace("tokens_out       BIGINT", "tokens_out       HUGEINT"),
        *V13.statements[3:5],
        """
        UPDATE run_summary r SET tokens_in = s.tokens_in, tokens_out = s.tokens_out
        FROM (SELECT run_id, coalesce(sum(tokens_in), 0) AS tokens_in,
                     coalesce(sum(tokens_out), 0) AS tokens_out
              FROM steps
              WHERE run_id IN (SELECT run_id FROM run_summary
                               WHERE tokens_in IS NULL OR tokens_out IS NULL)
              GROUP BY run_id) s
        WHERE r.run_id = s.run_id
        """,
    ),
)

V17 = Migration(
    17,
    "followed files' shift: how much of the offset a BOM and CRLF line ends are",
    (
        # A line without an event_id gets its id from the offset it would have in a copy of
        # its file without a BOM and with LF line ends (`ingest.reader`); resuming a file,
        # the follower needs that difference where it stopped. NULL: a position stored
        # before it was kept, worked out again once by reading the file up to it.
        "ALTER TABLE follow_offsets ADD COLUMN shift BIGINT",
        "ALTER TABLE follow_positions ADD COLUMN shift BIGINT",
    ),
)

V18 = Migration(
    18,
    "contradicting facts shown: a run's finishes that disagree, its run.started events that do",
    (
        # Appended, in place (booleans: no list column rewritten, duckdb/duckdb#24744). NULL
        # (read as false) on the rows stored before: DuckDB 1.5.5 commits no two ALTERs with
        # a DEFAULT in one transaction, and V19 sets them where they are true.
        "ALTER TABLE run_summary ADD COLUMN conflicting_finish BOOLEAN",
        "ALTER TABLE run_summary ADD COLUMN conflicting_start BOOLEAN",
    ),
)

V19 = Migration(
    19,
    "the runs stored with finishes or starts that disagree: flagged, the finish that counts",
    (
        # Apart from V18: DuckDB commits no update of a table altered in its transaction.
        # The runs stored already with more than one run.finished: which one counts no longer
        # depends on the order they were loaded in (`macros.FINISH_ORDER`).
        FINISH_ORDER,
        """
        UPDATE run_summary r
        SET outcome = f.e.status, outcome_error = f.e.error, finished_at = f.e.ts,
            conflicting_finish = f.conflicting
        FROM (SELECT run_id, """
        + FINISHES
        + """
              FROM run_ends GROUP BY run_id HAVING count(*) > 1) f
        WHERE r.run_id = f.run_id
        """,
        """
        UPDATE run_summary r SET conflicting_start = true
        FROM (SELECT run_id FROM events WHERE type = 'run.started' GROUP BY run_id
              HAVING """
        + STARTS_DIFFER
        + """) c
        WHERE r.run_id = c.run_id
        """,
    ),
)

#: An approval record's key: a hash of everything it says, as stored (its times in UTC, to
#: the microsecond; a CRLF line break within a cell as LF, as in a copy with other line
#: ends), not of where it was read. A copy or a repeat of an export adds nothing; an export
#: rewritten in place with new states, or another export with the same header, adds them.
#: The loader keys what it inserts with it (`loading`); V20 keyed what was stored with it.
#: A later change of the key is a migration of its own, with its own expression.
RECORD_KEY = """sha256(to_json(list_transform(
    [approval_id, status, run_id, action, risk, required_role, requested_by,
     epoch_us(requested_at)::VARCHAR, epoch_us(expires_at)::VARCHAR, decided_by,
     epoch_us(decided_at)::VARCHAR, reason],
    v -> replace(v, chr(13) || chr(10), chr(10)))))"""

V20 = Migration(
    20,
    "approval records keyed by their content, not their file's header and line number",
    (
        # Every export of one approval system has the same header: keyed by it and the line
        # number, a second export's rows (or an export's rows rewritten with new states)
        # were taken for duplicates of the first's. Every column the key reads is stored,
        # so the stored records are keyed exactly as the loader keys them when read again.
        # (No index on the table: an UPDATE in place keeps the rowids `derived` follows.)
        f"UPDATE approval_records SET record_key = {RECORD_KEY}",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (
    V1, V2, V3, V4, V5, V6, V7, V8, V9, V10, V11, V12, V13, V14, V15, V16, V17, V18, V19, V20,
)  # fmt: skip
LATEST = MIGRATIONS[-1].version


class SchemaTooNew(Exception):
    """The store was written by a newer Quarterdeck than this one."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = con.execute(
        "SELECT count(*) FROM duckdb_tables() WHERE table_name = 'schema_version' "
        "AND database_name = current_database()"
    ).fetchone()
    if not exists or not exists[0]:
        return 0
    row = con.execute("SELECT max(version) FROM schema_version").fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def migrate(
    con: duckdb.DuckDBPyConnection, migrations: tuple[Migration, ...] = MIGRATIONS
) -> list[int]:
    """Bring the store up to the newest schema; returns the versions applied."""
    latest = migrations[-1].version
    version = current_version(con)
    if version > latest:
        raise SchemaTooNew(
            f"the store has schema version {version}, newer than this Quarterdeck knows "
            f"({latest}); upgrade Quarterdeck or point --db at another store"
        )
    applied: list[int] = []
    for migration in migrations:
        if migration.version <= version:
            continue
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(
                "CREATE TABLE IF NOT EXISTS schema_version "
                "(version INTEGER NOT NULL, description VARCHAR, applied_at TIMESTAMP NOT NULL)"
            )
            for statement in migration.statements:
                con.execute(statement)
            con.execute(
                "INSERT INTO schema_version VALUES (?, ?, now()::TIMESTAMP)",
                [migration.version, migration.description],
            )
            con.execute("COMMIT")
        except Exception:
            # a failed rollback (a database DuckDB invalidated) must not hide why it failed
            with contextlib.suppress(duckdb.Error):
                con.execute("ROLLBACK")
            raise
        applied.append(migration.version)
    return applied
