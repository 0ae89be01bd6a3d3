"""Loading validated input into the store, one Arrow batch per transaction.

The ingester validates every line with the pydantic models first; what passed arrives here as
an Arrow table of raw lines (`line`, `line_no`, `byte_offset`). DuckDB parses those lines once
with `from_json` into the columns below, deduplicates on `event_id` (against the store and
within the batch) and fans the events out to their typed tables. No row-by-row INSERTs.
A repeated id is a plain duplicate when the line says what the stored event says (the same
bytes, by the stored `line_hash`, else the same fields once parsed); otherwise the line is a
conflicting duplicate, quarantined (`_conflicting`). A batch with no repeated id pays one
hash of each line for this, nothing more.

Each unit of input (`store_unit`) is one transaction: its events, approval records,
quarantined lines and, when followed, the offsets of the files they came from. Either all of
it is stored or none of it, so a file's offset never runs ahead of the rows its bytes became.
A unit only appends (the offsets too, to `follow_positions`): DuckDB folds its WAL into the
store at a commit that updated no row even while readers are open, and never at one that did.
(The one exception, rare: a unit holding the completed line of a quarantined fragment marks
that quarantine row superseded, `supersede`.)
`fold_positions` moves the latest positions into `follow_offsets` in batches.
Nothing here derives anything: the facts worked out from what was loaded (scope, run and
approval summaries) are caught up by `queries.derived`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import asdict, dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from quarterdeck.queries.migrations import RECORD_KEY
from quarterdeck.queries.statements import count, registered, scalar, transaction

#: How each field of the v1 event contract is read into DuckDB. A test checks that every
#: field of every model in `ingest.models` is listed here.
EVENT_FIELDS: dict[str, str] = {
    "event_id": "VARCHAR",
    "type": "VARCHAR",
    "ts": "VARCHAR",  # stored from `ts_us`, the models' reading of it (see LINES_SCHEMA)
    "run_id": "VARCHAR",
    "workflow": "VARCHAR",
    "step_id": "VARCHAR",
    "actor": "VARCHAR",
    "attrs": "JSON",
    "workflow_version": "VARCHAR",
    "environment": "VARCHAR",
    "identity": "VARCHAR",
    "trigger": '{"kind":"VARCHAR","by":"VARCHAR"}',
    "scope": "VARCHAR[]",
    "name": "VARCHAR",
    "kind": "VARCHAR",
    "tool": "VARCHAR",
    "model": "VARCHAR",
    "status": "VARCHAR",
    "error": "VARCHAR",
    "tokens_in": "BIGINT",
    "tokens_out": "BIGINT",
    "cost_usd": "DOUBLE",
    "system": "VARCHAR",
    "object": "VARCHAR",
    "record_id": "VARCHAR",
    "action": "VARCHAR",
    "fields": "VARCHAR[]",
    "before": "JSON",
    "after": "JSON",
    "record_count": "BIGINT",
    "classification": "VARCHAR",
    "approval_id": "VARCHAR",
    "risk": "VARCHAR",
    "required_role": "VARCHAR",
    "requested_by": "VARCHAR",
    "expires_at": "VARCHAR",
    "context": "JSON",
    "decision": "VARCHAR",
    "decided_by": "VARCHAR",
    "reason": "VARCHAR",
    "decision_id": "VARCHAR",
    "result": "VARCHAR",
    "detail": "VARCHAR",
    "value": "DOUBLE",
    "session_id": "VARCHAR",
    "user_id": "VARCHAR",
    # workflow.published / rollout.changed (also `workflow`, `identity`, `scope`, `reason`)
    "version": "VARCHAR",
    "publisher": "VARCHAR",
    "approved_by": "VARCHAR[]",
    "source_ref": "VARCHAR",
    "rollout": '{"steps":"INTEGER[]"}',
    "weight": "INTEGER",
    "by": "VARCHAR",
}


def _struct_spec() -> str:
    parts = []
    for name, duck_type in EVENT_FIELDS.items():
        value = duck_type if duck_type.startswith("{") else f'"{duck_type}"'
        parts.append(f'"{name}":{value}')
    return "{" + ",".join(parts) + "}"


_SPEC = _struct_spec().replace("'", "''")

# Approval records arrive with their times written by the models (UTC, `Z`); RFC 3339 also
# allows a lower-case `t` and `z`, which DuckDB reads only in upper case.
_UTC = (
    "CAST(coalesce(TRY_CAST({0} AS TIMESTAMPTZ), TRY_CAST(upper({0}) AS TIMESTAMPTZ)) AS TIMESTAMP)"
)

LINES_SCHEMA = pa.schema(
    [
        ("line", pa.string()),
        ("line_no", pa.int64()),
        ("byte_offset", pa.int64()),
        ("source", pa.dictionary(pa.int32(), pa.string())),
        ("fingerprint", pa.dictionary(pa.int32(), pa.string())),
        # where the line would start in a copy of its file without a BOM and with LF line
        # ends (`ingest.reader`): with the fingerprint, the id of a line that gives none
        ("id_offset", pa.int64()),
        ("event_id", pa.string()),  # as the line gives it; NULL when it has none
        # `ts` and `expires_at` as the models read them: microseconds since the epoch, UTC.
        # DuckDB never reads the timestamp text, so whatever the models accept is stored as
        # the same instant (no-seconds, lower-case, odd offsets, nine fractional digits).
        ("ts_us", pa.int64()),
        ("expires_us", pa.int64()),
        # the attrs to store instead of the line's own, for a line with unknown top-level
        # fields (kept in attrs under `_unknown_fields`); NULL for every other line
        ("attrs_json", pa.string()),
    ]
)

QUARANTINE_SCHEMA = pa.schema(
    [
        ("quarantine_key", pa.string()),
        ("source", pa.string()),
        ("line_no", pa.int64()),
        ("byte_offset", pa.int64()),
        ("error_class", pa.string()),
        ("error", pa.string()),
        ("raw", pa.binary()),
        ("raw_size", pa.int64()),
        # the key a Quarterdeck that keyed lines by their raw byte offsets gave the line,
        # when that differs (a file with a BOM or CRLF line ends): not quarantined again
        ("legacy_key", pa.string()),
    ]
)


def quarantine_keys(
    fingerprint: str, offset: int, byte_offset: int, legacy_fingerprint: str | None = None
) -> tuple[str, str | None]:
    """What a quarantined line is known by: its file's fingerprint and its `offset` as if the
    file had no BOM and LF line ends (`ingest.reader`), as an event without an id is; and,
    when its `byte_offset` differs (or its file was known by `legacy_fingerprint` then), the
    key it had when lines were keyed by their raw bytes."""
    key = hashlib.sha256(f"{fingerprint}:{offset}".encode()).hexdigest()
    old = legacy_fingerprint or fingerprint
    if offset == byte_offset and old == fingerprint:
        return key, None
    return key, hashlib.sha256(f"{old}:{byte_offset}".encode()).hexdigest()


APPROVAL_RECORD_SCHEMA = pa.schema(
    [
        ("approval_id", pa.string()),
        ("status", pa.string()),
        ("run_id", pa.string()),
        ("action", pa.string()),
        ("risk", pa.string()),
        ("required_role", pa.string()),
        ("requested_by", pa.string()),
        ("requested_at", pa.string()),
        ("expires_at", pa.string()),
        ("decided_by", pa.string()),
        ("decided_at", pa.string()),
        ("reason", pa.string()),
        ("source", pa.string()),
        ("line_no", pa.int64()),
    ]
)


_EVENT_ID = "coalesce(event_id, sha256(fingerprint || ':' || id_offset::VARCHAR))"

# Keep the first occurrence (lowest `pos`) of each `event_id` that is not in the store yet.
# The ids come with the batch (the validator read them), so deduplication needs no parse.
_KEEP = f"""
WITH ids AS (
    SELECT {_EVENT_ID} AS event_id, pos FROM _incoming
)
SELECT min(pos) AS pos FROM ids
WHERE event_id NOT IN (
    SELECT event_id FROM events WHERE event_id IN (SELECT event_id FROM ids)
)
GROUP BY event_id
"""

#: The events table's columns, in its order (the INSERT below is positional).
EVENT_COLUMNS = (
    "event_id", "type", "ts", "run_id", "workflow", "step_id", "actor", "attrs",
    "workflow_version", "environment", "identity", "trigger_kind", "trigger_by", "scope",
    "name", "kind", "tool", "model", "tokens_in", "tokens_out", "cost_usd",
    "system", "object", "record_id", "fields", "before", "after", "record_count",
    "classification", "in_scope", "approval_id", "risk", "required_role", "requested_by",
    "expires_at", "context", "decision", "decided_by", "reason", "decision_id", "result",
    "detail", "action", "status", "error", "value", "source", "line_no", "byte_offset",
    "session_id", "user_id", "version", "publisher", "approved_by", "source_ref",
    "rollout_steps", "weight", "changed_by", "line_hash",
)  # fmt: skip
#: What an event says, as against where it was read (and what the store derived from it):
#: a line repeating a stored `event_id` is the same event when these are equal.
CONTENT_COLUMNS = tuple(
    c
    for c in EVENT_COLUMNS
    if c not in ("event_id", "in_scope", "source", "line_no", "byte_offset", "line_hash")
)

# Parse the lines into the events' columns (and `pos`, the line's place in the batch). It
# reads the batch in order with no join, so DuckDB writes the rows straight to the store's
# blocks as it goes (a plan with a join in it loses the order, and the rows went through
# the WAL at the commit and were written again by the checkpoint that followed: measured,
# 500k touches, 2.4 s of checkpoint gone). `in_scope` is left NULL here:
# `derived.refresh_derived` fills it in once every run.started of the load is stored.
# `line_hash` is DuckDB's hash of the line as read (its line end included): a repeat
# written byte for byte alike is told from a conflict with no parse (measured, 300k lines
# of 265 bytes: 0.03 s of one core, against 0.17 s for a hash of the parsed columns).
_ROWS = f"""
WITH b AS (
    SELECT {_EVENT_ID} AS event_id, make_timestamp(ts_us) AS ts,
           make_timestamp(expires_us) AS expires_at, j, source, line_no, byte_offset,
           attrs_json::JSON AS kept_attrs, hash(line) AS line_hash, pos
    FROM (SELECT from_json(line, '{_SPEC}') AS j, * EXCLUDE (event_id), event_id
          FROM _incoming)
)
SELECT b.event_id, j.type, b.ts, j.run_id, j.workflow, j.step_id, j.actor,
       coalesce(b.kept_attrs, j.attrs),
       j.workflow_version, j.environment, j.identity, j.trigger.kind, j.trigger.by,
       -- a run that gives no scope has none of its own (NULL): its version's published
       -- scope is its scope (`derived`); a version published with none has none
       CASE WHEN j.type = 'workflow.published' THEN coalesce(j.scope, []::VARCHAR[])
            WHEN j.type = 'run.started' THEN j.scope END,
       j.name, j.kind, j.tool, j.model, j.tokens_in, j.tokens_out, j.cost_usd,
       j.system, j.object, j.record_id, j.fields, j.before, j.after, j.record_count,
       j.classification, NULL,
       j.approval_id, j.risk, j.required_role, j.requested_by, b.expires_at,
       j.context, j.decision, j.decided_by, j.reason,
       j.decision_id, j.result, j.detail,
       j.action, j.status, j.error, j.value,
       b.source, b.line_no, b.byte_offset,
       j.session_id, j.user_id,
       j.version, j.publisher,
       CASE WHEN j.type = 'workflow.published' THEN coalesce(j.approved_by, []::VARCHAR[]) END,
       j.source_ref, j.rollout.steps, j.weight, j.by, b.line_hash, b.pos
