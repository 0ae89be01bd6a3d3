"""A copy of a log that only gained or lost a BOM or CRs is the same events, not new ones.

A line without an `event_id` gets its id from its file's fingerprint and its offset, both
as if the file had no BOM and LF line ends (`ingest.reader`). Copies made by an editor,
`unix2dos` or a Windows share load nothing a second time, in either direction, batch-loaded
or followed; an ordinary LF file keeps the ids it always had; and a store whose BOM or CRLF
files were loaded when ids came from raw byte offsets loads none of them twice.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.ingest.reader import BOM, fingerprint, open_binary, read_batches
from quarterdeck.queries import loading
from quarterdeck.queries.store import Store

FORMS = ("lf", "bom", "crlf", "bom+crlf")


def lines(runs: int = 3, first: int = 0) -> list[bytes]:
    """Runs as a runner without event ids writes them: a start, touches, a finish."""
    out = []
    for n in range(first, first + runs):
        run = f"r-{n}"
        out.append(
            {
                "type": "run.started",
                "ts": "2026-11-20T08:00:00Z",
                "run_id": run,
                "workflow": "crm-enrichment",
                "workflow_version": "1.0.0",
                "environment": "prod",
                "identity": "svc-crm",
                "scope": ["crm:write:Contact"],
            }
        )
        for k in range(n % 3 + 1):
            out.append(
                {
                    "type": "data.touched",
                    "ts": "2026-11-20T08:00:01Z",
                    "run_id": run,
                    "system": "crm",
                    "object": "Contact",
                    "record_id": f"C-{k}",
                    "action": "update",
                }
            )
        out.append(
            {
                "type": "run.finished",
                "ts": "2026-11-20T08:00:02Z",
                "run_id": run,
                "status": "succeeded",
            }
        )
    return [json.dumps(item).encode() for item in out]


def text(form: str, body: list[bytes], *, start: bool = True) -> bytes:
    """`body` as a file of the given form (`start`: from the file's first byte)."""
    end = b"\r\n" if "crlf" in form else b"\n"
    return (BOM if "bom" in form and start else b"") + b"".join(line + end for line in body)


def write(path: Path, form: str, body: list[bytes]) -> Path:
    path.write_bytes(text(form, body))
    return path


def counts(store: Store) -> tuple[int, int, int, int]:
    """Events, distinct ids, runs and touches in the store."""
    row = store.con.execute(
        "SELECT count(*), count(DISTINCT event_id), count(DISTINCT run_id), "
        "count(*) FILTER (WHERE type = 'data.touched') FROM events"
    ).fetchone()
    assert row is not None
    return row


def test_a_copy_in_another_form_loads_nothing_again(store: Store, tmp_path: Path) -> None:
    # an LF log, then each copy of it; each other form first, then its LF copy (and CRLF)
    copies = {"lf": FORMS[1:], "bom": ["lf"], "crlf": ["lf"], "bom+crlf": ["lf", "crlf"]}
    for n, (first, others) in enumerate(copies.items()):
        body = lines(3, first=10 * n)
        loaded = load_paths(store.con, [write(tmp_path / f"{n}-{first}.jsonl", first, body)])
        assert loaded.events == len(body)
        expected = counts(store)
        assert expected == (12 * (n + 1), 12 * (n + 1), 3 * (n + 1), 6 * (n + 1))
        for other in others:
            copy = write(tmp_path / f"{n}-copy-{other}.jsonl", other, body)
            again = load_paths(store.con, [copy])
            assert (again.events, again.duplicates, again.quarantined) == (0, 12, 0), other
            assert counts(store) == expected, (first, other)


def test_copies_in_one_load_are_one_file(store: Store, tmp_path: Path) -> None:
    body = lines()
    paths = [write(tmp_path / f"{form}.jsonl", form, body) for form in FORMS]
    summary = load_paths(store.con, paths)
    assert (summary.events, summary.duplicates) == (len(body), 3 * len(body))
    assert counts(store) == (len(body), len(body), 3, 6)


def test_an_lf_file_keeps_the_ids_it_always_had(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "runs.jsonl", "lf", lines())
    load_paths(store.con, [path])
    fp = fingerprint(path)
    stored = store.con.execute("SELECT event_id, byte_offset FROM events").fetchall()
    assert stored and all(
        event_id == hashlib.sha256(f"{fp}:{offset}".encode()).hexdigest()
        for event_id, offset in stored
    )


def _old_ids(store: Store, path: Path, source: str | None = None) -> None:
    """Make the store's events of `path` (stored as `source`) what a Quarterdeck that derived
    ids from raw byte offsets stored: sha256(fingerprint, byte offset), the same
    fingerprint."""
    updated = store.con.execute(
        "UPDATE events SET event_id = sha256(? || ':' || byte_offset::VARCHAR) WHERE source = ?",
        [fingerprint(path), source or str(path)],
    ).fetchone()
    assert updated and updated[0] > 0


def test_a_file_loaded_with_raw_offset_ids_is_not_loaded_again(
    store: Store, tmp_path: Path
) -> None:
    total = 0
    for n, form in enumerate(["bom", "crlf", "bom+crlf"]):
        body = lines(4, first=10 * n)
        total += len(body)
        path = write(tmp_path / f"{form}.jsonl", form, body[:8])
        load_paths(store.con, [path])
        _old_ids(store, path)
        old = set(store.con.execute("SELECT event_id FROM events").fetchall())
        # the file again, and grown: its old lines are those events, its new ones are new
        write(path, form, body)
        summary = load_paths(store.con, [path])
        assert (summary.events, summary.duplicates, summary.quarantined) == (len(body) - 8, 8, 0)
        assert counts(store)[:3] == (total, total, 4 * (n + 1))
        assert old <= set(store.con.execute("SELECT event_id FROM events").fetchall())
        assert load_paths(store.con, [path]).events == 0


def test_a_followed_crlf_file_growing_is_its_lf_copy(
    store: Store, tmp_path: Path, logs: Path
) -> None:
    path = logs / "runs.jsonl"
    body = lines(6)
    written = 0
    follower = Follower(store.cursor(), [logs], grace=0)
    for restart, cut in ((False, 3), (False, 4), (True, 9), (False, 14), (True, len(body))):
        if restart:  # the follower stopped and started again: it resumes with its shift
            follower.close()
            follower = Follower(store.cursor(), [logs], grace=0)
        with path.open("ab") as handle:  # appended as a runner on Windows writes them
            handle.write(text("bom+crlf", body[written:cut], start=written == 0))
        written = cut
        follower.poll()
        assert counts(store)[:2] == (cut, cut)
    follower.close()
    summary = load_paths(store.con, [write(tmp_path / "copy.jsonl", "lf", body)])
    assert (summary.events, summary.duplicates) == (0, len(body))


def _follow(store: Store, folder: Path) -> None:
    follower = Follower(store.cursor(), [folder], grace=0)
    try:
        follower.poll()
    finally:
        follower.close()


def test_copies_followed_side_by_side_are_one_file(store: Store, logs: Path) -> None:
    body = lines(3)
    for form in FORMS:
        write(logs / f"{form}.jsonl", form, body)
    _follow(store, logs)
    assert counts(store) == (len(body), len(body), 3, 6)


def test_a_copy_in_another_form_in_the_followed_file_s_place_is_read_again_not_resumed(
    store: Store, tmp_path: Path, logs: Path
) -> None:
    body = lines(6)
    original = write(logs / "runs.jsonl", "lf", body[:7])
    _follow(store, logs)
    original.unlink()  # the log moved to a Windows share and back, grown on the way
    write(logs / "runs-copy.jsonl", "crlf", body)
    _follow(store, logs)
    assert counts(store)[:2] == (len(body), len(body))
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (0,)


def test_a_follower_resumes_a_position_stored_before_shifts_were_kept(
    store: Store, tmp_path: Path, logs: Path
) -> None:
    path = logs / "runs.jsonl"
    body = lines(6)
    write(path, "crlf", body[:5])
    _follow(store, logs)
    _old_ids(store, path, "runs.jsonl")  # as an older Quarterdeck stored it: no shift
    store.con.execute("UPDATE follow_positions SET shift = NULL")
    store.con.execute("UPDATE follow_offsets SET shift = NULL")
    assert {o.shift for o in loading.saved_offsets(store.con).values()} == {None}
    _follow(store, logs)  # nothing new: the shift is worked out once, and kept
    assert {o.shift for o in loading.saved_offsets(store.con).values()} == {5}
    path.write_bytes(text("crlf", body))
    _follow(store, logs)
    assert counts(store)[:2] == (len(body), len(body))
    assert load_paths(store.con, [path]).events == 0
    # its new lines have the ids of the normalised file, as an LF copy's would be
    stored = {row[0] for row in store.con.execute("SELECT event_id FROM events").fetchall()}
    fp = fingerprint(path)
    offset = len(text("lf", body[:5]))
    for line in body[5:]:
        assert hashlib.sha256(f"{fp}:{offset}".encode()).hexdigest() in stored
        offset += len(line) + 1


def _id_offsets(data: bytes, chunk: int, max_line: int, split: int) -> list[tuple[int, int]]:
    """(line number, normalised offset) of every line, read in chunks of `chunk` bytes,
    stopping at the end of the first batch past `split` and resuming there (as a follower
    restarted would, from the stored offset and shift)."""
    out: list[tuple[int, int]] = []
    start, shift, line_no = 0, 0, 1
    for resumed in (False, True):
        handle = io.BytesIO(data)
        handle.seek(start)
        for batch in read_batches(
            handle,
            start_offset=start,
            start_shift=shift,
            first_line_no=line_no,
            chunk=chunk,
            max_line=max_line,
        ):
            out.extend(
                (batch.first_line_no + i, batch.id_offset(i)) for i in range(len(batch.lines))
            )
            if not resumed and batch.end_offset >= split:
                start, shift = batch.end_offset, batch.end_shift
                line_no = batch.first_line_no + len(batch.lines)
                break
        else:
            return out
    return out


_LINE = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"").rstrip(b"\r"))


