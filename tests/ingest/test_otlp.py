"""OpenTelemetry traces in: spans made by the real opentelemetry-sdk, encoded to OTLP JSON the
way the Collector's file exporter writes them, load into runs, steps and touches; bad spans
and broken lines are quarantined."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (  # noqa: E402
    InMemorySpanExporter,
)
from opentelemetry.trace import Status, StatusCode  # noqa: E402

from quarterdeck.console.screens.run_detail import _facts as run_facts  # noqa: E402
from quarterdeck.ingest import otlp  # noqa: E402
from quarterdeck.ingest.follow import Follower  # noqa: E402
from quarterdeck.ingest.load import load_paths  # noqa: E402
from quarterdeck.ingest.tools import ToolEffect  # noqa: E402
from quarterdeck.queries.findings import FindingFilter, findings  # noqa: E402
from quarterdeck.queries.runs import run_overview  # noqa: E402
from quarterdeck.queries.store import Store  # noqa: E402
from support.agents import collector_json  # noqa: E402


def produce() -> tuple[list[str], dict[str, int]]:
    """Two agent runs through the SDK; returns the OTLP lines and what was produced."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "support-agent"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")
    touch = {
        "system": "helpdesk",
        "object": "Ticket",
        "record_id": "T-1",
        "action": "update",
        "before": '{"priority": "normal"}',
        "after": '{"priority": "high"}',
    }
    with tracer.start_as_current_span(
        "triage ticket",
        attributes={
            "quarterdeck.run_id": "r-otel-1",
            "quarterdeck.identity": "svc-otel",
            "quarterdeck.scope": ["helpdesk:write:Ticket"],
            "ticket.channel": "email",
        },
    ):
        with tracer.start_as_current_span(
            "chat gpt-4.1-mini",
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "gpt-4.1-mini",
                "gen_ai.usage.input_tokens": 120,
                "gen_ai.usage.output_tokens": 30,
            },
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool helpdesk.update",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "helpdesk.update",
            },
        ) as span:
            span.add_event(
                "quarterdeck.touch", {f"quarterdeck.touch.{k}": v for k, v in touch.items()}
            )
    with tracer.start_as_current_span(
        "triage ticket", attributes={"quarterdeck.scope": ["helpdesk:write:Ticket"]}
    ) as root:
        with tracer.start_as_current_span(
            "execute_tool helpdesk.delete",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "helpdesk.delete",
                "quarterdeck.touch.system": "helpdesk",
                "quarterdeck.touch.object": "Ticket",
                "quarterdeck.touch.record_id": "T-2",
                "quarterdeck.touch.action": "delete",
            },
        ) as span:
            span.set_status(Status(StatusCode.ERROR, "permission denied"))
        root.set_status(Status(StatusCode.ERROR, "tool failed"))
    spans = exporter.get_finished_spans()
    first = [s for s in spans if s.context.trace_id == spans[0].context.trace_id]
    rest = [s for s in spans if s not in first]
    lines = [collector_json(first), collector_json(rest)]  # an export batch per trace
    return lines, {"runs": 2, "steps": 3, "touches": 2, "spans": len(spans)}