FROM b
"""
_NAMED_ROWS = "(" + _ROWS + ") p(" + ", ".join(f'"{c}"' for c in EVENT_COLUMNS) + ", pos)"

_INSERT_EVENTS = f"INSERT INTO events SELECT * EXCLUDE (pos) FROM {_NAMED_ROWS}"

# The repeated lines not written byte for byte as the stored event's line was: their place
# in the batch and their id. No parse: the hash of the line is compared. An event stored
# before its line's hash was kept (NULL) cannot be told apart, and counts as a plain repeat,
# as it always did.
_UNLIKE = f"""
SELECT i.pos, i.event_id
FROM (SELECT {_EVENT_ID} AS event_id, pos, hash(line) AS line_hash FROM _incoming) i
JOIN (SELECT event_id, line_hash FROM events) e USING (event_id)
WHERE e.line_hash IS NOT NULL AND e.line_hash <> i.line_hash
"""
# Those few parsed and compared with the stored event, field by field: where the stored one
# came from, and which fields the line changes (none: the same event written otherwise).
_EACH_FIELD = ", ".join(
    f'CASE WHEN p."{c}" IS DISTINCT FROM e."{c}" THEN \'{c}\' END' for c in CONTENT_COLUMNS
)
_DIFFERS = f"""
SELECT c.pos, e.source, e.line_no,
       list_filter([{_EACH_FIELD}], x -> x IS NOT NULL) AS differs
