"""What the store calls the file an event came from (`source`): relative to the folder that was
ingested or followed, so `invoice-posting/runs.jsonl:2` and `payout-batch/runs.jsonl:2` differ
however the folder was named; a file named directly, as it was named. The name is a label:
loading the same files again under another spelling adds nothing."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import event, started, write_jsonl

SAME_NAME = "runs-2026-11-26.jsonl"


def two_workflows(root: Path) -> Path:
    """Two folders holding a log of the same name, and a gzipped log one level down."""
    for workflow in ("invoice-posting", "payout-batch"):
        run_id = f"r-{workflow}"
        write_jsonl(
            root / workflow / SAME_NAME,
            [
                started(run_id, workflow=workflow),
                event(
                    "step.started",
                    "2026-11-20T08:00:01Z",
                    run_id,
                    event_id=f"{run_id}-s1",
                    step_id="s1",
                ),
            ],
        )
    plain = write_jsonl(root / "old" / "runs.jsonl", [started("r-old")])
    (root / "old" / "runs.jsonl.gz").write_bytes(gzip.compress(plain.read_bytes()))
    plain.unlink()
    return root


def sources(store: Store) -> dict[str, tuple[str, int]]:
    rows = store.con.execute("SELECT event_id, source, line_no FROM events").fetchall()
    return {event_id: (source, line_no) for event_id, source, line_no in rows}


EXPECTED = {
    "r-invoice-posting-start": ("invoice-posting/" + SAME_NAME, 1),
    "r-invoice-posting-s1": ("invoice-posting/" + SAME_NAME, 2),
    "r-payout-batch-start": ("payout-batch/" + SAME_NAME, 1),
    "r-payout-batch-s1": ("payout-batch/" + SAME_NAME, 2),
    "r-old-start": ("old/runs.jsonl.gz", 1),
}


@pytest.mark.parametrize("spelling", ["relative", "absolute", "dot"])
def test_a_folder_ingest_names_each_file_relative_to_the_folder(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch, spelling: str
) -> None:
    root = two_workflows(tmp_path / "logs")
    monkeypatch.chdir(root if spelling == "dot" else tmp_path)
    given = {"relative": "logs", "absolute": str(root), "dot": "."}[spelling]
    load_paths(store.con, [given])
    assert sources(store) == EXPECTED


def test_a_file_named_directly_keeps_the_name_it_was_given_and_a_second_spelling_adds_nothing(
    tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = two_workflows(tmp_path / "logs")
    monkeypatch.chdir(tmp_path)
    load_paths(store.con, [f"logs/payout-batch/{SAME_NAME}"])
    assert set(sources(store).values()) == {
        (f"logs/payout-batch/{SAME_NAME}", 1),
        (f"logs/payout-batch/{SAME_NAME}", 2),
    }
    again = load_paths(store.con, [root])  # the same file again, now found in its folder
    assert again.duplicates == 2 and again.events == 3
    assert sources(store)["r-payout-batch-s1"] == (f"logs/payout-batch/{SAME_NAME}", 2)


def test_a_followed_folder_names_files_as_a_batch_load_does(tmp_path: Path, store: Store) -> None:
    root = two_workflows(tmp_path / "logs")
    follower = Follower(store.con, [root])
    try:
        follower.poll()
        with (root / "payout-batch" / SAME_NAME).open("a") as log:  # a line appended later
            log.write(
                '{"type": "run.finished", "ts": "2026-11-20T08:05:00Z", '
                '"run_id": "r-payout-batch", "event_id": "late", "status": "succeeded"}\n'
            )
        follower.poll()
    finally:
        follower.close()
    assert sources(store) == {**EXPECTED, "late": ("payout-batch/" + SAME_NAME, 3)}