def test_sdk_traces_load_into_runs_steps_and_touches(store: Store, tmp_path: Path) -> None:
    lines, produced = produce()
    path = tmp_path / "traces.json"
    path.write_text("\n".join(lines) + "\n")
    summary = load_paths(store.con, [path])
    assert summary.quarantined == 0, summary
    con = store.con
    runs = dict(con.execute("SELECT run_id, outcome FROM run_summary").fetchall())
    assert len(runs) == produced["runs"]
    assert runs["r-otel-1"] == "succeeded"
    other = next(r for r in runs if r != "r-otel-1")
    assert len(other) == 32 and runs[other] == "failed"  # the trace id; its root failed
    row = con.execute(
        "SELECT workflow, identity, scope, steps, tokens_in, tokens_out, touched "
        "FROM run_summary WHERE run_id = 'r-otel-1'"
    ).fetchone()
    # the workflow: the root span's name comes before service.name
    assert row == ("triage ticket", "svc-otel", ["helpdesk:write:Ticket"], 2, 120, 30, 1)
    assert (
        con.execute("SELECT count(DISTINCT run_id || step_id) FROM steps").fetchone()[0]
        == produced["steps"]
    )
    touches = con.execute(
        "SELECT record_id, action, in_scope, before, after FROM touches ORDER BY record_id"
    ).fetchall()
    assert len(touches) == produced["touches"]
    assert touches[0][:3] == ("T-1", "update", True)
    assert json.loads(touches[0][3]) == {"priority": "normal"}
    assert touches[1][:3] == ("T-2", "delete", False)  # write does not cover delete
    failed_step = con.execute(
        "SELECT status, error FROM steps WHERE phase = 'finished' AND status = 'error'"
    ).fetchall()
    assert failed_step == [("error", "permission denied")]
    attrs = con.execute(
        "SELECT attrs FROM events WHERE run_id = 'r-otel-1' AND type = 'run.started'"
    ).fetchone()[0]
    assert json.loads(attrs)["ticket.channel"] == "email"  # what maps to nothing is kept
    again = load_paths(store.con, [path])
    assert again.events == 0  # ids come from trace and span ids: nothing twice


def test_bad_spans_and_broken_lines_are_quarantined(store: Store, tmp_path: Path) -> None:
    lines, _ = produce()
    broken = json.loads(lines[0])
    spans = broken["resourceSpans"][0]["scopeSpans"][0]["spans"]
    del spans[0]["traceId"]
    path = tmp_path / "traces.jsonl"
    path.write_text(
        "\n".join([json.dumps(broken), lines[0][: len(lines[0]) // 2], lines[1]]) + "\n"
    )
    summary = load_paths(store.con, [path])
    classes = dict(
        store.con.execute("SELECT error_class, error FROM quarantine ORDER BY line_no").fetchall()
    )
    assert set(classes) == {"otlp_span", "malformed_json"}
    assert "no traceId or spanId" in classes["otlp_span"]
    assert summary.events > 0  # the other spans and the good line still loaded


def test_a_span_unreadable_once_its_trace_is_put_together_is_reported(
    store: Store, tmp_path: Path
) -> None:
    lines, _ = produce()
    odd = json.loads(lines[0])
    spans = odd["resourceSpans"][0]["scopeSpans"][0]["spans"]
    touching = next(s for s in spans if s.get("events"))
    touching["events"][0]["timeUnixNano"] = "soon"
    path = tmp_path / "traces.jsonl"
    path.write_text(json.dumps(odd) + "\n")
    summary = load_paths(store.con, [path])
    [(error,)] = store.con.execute("SELECT error FROM quarantine").fetchall()
    assert "execute_tool helpdesk.update" in error and "soon" in error
    runs = store.con.execute("SELECT run_id, steps FROM run_summary").fetchall()
    assert runs == [("r-otel-1", 1)] and summary.events > 0  # the rest of the trace loads


def traces_data(
    resource: dict[str, str], *spans: dict[str, Any], trace: str = "ab" * 16
) -> dict[str, Any]:
    """A TracesData line as the Collector writes it: one trace, each span (`name`, `attrs`:
    text, or a list of texts) the child of the one before."""

    def typed(v: str | list[str]) -> dict[str, Any]:
        if isinstance(v, list):
            return {"arrayValue": {"values": [{"stringValue": x} for x in v]}}
        return {"stringValue": v}

    def attrs(values: dict[str, Any]) -> list[dict[str, Any]]:
        return [{"key": k, "value": typed(v)} for k, v in values.items()]

    return {
        "resourceSpans": [
            {
                "resource": {"attributes": attrs(resource)},
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": trace,
                                "spanId": f"{n + 1:016x}",
                                "parentSpanId": f"{n:016x}" if n else "",
                                "name": s["name"],
                                "kind": 1,
                                "startTimeUnixNano": str(1_764_662_400_000_000_000 + n),
                                "endTimeUnixNano": str(1_764_662_401_000_000_000 - n),
                                "attributes": attrs(s.get("attrs", {})),
                            }
                            for n, s in enumerate(spans)
                        ]
                    }
                ],
            }
        ]
    }