@settings(max_examples=25, deadline=None)
@given(
    # (a first line that begins with a BOM's bytes is a BOM, whatever the file was meant as)
    st.lists(_LINE, max_size=9).filter(lambda body: not body or not body[0].startswith(BOM)),
    st.integers(4, 40),
    st.integers(8, 60),
    st.integers(0, 300),
)
def test_each_line_s_normalised_offset_is_its_offset_in_the_lf_copy(
    body: list[bytes], chunk: int, max_line: int, split: int
) -> None:
    """Whatever the chunks, over-long lines and the place a follower resumed at."""
    plain = _id_offsets(text("lf", body), chunk, max_line, split)
    assert plain == [(i + 1, sum(len(line) + 1 for line in body[:i])) for i in range(len(body))]
    for form in FORMS[1:]:
        assert _id_offsets(text(form, body), chunk, max_line, split) == plain, form


def test_the_shift_counts_the_bom_and_each_crlf(tmp_path: Path) -> None:
    path = write(tmp_path / "x.jsonl", "bom+crlf", lines(1))
    with open_binary(path) as handle:
        batches = list(read_batches(handle))
    assert batches[0].shift == len(BOM) and batches[-1].end_shift == len(BOM) + 3


def test_a_bad_line_of_a_copy_is_quarantined_once(store: Store, tmp_path: Path) -> None:
    bad = b'{"type": "data.touched", "ts": "2026-11-20T08:00:01Z", "run_id": '
    body = [*lines(2)[:3], bad, *lines(2)[3:]]
    load_paths(store.con, [write(tmp_path / "first.jsonl", "bom+crlf", body)])
    for form in FORMS:
        summary = load_paths(store.con, [write(tmp_path / f"{form}.jsonl", form, body)])
        assert (summary.events, summary.quarantined, summary.quarantined_new) == (0, 1, 0), form
    # quarantined by a Quarterdeck that keyed lines by their raw byte offsets: loaded again
    old = write(tmp_path / "old.jsonl", "crlf", [*lines(2, first=5), bad])
    load_paths(store.con, [old])
    store.con.execute(
        "UPDATE quarantine SET quarantine_key = sha256(? || ':' || byte_offset::VARCHAR) "
        "WHERE source = ?",
        [fingerprint(old), str(old)],
    )
    assert load_paths(store.con, [old]).quarantined_new == 0
    assert store.con.execute("SELECT count(*) FROM quarantine").fetchone() == (2,)
