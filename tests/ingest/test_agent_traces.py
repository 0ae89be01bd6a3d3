"""Real agents' traces in: a LangGraph agent under OpenInference and under OpenLLMetry, and an
openai-agents app under OpenInference and openai-v2 together (tests/support/agents.py), as the
Collector's file exporter writes them, load into runs as an operator expects them (issue 16)."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from quarterdeck import config
from quarterdeck.console.screens.run_detail import step_rows
from quarterdeck.ingest.follow import Follower
from quarterdeck.ingest.load import load_paths
from quarterdeck.ingest.tools import ToolEffect
from quarterdeck.queries.runs import RunFilter, run_history, run_steps
from quarterdeck.queries.store import Store
from support.agents import LANGGRAPH_USAGE, OPENAI_USAGE
from support.events import NOW

pytestmark = pytest.mark.xdist_group("agents")


def spans_of(path: Path) -> list[dict[str, Any]]:
    return [
        span
        for line in path.read_text().splitlines()
        for resource in json.loads(line)["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    ]


def test_the_apps_traces_are_as_the_collector_writes_them(agent_traces: dict[str, Path]) -> None:
    assert set(agent_traces) == {
        "langgraph-openinference",
        "langgraph-openllmetry",
        "openai-agents",
    }
    for path in agent_traces.values():
        spans = spans_of(path)
        assert spans
        for span in spans:
            assert re.fullmatch(r"[0-9a-f]{32}", span["traceId"])
            assert re.fullmatch(r"[0-9a-f]{16}", span["spanId"])
            assert isinstance(span["kind"], int)  # integer enums
            assert isinstance(span["startTimeUnixNano"], str)  # 64-bit ints as strings
            assert isinstance(span.get("status", {}).get("code", 0), int)
        # one of each app's runs fails in charge_card
        failed = [s for s in spans if s.get("status", {}).get("code") == 2]
        assert any("charge_card" in s["name"] for s in failed)


@pytest.fixture(scope="module")
def loaded_template(
    tmp_path_factory: pytest.TempPathFactory, agent_traces: dict[str, Path]
) -> Path:
    """A closed store with every app's traces loaded (no tool map); tests get copies."""
    path = tmp_path_factory.mktemp("agent-store") / "qd.duckdb"
    with Store.open(path) as store:
        summary = load_paths(store.con, list(agent_traces.values()))
    assert summary.quarantined == 0, summary
    return path


@pytest.fixture
def loaded(loaded_template: Path, tmp_path: Path) -> Iterator[Store]:
    shutil.copyfile(loaded_template, tmp_path / "qd.duckdb")
    with Store.open(tmp_path / "qd.duckdb") as store:
        yield store


def runs_of(store: Store) -> dict[tuple[str, str], dict[str, Any]]:
    """(workflow, outcome) → the run_summary row as a dict (each app has one of each)."""
    cursor = store.con.execute("SELECT * FROM run_summary")
    names = [d[0] for d in cursor.description]
    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    return {(r["workflow"], r["outcome"]): r for r in rows}


def tools_of(store: Store, run_id: str) -> list[tuple[str, str | None, str | None]]:
    return store.con.execute(
        "SELECT kind, tool, model FROM steps WHERE run_id = ? AND phase = 'started' "
        "ORDER BY ts, step_id",
        [run_id],
    ).fetchall()


def test_each_invocation_is_one_run_named_as_the_framework_names_it(loaded: Store) -> None:
    runs = runs_of(loaded)
    # OpenLLMetry's create_agent traces are no runs: two runs per app and instrumentation
    assert loaded.con.execute("SELECT count(*) FROM run_summary").fetchone() == (6,)
    assert set(runs) == {
        ("travel_assistant", "succeeded"),
        ("travel_assistant", "failed"),
        ("Customer support", "succeeded"),
        ("Customer support", "failed"),
    }


def test_a_run_fails_when_an_agent_span_fails_with_the_innermost_error(loaded: Store) -> None:
    failed = runs_of(loaded)[("Customer support", "failed")]
    # openai-agents ends its root span OK; the agent span below it ended ERROR
    assert failed["step_errors"] == 1
    assert "charge_card" in failed["outcome_error"]  # the tool's span, not the agent's
    assert "card declined" in failed["outcome_error"]
    assert not failed["outcome_error"].startswith("Error in agent run")
    errors = loaded.con.execute(
        "SELECT workflow, outcome_error FROM run_summary WHERE workflow = 'travel_assistant' "
        "AND outcome = 'failed'"
    ).fetchall()
    assert len(errors) == 2 and all("card declined" in e for _, e in errors)


def test_a_model_call_seen_twice_is_one_step_and_its_tokens_count_once(loaded: Store) -> None:
    ok = runs_of(loaded)[("Customer support", "succeeded")]
    calls = 2  # the tool call, then the answer
    assert ok["steps"] == calls + 1
    assert (ok["tokens_in"], ok["tokens_out"]) == (
        calls * OPENAI_USAGE["prompt_tokens"],
        calls * OPENAI_USAGE["completion_tokens"],
    )
    steps = tools_of(loaded, ok["run_id"])
    assert [k for k, _, _ in steps] == ["llm", "tool", "llm"]
    assert steps[0][2] == "gpt-4.1-mini-2025-04-14"  # the model as openai-v2 saw the response