FROM _unlike c JOIN {_NAMED_ROWS} ON p.pos = c.pos
JOIN (SELECT * FROM events WHERE event_id IN (SELECT event_id FROM _unlike)) e
  ON e.event_id = c.event_id
ORDER BY c.pos
"""


@dataclass(frozen=True)
class Offset:
    """How far a followed file has been read: stored with the rows those bytes produced."""

    fingerprint: str
    path: str
    byte_offset: int
    line_no: int
    size: int
    done: bool = False
    #: How many bytes of `byte_offset` a BOM and CRLF line ends are (`ingest.reader`): the
    #: normalised offset there is `byte_offset - shift`. None: stored before it was kept.
    shift: int | None = 0


@dataclass
class UnitCounts:
    events: int = 0  # new events stored
    records: int = 0  # new approval records stored
    duplicates: int = 0  # events and records already stored (or repeated in the unit)
    conflicts: int = 0  # events whose id was stored with other content (quarantined too)
    superseded: int = 0  # quarantined fragments whose completed line was read now
    quarantined: int = 0  # lines quarantined by this unit (incl. lines the store refused)
    quarantined_new: int = 0  # of those, not quarantined by an earlier load


def store_unit(
    con: duckdb.DuckDBPyConnection,
    *,
    lines: pa.Table | None = None,
    records: pa.Table | None = None,
    rejections: pa.Table | None = None,
    offsets: Iterable[Offset] = (),
    now: object,
) -> UnitCounts:
    """Store one unit of validated input in one transaction: event lines (`LINES_SCHEMA`),
    approval records (`APPROVAL_RECORD_SCHEMA`), rejected lines (`QUARANTINE_SCHEMA`) and the
    offsets of the files they came from. Either all of it is stored or none of it.

    When the store refuses the unit (a value the models accept that DuckDB will not hold,
    whatever the reason), the lines it refuses are found by bisection and quarantined as
    `store_rejected` with the database's message, and the rest of the unit is stored: one odd
    line never costs its batch."""
    offsets = list(offsets)
    try:
        return _store_unit(con, lines, records, rejections, offsets, now)
    except duckdb.Error:
        if lines is None or lines.num_rows == 0:
            raise
        lines = _numbered(lines)
        refused = _refused(con, lines, 0, lines.num_rows, [])
        if not refused:  # it was not a line it refused: say what went wrong
            raise
        keep = pc.invert(
            pc.is_in(
                pa.array(range(lines.num_rows), pa.int32()),
                pa.array([at for at, _ in refused], pa.int32()),
            )
        )
        refused_rows = _quarantine_rows(
            lines, [(at, f"the store refused this line: {message}") for at, message in refused]
        )
        rejections = (
            refused_rows if rejections is None else pa.concat_tables([rejections, refused_rows])
        )
        return _store_unit(con, _numbered(lines.filter(keep)), records, rejections, offsets, now)


def _refused(
    con: duckdb.DuckDBPyConnection, lines: pa.Table, lo: int, hi: int, out: list[tuple[int, str]]
) -> list[tuple[int, str]]:
    """The positions in `lines[lo:hi]` the store refuses, with its message: each half is
    tried in a transaction that is rolled back, down to single lines."""
    message = _trial(con, lines.slice(lo, hi - lo))
    if message is None:
        return out
    if hi - lo == 1:
        out.append((lo, message))
        return out
    mid = (lo + hi) // 2
    _refused(con, lines, lo, mid, out)
    return _refused(con, lines, mid, hi, out)


def _trial(con: duckdb.DuckDBPyConnection, lines: pa.Table) -> str | None:
    """Insert `lines` and roll back: None when the store takes them, else its message."""
    con.execute("BEGIN TRANSACTION")
    try:
        _insert_events(con, lines)
    except duckdb.Error as exc:
        return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    finally:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
    return None


def _quarantine_rows(
    lines: pa.Table, why: list[tuple[int, str]], error_class: str = "store_rejected"
) -> pa.Table:
    """The lines at the positions of `why` as quarantine rows, each with its message."""
    rows = lines.take(pa.array([at for at, _ in why], pa.int32())).to_pylist()
    raw = [row["line"].encode().rstrip(b"\r\n") for row in rows]
    keys = [quarantine_keys(r["fingerprint"], r["id_offset"], r["byte_offset"]) for r in rows]
    return pa.table(
        {
            "quarantine_key": [key for key, _ in keys],
            "legacy_key": [legacy for _, legacy in keys],
            "source": [row["source"] for row in rows],
            "line_no": [row["line_no"] for row in rows],
            "byte_offset": [row["byte_offset"] for row in rows],
            "error_class": [error_class] * len(rows),
            "error": [message for _, message in why],
            "raw": raw,
            "raw_size": [len(line) for line in raw],
        },
        schema=QUARANTINE_SCHEMA,
    )


def _store_unit(
    con: duckdb.DuckDBPyConnection,
    lines: pa.Table | None,
    records: pa.Table | None,
    rejections: pa.Table | None,
    offsets: list[Offset],
    now: object,
) -> UnitCounts:
    counts = UnitCounts()
    with transaction(con):
        if lines is not None and lines.num_rows:
            counts.superseded = supersede(con, lines, now=now)
            counts.events, clashes = _insert_events(con, lines)
            counts.conflicts = clashes.num_rows if clashes is not None else 0
            counts.duplicates += lines.num_rows - counts.events - counts.conflicts
            if clashes is not None:
                rejections = (
                    clashes if rejections is None else pa.concat_tables([rejections, clashes])
                )
        if records is not None and records.num_rows:
            with registered(con, "_records", records):
                counts.records = scalar(con, _INSERT_RECORDS, {"now": now})
            counts.duplicates += records.num_rows - counts.records
        if rejections is not None and rejections.num_rows:
            counts.quarantined += rejections.num_rows
            counts.quarantined_new += add_quarantine(con, rejections, now=now)
        for offset in offsets:
            con.execute(_SAVE_OFFSET, {**asdict(offset), "now": now})
    return counts


def _insert_events(con: duckdb.DuckDBPyConnection, lines: pa.Table) -> tuple[int, pa.Table | None]:
    """Insert the event lines of `lines` not stored yet (nor earlier in `lines`): how many,
    and the repeats whose content is not the stored event's, as quarantine rows (None when
    every line was new: the usual load pays nothing for the check)."""
    lines = _recognised(con, _numbered(lines))
    with registered(con, "_incoming", lines):
        keep = con.execute(_KEEP).to_arrow_table()["pos"]
    repeats = None
    if len(keep) < lines.num_rows:
        kept = pc.is_in(lines["pos"], value_set=keep)
        repeats = lines.filter(pc.invert(kept))
        lines = lines.filter(kept)
    inserted = 0
    if lines.num_rows:
        with registered(con, "_incoming", lines):
            inserted = scalar(con, _INSERT_EVENTS)
    return inserted, None if repeats is None else _conflicting(con, repeats)


# The lines without an id of a file with a BOM or CRLF line ends (normalised offset not the
# byte offset) whose id by the byte offset is stored: loaded by a Quarterdeck that derived
# ids from byte offsets, they are those events (the same fingerprint, the same place).
_LEGACY = """
SELECT i.pos, i.legacy FROM (
    SELECT pos, sha256(fingerprint || ':' || byte_offset::VARCHAR) AS legacy FROM _incoming
    WHERE event_id IS NULL AND id_offset <> byte_offset
) i SEMI JOIN events e ON e.event_id = i.legacy
"""


def _recognised(con: duckdb.DuckDBPyConnection, lines: pa.Table) -> pa.Table:
    """`lines` with the id the store knows them by, for lines stored by a Quarterdeck that
    derived ids from byte offsets (`_LEGACY`): a file with a BOM or CRs loaded before the
    upgrade is not loaded twice after it, and its repeats are checked against those events.
    A batch from a file without either (normalised offsets all byte offsets) costs one
    comparison of two columns."""
    if pc.all(pc.equal(lines["id_offset"], lines["byte_offset"])).as_py():
        return lines
    with registered(con, "_incoming", lines):
        known = con.execute(_LEGACY).fetchall()
    if not known:
        return lines
    ids = lines["event_id"].to_pylist()
    for pos, legacy in known:
        ids[pos] = legacy
    at = lines.schema.get_field_index("event_id")
    return lines.set_column(at, lines.schema.field(at), pa.array(ids, pa.string()))


def _conflicting(con: duckdb.DuckDBPyConnection, repeats: pa.Table) -> pa.Table | None:
    """The lines of `repeats` (ids stored already) that say something else than the stored
    event: quarantine rows (`conflicting_duplicate`) naming the id, where the stored event
    came from and the fields that differ. None when each is a plain repeat."""
    with registered(con, "_incoming", repeats):
        unlike = con.execute(_UNLIKE).to_arrow_table()
        if not unlike.num_rows:
            return None
        with registered(con, "_unlike", unlike):
            detail = [row for row in con.execute(_DIFFERS).fetchall() if row[3]]
    if not detail:
        return None
    at = {pos: index for index, pos in enumerate(repeats["pos"].to_pylist())}
    ids = dict(zip(unlike["pos"].to_pylist(), unlike["event_id"].to_pylist(), strict=True))
    why = [
        (
            at[pos],
            f"event_id '{ids[pos]}' was loaded already ({source} line {line_no}) with other "
            f"content: this line differs in {', '.join(differs)}; it was not loaded (the "
            "first stays)",
        )
        for pos, source, line_no, differs in detail
    ]
    return _quarantine_rows(repeats, why, "conflicting_duplicate")


def _numbered(lines: pa.Table) -> pa.Table:
    """Add `pos`, each line's position in the batch: the first occurrence of an id wins."""
    if "pos" in lines.column_names:
        lines = lines.drop_columns(["pos"])
    return lines.append_column("pos", pa.array(range(lines.num_rows), pa.int32()))


