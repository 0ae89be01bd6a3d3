"""Loading: idempotence, duplicates, derived ids, approval records, accounting of every line."""

from __future__ import annotations

import gzip
import json
import random
import string
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quarterdeck.ingest.load import LoadError, load_paths
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl


def _finished(run_id: str = "r-1", **fields) -> dict:
    return event(
        "run.finished",
        "2026-11-20T08:10:00Z",
        run_id,
        event_id=f"{run_id}-end",
        status="succeeded",
        **fields,
    )


def test_second_ingest_adds_nothing_and_counts_duplicates(tmp_path: Path, store, ingest) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [started(), _finished()])
    first = ingest(path)
    second = ingest(path)
    assert (first.events, first.duplicates) == (2, 0)
    assert (second.events, second.duplicates) == (0, 2)
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (2,)


def test_repeated_event_id_within_one_load_is_a_duplicate(tmp_path: Path, store, ingest) -> None:
    a = write_jsonl(tmp_path / "a.jsonl", [started(), _finished(), _finished()])
    b = write_jsonl(tmp_path / "b.jsonl", [_finished()])
    summary = ingest(a, b)
    assert (summary.events, summary.duplicates) == (2, 2)
    # the first occurrence is the one kept
    assert store.con.execute(
        "SELECT source, line_no FROM events WHERE event_id = 'r-1-end'"
    ).fetchone() == (str(a), 2)


def test_events_without_id_get_a_stable_derived_id(tmp_path: Path, store, ingest) -> None:
    no_id = event("metric", "2026-11-20T08:01:00Z", name="score", value=0.9)
    path = write_jsonl(tmp_path / "a.jsonl", [started(), no_id, no_id])
    assert ingest(path).events == 3  # same content, different offsets: two events
    gz = tmp_path / "rotated" / "a.jsonl.gz"
    gz.parent.mkdir()
    gz.write_bytes(gzip.compress(path.read_bytes()))
    again = ingest(gz)  # the same log, compressed after rotation: nothing new
    assert (again.events, again.duplicates) == (0, 3)
    ids = [
        r[0]
        for r in store.con.execute("SELECT event_id FROM events WHERE type = 'metric'").fetchall()
    ]
    assert all(len(i) == 64 for i in ids) and len(set(ids)) == 2


def test_folders_are_searched_recursively_and_other_files_ignored(tmp_path: Path, ingest) -> None:
    write_jsonl(tmp_path / "logs" / "x" / "y" / "a.jsonl", [started("r-a")])
    write_jsonl(tmp_path / "logs" / "b.ndjson", [started("r-b")])
    (tmp_path / "logs" / "notes.txt").write_text("not a log")
    summary = ingest(tmp_path / "logs")
    assert (summary.files, summary.events) == (2, 2)


def test_missing_path_is_refused_before_anything_loads(tmp_path: Path, store) -> None:
    good = write_jsonl(tmp_path / "a.jsonl", [started()])
    try:
        load_paths(store.con, [good, tmp_path / "nope"])
    except LoadError as exc:
        assert "nope" in str(exc)
    else:
        raise AssertionError("expected LoadError")
    assert store.con.execute("SELECT count(*) FROM events").fetchone() == (0,)


def test_approval_records_from_jsonl_and_csv(tmp_path: Path, store, ingest) -> None:
    record = {
        "approval_id": "apr-1",
        "run_id": "r-1",
        "status": "pending",
        "risk": "high",
        "requested_at": "2026-11-20T08:00:00Z",
        "expires_at": "2026-11-20T12:00:00Z",
    }
    write_jsonl(tmp_path / "in" / "approvals.jsonl", [record])
    (tmp_path / "in" / "export.csv").write_text(
        "\ufeffapproval_id,run_id,status,decided_by,decided_at,reason\r\n"
        'apr-1,r-1,approved,dana,2026-11-20T08:30:00Z,"checked, ok"\r\n'
    )
    summary = ingest(tmp_path / "in")
    assert summary.approval_records == 2 and summary.quarantined == 0
    assert ingest(tmp_path / "in").approval_records == 0
    rows = store.con.execute(
        "SELECT status, decided_by, reason FROM qd_approvals(TIMESTAMP '2026-11-20 09:00')"
    ).fetchall()
    assert rows == [("approved", "dana", "checked, ok")]


def test_summary_as_json_has_the_documented_keys(tmp_path: Path, ingest) -> None:
    summary = ingest(write_jsonl(tmp_path / "a.jsonl", [started()]))
    data = summary.as_dict()
    for key in ("files", "events", "approval_records", "duplicates", "quarantined", "seconds"):
        assert key in data
    json.dumps(data)


def test_large_file_spans_batches_and_keeps_every_line(
    tmp_path: Path, store, ingest, monkeypatch
) -> None:
    import quarterdeck.ingest.load as load_module
    import quarterdeck.ingest.reader as reader_module

    monkeypatch.setattr(load_module, "BATCH_ROWS", 500)
    monkeypatch.setattr(reader_module, "CHUNK", 4096)
    lines = [started()] + [
        event("metric", "2026-11-20T08:01:00Z", event_id=f"m{i}", name="n", value=i)
        for i in range(3000)
    ]
    summary = ingest(write_jsonl(tmp_path / "a.jsonl", lines))
    assert summary.events == 3001
    got = store.con.execute(
        "SELECT min(line_no), max(line_no), count(DISTINCT byte_offset) FROM events"
    ).fetchone()
    assert got == (1, 3001, 3001)


# --- property: no line is ever lost or loaded twice --------------------------------------

_good = st.builds(
    lambda i, v: json.dumps(
        event(
            "metric", "2026-11-20T08:01:00+02:00", run_id="r-p", event_id=f"p{i}", name="s", value=v
        )
    ).encode(),
    st.integers(0, 40),
    st.floats(allow_nan=False, allow_infinity=False),
)
_noise = st.one_of(
    st.binary(max_size=80).filter(lambda b: b"\n" not in b),
    st.text(string.printable.replace("\n", "").replace("\r", ""), max_size=60).map(str.encode),
    st.just(b'{"type":"metric"}'),
    st.just(b"{}"),
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(st.one_of(_good, _noise), max_size=40), crlf=st.booleans())
def test_every_line_is_loaded_duplicate_blank_or_quarantined(tmp_path_factory, lines, crlf):
    folder = tmp_path_factory.mktemp("prop")
    path = folder / "p.jsonl"
    ending = b"\r\n" if crlf else b"\n"
    path.write_bytes(ending.join(lines) + (ending if random.random() < 0.5 else b""))
    with Store.open(folder / "qd.duckdb") as store:
        summary = load_paths(store.con, [path])
        stored = store.con.execute("SELECT count(*) FROM events").fetchone()[0]
        kept = store.con.execute("SELECT count(*) FROM quarantine").fetchone()[0]
    if lines and lines[0].startswith(b"\xef\xbb\xbf"):  # a byte-order mark is not content
        lines = [lines[0][3:], *lines[1:]]
    non_blank = sum(1 for line in lines if line.strip())
    assert summary.events == stored
    assert summary.quarantined == kept
    assert summary.events + summary.duplicates + summary.quarantined == non_blank
    good = [line for line in lines if line.startswith(b'{"type": "metric", "ts"')]
    assert stored == len({json.loads(line)["event_id"] for line in good})
