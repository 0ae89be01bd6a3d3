"""Evidence bundles: what goes in, a round trip through the manifest (one byte changed is
caught), the report naming every out-of-scope touch, many runs in one bundle, and `e`."""

from __future__ import annotations

import csv
import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from quarterdeck import bundle
from quarterdeck.config import Settings
from quarterdeck.console.app import make_app
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import decisions, evidence
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl
from support.pilot import until


def out_of_scope_run(store: Store) -> str:
    return store.con.execute(
        "SELECT run_id FROM run_summary WHERE out_of_scope > 0 ORDER BY run_id LIMIT 1"
    ).fetchone()[0]


def test_a_bundle_round_trip_catches_one_changed_byte(fleet_store: Store, tmp_path: Path) -> None:
    run_id = out_of_scope_run(fleet_store)
    collected = evidence.collect(fleet_store.con, run_id, now=NOW)
    out = bundle.write(
        tmp_path / "b", [collected], generated_at=NOW, store=fleet_store.path, scope=f"run {run_id}"
    )
    assert sorted(p.name for p in out.iterdir()) == sorted([*bundle.FILES, bundle.MANIFEST])
    assert bundle.verify(out) == []
    data = bytearray((out / "touched.csv").read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit of one byte
    (out / "touched.csv").write_bytes(bytes(data))
    assert bundle.verify(out) == ["touched.csv changed (its sha256 is not the one in MANIFEST)"]
    (out / "notes.txt").write_text("slipped in")
    assert "notes.txt is not in MANIFEST" in bundle.verify(out)[-1]
    manifest = (out / bundle.MANIFEST).read_text().replace("report.md", "report.MD")
    (out / bundle.MANIFEST).write_text(manifest)
    assert any("MANIFEST itself was changed" in p for p in bundle.verify(out))


def test_the_decisions_in_a_bundle_carry_their_chain_and_verify_recomputes_it(
    fleet_store: Store, tmp_path: Path
) -> None:
    run_id = "r-under-review"
    write_jsonl(tmp_path / "logs" / "live.jsonl", [started(run_id, ts="2026-11-20T08:58:00Z")])
    load_paths(fleet_store.con, [tmp_path / "logs"])
    paths = Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl")
    anna = Operator("anna", frozenset({"operator"}))
    for action, reason in (("pause", "looking into it"), ("rollback", "it was not fine")):
        plan = decisions.plan(fleet_store.con, anna, action, run_id=run_id, now=NOW)
        decisions.record(
            fleet_store.con, plan, operator=anna, reason=reason, source="test", paths=paths, now=NOW
        )
    collected = evidence.collect(fleet_store.con, run_id, now=NOW)
    out = bundle.write(
        tmp_path / "b", [collected], generated_at=NOW, store=fleet_store.path, scope=f"run {run_id}"
    )
    assert bundle.verify(out) == []
    shown = json.loads((out / "evidence.json").read_text())["runs"][0]["decisions"]
    journaled = [json.loads(line) for line in paths.journal.read_text().splitlines()]
    assert sorted((d["seq"], d["prev_hash"], d["hash"]) for d in shown) == [
        (r["seq"], r["prev_hash"], r["hash"]) for r in journaled
    ]

    # a reason made nicer, and the MANIFEST made whole again over it: the chain still tells
    document = json.loads((out / "evidence.json").read_text())
    for decision in document["runs"][0]["decisions"]:
        if decision["seq"] == 1:
            decision["reason"] = decision["journal_record"]["reason"] = "routine check"
    (out / "evidence.json").write_text(json.dumps(document, indent=2))
    (out / bundle.MANIFEST).write_text(bundle.manifest(out))
    assert bundle.verify(out) == [
        "decision seq 1: its journal record does not hash to its hash (the record was changed)"
    ]


def test_the_bundle_holds_the_whole_run_and_the_report_names_every_out_of_scope_touch(
    fleet_store: Store, tmp_path: Path
) -> None:
    run_id = out_of_scope_run(fleet_store)
    collected = evidence.collect(fleet_store.con, run_id, now=NOW)
    out = bundle.write(
        tmp_path / "b", [collected], generated_at=NOW, store=fleet_store.path, scope=f"run {run_id}"
    )
    document = json.loads((out / "evidence.json").read_text())
    run = document["runs"][0]
    assert run["run"]["run_id"] == run_id and run["run"]["scope"]
    touches = fleet_store.con.execute(
        "SELECT count(*) FROM touches WHERE run_id = ?", [run_id]
    ).fetchone()[0]
    assert len(run["touches"]) == touches == pq.read_table(out / "touched.parquet").num_rows
    assert all("before" in t and "in_scope" in t for t in run["touches"])
    report = (out / "report.md").read_text()
    outside = fleet_store.con.execute(
        "SELECT system || '/' || object || '/' || coalesce(record_id, '[bulk]') FROM touches "
        "WHERE run_id = ? AND in_scope = false",
        [run_id],
    ).fetchall()
    assert outside
    for (record,) in outside:
        assert f"`{record}`" in report.split("### Out of scope")[1].split("###")[0]
    assert f"As whom**: {run['run']['identity']}" in report


def test_the_command_line_bundles_a_workflow_and_verifies(
    fleet_store: Store, tmp_path: Path
) -> None:
    fleet_store.close()
    base = [sys.executable, "-m", "quarterdeck.cli", "--db", str(fleet_store.path)]
    out = tmp_path / "many"
    made = subprocess.run(
        [
            *base,
            "evidence",
            "--workflow",
            "invoice-posting",
            "--since",
            "2026-11-19T00:00:00Z",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
    )
    assert made.returncode == 0, made.stderr
    runs = json.loads((out / "evidence.json").read_text())["runs"]
    assert len(runs) > 1 and {r["run"]["workflow"] for r in runs} == {"invoice-posting"}
    ok = subprocess.run([*base, "evidence", "--verify", str(out)], capture_output=True, text=True)
    assert ok.returncode == 0 and "verified" in ok.stdout
    (out / "report.md").write_text("nothing to see here")
    bad = subprocess.run([*base, "evidence", "--verify", str(out)], capture_output=True, text=True)
    assert bad.returncode == 1 and "report.md changed" in bad.stderr
    missing = subprocess.run(
        [*base, "evidence", "r-nope", "--out", str(tmp_path / "x")], capture_output=True, text=True
    )
    assert missing.returncode == 1 and "no run 'r-nope'" in missing.stderr


async def test_e_on_a_run_writes_its_bundle(fleet_store: Store) -> None:
    app = make_app(fleet_store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=(160, 40)) as pilot:
        pane = app.screen.query_one(RunsPane)
        await until(pilot, lambda: bool(pane.query_one(TableView).keys))
        run_id = pane.current_record()["run_id"]
        await pilot.press("e")
        folder = Path("evidence")

        def bundles() -> list[Path]:  # (not the hidden folder one is written in)
            return [d for d in folder.iterdir() if not d.name.startswith(".")]

        await until(pilot, lambda: folder.exists() and bool(bundles()))
        (made,) = bundles()  # whole as soon as it is there
        assert made.name.startswith(run_id) and bundle.verify(made) == []


@pytest.mark.parametrize("problem", ["not empty"])
def test_a_bundle_never_overwrites(fleet_store: Store, tmp_path: Path, problem: str) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "keep.txt").write_text("mine")
    with pytest.raises(bundle.BundleError, match=problem):
        bundle.write(tmp_path / "b", [], generated_at=NOW, store=fleet_store.path, scope="x")


def test_each_event_and_touch_in_the_bundle_points_at_its_line_in_the_logs(
    fleet_store: Store, fleet_dir: Path, tmp_path: Path
) -> None:
    run_id = out_of_scope_run(fleet_store)
    collected = evidence.collect(fleet_store.con, run_id, now=NOW)
    out = bundle.write(
        tmp_path / "b", [collected], generated_at=NOW, store=fleet_store.path, scope=f"run {run_id}"
    )
    run = json.loads((out / "evidence.json").read_text())["runs"][0]
    assert len(run["events"]) == run["run"]["events"]
    # the bundle names the source root: the folder ingested, which every file is relative to
    roots = {s["source"]: s["root"] for s in run["sources"]}
    assert set(roots) == {e["source"] for e in run["events"]}
    assert set(roots.values()) == {str(fleet_dir.resolve())}
    assert f"- **Source root**: `{fleet_dir.resolve()}`" in (out / "report.md").read_text()
    logged = {}
    for e in run["events"]:
        assert "/" in e["source"] and not e["source"].startswith(str(fleet_dir))
        data = (Path(roots[e["source"]]) / e["source"]).read_bytes()
        if e["source"].endswith(".gz"):  # offsets count the bytes of the file as written
            data = gzip.decompress(data)
        line = data[e["byte_offset"] :].split(b"\n", 1)[0]
        assert json.loads(line)["event_id"] == e["event_id"]
        assert data[: e["byte_offset"]].count(b"\n") == e["line"] - 1
        assert e["ts"].endswith("Z") and e["type"]
        logged[e["event_id"]] = (e["source"], e["line"], e["byte_offset"])
    outside = [t for t in run["touches"] if t["in_scope"] is False]
    assert outside
    for t in run["touches"]:
        assert (t["source"], t["line"], t["byte_offset"]) == logged[t["event_id"]]
        assert (t["needed_grant"] is None) == (t["in_scope"] is not False)
    report = (out / "report.md").read_text().split("### Out of scope")[1].split("###")[0]
    for t in outside:
        assert f"`{t['needed_grant']}`" in report
        assert f"`{t['source']}:{t['line']}`" in report

    # times are UTC and say so: ISO 8601 with Z in the CSV, a UTC type in Parquet
    parquet = pq.read_table(out / "touched.parquet")
    assert str(parquet.schema.field("ts").type) == "timestamp[us, tz=UTC]"
    with (out / "touched.csv").open(newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert {"needed_grant", "source", "line", "byte_offset"} <= set(csv_rows[0])
    stamps = [row["ts"] for row in csv_rows]
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z"
    assert stamps and all(re.fullmatch(iso, s) for s in stamps)
    first = parquet.column("ts")[0].as_py()
    assert stamps[0] == first.strftime("%Y-%m-%dT%H:%M:%S.%fZ") and first.utcoffset().seconds == 0


def test_the_report_rounds_numbers_for_people_and_times_each_approval(
    fleet_store: Store, tmp_path: Path
) -> None:
    run_id = "r-asking"
    requested = event(
        "approval.requested",
        "2026-11-20T08:30:00Z",
        run_id,
        event_id="ask",
        approval_id="apr-1",
        action="post 48 invoices",
        risk="high",
        required_role="finance-approver",
        requested_by="svc-agent",
        expires_at="2026-11-20T12:00:00Z",
    )
    decided = event(
        "approval.decided",
        "2026-11-20T08:40:00Z",
        run_id,
        event_id="answer",
        approval_id="apr-2",
        decision="approved",
        decided_by="bob",
        reason="checked",
    )
    second = {**requested, "event_id": "ask-2", "approval_id": "apr-2", "expires_at": None}
    write_jsonl(
        tmp_path / "logs" / "asking.jsonl",
        [
            started(run_id, ts="2026-11-20T08:29:00Z"),
            event("step.started", "2026-11-20T08:29:01Z", run_id, step_id="s1", kind="llm"),
            event(
                "step.finished",
                "2026-11-20T08:29:01.340Z",
                run_id,
                step_id="s1",
                status="ok",
                tokens_in=12345,
                tokens_out=6,
            ),
            requested,
            second,
            decided,
        ],
    )
    load_paths(fleet_store.con, [tmp_path / "logs"])
    collected = evidence.collect(fleet_store.con, run_id, now=NOW)
    ratio = 0.7650689655172416
    collected["triggers"] = [
        {
            "name": "failures",
            "phase": "tripped",
            "value": ratio,
            "threshold": 0.2,
            "evaluated_at": NOW,
        },
    ]
    out = bundle.write(
        tmp_path / "b", [collected], generated_at=NOW, store=fleet_store.path, scope=f"run {run_id}"
    )
    report = (out / "report.md").read_text()
    assert "value 0.77, threshold 0.20" in report and str(ratio) not in report
    assert "| 340 ms | 12,345/6 |" in report  # a step's duration and summed tokens
    assert (
        json.loads((out / "evidence.json").read_text())["runs"][0]["triggers"][0]["value"] == ratio
    )
    assert not re.search(r"\d\.\d{3,}", report.split("### Operators")[0].split("### Steps")[1])
    approvals = report.split("### Approvals")[1].split("###")[0]
    assert "requested 2026-11-20 08:30:00Z, expires 2026-11-20 12:00:00Z; **pending**" in approvals
    assert (
        "expires never (no expiry given); **approved** by bob at 2026-11-20 08:40:00Z: checked"
        in approvals
    )


def test_a_bundle_appears_whole_or_not_at_all(fleet_store: Store, tmp_path: Path) -> None:
    """Written in a hidden folder and renamed: a failure part way leaves nothing behind, and
    an empty folder given for it is filled."""
    run_id = out_of_scope_run(fleet_store)
    collected = [evidence.collect(fleet_store.con, run_id, now=NOW)]
    with pytest.raises(TypeError):  # a value JSON cannot hold, found while writing
        bundle.write(
            tmp_path / "bundles" / "b",
            [{**collected[0], "x": object()}],
            generated_at=NOW,
            store=fleet_store.path,
            scope="x",
        )
    where = tmp_path / "bundles"
    assert not where.exists() or list(where.iterdir()) == []
    (where / "b").mkdir(parents=True)
    out = bundle.write(where / "b", collected, generated_at=NOW, store=fleet_store.path, scope="x")
    assert bundle.verify(out) == [] and list(where.iterdir()) == [out]
    assert (out.stat().st_mode & 0o777) == 0o700