# The records not stored yet (by `RECORD_KEY`, a hash of their content once stored: times in
# UTC), each once (a batch that says one twice keeps its lowest line): one scan of the stored
# keys, the hash table built on the batch's few.
_INSERT_RECORDS = f"""
INSERT INTO approval_records
WITH stored AS (
    SELECT approval_id, status, run_id, action, risk, required_role, requested_by,
           {_UTC.format("requested_at")} AS requested_at,
           {_UTC.format("expires_at")} AS expires_at, decided_by,
           {_UTC.format("decided_at")} AS decided_at, reason, source, line_no
    FROM _records
), keyed AS (
    SELECT {RECORD_KEY} AS record_key, * FROM stored
    QUALIFY row_number() OVER (PARTITION BY record_key ORDER BY line_no) = 1
)
SELECT *, $now FROM keyed
WHERE record_key NOT IN (
    SELECT record_key FROM approval_records WHERE record_key IN (SELECT record_key FROM keyed)
)
"""

_SAVE_OFFSET = """
INSERT INTO follow_positions
VALUES ($fingerprint, $path, $byte_offset, $line_no, $size, $done, $now, $shift)
"""

# The latest position of each file appended since the last fold (rowids grow as rows are
# appended), else its folded offset.
_LATEST_POSITIONS = """
SELECT fingerprint, arg_max(path, rowid) AS path, arg_max(byte_offset, rowid) AS byte_offset,
       arg_max(line_no, rowid) AS line_no, arg_max(size, rowid) AS size,
       arg_max(done, rowid) AS done, arg_max(updated_at, rowid) AS updated_at,
       arg_max_null(shift, rowid) AS shift
FROM follow_positions GROUP BY fingerprint
"""

