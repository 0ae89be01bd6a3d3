"""Input that used to be lost, hidden or misreported: each kept, counted or said, with real
files and a real store, loaded in a batch and followed."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.quarantine import quarantine_count, quarantined
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl


def _attrs(store: Store) -> dict[str, object]:
    rows = store.con.execute("SELECT event_id, attrs FROM events").fetchall()
    return {event_id: None if attrs is None else json.loads(attrs) for event_id, attrs in rows}


def _classes(store: Store) -> list[tuple[int, str]]:
    return store.con.execute(
        "SELECT line_no, error_class FROM quarantine ORDER BY source, line_no"
    ).fetchall()


# --- unknown top-level fields -----------------------------------------------------------

UNKNOWN = [
    started(priority="p1", attrs={"team": "ap"}),
    event(
        "metric",
        "2026-11-20T08:00:01Z",
        event_id="m1",
        name="score",
        value=0.5,
        labels={"k": [1, None]},
        note=None,
    ),
    # attrs already holds the key the unknown fields would go to: refused, not overwritten
    event(
        "metric",
        "2026-11-20T08:00:02Z",
        event_id="m2",
        name="score",
        value=1,
        extra=1,
        attrs={"_unknown_fields": "mine"},
    ),
    # the key in attrs with no unknown field beside it is the producer's own, kept as it is
    event("metric", "2026-11-20T08:00:03Z", event_id="m3", name="score", value=1,
          attrs={"_unknown_fields": "mine"}),
]  # fmt: skip
KEPT = {
    "r-1-start": {"team": "ap", "_unknown_fields": {"priority": "p1"}},
    "m1": {"_unknown_fields": {"labels": {"k": [1, None]}, "note": None}},
    "m3": {"_unknown_fields": "mine"},
}


def test_unknown_top_level_fields_are_kept_in_attrs_by_a_load(store: Store, tmp_path: Path) -> None:
    log = write_jsonl(tmp_path / "logs" / "run.jsonl", UNKNOWN)
    summary = load_paths(store.con, [log])
    assert (summary.events, summary.quarantined) == (3, 1)
    assert _attrs(store) == KEPT
    assert _classes(store) == [(3, "unknown_field")]
    error = store.con.execute("SELECT error FROM quarantine").fetchone()[0]
    assert "'extra'" in error and "attrs._unknown_fields" in error


def test_unknown_top_level_fields_are_kept_in_attrs_when_followed(
    store: Store, tmp_path: Path
) -> None:
    log = write_jsonl(tmp_path / "logs" / "run.jsonl", UNKNOWN)
    follower = Follower(store.cursor(), [log.parent])
    try:
        assert follower.poll() == 3
    finally:
        follower.close()
    assert _attrs(store) == KEPT
    assert _classes(store) == [(3, "unknown_field")]


# --- conflicting duplicates -------------------------------------------------------------

FIRST = [
    started(),
    event("run.finished", "2026-11-20T08:05:00Z", event_id="end", status="succeeded"),
]
AGAIN = [
    # the same events written again another way: keys in another order, another offset
    b'{"run_id": "r-1", "type": "run.finished", "status": "succeeded", '
    b'"ts": "2026-11-20T09:05:00+01:00", "event_id": "end"}',
    # the same id saying something else, twice (the second also within this file)
    event("run.finished", "2026-11-20T08:05:00Z", event_id="end", status="failed"),
    event("run.finished", "2026-11-20T08:06:00Z", event_id="end", status="failed"),
    # new in this file, then repeated with other content in it
    event("metric", "2026-11-20T08:01:00Z", event_id="m", name="score", value=1),
    event("metric", "2026-11-20T08:01:00Z", event_id="m", name="score", value=2),
]


def test_a_conflicting_duplicate_is_quarantined_and_counted_apart(
    store: Store, tmp_path: Path
) -> None:
    first = write_jsonl(tmp_path / "logs" / "a.jsonl", FIRST)
    again = write_jsonl(tmp_path / "logs" / "b.jsonl", AGAIN)
    load_paths(store.con, [first])
    summary = load_paths(store.con, [again])
    assert (summary.events, summary.duplicates, summary.conflicting_duplicates) == (1, 1, 3)
    assert summary.quarantined == 3 and "3 conflicting duplicates" in summary.line()
    assert summary.as_dict()["conflicting_duplicates"] == 3
    rows = store.con.execute(
        "SELECT line_no, error_class, error, raw FROM quarantine ORDER BY line_no"
    ).fetchall()
    assert [(n, c) for n, c, _, _ in rows] == [
        (2, "conflicting_duplicate"),
        (3, "conflicting_duplicate"),
        (5, "conflicting_duplicate"),
    ]
    assert "event_id 'end'" in rows[0][2] and "a.jsonl line 2" in rows[0][2]
    assert "differs in status;" in rows[0][2] and "differs in ts, status;" in rows[1][2]
    assert "b.jsonl line 4" in rows[2][2] and "differs in value;" in rows[2][2]
    assert json.loads(rows[0][3])["status"] == "failed"  # the refused line, as written
    # the first of each stays
    assert store.con.execute("SELECT status FROM events WHERE event_id = 'end'").fetchall() == [
        ("succeeded",)
    ]
    # loaded again: the same conflicts, known already; nothing new stored
    again_summary = load_paths(store.con, [again])
    assert (again_summary.events, again_summary.conflicting_duplicates) == (0, 3)
    assert again_summary.quarantined_new == 0


def test_a_conflicting_duplicate_is_counted_when_followed(store: Store, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    write_jsonl(logs / "a.jsonl", FIRST)
    follower = Follower(store.cursor(), [logs])
    try:
        follower.poll()
        write_jsonl(logs / "b.jsonl", AGAIN)
        follower.poll()
    finally:
        follower.close()
    assert follower.stats.conflicting_duplicates == 3
    assert follower.stats.duplicates == 1
    assert store.con.execute(
        "SELECT count(*) FROM quarantine WHERE error_class = 'conflicting_duplicate'"
    ).fetchone() == (3,)


def test_an_event_stored_without_a_line_hash_repeats_as_a_plain_duplicate(
    store: Store, tmp_path: Path
) -> None:
    """A store written before the hash was kept: its events cannot be compared, and a repeat
    of one counts as it always did."""
    load_paths(store.con, [write_jsonl(tmp_path / "a.jsonl", FIRST)])
    store.con.execute("UPDATE events SET line_hash = NULL")
    summary = load_paths(store.con, [write_jsonl(tmp_path / "b.jsonl", AGAIN)])
    assert (summary.duplicates, summary.conflicting_duplicates) == (3, 1)  # only `m`'s


# --- a half-written last line, completed later ------------------------------------------

END = b'{"event_id":"end","type":"run.finished","ts":"2026-11-20T08:05:00Z","run_id":"r-1",'
END_REST = b'"status":"succeeded"}\n'


def test_a_half_written_line_completed_later_is_superseded_not_lost(
    store: Store, tmp_path: Path
) -> None:
    log = tmp_path / "run.jsonl"
    log.write_bytes(json.dumps(started()).encode() + b"\n" + END)  # its writer is not done
    first = load_paths(store.con, [log])
    assert (first.events, first.quarantined) == (1, 1)
    assert quarantine_count(store.con) == 1
    with log.open("ab") as handle:
        handle.write(END_REST)
    second = load_paths(store.con, [log])
    assert (second.events, second.superseded) == (1, 1)
    assert "1 quarantined line superseded" in second.line()
    row = quarantined(store.con).to_pylist()[0]
    assert (row["line"], row["error_class"], row["superseded_by"]) == (2, "malformed_json", "end")
    assert row["superseded_at"] is not None and row["raw"] == END.decode()  # kept, as read
    assert quarantine_count(store.con) == 0  # no longer a problem (the status bar's count)
    # read again: nothing changes
    third = load_paths(store.con, [log])
    assert (third.events, third.superseded, third.quarantined) == (0, 0, 0)


def test_a_line_refused_whole_is_not_superseded_by_itself(store: Store, tmp_path: Path) -> None:
    """A line quarantined whole (here a conflicting duplicate) read again at its place is
    the same line, not its completion: it stays a problem."""
    log = write_jsonl(tmp_path / "run.jsonl", FIRST + [AGAIN[1]])
    load_paths(store.con, [log])
    again = load_paths(store.con, [log])
    assert again.superseded == 0
    assert store.con.execute("SELECT error_class, superseded_by FROM quarantine").fetchall() == [
        ("conflicting_duplicate", None)
    ]


# --- a system no grant can name ---------------------------------------------------------


def test_a_system_no_grant_could_name_is_refused_with_a_reason(
    store: Store, tmp_path: Path
) -> None:
    """Grants are system:access[:object]: a touch of `crm:eu` or `my crm` could never be
    in scope, so it is refused at validation, saying why."""

    def touch(n: int, system: str) -> dict[str, object]:
        return event("data.touched", "2026-11-20T08:00:01Z", event_id=f"t{n}", system=system,
                     object="Contact", record_id="C-1", action="read")  # fmt: skip

    log = write_jsonl(
        tmp_path / "run.jsonl",
        [started(scope=["crm:read"]), touch(1, "crm:eu"), touch(2, "my crm"), touch(3, "crm")],
    )
    summary = load_paths(store.con, [log])
    assert (summary.events, summary.quarantined) == (2, 2)
    rows = store.con.execute("SELECT line_no, error_class, error FROM quarantine").fetchall()
    assert sorted((n, c) for n, c, _ in rows) == [(2, "invalid_value"), (3, "invalid_value")]
    assert all("no ':' and no white space" in error for _, _, error in rows)
    assert store.con.execute("SELECT in_scope FROM touches").fetchall() == [(True,)]


# --- a trace whose spans are each other's parents --------------------------------------


def _span(trace: str, span_id: str, parent: str | None, name: str, **attrs: str) -> dict:
    span = {
        "traceId": trace,
        "spanId": span_id,
        "name": name,
        "startTimeUnixNano": "1763625600000000000",
        "endTimeUnixNano": "1763625601000000000",
        "attributes": [{"key": k, "value": {"stringValue": v}} for k, v in attrs.items()],
    }
    return span if parent is None else {**span, "parentSpanId": parent}


def test_spans_in_a_parent_cycle_are_quarantined_not_lost(store: Store, tmp_path: Path) -> None:
    """A trace whose spans are their own ancestors has no root: it used to map to nothing
    (or to steps of a run never started) without a word. The line is quarantined saying so;
    the line's other traces load."""
    good, bad = "0af7651916cd43dd8448eb211c80319c", "1af7651916cd43dd8448eb211c80319c"
    tool = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"}
    spans = [
        _span(good, "a000000000000001", None, "agent run", **{"quarterdeck.run_id": "r-ok"}),
        _span(good, "a000000000000002", "a000000000000001", "execute_tool lookup", **tool),
        _span(bad, "b000000000000001", "b000000000000002", "looped run"),
        _span(bad, "b000000000000002", "b000000000000001", "looped tool", **tool),
        _span(bad, "b000000000000003", "b000000000000003", "its own parent"),
    ]
    line = {"resourceSpans": [{"resource": {"attributes": []}, "scopeSpans": [{"spans": spans}]}]}
    summary = load_paths(store.con, [write_jsonl(tmp_path / "traces.jsonl", [line])])
    assert summary.quarantined == 1 and summary.events > 0
    error_class, error = store.con.execute("SELECT error_class, error FROM quarantine").fetchone()
    assert error_class == "otlp_span" and error.startswith("3 span(s)")
    assert "its own ancestor" in error and "'looped run', 'looped tool'" in error
    assert store.con.execute("SELECT DISTINCT run_id FROM events").fetchall() == [("r-ok",)]


