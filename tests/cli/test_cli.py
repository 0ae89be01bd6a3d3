"""The command line, run as a person runs it: a real process, real files, exit codes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from support.commands import qd
from support.events import started, write_jsonl


@pytest.fixture
def loaded(tmp_path: Path, fleet_copy: Callable[[Path], Path]) -> Path:
    """A folder whose default store holds the fleet, as `quarterdeck ingest FLEET` there leaves
    it (that command is tested on its own below)."""
    fleet_copy(tmp_path / ".quarterdeck" / "quarterdeck.duckdb")
    return tmp_path


def test_ingest_json_summary_and_idempotence(tmp_path: Path, fleet_dir: Path) -> None:
    first = json.loads(qd("ingest", str(fleet_dir), "--json", cwd=tmp_path).stdout)
    assert first["events"] > 1000 and first["quarantined"] == 9 and first["files"] > 4
    assert first["approval_records"] > 0
    second = json.loads(qd("ingest", str(fleet_dir), "--json", cwd=tmp_path).stdout)
    assert second["events"] == 0 and second["approval_records"] == 0
    assert second["duplicates"] == first["events"] + first["duplicates"] + first["approval_records"]
    assert (tmp_path / ".quarterdeck" / "quarterdeck.duckdb").exists()


def test_ingest_summary_line_and_missing_path(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "a.jsonl", [started()])
    ok = qd("ingest", str(path), cwd=tmp_path)
    assert ok.returncode == 0 and "1 event loaded" in ok.stdout
    missing = qd("ingest", "nope.jsonl", cwd=tmp_path)
    assert missing.returncode == 2  # a usage error, as against a server
    assert missing.stderr.strip().endswith("quarterdeck: no such file or folder: nope.jsonl")


def test_runs_json_rows_have_the_documented_fields(loaded: Path) -> None:
    result = qd("runs", "--format", "json", cwd=loaded)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert len(rows) == 120
    for key in (
        "run_id",
        "workflow",
        "workflow_version",
        "identity",
        "environment",
        "status",
        "started_at",
        "finished_at",
        "duration_s",
        "steps",
        "touched",
        "out_of_scope",
        "pending_approvals",
    ):
        assert key in rows[0]
    assert rows[0]["started_at"].endswith("Z")
    starts = [r["started_at"] for r in rows]
    assert starts == sorted(starts, reverse=True)
    assert any(r["out_of_scope"] for r in rows)


def test_runs_filters_limit_and_csv(loaded: Path) -> None:
    failed = json.loads(
        qd("runs", "--format", "json", "--status", "failed,cancelled", cwd=loaded).stdout
    )
    assert failed and {r["status"] for r in failed} <= {"failed", "cancelled"}
    crm = json.loads(
        qd("runs", "--format", "json", "--workflow", "crm-enrichment", cwd=loaded).stdout
    )
    assert crm and {r["workflow"] for r in crm} == {"crm-enrichment"}
    recent = json.loads(
        qd("runs", "--format", "json", "--since", "2026-11-20T00:00:00Z", cwd=loaded).stdout
    )
    assert recent and all(r["started_at"] >= "2026-11-20" for r in recent)
    limited = qd("runs", "--format", "csv", "--limit", "3", cwd=loaded).stdout
    table = list(csv.DictReader(io.StringIO(limited)))
    assert len(table) == 3 and "pending_approvals" in table[0]


def test_global_options_after_the_command(loaded: Path, tmp_path_factory) -> None:
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    db = loaded / ".quarterdeck" / "quarterdeck.duckdb"
    result = qd("runs", "--format", "json", "--limit", "1", "--db", str(db), cwd=elsewhere)
    assert result.returncode == 0 and len(json.loads(result.stdout)) == 1
    via_env = qd(
        "runs", "--format", "json", "--limit", "1", cwd=elsewhere, env={"QUARTERDECK_DB": str(db)}
    )
    assert via_env.returncode == 0


def test_quarantine_json(loaded: Path) -> None:
    rows = json.loads(qd("quarantine", "--format", "json", cwd=loaded).stdout)
    assert len(rows) == 9
    assert {"source", "line", "offset", "error_class", "error"} <= set(rows[0])
    assert {r["error_class"] for r in rows} >= {
        "malformed_json",
        "bad_timestamp",
        "unknown_type",
        "invalid_utf8",
    }


def test_an_empty_folder_is_not_a_silent_success(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = qd("ingest", "empty", cwd=tmp_path)
    assert result.returncode == 1 and "nothing to load" in result.stderr


def test_status_as_shown_in_the_console_is_accepted(loaded: Path) -> None:
    shown = qd("runs", "--format", "json", "--status", "Rolled Back", cwd=loaded)
    assert shown.returncode == 0
    assert {r["status"] for r in json.loads(shown.stdout)} <= {"rolled_back"}


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert qd("quarantine", "--class", "bogus", cwd=tmp_path).returncode == 2
    assert qd("runs", "--status", "bogus", cwd=tmp_path).returncode == 2
    assert qd("runs", "--limit", "0", cwd=tmp_path).returncode == 2
    assert qd("no-such-command", cwd=tmp_path).returncode == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[store]\nstale_after = "soon"\n')
    result = qd("--config", str(bad), "runs", cwd=tmp_path)
    assert result.returncode == 2 and "store.stale_after" in result.stderr


def test_read_commands_on_a_missing_store_fail_clearly(tmp_path: Path) -> None:
    result = qd("runs", cwd=tmp_path)
    assert result.returncode == 1
    assert "quarterdeck ingest" in result.stderr and "Traceback" not in result.stderr


def test_schema_is_json_schema_for_every_type(tmp_path: Path) -> None:
    schema = json.loads(qd("schema", cwd=tmp_path).stdout)
    text = json.dumps(schema)
    for name in (
        "run.started",
        "data.touched",
        "approval.requested",
        "control.applied",
        "ApprovalRecord",
    ):
        assert name in text


def test_sample_writes_a_fleet_of_the_asked_size(tmp_path: Path) -> None:
    result = qd(
        "sample",
        "--out",
        "fleet",
        "--runs",
        "40",
        "--seed",
        "3",
        "--end",
        "2026-11-20T09:00:00Z",
        "--no-bad-lines",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "wrote 40 runs" in result.stdout
    loaded = json.loads(qd("ingest", "fleet", "--json", cwd=tmp_path).stdout)
    assert loaded["quarantined"] == 0
    runs = json.loads(qd("runs", "--format", "json", cwd=tmp_path).stdout)
    assert len(runs) == 40


def test_qd_alias_and_quarterdeck_command_are_installed() -> None:
    from importlib.metadata import entry_points

    names = {e.name: e.value for e in entry_points(group="console_scripts")}
    assert names.get("quarterdeck") == "quarterdeck.cli:main" == names.get("qd")


def test_touched_json_rows_and_filters(loaded: Path) -> None:
    rows = json.loads(qd("touched", "--format", "json", cwd=loaded).stdout)
    for key in (
        "run_id",
        "workflow",
        "ts",
        "system",
        "object",
        "record_id",
        "action",
        "in_scope",
        "step_id",
    ):
        assert key in rows[0]
    assert [r["ts"] for r in rows] == sorted((r["ts"] for r in rows), reverse=True)
    out = json.loads(qd("touched", "--format", "json", "--out-of-scope", cwd=loaded).stdout)
    assert out and all(r["in_scope"] is False for r in out)
    # each names the grant that would have covered it; an in-scope touch needed none
    assert all(r["needed_grant"].split(":")[0::2] == [r["system"], r["object"]] for r in out)
    assert all(r["needed_grant"] is None for r in rows if r["in_scope"])
    run_id = rows[0]["run_id"]
    one_run = json.loads(qd("touched", "--format", "json", "--run", run_id, cwd=loaded).stdout)
    assert one_run and {r["run_id"] for r in one_run} == {run_id}
    crm = json.loads(
        qd(
            "touched", "--format", "json", "--system", "crm", "--action", "update,read", cwd=loaded
        ).stdout
    )
    assert crm and {r["system"] for r in crm} == {"crm"}
    assert {r["action"] for r in crm} <= {"update", "read"}
    recent = json.loads(
        qd("touched", "--format", "json", "--since", "2026-11-20T06:00:00Z", cwd=loaded).stdout
    )
    assert recent and all(r["ts"] >= "2026-11-20T06:00:00" for r in recent)
    assert qd("touched", "--action", "purge", cwd=loaded).returncode == 2


def test_touched_record_lineage_is_oldest_first(loaded: Path) -> None:
    rows = json.loads(
        qd(
            "touched", "--format", "json", "--system", "crm", "--action", "update", cwd=loaded
        ).stdout
    )
    record = f"crm/Contact/{rows[0]['record_id']}"
    lineage = json.loads(qd("touched", "--format", "json", "--record", record, cwd=loaded).stdout)
    assert lineage and {r["record_id"] for r in lineage} == {rows[0]["record_id"]}
    assert [r["ts"] for r in lineage] == sorted(r["ts"] for r in lineage)
    assert qd("touched", "--record", "crm/Contact", cwd=loaded).returncode == 2


def test_approvals_json_pending_first(loaded: Path) -> None:
    rows = json.loads(qd("approvals", "--format", "json", cwd=loaded).stdout)
    for key in (
        "approval_id",
        "run_id",
        "workflow",
        "action",
        "risk",
        "required_role",
        "requested_by",
        "requested_at",
        "expires_at",
        "status",
        "decided_by",
        "decided_at",
        "reason",
    ):
        assert key in rows[0]
    statuses = [r["status"] for r in rows]
    assert "approved" in statuses
    pending = json.loads(qd("approvals", "--format", "json", "--pending", cwd=loaded).stdout)
    assert all(r["status"] == "pending" for r in pending)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--since", "999999d"), "reaches back before the year 1"),
        (("--since", "0001-01-01T00:00:00+01:00"), "outside the years 0001-9999"),
        (("--limit", "99999999999999999999"), "must be at most 1,000,000 rows"),
        (("--limit", "1000001"), "must be at most 1,000,000 rows (leave the limit out"),
    ],
)
def test_out_of_range_options_are_refused_with_a_message(
    loaded: Path, args: tuple[str, ...], says: str
) -> None:
    result = qd("runs", *args, cwd=loaded)
    assert result.returncode == 2
    assert says in result.stderr
    assert "Traceback" not in result.stderr