_FOLD_POSITIONS = (
    f"""
    INSERT INTO follow_offsets {_LATEST_POSITIONS}
    ON CONFLICT (fingerprint) DO UPDATE SET
        path = excluded.path, byte_offset = excluded.byte_offset, line_no = excluded.line_no,
        size = excluded.size, done = excluded.done, updated_at = excluded.updated_at,
        shift = excluded.shift
    """,
    "DELETE FROM follow_positions",
)


def saved_offsets(con: duckdb.DuckDBPyConnection) -> dict[str, Offset]:
    """Every followed file's offset, by fingerprint: the latest appended, else the folded."""
    rows = con.execute(
        f"""
        WITH latest AS ({_LATEST_POSITIONS})
        SELECT fingerprint, path, byte_offset, line_no, size, done, shift FROM latest
        UNION ALL
        SELECT fingerprint, path, byte_offset, line_no, size, done, shift FROM follow_offsets
        WHERE fingerprint NOT IN (SELECT fingerprint FROM latest)
        """
    ).fetchall()
    return {row[0]: Offset(*row) for row in rows}


def fold_positions(con: duckdb.DuckDBPyConnection) -> int:
    """Move the latest appended positions into `follow_offsets`, in one transaction; the
    number of files folded. Called in batches, with the derived facts' refresh."""
    with transaction(con):
        files = scalar(con, "SELECT count(DISTINCT fingerprint) FROM follow_positions")
        if files:
            for statement in _FOLD_POSITIONS:
                con.execute(statement)
        return files