# --- token sums past 64 bits -------------------------------------------------------------


def test_the_upgrade_sums_the_tokens_an_older_store_left_unknown(tmp_path: Path) -> None:
    """A store from before HUGEINT sums held NULL for a run whose tokens passed 64 bits:
    the upgrade sums them from its steps; other runs keep theirs."""
    import duckdb

    from quarterdeck.queries import migrations

    big = 2**63 - 1
    path = tmp_path / "v15.duckdb"
    con = duckdb.connect(str(path))
    migrations.migrate(con, migrations.MIGRATIONS[:15])
    for n, tokens in enumerate((big, big, 5)):
        con.execute(
            "INSERT INTO events (event_id, type, ts, run_id, step_id, tokens_in, tokens_out, "
            "source, line_no, byte_offset) VALUES (?, 'step.finished', TIMESTAMP '2026-11-20', "
            "?, ?, ?, 1, 'run.jsonl', ?, 0)",
            [f"s{n}", "r-big" if n < 2 else "r-small", f"s{n}", tokens, n + 1],
        )
    columns = [row[0] for row in con.execute("DESCRIBE run_summary").fetchall()]
    for run_id, tokens in (("r-big", None), ("r-small", 5)):
        row = {**dict.fromkeys(columns, 0), "run_id": run_id, "has_start": True,
               "paused": False, "tokens_in": tokens, "tokens_out": 1 if tokens else None,
               "workflow": None, "workflow_version": None, "environment": None,
               "identity": None, "trigger_kind": None, "trigger_by": None, "scope": None,
               "started_at": "2026-11-20", "first_event_at": "2026-11-20",
               "last_event_at": "2026-11-20", "finished_at": None, "outcome": None,
               "outcome_error": None, "session_id": None, "user_id": None}  # fmt: skip
        con.execute(
            f"INSERT INTO run_summary VALUES ({', '.join('?' * len(columns))})",
            [row[c] for c in columns],
        )
    con.close()
    with Store.open(path) as store:
        assert 16 in store.migrated
        assert store.con.execute(
            "SELECT run_id, tokens_in, tokens_out FROM run_summary ORDER BY run_id"
        ).fetchall() == [("r-big", 2 * big, 2), ("r-small", 5, 1)]