@pytest.mark.parametrize(
    ("root", "child", "workflow"),
    [
        ({"gen_ai.agent.name": "triage"}, {"quarterdeck.workflow": "qd"}, "qd"),
        ({"gen_ai.agent.name": "triage"}, {"traceloop.workflow.name": "tl"}, "tl"),
        ({"gen_ai.agent.name": "triage"}, {"gen_ai.workflow.name": "genai"}, "genai"),
        ({"gen_ai.agent.name": "triage"}, {}, "triage"),
        ({}, {"gen_ai.agent.name": "not the root's"}, "root span"),
    ],
)
def test_the_workflow_is_named_by_the_first_convention_that_names_it(
    root: dict[str, str], child: dict[str, str], workflow: str
) -> None:
    data = traces_data(
        {"service.name": "svc"},
        {"name": "root span", "attrs": root},
        {"name": "child", "attrs": child},
    )
    events, problems = otlp.to_events(data)
    assert not problems
    [start] = [e for e in events if e["type"] == "run.started"]
    assert start["workflow"] == workflow


def test_a_conversation_id_and_a_user_are_the_runs_session_and_user() -> None:
    data = traces_data(
        {"service.name": "svc", "enduser.id": "u-7"},
        {"name": "invoke_agent", "attrs": {"gen_ai.operation.name": "invoke_agent"}},
        {"name": "chat", "attrs": {"gen_ai.conversation.id": "conv-9"}},
    )
    [start] = [e for e in otlp.to_events(data)[0] if e["type"] == "run.started"]
    assert (start["session_id"], start["user_id"]) == ("conv-9", "u-7")


@pytest.mark.parametrize(
    ("resource", "root", "child", "version"),
    [
        ({"service.version": "svc"}, {"gen_ai.agent.version": "agent"},
         {"quarterdeck.workflow_version": "qd"}, "qd"),
        ({"service.version": "svc"}, {"gen_ai.agent.version": "agent"}, {}, "agent"),
        ({"service.version": "svc"}, {}, {"gen_ai.agent.version": "not the root's"}, "svc"),
        ({}, {}, {}, None),
    ],
)  # fmt: skip
def test_the_version_is_read_by_the_first_convention_that_gives_it(
    resource: dict[str, str], root: dict[str, str], child: dict[str, str], version: str | None
) -> None:
    data = traces_data(
        {"service.name": "svc", **resource},
        {"name": "root span", "attrs": root},
        {"name": "child", "attrs": child},
    )
    [start] = [e for e in otlp.to_events(data)[0] if e["type"] == "run.started"]
    assert start.get("workflow_version") == version


# A run's scope from its published version: a traced run with no `quarterdeck.scope` is
# checked against the scope its version (here `service.version`) was published with.
TOOLS = {
    "charge_card": ToolEffect("payments", "Charge", "create", record_id="customer_id"),
    "close_account": ToolEffect("crm", "Account", "delete", record_id="account_id"),
}
PUBLISH = {
    "type": "workflow.published", "event_id": "pub-1", "ts": "2025-12-01T00:00:00Z",
    "workflow": "billing-agent", "version": "1.4.0", "publisher": "alice",
    "approved_by": ["bob"], "identity": "svc-billing", "scope": ["payments:write:Charge"],
}  # fmt: skip


def agent_run(trace: str, **root: Any) -> dict[str, Any]:
    """One run of billing-agent 1.4.0: a card charged and an account closed."""
    return traces_data(
        {"service.name": "billing", "service.version": "1.4.0"},
        {"name": "billing-agent", "attrs": root},
        {"name": "execute_tool charge_card", "attrs": {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "charge_card",
            "gen_ai.tool.call.arguments": '{"customer_id": "C-1"}'}},
        {"name": "execute_tool close_account", "attrs": {
            "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "close_account",
            "gen_ai.tool.call.arguments": '{"account_id": "A-7"}'}},
        trace=trace,
    )  # fmt: skip


def checked(store: Store) -> list[tuple[Any, ...]]:
    """Each run's touches with their verdict and the grant they lacked, and its counts."""
    return store.con.execute(
        """
        SELECT t.run_id, t.record_id, t.in_scope,
               qd_needed_grant(t.in_scope, t.system, t.object, t.action),
               r.out_of_scope, (SELECT count(*) FROM out_of_scope_touches o
                                WHERE o.run_id = t.run_id)
        FROM touches t JOIN run_summary r USING (run_id) ORDER BY ALL
        """
    ).fetchall()