def record_file_event(
    con: duckdb.DuckDBPyConnection,
    *,
    path: str,
    kind: str,
    fingerprint: str | None,
    byte_offset: int | None,
    detail: str,
    now: object,
) -> None:
    """Remember that a followed file was truncated, replaced or rotated."""
    con.execute(
        "INSERT INTO file_events VALUES (?, ?, ?, ?, ?, ?)",
        [now, path, kind, fingerprint, byte_offset, detail],
    )


# Quarantined lines (not superseded, kept whole: not an over-long line's prefix) at the place
# of a line read now: the same file (by fingerprint, the quarantine's key, or by name, for a
# file whose first line was the fragment) and byte offset. `supersede` checks each is the
# start of the line read there.
_AT_THE_PLACE = f"""
SELECT q.quarantine_key, q.raw, i.line, {_EVENT_ID} AS event_id
FROM (SELECT quarantine_key, source, byte_offset, raw FROM quarantine
      WHERE superseded_at IS NULL AND raw_size = octet_length(raw)) q
JOIN _incoming i ON i.byte_offset = q.byte_offset
WHERE i.source = q.source
   OR q.quarantine_key = sha256(i.fingerprint || ':' || i.id_offset::VARCHAR)
   OR q.quarantine_key = sha256(i.fingerprint || ':' || i.byte_offset::VARCHAR)  -- legacy
"""

