"""A fast path for the usual line: msgspec Structs that mirror the pydantic models.

Validating a line with pydantic builds a model and costs ~14 µs on the 2-core machine; most
lines are plain events the models accept. `accept` decodes a line into the Structs below
(msgspec, in C, ~2 µs with its checks) and returns what the store needs from it: its
`event_id` and its `ts` and `expires_at` in UTC microseconds. It is stricter than the models,
never looser: whatever it does not accept (None) goes through the models (`validate`), which
decide, name the class and write the message. So what is stored and what is quarantined is
exactly what the models alone would make of the same lines (tests/ingest/test_fastpath.py
checks agreement on generated lines and mutations of them).

Where the two would differ, the fast path declines:
- only the eight run event types (control.applied, workflow.published and rollout.changed
  carry validators of their own: the models handle them);
- timestamps only in the one RFC 3339 form `2026-11-20T08:00:00[.ffffff](Z|±hh:mm)` (msgspec
  rounds a seventh fractional digit where the models truncate), read by the standard library;
  an instant in the first or last year (the models' range check) is left to the models;
- JSON readers disagree on: a key written twice (the Struct keeps the last, as pydantic
  does, DuckDB the first) or an unknown top-level field (dropped by the Struct) shows as
  fewer keys in the Struct's own encoding than the line wrote; a line with a `\\u` escape is
  left to the models (an escaped quote could hide a key from that count); NaN and Infinity
  msgspec refuses outright.
- a pattern (the grants, a touch's system) is anchored with `\\Z`: Python's `$` would match
  before a final newline, where the models' (Rust) regex does not; Python's `\\s` takes in
  more characters than Rust's, so a grant (or system) with one is declined, not let through.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, Union

import msgspec

from quarterdeck.ingest.models import GRANT_PATTERN, SYSTEM_PATTERN

_UNSET: Any = msgspec.UNSET

Id = Annotated[str, msgspec.Meta(min_length=1, max_length=512)]
Environment = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Count = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Money = Annotated[float, msgspec.Meta(ge=0)]
Grant = Annotated[str, msgspec.Meta(pattern=GRANT_PATTERN.removesuffix("$") + r"\Z")]
SystemName = Annotated[
    str, msgspec.Meta(max_length=512, pattern=SYSTEM_PATTERN.removesuffix("$") + r"\Z")
]
#: The one timestamp form read here (the models read more, and decide those lines).
Stamp = Annotated[
    str,
    msgspec.Meta(
        pattern=r"^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])T([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
        r"(\.\d{1,6})?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)\Z"
    ),
]


class _Event(msgspec.Struct, kw_only=True, tag_field="type", frozen=True):
    event_id: Id | None = _UNSET
    ts: Stamp
    run_id: Id
    workflow: Id | None = _UNSET
    step_id: Id | None = _UNSET
    actor: str | None = _UNSET
    attrs: dict[str, Any] | None = _UNSET


class Trigger(msgspec.Struct, kw_only=True, frozen=True):
    kind: Literal["manual", "schedule", "event"]
    by: str | None = _UNSET


class RunStarted(_Event, tag="run.started", kw_only=True, frozen=True):
    workflow: Id
    workflow_version: str | None = _UNSET
    environment: Environment | None = _UNSET
    identity: str | None = _UNSET
    trigger: Trigger | None = _UNSET
    scope: list[Grant] = _UNSET
    session_id: str | None = _UNSET
    user_id: str | None = _UNSET


class _Step(_Event, kw_only=True, frozen=True):
    step_id: Id
    name: str | None = _UNSET
    kind: Literal["llm", "tool", "agent", "retrieval", "human"] | None = _UNSET
    tool: str | None = _UNSET
    model: str | None = _UNSET


class StepStarted(_Step, tag="step.started", kw_only=True, frozen=True):
    pass


class StepFinished(_Step, tag="step.finished", kw_only=True, frozen=True):
    status: Literal["ok", "error"] | None = _UNSET
    error: str | None = _UNSET
    tokens_in: Count | None = _UNSET
    tokens_out: Count | None = _UNSET
    cost_usd: Money | None = _UNSET


class DataTouched(_Event, tag="data.touched", kw_only=True, frozen=True):
    identity: str | None = _UNSET
    system: SystemName
    object: Id
    record_id: Id | None = _UNSET
    action: Literal["read", "create", "update", "delete", "export"]
    fields: list[str] | None = _UNSET
    before: dict[str, Any] | None = _UNSET
    after: dict[str, Any] | None = _UNSET
    record_count: Count | None = _UNSET
    classification: str | None = _UNSET


class ApprovalRequested(_Event, tag="approval.requested", kw_only=True, frozen=True):
    approval_id: Id
    action: str | None = _UNSET
    risk: Literal["low", "medium", "high", "critical"] | None = _UNSET
    required_role: str | None = _UNSET
    requested_by: str | None = _UNSET
    expires_at: Stamp | None = _UNSET
    context: dict[str, Any] | str | None = _UNSET


class ApprovalDecided(_Event, tag="approval.decided", kw_only=True, frozen=True):
    approval_id: Id
    decision: Literal["approved", "rejected", "expired"]
    decided_by: str | None = _UNSET
    reason: str | None = _UNSET


class RunFinished(_Event, tag="run.finished", kw_only=True, frozen=True):
    status: Literal["succeeded", "failed", "cancelled", "rolled_back"]
    error: str | None = _UNSET


class Metric(_Event, tag="metric", kw_only=True, frozen=True):
    name: Id
    value: float


#: Each Struct with the pydantic model it mirrors (a test holds their fields alike).
STRUCTS = (
    RunStarted,
    StepStarted,
    StepFinished,
    DataTouched,
    ApprovalRequested,
    ApprovalDecided,
    RunFinished,
    Metric,
)

_decode = msgspec.json.Decoder(Union[STRUCTS]).decode  # noqa: UP007 (a union of a tuple)
_encode = msgspec.json.Encoder().encode
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BLANKS = b" \t\r\n"
_parse = datetime.fromisoformat


def accept(line: bytes) -> tuple[str | None, int, int | None] | None:
    """(event_id, ts, expires_at) of a line the models would accept, the times in UTC
    microseconds as the models read them; None when the models must decide."""
    try:
        event = _decode(line)
    except msgspec.DecodeError:  # (msgspec.ValidationError is a DecodeError)
        return None
    if b"\\u" in line or _encode(event).count(b'":') != line.translate(None, _BLANKS).count(b'":'):
        return None
    ts = _micros(event.ts)
    if ts is None:
        return None
    expires = getattr(event, "expires_at", None)
    if expires is None or expires is _UNSET:
        return event.event_id or None, ts, None
    expires_us = _micros(expires)
    if expires_us is None:
        return None
    return event.event_id or None, ts, expires_us


def _micros(text: str) -> int | None:
    try:
        value = _parse(text)
    except ValueError:  # a day the month does not have
        return None
    if not 1 < value.year < 9999:  # the models check the range once in UTC
        return None
    return (value - _EPOCH) // _MICROSECOND
