"""`findings` and `workflows` as a person runs them, and the release events in `schema`."""

from __future__ import annotations

import json
from pathlib import Path

from quarterdeck.ingest.models import event_json_schema
from support.commands import qd
from support.events import event, published, rollout, started, write_jsonl

CONFIG = """
[workflows."invoice-posting"]
publishers = ["alice", "carol"]
approvers = ["bob", "dana"]
min_approvals = 1
"""


def test_schema_shows_the_release_events_and_a_touch_identity() -> None:
    text = json.dumps(event_json_schema())
    for name in ("WorkflowPublished", "RolloutChanged", "approved_by", "source_ref", "weight"):
        assert name in text
    assert "identity" in event_json_schema()["$defs"]["DataTouched"]["properties"]


def test_findings_and_workflows_commands(tmp_path: Path) -> None:
    logs = write_jsonl(
        tmp_path / "logs" / "runs.jsonl",
        [
            published("1.0.0", "2026-11-20T07:00:00Z"),
            published("1.1.0", "2026-11-20T08:00:00Z", publisher="mallory",
                      rollout={"steps": [10, 100]}),
            rollout("1.0.0", 90, "2026-11-20T08:00:00Z"),
            started("r-1", scope=["ledger:write:Invoice", "bank:export"]),
            event("data.touched", "2026-11-20T08:00:01Z", "r-1", event_id="t-1",
                  system="ledger", object="Invoice", action="update", identity="human:dana"),
        ],
    )  # fmt: skip
    (tmp_path / "quarterdeck.toml").write_text(CONFIG)
    assert qd("ingest", str(logs), cwd=tmp_path).returncode == 0

    result = qd("findings", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert all(list(row) == ["kind", "workflow", "version", "run_id", "event_id", "detail"]
               for row in rows)  # fmt: skip
    assert sorted((r["kind"], r["run_id"], r["event_id"]) for r in rows) == [
        ("borrowed_identity", "r-1", "t-1"),
        ("scope_exceeds_published", "r-1", "r-1-start"),
        ("unauthorized_publisher", None, "pub-invoice-posting-1.1.0"),
    ]
    one = qd("findings", "--kind", "borrowed_identity", "--workflow", "invoice-posting",
             cwd=tmp_path)  # fmt: skip
    assert one.returncode == 0 and "human:dana" in one.stdout and "bank:export" not in one.stdout
    bad = qd("findings", "--kind", "nope", cwd=tmp_path)
    assert bad.returncode == 2 and "unpublished_version" in bad.stderr

    result = qd(
        "workflows", "--format", "json", "--at", "2026-11-20T09:00:00Z", "--window", "2h",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    versions = {r["version"]: r for r in json.loads(result.stdout)}
    assert (versions["1.1.0"]["role"], versions["1.1.0"]["weight"]) == ("canary", 10)
    assert (versions["1.0.0"]["role"], versions["1.0.0"]["weight"]) == ("stable", 90)
    assert versions["1.0.0"]["runs"] == 1 and versions["1.0.0"]["source_ref"] == "git:1.0.0"


def test_decide_promote_and_rollback_version(tmp_path: Path) -> None:
    logs = write_jsonl(
        tmp_path / "logs" / "runs.jsonl",
        [
            published("1.4.0", "2026-11-20T07:00:00Z"),
            published("1.5.0", "2026-11-20T08:00:00Z", rollout={"steps": [10, 50, 100]}),
            rollout("1.4.0", 90, "2026-11-20T08:00:00Z"),
        ],
    )
    (tmp_path / "quarterdeck.toml").write_text(
        CONFIG + '\n[operators.rita]\nroles = ["release-manager"]\n'
    )
    assert qd("ingest", str(logs), cwd=tmp_path).returncode == 0
    refused = qd("decide", "promote", "--workflow", "invoice-posting", "--reason", "r",
                 "--operator", "olga", cwd=tmp_path)  # fmt: skip
    assert refused.returncode == 3 and "needs the role 'release-manager'" in refused.stderr
    usage = qd("decide", "promote", "--workflow", "invoice-posting", "--to", "1.4.0",
               "--reason", "r", cwd=tmp_path)  # fmt: skip
    assert usage.returncode == 2 and "--to goes with rollback-version" in usage.stderr
    back = qd("decide", "rollback-version", "--workflow", "invoice-posting", "--to", "1.4.0",
              "--reason", "canary fails", "--operator", "rita", cwd=tmp_path)  # fmt: skip
    assert back.returncode == 0, back.stderr
    assert "roll invoice-posting back to 1.4.0" in back.stdout
    outbox = (tmp_path / ".quarterdeck" / "control-outbox.jsonl").read_text().splitlines()
    assert json.loads(outbox[-1])["rollout"]["weights"] == {"1.4.0": 100, "1.5.0": 0}