_ANY_IN_SPAN = """
SELECT count(*) FROM quarantine
WHERE superseded_at IS NULL AND byte_offset BETWEEN $lo AND $hi
"""


def supersede(con: duckdb.DuckDBPyConnection, lines: pa.Table, *, now: object) -> int:
    """Mark the quarantined lines that valid `lines` complete: a fragment (a half-written
    last line a batch load read) whose bytes begin, and are not all of, the line read now at
    its place. It stays in the quarantine, superseded by the event it became (`event_id`);
    how many were marked. Only an update when one is found: a unit otherwise appends."""
    span = pc.min_max(lines["byte_offset"]).as_py()
    # the usual unit: no quarantined line could be at any of its places (a count, ~0.5 ms,
    # against ~10 ms for the join below, on a unit of 200 lines)
    if not scalar(con, _ANY_IN_SPAN, {"lo": span["min"], "hi": span["max"]}):
        return 0
    with registered(con, "_incoming", lines):
        found = con.execute(_AT_THE_PLACE).fetchall()
    done = {}
    for key, raw, line, event_id in found:
        whole = line.encode().rstrip(b"\r\n")
        if len(raw) < len(whole) and whole.startswith(raw):  # not the line itself, refused
            done[key] = event_id
    if done:
        con.executemany(
            "UPDATE quarantine SET superseded_at = $now, superseded_by = $event "
            "WHERE quarantine_key = $key",
            [{"now": now, "event": event, "key": key} for key, event in done.items()],
        )
    return len(done)