def test_openinference_token_counts_and_tool_names_are_read(loaded: Store) -> None:
    tokens = loaded.con.execute(
        "SELECT tokens_in, tokens_out FROM run_summary "
        "WHERE workflow = 'travel_assistant' AND outcome = 'succeeded'"
    ).fetchall()
    calls = 2
    usage = (calls * LANGGRAPH_USAGE["input_tokens"], calls * LANGGRAPH_USAGE["output_tokens"])
    assert tokens == [usage, usage]  # OpenInference's and OpenLLMetry's runs alike
    tools = loaded.con.execute(
        "SELECT DISTINCT tool FROM steps WHERE kind = 'tool' ORDER BY tool"
    ).fetchall()
    assert tools == [("charge_card",), ("lookup_order",)]  # every tool step has its name


def test_sessions_and_users_are_kept_and_filterable(loaded: Store) -> None:
    rows = loaded.con.execute(
        "SELECT session_id, user_id, count(*) FROM run_summary "
        "WHERE workflow = 'travel_assistant' GROUP BY ALL"
    ).fetchall()
    assert rows == [("sess-42", "u-ada", 4)]  # OpenInference's and OpenLLMetry's alike
    for where in (RunFilter(session="sess-42"), RunFilter(user="u-ada"), RunFilter(text="sess-4*")):
        found = run_history(loaded.con, now=NOW, where=where).column("workflow").to_pylist()
        assert found == ["travel_assistant"] * 4


TOOL_MAP = {
    "charge_card": ToolEffect("payments", "Charge", "create", record_id="customer_id"),
    "lookup_order": ToolEffect("orders", "Order", "read", record_id="order_id"),
}


def test_tools_become_touches_with_scope_checks(
    store: Store, agent_traces: dict[str, Path]
) -> None:
    for path in agent_traces.values():
        load_paths(store.con, [path], tool_map=TOOL_MAP)
    touches = store.con.execute(
        "SELECT r.workflow, s.tool, t.system, t.object, t.action, t.record_id, t.in_scope "
        "FROM touches t JOIN run_summary r USING (run_id) "
        "JOIN steps s ON s.run_id = t.run_id AND s.step_id = t.step_id AND s.phase = 'started' "
        "ORDER BY ALL"
    ).fetchall()
    # arguments read from OpenInference's input.value (JSON, and a one-argument call's bare
    # value), Traceloop's `inputs` wrapper and openai-agents' JSON alike
    expected = []
    for workflow, times, in_scope in (
        ("Customer support", 1, True),
        ("travel_assistant", 2, False),
    ):
        expected += [
            (workflow, "charge_card", "payments", "Charge", "create", "C-9", in_scope)
        ] * times
        expected += [(workflow, "lookup_order", "orders", "Order", "read", "O-7", False)] * times
    assert touches == sorted(expected)  # the support app's scope covers the charge only
    failed = runs_of(store)[("Customer support", "failed")]
    assert (failed["touched"], failed["out_of_scope"]) == (1, 0)


def test_a_follower_applies_the_tool_map_too(
    store: Store, agent_traces: dict[str, Path], tmp_path: Path
) -> None:
    logs = tmp_path / "collector"
    logs.mkdir()
    (logs / "traces.json").write_bytes(agent_traces["openai-agents"].read_bytes())
    follower = Follower(store.cursor(), [logs], tool_map=TOOL_MAP)
    try:
        follower.poll()
    finally:
        follower.close()
    touched = store.con.execute("SELECT record_id, in_scope FROM touches ORDER BY 1").fetchall()
    assert touched == [("C-9", True), ("O-7", False)]


def test_a_tool_the_map_does_not_know_is_unmapped_in_the_run_detail(
    store: Store, agent_traces: dict[str, Path]
) -> None:
    tool_map = {"charge_card": TOOL_MAP["charge_card"]}
    load_paths(store.con, [agent_traces["openai-agents"]], tool_map=tool_map)
    for outcome, tool, effect in (
        ("succeeded", "lookup_order", "unmapped"),
        ("failed", "charge_card", None),
    ):
        run = runs_of(store)[("Customer support", outcome)]
        table = run_steps(store.con, run["run_id"])
        steps = table.to_pylist()
        assert [(s["tool"], s["effect"]) for s in steps if s["kind"] == "tool"] == [(tool, effect)]
        assert all(s["effect"] is None for s in steps if s["kind"] != "tool")
        # the run detail's Steps tab says so beside the tool
        labels, rows, _ = step_rows(table)
        shown = [r[labels.index("TOOL / MODEL")] for r in rows]
        assert [c for c in shown if tool in c] == [
            f"{tool} [yellow](unmapped)[/]" if effect else tool
        ]


def test_the_tool_map_is_read_from_the_config_and_its_mistakes_named(tmp_path: Path) -> None:
    path = tmp_path / "quarterdeck.toml"
    entry = '[[tool]]\nname = "charge_card"\nsystem = "payments"\nobject = "Charge"\n'
    path.write_text(entry + 'action = "create"\nrecord_id = "customer_id"\n')
    assert config.load(str(path)).tool_map() == {"charge_card": TOOL_MAP["charge_card"]}
    path.write_text(entry + 'action = "charge"\n')
    with pytest.raises(config.ConfigError, match=r"tool 1 \(charge_card\): action"):
        config.load(str(path))
    path.write_text(entry + 'action = "create"\n' + entry + 'action = "read"\n')
    with pytest.raises(config.ConfigError, match="charge_card.*mapped twice"):
        config.load(str(path))
