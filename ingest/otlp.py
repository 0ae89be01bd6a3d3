"""OpenTelemetry traces in: one OTLP JSON `TracesData` object per line (what the Collector's
file exporter writes) becomes v1 run events. What each span means under the GenAI,
OpenInference and Traceloop conventions is read by `ingest.conventions`; here the spans of a
trace are put together. The mapping (also in the README):

- a trace is a run: `run_id` from a `quarterdeck.run_id` attribute (on any span of the trace
  in the same line, or the resource), else the trace id (hex); its workflow from
  `quarterdeck.workflow`, else `gen_ai.workflow.name` / `traceloop.workflow.name` (any span),
  else the root's `gen_ai.agent.name`, else the root span's name, else `service.name`; its
  version from `quarterdeck.workflow_version` (any span, or the resource), else the root's
  `gen_ai.agent.version`, else the resource's `service.version` (a run that gives no
  `quarterdeck.scope` takes its version's published scope);
  a trace whose root is an agent definition (`create_agent`) is not a run;
- the root span (no parent; else one whose parent is remote, another service's, and not in
  the line) starts the run (`run.started` at its start, with `quarterdeck.identity`,
  `quarterdeck.scope`, `deployment.environment`, the session / conversation id and the user
  when present) and finishes it (`run.finished` at its end):
  `failed` when the root **or** any agent span of the trace ended ERROR, with the message of
  the innermost span that ended ERROR, else `succeeded`;
- tool, model, retrieval and guardrail spans are steps (`step.started`, `step.finished`;
  status ERROR fails the step) with `tool`, `model`, `tokens_in` / `tokens_out` read from any
  convention. A model span whose child is the same call seen by a second instrumentation
  (OpenInference's `generation` around openai-v2's `chat …`) is one step, its tokens counted
  once;
- a span event named `quarterdeck.touch`, or a span carrying `quarterdeck.touch.*`
  attributes, is a touch: `system`, `object`, `record_id`, `action`, `fields`, `before`,
  `after` (JSON text), `record_count`, `classification`;
- what maps to nothing is kept in `attrs` (a span's links too, as `otlp.links`). Event ids
  are derived from the trace and span ids, so loading the same traces twice adds nothing.

The rules that need the whole trace (the run's failure and error, `create_agent`, merged model
calls, the workflow) see the spans of the trace that are in the same line, as the Collector
writes a batch; the spans of a trace split over lines are each mapped on their own (an agent
span's failure in a later line than the root's does not fail the run).

A span that cannot be mapped (no trace id, no start time; a span that is its own ancestor,
its parentSpanIds in a cycle, so that no root starts its run) is reported, and quarantined by
the caller like a bad line.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from quarterdeck.ingest import conventions, tools

TOUCH_EVENT = "quarterdeck.touch"
TOUCH_PREFIX = "quarterdeck.touch."
STATUS_ERROR = 2
#: Span flags (OTLP 1.1): whether the parent is known to be remote, and that it is.
PARENT_REMOTE = 0x100 | 0x200
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_USED = {
    "quarterdeck.run_id",
    "quarterdeck.workflow",
    "quarterdeck.workflow_version",
    "gen_ai.agent.version",
    "gen_ai.operation.name",
    "openinference.span.kind",
    "traceloop.span.kind",
    "quarterdeck.identity",
    "quarterdeck.scope",
    "deployment.environment",
    *conventions.WORKFLOW_KEYS,
    *conventions.TOOL_KEYS,
    *conventions.MODEL_KEYS,
    *conventions.TOKENS_IN,
    *conventions.TOKENS_OUT,
    *conventions.SESSION_KEYS,
    *conventions.USER_KEYS,
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
    """OTLP's list of key/value objects as a dict (what is not one is skipped); a value
    that cannot be read raises ValueError or TypeError."""
    if not isinstance(items, list):
        return {}
    return {
        str(a["key"]): value(a.get("value", {}))
        for a in items
        if isinstance(a, dict) and "key" in a
    }


def _hex(text: str | None) -> str | None:
    """Ids are hex in OTLP JSON; accept base64 (protobuf's JSON mapping) too. All zeros is no
    id (OTLP's invalid one; some write it as a root's parent)."""
    if not text:
        return None
    try:
        int(text, 16)
        found = text.lower()
    except ValueError:
        try:
            found = base64.b64decode(text, validate=True).hex()
        except (binascii.Error, ValueError):
            return None
    return found if found.strip("0") else None


def _ts(nanos: str | int | None) -> str | None:
    """Nanoseconds since 1970 as RFC 3339, truncated to the microsecond as a v1 line's nine
    fractional digits are (in integers: a float rounds them, `…999999999` to the next second)."""
    if nanos in (None, "", 0, "0"):
        return None
    try:
        moment = _EPOCH + timedelta(microseconds=int(nanos) // 1000)
    except OverflowError:
        raise ValueError(f"{nanos} ns since 1970 is not in the years 1-9999") from None
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


@dataclass
class _Span:
    """A span decoded, with its place in the trace."""

    raw: dict[str, Any]
    resource: dict[str, Any]
    trace: str
    span_id: str
    parent: str | None
    remote_parent: bool
    attrs: dict[str, Any]
    start: str
    end: str | None
    failed: bool
    error: str | None
    role: conventions.Role | None


def to_events(
    obj: dict[str, Any], tool_map: tools.ToolMap | None = None
) -> tuple[list[dict[str, Any]], list[str]]:
    """The v1 events a `TracesData` object maps to, and the problems of spans it could not;
    tool steps touch what `tool_map` says their tools do (`ingest.tools`)."""
    events: list[dict[str, Any]] = []
    problems: list[str] = []
    traces: dict[str, list[_Span]] = {}
    for resource_spans in _objects(obj, "resourceSpans", problems):
        resource_part = resource_spans.get("resource") or {}
        if not isinstance(resource_part, dict):
            problems.append("a resource is not an object: its spans cannot be read")
            continue
        try:
            resource = attributes(resource_part.get("attributes"))
        except (ValueError, TypeError) as exc:
            problems.append(f"a resource's attributes cannot be read ({exc}): its spans were not")
            continue
        for scope_spans in _objects(resource_spans, "scopeSpans", problems):
            for raw in _objects(scope_spans, "spans", problems):
                try:
                    span = _decode(raw, resource)
                except (ValueError, TypeError, KeyError, AttributeError) as exc:
                    name = raw.get("name") if isinstance(raw, dict) else None
                    problems.append(f"span {name!r} cannot be read: {exc}")
                    continue
                traces.setdefault(span.trace, []).append(span)
    for spans in traces.values():
        events.extend(_trace(spans, tool_map or {}, problems))
    return events, problems


def _objects(parent: dict[str, Any], key: str, problems: list[str]) -> list[dict[str, Any]]:
    """The objects listed under `key` of `parent` (OTLP's JSON: a list of objects); what is
    not one is reported in `problems`, never raised."""
    items = parent.get(key) or []
    if not isinstance(items, list):
        problems.append(f"{key} is not a list")
        return []
    objects = [item for item in items if isinstance(item, dict)]
    if len(objects) < len(items):
        problems.append(f"{len(items) - len(objects)} item(s) of {key} are not objects")
    return objects


def _decode(raw: dict[str, Any], resource: dict[str, Any]) -> _Span:
    trace, span_id = _hex(raw.get("traceId")), _hex(raw.get("spanId"))
    if not trace or not span_id:
        raise ValueError("it has no traceId or spanId (hex)")
    start = _ts(raw.get("startTimeUnixNano"))
    if start is None:
        raise ValueError("it has no startTimeUnixNano")
    attrs = attributes(raw.get("attributes"))
    status = raw.get("status") or {}
    failed = status.get("code") in (STATUS_ERROR, "STATUS_CODE_ERROR")
    message = status.get("message") or (_exception(raw) if failed else None)
    return _Span(
        raw=raw,
        resource=resource,
        trace=trace,
        span_id=span_id,
        parent=_hex(raw.get("parentSpanId")),
        remote_parent=_flags(raw) & PARENT_REMOTE == PARENT_REMOTE,
        attrs=attrs,
        start=start,
        end=_ts(raw.get("endTimeUnixNano")),
        failed=failed,
        error=(message or "error") if failed else None,
        role=conventions.role(attrs),
    )


def _flags(raw: dict[str, Any]) -> int:
    try:
        return int(raw.get("flags") or 0)
    except (TypeError, ValueError):
        return 0


def _exception(raw: dict[str, Any]) -> str | None:
    """What the span's last `exception` event says (`type: message`): an error status set
    without a description (the SDK's `record_exception` and `StatusCode.ERROR`) says no more."""
    for event in reversed(raw.get("events") or []):
        if isinstance(event, dict) and event.get("name") == "exception":
            found = attributes(event.get("attributes"))
            kind, text = found.get("exception.type"), found.get("exception.message")
            said = ": ".join(str(part) for part in (kind, text) if part not in (None, ""))
            return said or None
    return None


def _trace(
    spans: list[_Span], tool_map: tools.ToolMap, problems: list[str]
) -> list[dict[str, Any]]:
    """The events of one trace's spans (those of it in this line); a span whose attributes
    cannot be read is reported in `problems`, the others map."""
    by_id = {s.span_id: s for s in spans}
    looped = _in_cycles(by_id)
    if looped:
        names = ", ".join(repr(by_id[i].raw.get("name")) for i in sorted(looped))
        problems.extend(
            f"span {by_id[i].raw.get('name')!r} is its own ancestor (the parentSpanIds of "
            f"{names} lead back to themselves): none is a root or under one, so they make no run"
            for i in sorted(looped)
        )
        spans = [s for s in spans if s.span_id not in looped]
        if not spans:
            return []
    # The root: a span with no parent, else one whose parent is remote (another service's,
    # which propagated the trace to this one) and not in this line: this service's part of
    # the trace starts there.
    root = next((s for s in spans if s.parent is None), None) or min(
        (s for s in spans if s.remote_parent and s.parent not in by_id),
        key=lambda s: s.start,
        default=None,
    )
    if root is not None and root.role == "create_agent":
        return []  # an agent being defined, not run
    everything = [{**s.resource, **s.attrs} for s in spans]
    run_id = str(
        next((a["quarterdeck.run_id"] for a in everything if a.get("quarterdeck.run_id")), None)
        or spans[0].trace
    )
    # Model spans whose parent is a model span: the same call, instrumented twice.
    merged: dict[str, list[_Span]] = {}
    for s in spans:
        parent = by_id.get(s.parent or "")
        if s.role == "llm" and parent is not None and parent.role == "llm":
            merged.setdefault(parent.span_id, []).append(s)
    inner = {c.span_id for children in merged.values() for c in children}
    out: list[dict[str, Any]] = []
    mapping: list[tuple[_Span, Callable[[], list[dict[str, Any]]]]] = []
    if root is not None:
        mapping.append((root, partial(_run, root, spans, by_id, run_id, everything)))
    for s in spans:
        if s.span_id not in inner:
            call = [s, *merged.get(s.span_id, [])]
            mapping.append((s, partial(_span, s, run_id, call, tool_map)))
    for span, events in mapping:
        try:
            out.extend(events())
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            problems.append(f"span {span.raw.get('name')!r} cannot be read: {exc}")
    return out


def _in_cycles(by_id: dict[str, _Span]) -> set[str]:
    """The ids of the spans whose parents lead back to themselves (a span its own parent
    included). A parent outside the line is not a cycle: the trace goes on in another."""
    looped: set[str] = set()
    walked: set[str] = set()
    for start in by_id.values():
        at: dict[str, int] = {}  # this walk's spans, by their place on it
        span: _Span | None = start
        while span is not None and span.span_id not in walked and span.span_id not in at:
            at[span.span_id] = len(at)
            span = by_id.get(span.parent or "")
        if span is not None and span.span_id in at:  # came back to a span of this walk
            looped.update(i for i, place in at.items() if place >= at[span.span_id])
        walked.update(at)
    return looped


def _depth(span: _Span, by_id: dict[str, _Span]) -> int:
    depth, seen = 0, {span.span_id}
    while span.parent in by_id and span.parent not in seen:
        span = by_id[span.parent]
        seen.add(span.span_id)
        depth += 1
    return depth


def _run(
    root: _Span,
    spans: list[_Span],
    by_id: dict[str, _Span],
    run_id: str,
    everything: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    """run.started and run.finished, from the root and what the trace says of the run."""
    both = {**root.resource, **root.attrs}

    def given(*keys: str) -> Any:
        return next(
            (conventions.first(a, keys) for a in everything if conventions.first(a, keys)), None
        )

    workflow = (
        given("quarterdeck.workflow")
        or given(*conventions.WORKFLOW_KEYS)
        or root.attrs.get("gen_ai.agent.name")
        or root.raw.get("name")
        or root.resource.get("service.name")
        or "unknown"
    )
    version = (
        given("quarterdeck.workflow_version")
        or root.attrs.get("gen_ai.agent.version")
        or root.resource.get("service.version")
    )
    user = next((u for a in everything if (u := conventions.user(a))), None)
    scope = both.get("quarterdeck.scope")
    rest = _rest(root)
    out = [
        _event(
            root,
            run_id,
            "run",
            "run.started",
            root.start,
            workflow=str(workflow),
            workflow_version=_text(version),
            identity=both.get("quarterdeck.identity"),
            environment=both.get("deployment.environment"),
            scope=_grants(scope),
            session_id=_text(given(*conventions.SESSION_KEYS)),
            user_id=user,
            attrs={"otlp.span": root.raw.get("name"), **rest} or None,
        )
    ]
    if root.end is not None:
        agents_failed = any(s.failed and s.role == "agent" for s in spans)
        failed = root.failed or agents_failed
        failing = [s for s in spans if s.failed]
        innermost = max(failing, key=lambda s: (_depth(s, by_id), s.end or s.start), default=None)
        out.append(
            _event(
                root,
                run_id,
                "end",
                "run.finished",
                root.end,
                status="failed" if failed else "succeeded",
                error=innermost.error if failed and innermost else None,
            )
        )
    return out


def _span(
    span: _Span, run_id: str, call: list[_Span], tool_map: tools.ToolMap
) -> list[dict[str, Any]]:
    """A span's step (with the spans of the same call merged into it) and its touches: those
    it carries, and the one its tool makes by the tool map."""
    out: list[dict[str, Any]] = []
    attrs = span.attrs
    effect = None
    step_kind = span.role in conventions.STEP_KINDS
    if step_kind:
        seen = [s.attrs for s in call]
        failed = next((s for s in call if s.failed), None)
        name = span.raw.get("name") or attrs.get("gen_ai.operation.name")
        kind = conventions.STEP_KINDS[span.role or ""]
        tool = conventions.tool_name(attrs, span.raw.get("name")) if kind == "tool" else None
        model = _across(seen, conventions.MODEL_KEYS)
        effect = tool_map.get(tool) if tool else None
        mark = {tools.EFFECT: tools.UNMAPPED} if kind == "tool" and effect is None else {}
        fields = {
            "step_id": span.span_id,
            "name": name,
            "kind": kind,
            "tool": tool,
            "model": _text(model),
        }
        out.append(
            _event(
                span,
                run_id,
                "step",
                "step.started",
                span.start,
                **fields,
                attrs={**_rest(span), **mark} or None,
            )
        )
        if span.end is not None:  # a span without an end is still running (or was cut off)
            out.append(
                _event(
                    span,
                    run_id,
                    "step-end",
                    "step.finished",
                    max((s.end or s.start for s in call), default=span.start),
                    **fields,
                    status="error" if failed else "ok",
                    error=failed.error if failed else None,
                    tokens_in=_once(seen, conventions.TOKENS_IN),
                    tokens_out=_once(seen, conventions.TOKENS_OUT),
                )
            )
    touches = [
        (str(n), _ts(e.get("timeUnixNano")) or span.start, attributes(e.get("attributes")))
        for n, e in enumerate(span.raw.get("events") or [])
        if e.get("name") == TOUCH_EVENT
    ]
    if any(k.startswith(TOUCH_PREFIX) for k in attrs):
        touches.append(
            (
                "span",
                span.start,
                {
                    k.removeprefix(TOUCH_PREFIX): v
                    for k, v in attrs.items()
                    if k.startswith(TOUCH_PREFIX)
                },
            )
        )
    if effect is not None:
        made = tools.touch(effect, conventions.tool_arguments(attrs))
        out.append(
            _event(span, run_id, "tool", "data.touched", span.start, step_id=span.span_id, **made)
        )
    for n, ts, fields in touches:
        fields = {k.removeprefix(TOUCH_PREFIX): v for k, v in fields.items()}
        out.append(
            _event(
                span,
                run_id,
                f"touch{n}",
                "data.touched",
                ts or span.start,
                step_id=span.span_id if step_kind else None,
                system=fields.get("system"),
                object=fields.get("object"),
                record_id=_record_id(fields.get("record_id")),
                action=fields.get("action"),
                fields=fields.get("fields"),
                before=_object(fields.get("before")),
                after=_object(fields.get("after")),
                record_count=fields.get("record_count"),
                classification=fields.get("classification"),
            )
        )
    return out


def _event(
    span: _Span, run_id: str, suffix: str, type_: str, ts: str, **fields: Any
) -> dict[str, Any]:
    return {
        "event_id": f"otlp:{span.trace}:{span.span_id}:{suffix}",
        "type": type_,
        "ts": ts,
        "run_id": run_id,
        **{k: v for k, v in fields.items() if v is not None},
    }


def _across(seen: list[dict[str, Any]], keys: tuple[str, ...]) -> Any:
    """The first of `keys` that any span of a call has, in the order of `keys`."""
    return next((a[k] for k in keys for a in seen if a.get(k) not in (None, "")), None)


def _once(seen: list[dict[str, Any]], keys: tuple[str, ...]) -> int | None:
    """A call's token count, read once (never a sum: the spans of one call report the same
    tokens), GenAI's first."""
    return conventions.count({k: _across(seen, (k,)) for k in keys}, keys)


def _rest(span: _Span) -> dict[str, Any]:
    """What the span says that maps to nothing, kept: its other attributes, and its links
    (`otlp.links`: the spans of other traces it relates to, by id, with their attributes)."""
    rest = {
        k: v for k, v in span.attrs.items() if k not in _USED and not k.startswith(TOUCH_PREFIX)
    }
    links = [
        {
            "trace_id": _hex(link.get("traceId")),
            "span_id": _hex(link.get("spanId")),
            **({"attributes": found} if (found := attributes(link.get("attributes"))) else {}),
        }
        for link in span.raw.get("links") or []
        if isinstance(link, dict)
    ]
    if links:
        rest["otlp.links"] = links
    return rest


def _grants(scope: Any) -> Any:
    """`quarterdeck.scope`: an array of grants, or text (what `OTEL_RESOURCE_ATTRIBUTES` can
    set: grants apart by commas or white space, which no grant holds)."""
    if isinstance(scope, str):
        return scope.replace(",", " ").split()
    return scope if isinstance(scope, list) else None


def _record_id(value: Any) -> Any:
    """A record id: OpenTelemetry attributes are typed, so a numeric id comes as an int."""
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


def _text(value: Any) -> str | None:
    return None if value in (None, "") else str(value)


def _object(text: Any) -> Any:
    """before/after travel as JSON text in attributes."""
    if isinstance(text, str):
        try:
            return json.loads(text)
        except ValueError:
            return {"value": text}
    return text
