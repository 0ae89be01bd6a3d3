"""Validating lines against the v1 models and explaining the ones that fail.

`check_batch` runs every line of a `LineBatch` through the pydantic event union. The happy path
is the fast path's (`ingest.fastpath`, msgspec: stricter than the models, never looser), else
one `validate_json` call per line; only a failing line pays for working out what is wrong,
in words an operator (or the producer's author) can act on, with an error class:

| class            | what was wrong                                              |
|------------------|-------------------------------------------------------------|
| malformed_json   | not valid JSON (truncated, stray text)                      |
| invalid_utf8     | bytes that are not UTF-8                                    |
| not_an_object    | valid JSON, but not an object                               |
| missing_field    | a required field is absent or null                          |
| unknown_type     | `type` names no v1 event type                               |
| invalid_value    | a value outside its enum or pattern (risk, action, grants)  |
| wrong_type       | a value of the wrong JSON type (a string for a number, ...) |
| bad_timestamp    | a timestamp without a UTC offset, or unparseable            |
| line_too_long    | a line over 1 MiB (its first 64 KiB are kept)               |
| duplicate_key    | one object names the same key twice                         |
| unknown_field    | unknown top-level fields, and attrs holds `_unknown_fields` |

JSON that parsers disagree on is refused before anything reads it as a value. A key written
twice in one object is taken by pydantic from its last occurrence and by DuckDB from its
first, so the stored event could differ from the one validated: the line is quarantined.
NaN and Infinity are not JSON (RFC 8259), though pydantic's parser accepts them: the line is
malformed. Both checks cost a byte count per line; only a line that could hold either is
parsed a second time (`_json_hazard`).

A field the v1 contract does not name is kept, not dropped: the store folds a line's unknown
top-level fields into its `attrs` under `_unknown_fields` (`CheckedBatch.attrs` holds the
merged attrs of such a line; the fast path declines every line with an unknown field).

Lines without `type` that carry `approval_id` and `status` are approval-system records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import from_json

from quarterdeck.ingest import otlp
from quarterdeck.ingest.fastpath import accept
from quarterdeck.ingest.models import (
    EVENT_ADAPTER,
    EVENT_TYPES,
    UNKNOWN_FIELDS,
    ApprovalRecord,
    is_approval_record,
    utc_micros,
)
from quarterdeck.ingest.reader import LONG_LINE_PREFIX, MAX_LINE, LineBatch, LongLine
from quarterdeck.ingest.tools import ToolMap

ERROR_CLASSES = (
    "malformed_json",
    "invalid_utf8",
    "not_an_object",
    "missing_field",
    "unknown_type",
    "invalid_value",
    "wrong_type",
    "bad_timestamp",
    "line_too_long",
    "duplicate_key",
    "unknown_field",
    "truncated_file",
    "malformed_csv",
    "unterminated",
    "otlp_span",
    "store_rejected",
    "conflicting_duplicate",
)

_TIME_FIELDS = {"ts", "expires_at", "requested_at", "decided_at"}
_TIME_ERRORS = {
    "timezone_aware",
    "datetime_parsing",
    "datetime_type",
    "datetime_from_date_parsing",
    "datetime_object_invalid",
    "timestamp_out_of_range",
}
_VALUE_ERRORS = {
    "literal_error",
    "enum",
    "string_pattern_mismatch",
    "greater_than_equal",
    "less_than_equal",
    "string_too_short",
    "string_too_long",
}
_TYPE_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "bool_type": "true or false",
    "dict_type": "an object",
    "list_type": "a list",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


@dataclass
class Rejection:
    line_no: int
    byte_offset: int
    error_class: str
    error: str
    raw: bytes
    raw_size: int
    #: The offset the line is known by, with the fingerprint (its quarantine key): as if the
    #: file had no BOM and LF line ends (`reader.LineBatch.id_offsets`); None: `byte_offset`.
    key_offset: int | None = None
    #: What its file was known by when lines were keyed by their raw bytes, if not by its
    #: fingerprint now (an approval-records CSV with a BOM or CRLF: its raw first line).
    legacy_fingerprint: str | None = None


@dataclass
class CheckedBatch:
    """The outcome of validating one batch: which lines are events, which are approval
    records (with their parsed fields), and which were rejected, and why."""

    valid: list[bool]
    ids: list[str | None] = field(default_factory=list)  # each valid line's event_id
    # each valid line's `ts` and `expires_at` in microseconds since the epoch, UTC, as the
    # models read them: the store takes these, never its own reading of the text
    ts: list[int] = field(default_factory=list)
    expires: list[int | None] = field(default_factory=list)
    # the attrs (JSON) to store for the valid lines with unknown top-level fields, by their
    # index among the valid lines: the line's own attrs with those fields under
    # `_unknown_fields` (rare: every other line's attrs is read from the line by the store)
    attrs: dict[int, str] = field(default_factory=dict)
    events: int = 0
    blank: int = 0
    records: list[tuple[int, ApprovalRecord]] = field(default_factory=list)
    rejections: list[Rejection] = field(default_factory=list)
    # events mapped from OTLP trace lines
    derived: list[Derived] = field(default_factory=list)


@dataclass(frozen=True)
class Derived:
    """An event mapped from another kind of line (an OTLP span), validated like a line."""

    line_no: int
    byte_offset: int
    text: bytes
    event_id: str | None
    ts: int
    expires: int | None


def check_batch(batch: LineBatch, tool_map: ToolMap | None = None) -> CheckedBatch:
    validate = EVENT_ADAPTER.validate_json
    lines = batch.lines
    valid = [True] * len(lines)
    out = CheckedBatch(valid)
    ids, stamps, expires = out.ids, out.ts, out.expires
    long_at = {item.line_no for item in batch.long_lines}
    for index, line in enumerate(lines):
        fast = accept(line)
        if fast is not None:
            ids.append(fast[0])
            stamps.append(fast[1])
            expires.append(fast[2])
            continue
        try:
            event = validate(line)
            hazard = _json_hazard(line, event)
            if hazard is None:
                if event.__pydantic_extra__:
                    out.attrs[len(ids)] = kept_attrs(event)
                ids.append(event.event_id)
                stamps.append(utc_micros(event.ts))
                expiry = event.__dict__.get("expires_at")
                expires.append(None if expiry is None else utc_micros(expiry))
                continue
            valid[index] = False
            line_no = batch.first_line_no + index
            offset = batch.base_offset + batch.starts[index]
            out.rejections.append(Rejection(line_no, offset, *hazard, line, len(line)))
        except ValidationError as exc:
            valid[index] = False
            line_no = batch.first_line_no + index
            if line_no in long_at:
                continue
            if not line.strip():
                out.blank += 1
                continue
            offset = batch.base_offset + batch.starts[index]
            record = _approval_record(line, exc)
            if isinstance(record, ApprovalRecord):
                out.records.append((line_no, record))
            elif _traces(line, exc, line_no, offset, out, tool_map):
                continue
            else:
                cls, message = record if record is not None else explain(line, exc)
                out.rejections.append(Rejection(line_no, offset, cls, message, line, len(line)))
    out.rejections.extend(too_long(item) for item in batch.long_lines)
    if out.rejections and (batch.shift or batch.crs is not None):
        for rejection in out.rejections:
            at = rejection.line_no - batch.first_line_no
            rejection.key_offset = (
                batch.id_offset(at) if at < len(lines) else rejection.byte_offset - batch.shift
            )
    out.events = sum(valid)
    return out


def kept_attrs(event: BaseModel) -> str:
    """The attrs stored for an event with unknown top-level fields: its own, and those fields
    under `_unknown_fields` (which the models checked it does not hold already)."""
    attrs = dict(event.__dict__.get("attrs") or {})
    attrs[UNKNOWN_FIELDS] = event.__pydantic_extra__
    return json.dumps(attrs, ensure_ascii=False, separators=(",", ":"))


_TRACES_HINT = (
    " of an OTLP traces line (export smaller batches: the Collector's batch processor's"
    " send_batch_max_size)"
)


def too_long(item: LongLine) -> Rejection:
    return Rejection(
        item.line_no,
        item.byte_offset,
        "line_too_long",
        f"line is {item.size:,} bytes, over the {item.limit // (1024 * 1024)} MiB limit"
        f"{_TRACES_HINT if item.limit > MAX_LINE else ''}; its first "
        f"{min(item.size, LONG_LINE_PREFIX) // 1024} KiB are kept here",
        item.prefix,
        item.size,
    )


def _traces(
    line: bytes,
    exc: ValidationError,
    line_no: int,
    offset: int,
    out: CheckedBatch,
    tool_map: ToolMap | None,
) -> bool:
    """A line holding OTLP traces: its spans mapped to v1 events, each validated like a line
    of the log. Spans that cannot be mapped or validated are quarantined (once per line)."""
    if exc.errors()[0]["type"] != "union_tag_not_found":
        return False
    try:
        obj = from_json(line)
    except ValueError:
        return False
    if not otlp.is_traces(obj):
        return False
    events, problems = otlp.to_events(obj, tool_map)
    validate = EVENT_ADAPTER.validate_json
    for mapped in events:
        text = json.dumps(mapped, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            event = validate(text)
            expiry = getattr(event, "expires_at", None)
            out.derived.append(
                Derived(
                    line_no,
                    offset,
                    text,
                    event.event_id,
                    utc_micros(event.ts),
                    None if expiry is None else utc_micros(expiry),
                )
            )
        except ValidationError as bad:
            problems.append(
                f"{mapped['type']} of span {mapped.get('step_id') or 'root'}: "
                + explain(text, bad)[1]
            )
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        out.rejections.append(
            Rejection(
                line_no,
                offset,
                "otlp_span",
                f"{len(problems)} span(s) of this OTLP line could not be loaded: {problems[0]}"
                f"{more}; the other spans were",
                line[:LONG_LINE_PREFIX],
                len(line),
            )
        )
    return True


_BLANKS = b" \t\r\n"
#: The fields of the models that hold objects (their keys count too).
_NESTED = ("trigger", "attrs", "before", "after", "context", "rollout")


def _keys(value: Any) -> int:
    """How many object keys a parsed JSON value holds, at every depth."""
    if isinstance(value, dict):
        return len(value) + sum(_keys(v) for v in value.values() if isinstance(v, dict | list))
    if isinstance(value, list):
        return sum(_keys(v) for v in value if isinstance(v, dict | list))
    if isinstance(value, BaseModel):
        return _event_keys(value)
    return 0


def _event_keys(event: BaseModel) -> int:
    """How many keys the line of a validated event wrote, as the models read them."""
    fields = event.__dict__
    extra = event.__pydantic_extra__
    count = len(event.__pydantic_fields_set__)
    for name in _NESTED:
        value = fields.get(name)
        if value is not None:
            count += _keys(value)
    if extra:
        count += len(extra) + _keys(list(extra.values()))
    return count


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) < len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


class _DuplicateKey(ValueError):
    pass


def _json_hazard(line: bytes, event: BaseModel) -> tuple[str, str] | None:
    """(class, message) when the line is JSON that readers disagree on: a key twice in one
    object, or NaN/Infinity; None for the usual line, found so by counting bytes.

    Every key is followed by `"` and `:`, with only white space between them. With the white
    space taken out, the line holds at least one `":` per key it writes, duplicates included,
    and more only where a string holds an escaped quote before a colon or white space. So when
    the count equals the keys the models saw, no key was written twice. Anything else is
    parsed again, exactly, by the standard library."""
    suspect = (
        b"NaN" in line
        or b"Infinity" in line
        or _event_keys(event) != line.translate(None, _BLANKS).count(b'":')
    )
    if not suspect:
        return None
    try:
        json.loads(line, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except _DuplicateKey as dup:
        return "duplicate_key", (
            f"key '{_short(str(dup))}' appears twice in one object; readers disagree on which "
            "value counts (the first or the last), so the line was not loaded"
        )
    except ValueError as exc:
        return "malformed_json", f"not valid JSON: {exc}"
    return None


def _approval_record(line: bytes, exc: ValidationError) -> ApprovalRecord | tuple[str, str] | None:
    """A line with no `type` may be an approval record; validate it as one."""
    if exc.errors()[0]["type"] != "union_tag_not_found":
        return None
    try:
        obj = from_json(line)
    except ValueError:
        return None
    if not is_approval_record(obj):
        return None
    try:
        return ApprovalRecord.model_validate_json(line)
    except ValidationError as record_exc:
        return explain(line, record_exc, what="approval record")


#: What the Collector's file exporter writes besides traces: its top-level key → the signal.
_OTLP_OTHER = {"resourceLogs": "logs", "resourceMetrics": "metrics", "resourceProfiles": "profiles"}


def explain(line: bytes, exc: ValidationError, what: str = "event") -> tuple[str, str]:
    """Turn a validation error into (error class, a sentence a person can act on)."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    kind = first["type"]
    loc = [part for part in first["loc"] if part not in EVENT_TYPES]
    more = (
        f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
        if len(errors) > 1
        else ""
    )
    given = first.get("input")

    if kind == "json_invalid":
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as err:
            return "invalid_utf8", (
                f"line is not UTF-8: byte 0x{line[err.start]:02x} at column {err.start + 1}"
            )
        detail = first["msg"].removeprefix("Invalid JSON: ")
        return "malformed_json", f"not valid JSON: {detail}"
    if kind in ("dict_type", "model_type", "model_attributes_type") and not loc:
        return "not_an_object", f"line is {_json_kind(given, json_=True)}, not an object"
    if kind == "union_tag_not_found":
        signal = next((k for k in _OTLP_OTHER if isinstance(given, dict) and k in given), None)
        if signal is not None:
            return "missing_field", (
                f"an OTLP {_OTLP_OTHER[signal]} export ({signal}): of OpenTelemetry's signals "
                "only traces (resourceSpans) are read; point ingest at the traces file"
            )
        return "missing_field", "required field 'type' is missing (and it is no approval record)"
    if kind == "union_tag_invalid":
        tag = given.get("type") if isinstance(given, dict) else None
        if tag is None:
            return "missing_field", "required field 'type' is null"
        if not isinstance(tag, str):
            return "wrong_type", f"field 'type' should be a string, got {_json_kind(tag)}"
        return "unknown_type", (
            f"unknown event type '{_short(tag)}'; v1 types are {', '.join(EVENT_TYPES)}"
        )

    name = _field_name(loc)
    if kind == "finite_number":  # NaN or Infinity written as a number
        return "malformed_json", (
            f"not valid JSON: '{name}' is {_non_finite(given)}, and RFC 8259 has no NaN or "
            f"Infinity{more}"
        )
    if kind == "unknown_fields_conflict":
        return "unknown_field", f"{first['msg']}{more}"
    if kind == "run_id_required":  # a control.applied of a run's decision names no run
        return "missing_field", f"{first['msg']}{more}"
    if kind == "missing":
        return "missing_field", (
            f"required field '{name}' is missing from this {_what(what, first)}{more}"
        )
    if given is None and kind in _TYPE_NAMES:
        return "missing_field", f"required field '{name}' is null{more}"
    if loc and loc[0] in _TIME_FIELDS and kind in _TIME_ERRORS:
        if kind == "timezone_aware":
            return "bad_timestamp", (
                f"'{name}' {_short(given)!r} has no UTC offset; write RFC 3339 with Z or "
                f"±hh:mm, e.g. 2026-11-20T08:00:00Z{more}"
            )
        return "bad_timestamp", (
            f"'{name}' {_short(given)!r} is not an RFC 3339 timestamp "
            f"({first['msg'].removeprefix('Input should be a valid datetime, ')}){more}"
        )
    if kind == "string_pattern_mismatch" and name == "system":
        return "invalid_value", (
            f"'system' is {_short(given)!r}: a system is named as grants name it "
            f"(system:access[:object]), with no ':' and no white space, or no grant could "
            f"ever cover its touches{more}"
        )
    if kind in _VALUE_ERRORS:
        return "invalid_value", f"'{name}' is {_short(given)!r}: {first['msg']}{more}"
    if kind in _TYPE_NAMES:
        return "wrong_type", (
            f"'{name}' should be {_TYPE_NAMES[kind]}, got {_json_kind(given)} "
            f"{_short(given)!r}{more}"
        )
    return "invalid_value", f"'{name}': {first['msg']}{more}"


def _non_finite(value: Any) -> str:
    """How the line wrote a non-finite number (as JSON readers that accept them write it)."""
    if isinstance(value, float) and value != value:
        return "NaN"
    if isinstance(value, float):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(_short(value))


def _what(what: str, error: Any) -> str:
    loc = error["loc"]
    if what == "event" and loc and loc[0] in EVENT_TYPES:
        return f"{loc[0]} event"
    return what


def _field_name(loc: list[Any]) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or "line"


def _json_kind(value: Any, json_: bool = False) -> str:
    kind = "JSON " if json_ else ""
    if value is None:
        return f"{kind}null"
    if isinstance(value, bool):
        return f"a {kind}boolean"
    if isinstance(value, (int, float)):
        return f"a {kind}number"
    if isinstance(value, str):
        return f"a {kind}string"
    if isinstance(value, list):
        return f"a {kind}array" if json_ else "an array"
    if isinstance(value, dict):
        return f"a {kind}object" if json_ else "an object"
    return type(value).__name__


def _short(value: Any, limit: int = 60) -> Any:
    if isinstance(value, str) and len(value) > limit:
        return value[: limit - 1] + "…"
    return value