def write(path: Path, *lines: dict[str, Any]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_a_traced_run_without_scope_takes_its_published_versions(
    store: Store, tmp_path: Path
) -> None:
    own = {"quarterdeck.scope": ["crm:delete:Account"]}
    logs = write(
        tmp_path / "traces.json", PUBLISH, agent_run("01" * 16), agent_run("02" * 16, **own)
    )
    assert load_paths(store.con, [logs], tool_map=TOOLS).quarantined == 0
    published, kept = "01" * 16, "02" * 16
    assert checked(store) == [
        (published, "A-7", False, "crm:delete:Account", 1, 1),
        (published, "C-1", True, None, 1, 1),
        # an explicit quarterdeck.scope is the run's, whatever its version was published with
        (kept, "A-7", True, None, 1, 1),
        (kept, "C-1", False, "payments:write:Charge", 1, 1),
    ]
    run = run_overview(store.con, published, now=datetime(2026, 1, 1))
    assert run is not None
    assert (run["workflow_version"], run["scope"], run["scope_published"]) == (
        "1.4.0",
        ["payments:write:Charge"],
        True,
    )
    assert "(its version's published scope: the run gave none)" in run_facts(run)  # on screen
    other = run_overview(store.con, kept, now=datetime(2026, 1, 1))
    assert other is not None and (other["scope"], other["scope_published"]) == (
        ["crm:delete:Account"],
        False,
    )
    # the version's scope is the run's: nothing beyond it
    assert findings(store.con, where=FindingFilter(kind="scope_exceeds_published")).num_rows == 1


@pytest.mark.parametrize("with_more", [False, True], ids=["publish", "publish+touch"])
def test_a_publish_that_comes_in_after_the_runs_touches_checks_them_again(
    store: Store, tmp_path: Path, with_more: bool
) -> None:
    run = "03" * 16
    load_paths(store.con, [write(tmp_path / "traces.json", agent_run(run))], tool_map=TOOLS)
    # no scope of its own and no published version yet: no grants, both out of scope
    assert checked(store) == [
        (run, "A-7", False, "crm:delete:Account", 2, 2),
        (run, "C-1", False, "payments:write:Charge", 2, 2),
    ]
    # the publish alone, or with a new touch of the run (refreshed for that anyway)
    more = {
        "type": "data.touched", "event_id": "more", "ts": "2025-12-02T00:00:01Z",
        "run_id": run, "system": "payments", "object": "Charge", "record_id": "C-2",
        "action": "create",
    }  # fmt: skip
    load_paths(store.con, [write(tmp_path / "releases.jsonl", PUBLISH, *[more][:with_more])])
    assert checked(store) == [
        (run, "A-7", False, "crm:delete:Account", 1, 1),
        (run, "C-1", True, None, 1, 1),
        *[(run, "C-2", True, None, 1, 1)][:with_more],
    ]
    # the run's own scope stays unset (a publish rewrites no run's list), its checked one is
    # the version's
    assert store.con.execute("SELECT scope FROM run_summary").fetchone() == (None,)
    overview = run_overview(store.con, run, now=datetime(2026, 1, 1))
    assert overview is not None and overview["scope"] == ["payments:write:Charge"]


def test_a_follower_checks_a_runs_touches_again_when_its_version_is_published(
    store: Store, tmp_path: Path
) -> None:
    run, logs = "04" * 16, tmp_path / "logs"
    logs.mkdir()
    write(logs / "traces.json", agent_run(run))
    follower = Follower(store.cursor(), [logs], tool_map=TOOLS)
    try:
        follower.poll()
        assert [row[2] for row in checked(store)] == [False, False]
        write(logs / "releases.jsonl", PUBLISH)  # another file, read later
        follower.poll()
    finally:
        follower.close()  # stores and refreshes what it read
    assert checked(store) == [
        (run, "A-7", False, "crm:delete:Account", 1, 1),
        (run, "C-1", True, None, 1, 1),
    ]