def add_quarantine(con: duckdb.DuckDBPyConnection, rows: pa.Table, *, now: object) -> int:
    """Quarantine rejected lines; a line already quarantined (same key) is not added again."""
    if rows.num_rows == 0:
        return 0
    con.register("_rejected", rows)
    try:
        before = count(con, "quarantine")
        con.execute(
            """
            INSERT INTO quarantine
            SELECT r.quarantine_key, r.source, r.line_no, r.byte_offset, r.error_class,
                   r.error, r.raw, r.raw_size, $now, NULL, NULL
            FROM (SELECT * FROM _rejected
                  QUALIFY row_number() OVER (PARTITION BY quarantine_key) = 1) r
            WHERE NOT EXISTS (SELECT 1 FROM quarantine q
                              WHERE q.quarantine_key IN (r.quarantine_key, r.legacy_key))
            """,
            {"now": now},
        )
        return count(con, "quarantine") - before
    finally:
        con.unregister("_rejected")


#: How the store names a file a client sent the server (`upload:<who>:<name>`); no file read
#: from disk is named so (`ingest.load.not_upload`), so the two cannot be confused.
UPLOAD_PREFIX = "upload:"


def source_kind(name: str) -> str:
    """What a source is, by its name: `upload` (a client sent it to the server) or `log` (a
    file read from disk: followed, or a folder or file ingested)."""
    return "upload" if name.startswith(UPLOAD_PREFIX) else "log"


def record_roots(
    con: duckdb.DuckDBPyConnection, roots: list[tuple[str, str]], *, now: object
) -> None:
    """Remember the folder each source's name is relative to: (name, root) pairs; a root of
    "" (a file named by an absolute path, its name is its path) is not stored."""
    rows = sorted({(name, root) for name, root in roots if root})
    if not rows:
        return
    with transaction(con):
        con.executemany(
            "INSERT INTO source_roots VALUES (?, ?, ?) "
            "ON CONFLICT (source) DO UPDATE SET root = excluded.root, seen_at = excluded.seen_at",
            [[name, root, now] for name, root in rows],
        )


def record_file(
    con: duckdb.DuckDBPyConnection,
    *,
    path: str,
    fingerprint: str | None,
    size: int,
    byte_offset: int,
    lines: int,
    now: object,
) -> None:
    """Remember how far a batch load read a file."""
    with transaction(con):
        con.execute("DELETE FROM files WHERE path = ?", [path])
        con.execute(
            "INSERT INTO files VALUES (?, ?, ?, ?, ?, ?)",
            [path, fingerprint, size, byte_offset, lines, now],
        )
