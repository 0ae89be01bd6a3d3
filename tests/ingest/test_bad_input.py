"""Every class of bad input is quarantined with a clear message, and the rest still loads."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from quarterdeck.queries.quarantine import quarantined
from support.events import started, write_jsonl

GOOD_AFTER = {
    "event_id": "after",
    "type": "run.finished",
    "ts": "2026-11-20T08:10:00Z",
    "run_id": "r-1",
    "status": "succeeded",
}

CASES = [
    ("malformed_json", b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z"', "not valid JSON"),
    ("not_an_object", b'["run.finished", 1]', "not an object"),
    ("not_an_object", b'"just a string"', "not an object"),
    (
        "missing_field",
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","status":"failed"}',
        "'run_id' is missing",
    ),
    (
        "missing_field",
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","run_id":null,"status":"failed"}',
        "'run_id' is null",
    ),
    ("missing_field", b'{"ts":"2026-11-20T08:00:00Z","run_id":"r-1"}', "'type' is missing"),
    (
        "missing_field",
        b'{"type":null,"ts":"2026-11-20T08:00:00Z","run_id":"r-1"}',
        "'type' is null",
    ),
    (
        "wrong_type",
        b'{"type":"step.finished","ts":"2026-11-20T08:00:00Z","run_id":"r-1",'
        b'"step_id":"s1","tokens_in":"812"}',
        "'tokens_in' should be an integer",
    ),
    (
        "wrong_type",
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","run_id":42,"status":"failed"}',
        "'run_id' should be a string",
    ),
    (
        "unknown_type",
        b'{"type":"run.paused","ts":"2026-11-20T08:00:00Z","run_id":"r-1"}',
        "unknown event type 'run.paused'",
    ),
    (
        "invalid_value",
        b'{"type":"approval.requested","ts":"2026-11-20T08:00:00Z","run_id":"r-1",'
        b'"approval_id":"a","risk":"extreme"}',
        "'risk' is 'extreme'",
    ),
    (
        "invalid_value",
        b'{"type":"data.touched","ts":"2026-11-20T08:00:00Z","run_id":"r-1",'
        b'"system":"crm","object":"Contact","action":"purge"}',
        "'action' is 'purge'",
    ),
    (
        "invalid_value",
        b'{"type":"run.started","ts":"2026-11-20T08:00:00Z","run_id":"r-1",'
        b'"workflow":"w","scope":["crm-write"]}',
        "'scope[0]'",
    ),
    (
        "bad_timestamp",
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00","run_id":"r-1","status":"failed"}',
        "has no UTC offset",
    ),
    (
        "bad_timestamp",
        b'{"type":"run.finished","ts":"yesterday","run_id":"r-1","status":"failed"}',
        "is not an RFC 3339 timestamp",
    ),
    (
        "bad_timestamp",
        b'{"type":"run.finished","ts":1763625600,"run_id":"r-1","status":"failed"}',
        "is not an RFC 3339 timestamp",
    ),
    (
        "malformed_json",
        b'{"type":"metric","ts":"2026-11-20T08:00:00Z","run_id":"r-1","name":"x","value":NaN}',
        "'value' is NaN, and RFC 8259 has no NaN or Infinity",
    ),
    (
        "malformed_json",
        b'{"type":"metric","ts":"2026-11-20T08:00:00Z","run_id":"r-1","name":"x","value":-Infinity}',
        "'value' is -Infinity",
    ),
    # epoch seconds (or milliseconds) as text, an offset without its colon, a comma fraction:
    # pydantic would read each as some instant; none is RFC 3339
    *(
        (
            "bad_timestamp",
            b'{"type":"run.finished","ts":"' + ts + b'","run_id":"r-1","status":"failed"}',
            "written as 2026-11-20T08:00:00Z",
        )
        for ts in (
            b"0",
            b"1763625600",
            b"1763625600000",
            b"2026-11-20T08:00:00+0530",
            b"2026-11-20T08:00:00,5Z",
        )
    ),
    (
        "invalid_utf8",
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","run_id":"r-\xff","status":"failed"}',
        "not UTF-8",
    ),
]


@pytest.mark.parametrize(
    ("error_class", "line", "says"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_bad_line_is_quarantined_and_the_rest_loads(
    tmp_path: Path, store, ingest, error_class: str, line: bytes, says: str
) -> None:
    path = write_jsonl(tmp_path / "run.jsonl", [started(), line, GOOD_AFTER])
    summary = ingest(path)
    assert summary.events == 2
    assert summary.quarantined == 1
    rows = quarantined(store.con).to_pylist()
    assert len(rows) == 1
    row = rows[0]
    assert row["error_class"] == error_class
    assert says in row["error"]
    assert row["line"] == 2
    assert row["offset"] == len(json.dumps(started())) + 1
    assert row["source"] == str(path)
    raw = store.con.execute("SELECT raw FROM quarantine").fetchone()[0]
    assert raw == line


def test_over_long_line_keeps_a_prefix_and_reading_goes_on(tmp_path: Path, store, ingest) -> None:
    huge = (
        b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","run_id":"r-1","error":"'
        + (b"x" * (1024 * 1024 + 10))
        + b'"}'
    )
    path = write_jsonl(tmp_path / "run.jsonl", [started(), huge, GOOD_AFTER])
    summary = ingest(path)
    assert (summary.events, summary.quarantined) == (2, 1)
    raw, size, cls, line_no = store.con.execute(
        "SELECT raw, raw_size, error_class, line_no FROM quarantine"
    ).fetchone()
    assert cls == "line_too_long" and line_no == 2
    assert size == len(huge)
    assert raw == huge[: 64 * 1024]


def test_bom_crlf_blank_lines_and_a_last_line_without_newline(
    tmp_path: Path, store, ingest
) -> None:
    body = (
        b"\xef\xbb\xbf"
        + json.dumps(started()).encode()
        + b"\r\n\r\n   \n"
        + json.dumps(GOOD_AFTER).encode()
    )
    path = tmp_path / "run.jsonl"
    path.write_bytes(body)
    summary = ingest(path)
    assert (summary.events, summary.quarantined, summary.blank_lines) == (2, 0, 2)
    assert store.con.execute("SELECT outcome FROM run_summary").fetchone() == ("succeeded",)


def test_truncated_gzip_keeps_what_was_read(tmp_path: Path, store, ingest) -> None:
    lines = [json.dumps(started()).encode()] + [
        json.dumps(
            {
                "event_id": f"m{i}",
                "type": "metric",
                "ts": "2026-11-20T08:01:00Z",
                "run_id": "r-1",
                "name": "score",
                "value": i / 1000,
            }
        ).encode()
        for i in range(20000)
    ]
    whole = gzip.compress(b"\n".join(lines) + b"\n")
    path = tmp_path / "old.jsonl.gz"
    path.write_bytes(whole[: len(whole) * 2 // 3])
    summary = ingest(path)
    assert 0 < summary.events < len(lines)
    assert store.con.execute("SELECT error_class FROM quarantine").fetchall() == [
        ("truncated_file",)
    ]


def test_a_gz_that_is_not_gzip_is_quarantined_and_the_other_files_load(
    tmp_path: Path, store, ingest
) -> None:
    folder = tmp_path / "logs"
    good = write_jsonl(folder / "good.jsonl", [started(), GOOD_AFTER])
    (folder / "notes.jsonl.gz").write_bytes(b"hello\n")  # plain text under a .gz name
    summary = ingest(folder)
    assert (summary.events, summary.quarantined) == (2, 1)
    rows = quarantined(store.con).to_pylist()
    assert [(r["error_class"], r["line"]) for r in rows] == [("truncated_file", 1)]
    assert rows[0]["source"].endswith("notes.jsonl.gz")
    assert "cannot be decompressed" in rows[0]["error"]
    assert "nothing in it was loaded" in rows[0]["error"]
    again = ingest(folder)  # a re-run adds nothing, and quarantines nothing new
    assert (again.events, again.duplicates, again.quarantined_new) == (0, 2, 0)
    assert good.exists()


def test_a_trace_line_of_the_wrong_shape_is_quarantined_not_fatal(
    tmp_path: Path, store, ingest
) -> None:
    shapes = [
        {"resourceSpans": [1]},
        {"resourceSpans": "nope"},
        {"resourceSpans": [{"scopeSpans": "x"}]},
        {"resourceSpans": [{"resource": 5, "scopeSpans": []}]},
        {
            "resourceSpans": [
                {"resource": {"attributes": [{"key": "a", "value": {"intValue": "zz"}}]}}
            ]
        },
        {"resourceSpans": [{"scopeSpans": [{"spans": [3, {"name": "x"}]}]}]},
    ]
    lines = [started(), *(json.dumps(shape).encode() for shape in shapes), GOOD_AFTER]
    summary = ingest(write_jsonl(tmp_path / "mixed.jsonl", lines))
    assert (summary.events, summary.quarantined) == (2, len(shapes))
    rows = quarantined(store.con).to_pylist()
    assert {r["error_class"] for r in rows} == {"otlp_span"}
    assert [r["line"] for r in rows] == list(range(2, 2 + len(shapes)))
    assert "resourceSpans is not a list" in rows[1]["error"]


def test_unreadable_timestamp_after_validation_is_quarantined_not_nulled(
    tmp_path: Path, store, ingest
) -> None:
    # RFC 3339 allows lower-case t/z: it must load, not be lost.
    path = write_jsonl(
        tmp_path / "run.jsonl",
        [
            started(),
            {
                "event_id": "low",
                "type": "run.finished",
                "ts": "2026-11-20t08:05:00z",
                "run_id": "r-1",
                "status": "succeeded",
            },
        ],
    )
    summary = ingest(path)
    assert (summary.events, summary.quarantined) == (2, 0)
    assert (
        store.con.execute("SELECT ts FROM events WHERE event_id = 'low'").fetchone()[0].minute == 5
    )


def test_bad_approval_csv_rows_are_quarantined(tmp_path: Path, store, ingest) -> None:
    path = tmp_path / "approvals.csv"
    path.write_text(
        "approval_id,run_id,status,requested_at\n"
        "apr-1,r-1,pending,2026-11-20T08:00:00Z\n"
        "apr-2,r-1,maybe,2026-11-20T08:00:00Z\n"
        "apr-3,r-1,approved,yesterday\n"
        "apr-4,r-1\n"
    )
    summary = ingest(path)
    assert summary.approval_records == 1
    classes = [
        r[0]
        for r in store.con.execute("SELECT error_class FROM quarantine ORDER BY line_no").fetchall()
    ]
    assert classes == ["invalid_value", "bad_timestamp", "malformed_csv"]


def test_a_locked_store_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    import subprocess
    import sys

    from quarterdeck.queries.store import Store

    db = tmp_path / "held.duckdb"
    holder = Store.open(db)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "quarterdeck.cli", "--db", str(db), "runs"],
            capture_output=True,
            text=True,
        )
    finally:
        holder.close()
    assert result.returncode == 3
    import os

    assert f"process {os.getpid()}" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_files_without_event_ids_that_begin_alike_each_keep_their_lines(
    tmp_path: Path, store, ingest
) -> None:
    def step(step_id: str, second: int) -> dict[str, str]:  # no event_id: known by position
        ts = f"2026-11-20T08:00:{second:02d}Z"
        return {"type": "step.started", "ts": ts, "run_id": "r-x", "step_id": step_id}

    folder = tmp_path / "logs"
    write_jsonl(folder / "day1.jsonl", [step("s0", 0), step("s1-day1", 1)])
    write_jsonl(folder / "day2.jsonl", [step("s0", 0), step("s1-day2", 1)])
    write_jsonl(folder / "day1-copy.jsonl", [step("s0", 0), step("s1-day1", 1), step("s2", 2)])
    summary = ingest(folder)
    steps = sorted(r[0] for r in store.con.execute("SELECT step_id FROM events").fetchall())
    # the copy (grown by a line) is day1's stream: only its new line is new
    assert steps == ["s0", "s0", "s1-day1", "s1-day2", "s2"]
    assert (summary.events, summary.duplicates) == (5, 2)
    again = ingest(folder)
    assert (again.events, again.duplicates) == (0, 7)


def test_an_approval_csv_without_a_header_row_is_quarantined_whole(
    tmp_path: Path, store, ingest
) -> None:
    path = tmp_path / "approvals.csv"
    path.write_text(
        "apr-1,r-1,pending,2026-11-20T08:00:00Z\napr-2,r-1,pending,2026-11-20T08:00:00Z\n"
    )
    summary = ingest(path)
    assert (summary.approval_records, summary.quarantined) == (0, 2)  # every row is kept
    rows = quarantined(store.con).to_pylist()
    assert [(r["line"], r["error_class"]) for r in rows] == [
        (1, "malformed_csv"),
        (2, "malformed_csv"),
    ]
    assert "first row is not a header" in rows[0]["error"]
