"""OpenTelemetry traces in: one OTLP JSON `TracesData` object per line (what the Collector's
file exporter writes) becomes v1 run events. The mapping (also in the README):

- a trace is a run: `run_id` from a `quarterdeck.run_id` attribute (on any span of the trace
  in the same line, or the resource), else the trace id (hex) — spans of one trace exported
  in different lines need the attribute on each, or the run id is the trace id; the
  workflow from `gen_ai.workflow.name`, else `service.name`;
- the root span (no parent) starts the run (`run.started` at its start, with
  `quarterdeck.identity`, `quarterdeck.scope` and `deployment.environment` when present) and
  finishes it (`run.finished` at its end: `failed` when its status is ERROR, else `succeeded`);
- a span with `gen_ai.operation.name` = `execute_tool` (or OpenInference kind TOOL) is a tool
  step, one with a model operation (`chat`, `text_completion`, `generate_content`,
  `embeddings`; OpenInference LLM) an llm step: `step.started` and `step.finished` (status
  ERROR fails the step), `gen_ai.tool.name`, `gen_ai.request.model`, `gen_ai.usage.input_tokens`
  / `output_tokens`;
- a span event named `quarterdeck.touch`, or a span carrying `quarterdeck.touch.*`
  attributes, is a touch: `system`, `object`, `record_id`, `action`, `fields`, `before`,
  `after` (JSON text), `record_count`, `classification`;
- what maps to nothing is kept in `attrs`. Event ids are derived from the trace and span ids,
  so loading the same traces twice adds nothing.

A span that cannot be mapped (no trace id, no start time) is reported, and quarantined by the
caller like a bad line.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

TOOL_OPERATIONS = {"execute_tool"}
MODEL_OPERATIONS = {"chat", "text_completion", "generate_content", "embeddings"}
TOUCH_EVENT = "quarterdeck.touch"
TOUCH_PREFIX = "quarterdeck.touch."
STATUS_ERROR = 2
_USED = {
    "quarterdeck.run_id",
    "gen_ai.workflow.name",
    "gen_ai.operation.name",
    "openinference.span.kind",
    "gen_ai.tool.name",
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "quarterdeck.identity",
    "quarterdeck.scope",
    "deployment.environment",
}


def is_traces(obj: object) -> bool:
    return isinstance(obj, dict) and "resourceSpans" in obj


def value(v: dict[str, Any]) -> Any:
    """An OTLP AnyValue as a Python value (int64 may be a string)."""
    if not isinstance(v, dict) or not v:
        return None
    kind, raw = next(iter(v.items()))
    if kind == "intValue":
        return int(raw)
    if kind == "doubleValue":
        return float(raw)
    if kind == "arrayValue":
        return [value(x) for x in (raw or {}).get("values", [])]
    if kind == "kvlistValue":
        return attributes((raw or {}).get("values", []))
    return raw  # stringValue, boolValue, bytesValue


def attributes(items: list[dict[str, Any]] | None) -> dict[str, Any]:
    return {a["key"]: value(a.get("value", {})) for a in items or [] if "key" in a}


def _hex(text: str | None) -> str | None:
    """Ids are hex in OTLP JSON; accept base64 (protobuf's JSON mapping) too."""
    if not text:
        return None
    try:
        int(text, 16)
        return text.lower()
    except ValueError:
        try:
            return base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return None


def _ts(nanos: str | int | None) -> str | None:
    if nanos in (None, "", 0, "0"):
        return None
    moment = datetime.fromtimestamp(int(nanos) / 1e9, UTC)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def to_events(obj: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The v1 events a `TracesData` object maps to, and the problems of spans it could not."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    found: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for resource_spans in obj.get("resourceSpans") or []:
        resource = attributes((resource_spans.get("resource") or {}).get("attributes"))
        for scope_spans in resource_spans.get("scopeSpans") or []:
            found.extend((span, resource) for span in scope_spans.get("spans") or [])
    # A run id given on one span of a trace (usually the root) holds for the whole trace.
    run_ids: dict[str, str] = {}
    for span, _ in found:
        if isinstance(span, dict):
            given = attributes(span.get("attributes")).get("quarterdeck.run_id")
            trace = _hex(span.get("traceId"))
            if given and trace:
                run_ids[trace] = str(given)
    for span, resource in found:
        try:
            events.extend(_span(span, resource, run_ids))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            name = span.get("name") if isinstance(span, dict) else None
            problems.append(f"span {name!r} cannot be read: {exc}")
    return events, problems


def _span(
    span: dict[str, Any], resource: dict[str, Any], run_ids: dict[str, str]
) -> list[dict[str, Any]]:
    trace, span_id = _hex(span.get("traceId")), _hex(span.get("spanId"))
    if not trace or not span_id:
        raise ValueError("it has no traceId or spanId (hex)")
    start, end = _ts(span.get("startTimeUnixNano")), _ts(span.get("endTimeUnixNano"))
    if start is None:
        raise ValueError("it has no startTimeUnixNano")
    attrs = attributes(span.get("attributes"))
    both = {**resource, **attrs}
    run_id = str(both.get("quarterdeck.run_id") or run_ids.get(trace) or trace)
    workflow = both.get("gen_ai.workflow.name") or resource.get("service.name")
    failed = (span.get("status") or {}).get("code") in (STATUS_ERROR, "STATUS_CODE_ERROR")
    error = (span.get("status") or {}).get("message") or ("error" if failed else None)
    base = {"run_id": run_id, "step_id": span_id}
    rest = {k: v for k, v in attrs.items() if k not in _USED and not k.startswith(TOUCH_PREFIX)}
    out: list[dict[str, Any]] = []

    def event(suffix: str, type_: str, ts: str, **fields: Any) -> dict[str, Any]:
        made = {
            "event_id": f"otlp:{trace}:{span_id}:{suffix}",
            "type": type_,
            "ts": ts,
            "run_id": run_id,
            **{k: v for k, v in fields.items() if v is not None},
        }
        return made

    if not _hex(span.get("parentSpanId")):
        scope = both.get("quarterdeck.scope")
        out.append(
            event(
                "run",
                "run.started",
                start,
                workflow=workflow or "unknown",
                identity=both.get("quarterdeck.identity"),
                environment=both.get("deployment.environment"),
                scope=scope if isinstance(scope, list) else None,
                attrs={"otlp.span": span.get("name"), **rest} or None,
            )
        )
        if end is not None:
            out.append(
                event(
                    "end",
                    "run.finished",
                    end,
                    status="failed" if failed else "succeeded",
                    error=error if failed else None,
                )
            )
    operation = attrs.get("gen_ai.operation.name")
    kind = str(attrs.get("openinference.span.kind") or "").upper()
    step_kind = (
        "tool"
        if operation in TOOL_OPERATIONS or kind == "TOOL"
        else "llm"
        if operation in MODEL_OPERATIONS or kind == "LLM"
        else None
    )
    if step_kind is not None:
        name = span.get("name") or operation
        model = attrs.get("gen_ai.response.model") or attrs.get("gen_ai.request.model")
        out.append(
            event(
                "step",
                "step.started",
                start,
                **base,
                name=name,
                kind=step_kind,
                tool=attrs.get("gen_ai.tool.name"),
                model=model,
                attrs=rest or None,
            )
        )
        out.append(
            event(
                "step-end",
                "step.finished",
                end or start,
                **base,
                name=name,
                kind=step_kind,
                status="error" if failed else "ok",
                error=error if failed else None,
                tokens_in=attrs.get("gen_ai.usage.input_tokens"),
                tokens_out=attrs.get("gen_ai.usage.output_tokens"),
            )
        )
    touches = [
        (str(n), _ts(e.get("timeUnixNano")) or start, attributes(e.get("attributes")))
        for n, e in enumerate(span.get("events") or [])
        if e.get("name") == TOUCH_EVENT
    ]
    if any(k.startswith(TOUCH_PREFIX) for k in attrs):
        touches.append(
            (
                "span",
                start,
                {
                    k.removeprefix(TOUCH_PREFIX): v
                    for k, v in attrs.items()
                    if k.startswith(TOUCH_PREFIX)
                },
            )
        )
    for n, ts, fields in touches:
        fields = {k.removeprefix(TOUCH_PREFIX): v for k, v in fields.items()}
        out.append(
            event(
                f"touch{n}",
                "data.touched",
                ts or start,
                step_id=span_id if step_kind else None,
                system=fields.get("system"),
                object=fields.get("object"),
                record_id=fields.get("record_id"),
                action=fields.get("action"),
                fields=fields.get("fields"),
                before=_object(fields.get("before")),
                after=_object(fields.get("after")),
                record_count=fields.get("record_count"),
                classification=fields.get("classification"),
            )
        )
    return out


def _object(text: Any) -> Any:
    """before/after travel as JSON text in attributes."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return {"value": text}
    return text
