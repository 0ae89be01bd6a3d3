"""`quarterdeck run RUN_ID`: one run's detail for scripts, here of real agents' traces ingested
with a tool map from the config (issue 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.serving import qd

pytestmark = pytest.mark.xdist_group("agents")

STEP_FIELDS = [
    "step_id", "name", "kind", "tool", "model", "status", "error", "tokens_in", "tokens_out",
    "started_at", "finished_at",
]  # fmt: skip

CONFIG = """
[[tool]]
name = "charge_card"
system = "payments"
object = "Charge"
action = "create"
record_id = "customer_id"
"""


def test_run_prints_a_traced_runs_detail_with_its_tools_touches(
    tmp_path: Path, agent_traces: dict[str, Path]
) -> None:
    (tmp_path / "quarterdeck.toml").write_text(CONFIG)
    traces = [str(agent_traces[n]) for n in ("openai-agents", "langgraph-openllmetry")]
    assert qd("ingest", *traces, cwd=tmp_path).returncode == 0
    listed = qd("runs", "--format", "json", "--user", "u-ada", cwd=tmp_path)
    assert [r["workflow"] for r in json.loads(listed.stdout)] == ["travel_assistant"] * 2
    runs = json.loads(
        qd("runs", "--format", "json", "--workflow", "Customer support", cwd=tmp_path).stdout
    )
    by_status = {r["status"]: r for r in runs}
    failed = by_status["failed"]

    answer = qd("run", failed["run_id"], "--format", "json", cwd=tmp_path)
    assert answer.returncode == 0, answer.stderr
    detail = json.loads(answer.stdout)
    assert list(detail) == ["run", "steps", "touches", "approvals", "decisions"]
    assert {k: detail["run"][k] for k in failed} == failed  # the runs row, as `runs` has it
    assert detail["run"]["step_errors"] == 1 and detail["run"]["tokens_in"] == 50
    assert all(set(STEP_FIELDS) <= set(step) for step in detail["steps"])
    tool = next(s for s in detail["steps"] if s["kind"] == "tool")
    assert (tool["tool"], tool["status"], tool["effect"]) == ("charge_card", "error", None)
    assert "card declined" in tool["error"]
    [touch] = detail["touches"]
    assert (touch["system"], touch["object"], touch["record_id"], touch["action"]) == (
        "payments", "Charge", "C-9", "create",
    )  # fmt: skip
    assert touch["in_scope"] is True and touch["step_id"] == tool["step_id"]

    table = qd("run", by_status["succeeded"]["run_id"], cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert "lookup_order" in table.stdout and "unmapped" in table.stdout
    missing = qd("run", "r-nope", cwd=tmp_path)
    assert missing.returncode == 1 and "no run 'r-nope'" in missing.stderr
