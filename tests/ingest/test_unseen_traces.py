"""Traces in shapes the other trace tests do not make, from the real opentelemetry-sdk encoded
as the Collector's file exporter writes them: an export line over 1 MiB (prompts in its
attributes), spans still running, the GenAI names from before semconv 1.27 that OpenLLMetry's
unmigrated packages write, an error recorded as an exception event, a numeric record id."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from google.protobuf.json_format import MessageToDict  # noqa: E402
from opentelemetry import trace  # noqa: E402
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.semconv._incubating.attributes.gen_ai_attributes import (  # noqa: E402
    GenAiOperationNameValues,
)
from opentelemetry.semconv_ai import (  # noqa: E402
    GenAICustomOperationName,
    LLMRequestTypeValues,
    SpanAttributes,
    TraceloopSpanKindValues,
)
from opentelemetry.trace import Link, StatusCode  # noqa: E402
from opentelemetry.trace.propagation.tracecontext import (  # noqa: E402
    TraceContextTextMapPropagator,
)

from quarterdeck.ingest.load import load_paths  # noqa: E402
from quarterdeck.ingest.reader import read_batches  # noqa: E402
from quarterdeck.queries.store import Store  # noqa: E402
from support.agents import collector_json  # noqa: E402

MIB = 1024 * 1024


def tracer() -> trace.Tracer:
    return TracerProvider().get_tracer("test", "1.0")


def under(parent: Any) -> Any:
    return trace.set_span_in_context(parent)


def run_root(name: str, run_id: str) -> tuple[trace.Tracer, Any]:
    """A tracer, and the root span of a run it starts."""
    t = tracer()
    return t, t.start_span(name, attributes={"quarterdeck.run_id": run_id})


def write(path: Path, *lines: str | bytes) -> Path:
    path.write_bytes(b"".join((x if isinstance(x, bytes) else x.encode()) + b"\n" for x in lines))
    return path


def test_an_export_line_over_a_mib_loads_and_a_log_line_over_a_mib_does_not(
    store: Store, tmp_path: Path
) -> None:
    prompt = "summarise this ticket: " + "x" * (2 * MIB)
    spans = []
    for n in range(2):  # two traces in one export batch
        t, root = run_root("triage", f"r-big-{n}")
        llm = t.start_span(
            "chat", under(root), attributes={"gen_ai.operation.name": "chat", "input.value": prompt}
        )
        llm.end()
        root.end()
        spans += [root, llm]
    line = collector_json(spans)
    assert len(line) > 4 * MIB
    log = b'{"type":"run.finished","ts":"2026-11-20T08:00:00Z","run_id":"r","error":"'
    log += b"x" * (MIB + 10) + b'"}'
    summary = load_paths(store.con, [write(tmp_path / "traces.json", line, log)])
    assert (summary.events, summary.quarantined) == (8, 1)
    runs = store.con.execute("SELECT run_id, steps FROM run_summary ORDER BY 1").fetchall()
    assert runs == [("r-big-0", 1), ("r-big-1", 1)]
    attrs = store.con.execute("SELECT attrs FROM events WHERE type = 'step.started'").fetchone()
    assert json.loads(attrs[0])["input.value"] == prompt  # kept whole
    cls, line_no, message = store.con.execute(
        "SELECT error_class, line_no, error FROM quarantine"
    ).fetchone()
    assert (cls, line_no) == ("line_too_long", 2) and "over the 1 MiB limit;" in message


def test_a_traces_line_may_be_longer_than_a_log_line_up_to_its_own_limit() -> None:
    traces = b'{"resourceSpans":[' + b" " * 3000 + b"]}"
    log = b'{"type":"metric",' + b" " * 3000 + b"}"
    too_long = b' {"resourceSpans":[' + b" " * 9000 + b"]}"
    data = b"\n".join([traces, log, too_long, traces]) + b"\n"
    for chunk in (512, 1 << 20):  # the lines across reads, and in one
        batches = list(
            read_batches(io.BytesIO(data), chunk=chunk, max_line=1024, max_traces_line=8192)
        )
        kept = [line for b in batches for line in b.lines if line]
        longs = [(x.line_no, x.size, x.limit) for b in batches for x in b.long_lines]
        assert kept == [traces, traces]
        assert longs == [(2, len(log), 1024), (3, len(too_long), 8192)]


def test_a_span_still_running_is_a_step_not_finished(store: Store, tmp_path: Path) -> None:
    t, root = run_root("long job", "r-live")
    done = t.start_span("lookup", under(root), attributes={"gen_ai.operation.name": "execute_tool"})
    done.end()
    going = t.start_span("chat", under(root), attributes={"gen_ai.operation.name": "chat"})
    # what a processor that exports spans as they start writes: no end time yet
    load_paths(store.con, [write(tmp_path / "t.json", collector_json([root, done, going]))])
    steps = store.con.execute(
        "SELECT name, phase, status FROM steps ORDER BY name, phase"
    ).fetchall()
    assert steps == [
        ("chat", "started", None),
        ("lookup", "finished", "ok"),
        ("lookup", "started", None),
    ]
    assert store.con.execute("SELECT outcome FROM run_summary").fetchone() == (None,)
    going.end()
    root.end()
    # ...and when it ends, its export finishes the step and the run
    load_paths(store.con, [write(tmp_path / "t2.json", collector_json([going, root]))])
    finished = store.con.execute(
        "SELECT count(*) FROM steps WHERE phase = 'finished' AND status = 'ok'"
    ).fetchone()
    assert finished == (2,)
    assert store.con.execute("SELECT outcome FROM run_summary").fetchone() == ("succeeded",)


def test_older_genai_names_an_exception_event_and_a_numeric_record_id(
    store: Store, tmp_path: Path
) -> None:
    t, root = run_root("billing", "r-old")
    # an OpenLLMetry model span from before it wrote gen_ai.operation.name
    llm = t.start_span(
        "openai.chat",
        under(root),
        attributes={
            SpanAttributes.LLM_REQUEST_TYPE: LLMRequestTypeValues.CHAT.value,
            SpanAttributes.LLM_SYSTEM: "openai",
            SpanAttributes.LLM_REQUEST_MODEL: "gpt-4o",
            SpanAttributes.LLM_USAGE_PROMPT_TOKENS: 100,
            SpanAttributes.LLM_USAGE_COMPLETION_TOKENS: 20,
        },
    )
    llm.end()
    tool = t.start_span(
        "execute_tool refund", under(root), attributes={"gen_ai.operation.name": "execute_tool"}
    )
    tool.add_event(
        "quarterdeck.touch",
        {"system": "payments", "object": "Refund", "record_id": 4711, "action": "create"},
    )
    tool.record_exception(PermissionError("card declined"))
    tool.set_status(StatusCode.ERROR)  # no description: the exception event says what
    tool.end()
    root.end()
    summary = load_paths(store.con, [write(tmp_path / "t.json", collector_json([root, llm, tool]))])
    assert summary.quarantined == 0
    row = store.con.execute(
        "SELECT steps, step_errors, tokens_in, tokens_out, touched FROM run_summary"
    ).fetchone()
    assert row == (2, 1, 100, 20, 1)
    model = store.con.execute("SELECT model FROM steps WHERE kind = 'llm'").fetchone()
    assert model == ("gpt-4o",)
    error = store.con.execute("SELECT error FROM steps WHERE status = 'error'").fetchone()
    assert error == ("PermissionError: card declined",)
    assert store.con.execute("SELECT record_id FROM touches").fetchone() == ("4711",)


def test_a_trace_propagated_from_another_service_is_a_run_from_its_first_local_span(
    store: Store, tmp_path: Path
) -> None:
    t = tracer()
    # the request came with a traceparent header from a gateway whose spans are not exported
    header = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
    upstream = TraceContextTextMapPropagator().extract(header)
    root = t.start_span("POST /chat", upstream, attributes={"quarterdeck.workflow": "support"})
    step = t.start_span("lookup", under(root), attributes={"gen_ai.operation.name": "execute_tool"})
    step.end()
    root.set_status(StatusCode.ERROR, "upstream timed out")
    root.end()
    summary = load_paths(store.con, [write(tmp_path / "t.json", collector_json([step, root]))])
    assert summary.quarantined == 0
    row = store.con.execute(
        "SELECT run_id, workflow, outcome, outcome_error, steps FROM run_summary"
    ).fetchone()
    assert row == ("4bf92f3577b34da6a3ce929d0e0e4736", "support", "failed", "upstream timed out", 1)


def test_span_times_are_truncated_to_the_microsecond_and_out_of_range_is_quarantined(
    store: Store, tmp_path: Path
) -> None:
    t = tracer()
    root = t.start_span("job", start_time=1_763_625_600_999_999_999)
    root.end(end_time=1_763_625_601_999_999_999)
    far = t.start_span("far")
    far.end()
    line = json.loads(collector_json([root, far]))
    line["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["startTimeUnixNano"] = str(10**30)
    summary = load_paths(store.con, [write(tmp_path / "t.json", json.dumps(line))])
    assert (summary.events, summary.quarantined) == (2, 1)
    times = store.con.execute("SELECT started_at, finished_at FROM run_summary").fetchone()
    assert [x.isoformat() for x in times] == [
        "2025-11-20T08:00:00.999999",
        "2025-11-20T08:00:01.999999",
    ]
    error = store.con.execute("SELECT error FROM quarantine").fetchone()[0]
    assert "span 'far' cannot be read" in error and "not in the years" in error


def test_protobuf_json_ids_a_zero_parent_and_a_scope_from_the_environment(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # resource attributes set the usual way: OTEL_RESOURCE_ATTRIBUTES holds only text
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "quarterdeck.scope=crm:read crm:write:Contact")
    t = TracerProvider(resource=Resource.create({})).get_tracer("test")
    root = t.start_span("sync contacts")
    step = t.start_span("update", under(root), attributes={"gen_ai.operation.name": "execute_tool"})
    step.add_event(
        "quarterdeck.touch",
        {"system": "crm", "object": "Contact", "record_id": "C-1", "action": "update"},
    )
    step.end()
    root.end()
    # protobuf's own JSON mapping (base64 ids, as MessageToDict writes them), and a root whose
    # parent is written as zeros instead of left out
    data = MessageToDict(encode_spans([root, step]))
    spans = data["resourceSpans"][0]["scopeSpans"][0]["spans"]
    spans[0]["parentSpanId"] = "AAAAAAAAAAA="
    summary = load_paths(store.con, [write(tmp_path / "t.json", json.dumps(data))])
    assert (summary.events, summary.quarantined) == (5, 0)
    row = store.con.execute("SELECT run_id, workflow, scope, outcome FROM run_summary").fetchone()
    trace_id = format(root.get_span_context().trace_id, "032x")
    assert row == (trace_id, "sync contacts", ["crm:read", "crm:write:Contact"], "succeeded")
    assert store.con.execute("SELECT in_scope FROM touches").fetchone() == (True,)


def test_newer_genai_operations_and_openllmetrys_retriever_are_read(
    store: Store, tmp_path: Path
) -> None:
    t, root = run_root("support", "r-new")
    flow = t.start_span(
        "invoke_workflow triage",
        under(root),
        attributes={"gen_ai.operation.name": GenAiOperationNameValues.INVOKE_WORKFLOW.value},
    )
    search = t.start_span(
        "retrieval kb",
        under(flow),
        attributes={"gen_ai.operation.name": GenAiOperationNameValues.RETRIEVAL.value},
    )
    search.end()
    # what OpenLLMetry's LangChain instrumentation writes for a retriever
    vector = t.start_span(
        "vector_db_retrieve Kb",
        under(flow),
        attributes={
            "gen_ai.operation.name": GenAICustomOperationName.VECTOR_DB_RETRIEVE.value,
            SpanAttributes.TRACELOOP_SPAN_KIND: TraceloopSpanKindValues.TASK.value,
        },
    )
    vector.end()
    flow.set_status(StatusCode.ERROR, "no answer found")
    flow.end()
    root.end()  # the root ends OK: the workflow span's failure is the run's
    load_paths(
        store.con, [write(tmp_path / "t.json", collector_json([root, flow, search, vector]))]
    )
    steps = store.con.execute(
        "SELECT name, kind FROM steps WHERE phase = 'started' ORDER BY name"
    ).fetchall()
    assert steps == [("retrieval kb", "retrieval"), ("vector_db_retrieve Kb", "retrieval")]
    outcome = store.con.execute("SELECT outcome, outcome_error FROM run_summary").fetchone()
    assert outcome == ("failed", "no answer found")


def test_the_collectors_logs_and_metrics_are_named_as_such(store: Store, tmp_path: Path) -> None:
    logs = {"resourceLogs": [{"resource": {}, "scopeLogs": [{"logRecords": []}]}]}
    metrics = {"resourceMetrics": [{"resource": {}, "scopeMetrics": []}]}
    path = write(tmp_path / "otel.json", json.dumps(logs), json.dumps(metrics))
    assert load_paths(store.con, [path]).quarantined == 2
    rows = store.con.execute("SELECT error FROM quarantine ORDER BY line_no").fetchall()
    errors = [row[0] for row in rows]
    assert errors[0].startswith("an OTLP logs export (resourceLogs): of OpenTelemetry's signals")
    assert errors[1].startswith("an OTLP metrics export (resourceMetrics)")


def test_a_spans_links_are_kept(store: Store, tmp_path: Path) -> None:
    t, earlier = run_root("intake", "r-intake")
    earlier.end()
    other = earlier.get_span_context()
    root = t.start_span("follow-up", links=[Link(other, {"reason": "handoff"})])
    step = t.start_span(
        "lookup",
        under(root),
        links=[Link(other)],
        attributes={"gen_ai.operation.name": "execute_tool"},
    )
    step.end()
    root.end()
    load_paths(store.con, [write(tmp_path / "t.json", collector_json([earlier, root, step]))])
    kept = store.con.execute(
        "SELECT type, attrs->'$.\"otlp.links\"' FROM events "
        "WHERE type IN ('run.started', 'step.started') AND run_id <> 'r-intake' ORDER BY type"
    ).fetchall()
    ids = {"trace_id": format(other.trace_id, "032x"), "span_id": format(other.span_id, "016x")}
    assert [(kind, json.loads(links)) for kind, links in kept] == [
        ("run.started", [{**ids, "attributes": {"reason": "handoff"}}]),
        ("step.started", [ids]),
    ]
