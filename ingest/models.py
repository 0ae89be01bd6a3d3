"""The run-event log, v1: the input contract, as pydantic v2 models.

These models are the schema of record (DESIGN §2). Every line the ingester reads is validated
against them; `quarterdeck schema` prints their JSON Schema so that producers can check their
own output. Validation is strict: a string is never coerced to a number, a number never to a
string, and a timestamp must carry a UTC offset.

Unknown top-level fields are allowed (a newer producer may add some) and kept: the store folds
them into the event's `attrs` under `_unknown_fields` (`UNKNOWN_FIELDS`), beside the producer's
own keys. `attrs` is the place for anything a producer wants kept as JSON; a line whose `attrs`
already holds `_unknown_fields` and that has unknown top-level fields too is refused (the one
key cannot hold both), never folded over the producer's own value.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

SCHEMA_VERSION = "v1"

#: A non-empty identifier (run, step, approval, event and decision ids, names).
Id = Annotated[str, StringConstraints(min_length=1, max_length=512)]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
#: Python's (and so every reader's) datetimes end at these years: an instant outside them in
#: UTC could be stored but never shown, so it is refused with the line.
_FIRST_YEAR, _LAST_YEAR = 1, 9999


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC. `0001-01-01T00:00:00+14:00` is in year 0 in UTC: no datetime can
    hold it, so it is refused here, where the line is still whole, not when it is stored."""
    naive = value.replace(tzinfo=None)
    offset = value.utcoffset() or timedelta(0)
    if (naive.year == _FIRST_YEAR and offset > timedelta(0) and naive - datetime.min < offset) or (
        naive.year == _LAST_YEAR and offset < timedelta(0) and datetime.max - naive < -offset
    ):
        raise PydanticCustomError(
            "timestamp_out_of_range",
            "the instant falls outside the years 0001-9999 once converted to UTC",
        )
    return value.astimezone(UTC)


def utc_micros(value: datetime) -> int:
    """Microseconds since 1970-01-01 UTC: how the store receives every timestamp, so that
    what the models read is what is stored (DuckDB never re-reads the text)."""
    return (value - _EPOCH) // _MICROSECOND


#: The written forms a timestamp may take: RFC 3339's date and time (`T`, `t` or a space between
#: them; seconds and their fraction optional) and its offset (`Z`, `z` or ±hh:mm; without one
#: the models say the offset is missing). pydantic would also read "1763625600" (digits in a
#: string) as seconds or milliseconds since 1970, "+0530" and a comma fraction: none of them
#: is RFC 3339, and a producer writing an epoch number as text is wrong about every time.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"(?P<offset>[Zz]|[+-][0-9]{2}:[0-9]{2})?"
)
_READ_TIME = TypeAdapter(datetime)  # what is left once the form is right: pydantic's reading


def _rfc3339_form(value: object) -> object:
    """A timestamp's text checked for its form, then read (the models' strict mode takes
    the datetime read here; a value that is not text is left to them)."""
    if not isinstance(value, str):
        return value
    form = _RFC3339.fullmatch(value)
    if form is not None and form["offset"] is None:
        raise PydanticCustomError("timezone_aware", "Input should have timezone info")
    if form is None:
        raise PydanticCustomError(
            "datetime_parsing",
            "Input should be a valid datetime, written as 2026-11-20T08:00:00Z: a date, a time "
            "and a UTC offset (Z or ±hh:mm)",
        )
    try:
        return _READ_TIME.validate_python(value)
    except ValidationError as exc:
        error = exc.errors(include_url=False)[0]
        message = error["msg"].replace("{", "(").replace("}", ")")
        raise PydanticCustomError(error["type"], message) from None


#: RFC 3339 with an offset; the models hold it in UTC, as it is stored.
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339_form), AfterValidator(_in_utc)]
Count = Annotated[int, Field(ge=0, le=2**63 - 1)]
Money = Annotated[float, Field(ge=0)]

ACCESS_LEVELS = ("read", "write", "delete", "export", "*")
#: `system:access[:object]`, e.g. `crm:write:Contact`, `ledger:read`, `*:*`.
GRANT_PATTERN = r"^[^:\s]+:(read|write|delete|export|\*)(:[^:\s]+)?$"
Grant = Annotated[str, StringConstraints(pattern=GRANT_PATTERN)]
#: A touch's system, as a grant names it: no `:` and no white space (a system written with
#: one could never be in any grant but `*`'s, so its touches would be out of scope forever).
SYSTEM_PATTERN = r"^[^:\s]+$"
SystemName = Annotated[str, StringConstraints(max_length=512, pattern=SYSTEM_PATTERN)]

Environment = Annotated[str, StringConstraints(min_length=1, max_length=64)]
TouchAction = Literal["read", "create", "update", "delete", "export"]
StepKind = Literal["llm", "tool", "agent", "retrieval", "human"]
StepStatus = Literal["ok", "error"]
Risk = Literal["low", "medium", "high", "critical"]
RunOutcome = Literal["succeeded", "failed", "cancelled", "rolled_back"]
ControlAction = Literal[
    "pause", "resume", "rollback", "cancel", "promote", "rollback-version", "pause-rollout"
]
#: The decisions about a workflow's rollout: acknowledged with no run.
ROLLOUT_ACTIONS = ("promote", "rollback-version", "pause-rollout")
#: The actions a runner may acknowledge for a workflow itself, with no run_id.
WORKFLOW_ACTIONS = ("pause", "resume", "rollback", *ROLLOUT_ACTIONS)
ControlResult = Literal["applied", "refused", "failed"]
ApprovalDecision = Literal["approved", "rejected", "expired"]
ApprovalStatus = Literal["pending", "approved", "rejected", "expired"]

EVENT_TYPES = (
    "run.started",
    "step.started",
    "step.finished",
    "data.touched",
    "approval.requested",
    "approval.decided",
    "control.applied",
    "run.finished",
    "metric",
    "workflow.published",
    "rollout.changed",
)


class _Strict(BaseModel):
    # NaN and Infinity are not JSON (RFC 8259), and no reader downstream agrees on them
    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)


class Trigger(_Strict):
    """What started a run."""

    kind: Literal["manual", "schedule", "event"]
    by: str | None = None


#: The key of `attrs` that keeps an event's unknown top-level fields (see the docstring).
UNKNOWN_FIELDS = "_unknown_fields"


class _Stamped(_Strict):
    event_id: Id | None = Field(
        None,
        description="Unique id. When absent, derived from the file's fingerprint and the "
        "line's byte offset as if the file had no BOM and LF line ends, so re-reading a "
        "file, or a copy of it with a BOM or CRLF line ends, is idempotent.",
    )
    ts: Timestamp = Field(description="RFC 3339 with an offset; stored in UTC.")

    @model_validator(mode="after")
    def _unknown_fields_kept(self) -> _Stamped:
        # unknown top-level fields go to attrs[UNKNOWN_FIELDS]: a producer's own key of that
        # name would be overwritten, so the line is refused instead (nothing is lost)
        extra = self.__pydantic_extra__
        attrs = self.__dict__.get("attrs")
        if extra and isinstance(attrs, dict) and UNKNOWN_FIELDS in attrs:
            raise PydanticCustomError(
                "unknown_fields_conflict",
                "top-level field(s) {names} are not v1 fields, and unknown fields are kept in "
                "attrs.{key}, which this line's attrs already holds: move them into attrs",
                {"names": ", ".join(f"'{name}'" for name in extra), "key": UNKNOWN_FIELDS},
            )
        return self


class _RunEnvelope(_Stamped):
    """Fields every event about a run carries, but its run_id."""

    workflow: Id | None = Field(None, description="Required on run.started, else inherited.")
    step_id: Id | None = None
    actor: str | None = Field(None, description="Agent, human or system principal.")
    attrs: dict[str, Any] | None = Field(None, description="Anything else; kept as JSON.")


class Envelope(_RunEnvelope):
    """Fields every event carries."""

    run_id: Id


class RunStarted(Envelope):
    type: Literal["run.started"]
    workflow: Id
    workflow_version: str | None = None
    environment: Environment | None = None
    identity: str | None = Field(None, description="The workflow identity the run executes as.")
    trigger: Trigger | None = None
    scope: list[Grant] = Field(
        default_factory=list,
        description="Grants `system:access[:object]`; access is read, write, delete, export or *.",
    )
    session_id: str | None = Field(
        None, description="The session or conversation the run is part of (agent frameworks)."
    )
    user_id: str | None = Field(None, description="The end user the run acts for.")


class _StepFields(Envelope):
    step_id: Id
    name: str | None = None
    kind: StepKind | None = None
    tool: str | None = None
    model: str | None = None


class StepStarted(_StepFields):
    type: Literal["step.started"]


class StepFinished(_StepFields):
    type: Literal["step.finished"]
    status: StepStatus | None = None
    error: str | None = None
    tokens_in: Count | None = None
    tokens_out: Count | None = None
    cost_usd: Money | None = None


class DataTouched(Envelope):
    type: Literal["data.touched"]
    identity: str | None = Field(
        None, description="The credential that made this touch, when it is not the run's own."
    )
    system: SystemName
    object: Id
    record_id: Id | None = Field(None, description="Absent for bulk reads and exports.")
    action: TouchAction
    fields: list[str] | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    record_count: Count | None = None
    classification: str | None = None


class ApprovalRequested(Envelope):
    type: Literal["approval.requested"]
    approval_id: Id
    action: str | None = Field(None, description="What will happen if approved.")
    risk: Risk | None = None
    required_role: str | None = None
    requested_by: str | None = None
    expires_at: Timestamp | None = None
    context: dict[str, Any] | str | None = None


class ApprovalDecided(Envelope):
    type: Literal["approval.decided"]
    approval_id: Id
    decision: ApprovalDecision
    decided_by: str | None = None
    reason: str | None = None


class ControlApplied(_RunEnvelope):
    """A runner's acknowledgement of an operator decision (of a rollout decision: no run)."""

    type: Literal["control.applied"]
    run_id: Id | None = Field(
        None, description="The run it was applied to; none for the workflow's own answer."
    )
    decision_id: Id
    action: ControlAction
    result: ControlResult
    detail: str | None = None

    @model_validator(mode="after")
    def _a_run_unless_a_workflow(self) -> ControlApplied:
        # no run: the workflow's own answer (a rollout's, or a workflow pause, resume or
        # rollback holding or letting go its later runs); a cancel is only ever a run's
        if self.run_id is None and self.action not in WORKFLOW_ACTIONS:
            raise PydanticCustomError(
                "run_id_required",
                "control.applied of a {action} needs the run_id it was applied to (only a "
                "workflow's acknowledgement names no run: a rollout decision's, or a "
                "workflow pause's, resume's or rollback's)",
                {"action": self.action},
            )
        return self


class RunFinished(Envelope):
    type: Literal["run.finished"]
    status: RunOutcome
    error: str | None = None


class Metric(Envelope):
    type: Literal["metric"]
    name: Id
    value: float


def _no_run_id(value: object) -> None:
    if value is not None:
        raise PydanticCustomError(
            "no_run_id",
            "this event is about a workflow's version, not a run: it carries no run_id",
        )


def _steps(value: list[int]) -> list[int]:
    if not value or value != sorted(set(value)) or value[-1] != 100:
        raise PydanticCustomError(
            "rollout_steps",
            "rollout steps are weights 1-100, rising, the last 100 (e.g. [10, 50, 100])",
        )
    return value


Weight = Annotated[int, Field(ge=0, le=100)]


class Rollout(_Strict):
    """How a version goes live: the weights (share of new runs, %) it is promoted through."""

    steps: Annotated[list[Annotated[int, Field(ge=1, le=100)]], AfterValidator(_steps)]


class _ReleaseEnvelope(_Stamped):
    """Fields of the events about a workflow's versions: no run, no step."""

    run_id: Annotated[Any, AfterValidator(_no_run_id)] = Field(
        None, description="Never given: these events are not about a run."
    )
    workflow: Id
    version: Id
    actor: str | None = None
    attrs: dict[str, Any] | None = Field(None, description="Anything else; kept as JSON.")


class WorkflowPublished(_ReleaseEnvelope):
    """A version of a workflow put into production: who published it, who approved it, what
    it runs as and may use, and how it rolls out."""

    type: Literal["workflow.published"]
    publisher: Id
    approved_by: list[Id] = Field(default_factory=list)
    identity: str | None = Field(None, description="The service identity the version runs as.")
    scope: list[Grant] = Field(
        default_factory=list, description="The grants the version may use (a run's grammar)."
    )
    source_ref: str | None = Field(None, description="Where it was built from, e.g. a commit.")
    rollout: Rollout | None = Field(None, description="Absent: 100 at once.")


class RolloutChanged(_ReleaseEnvelope):
    """A version's share of new runs changed."""

    type: Literal["rollout.changed"]
    weight: Weight
    by: str | None = None
    reason: str | None = None


Event = Annotated[
    RunStarted
    | StepStarted
    | StepFinished
    | DataTouched
    | ApprovalRequested
    | ApprovalDecided
    | ControlApplied
    | RunFinished
    | Metric
    | WorkflowPublished
    | RolloutChanged,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


class ApprovalRecord(BaseModel):
    """One state of an approval, as an approval system exports it (JSON lines or CSV).

    Records merge with approval events by `approval_id`; the latest state wins, and a decided
    request never returns to pending.
    """

    model_config = ConfigDict(strict=True, extra="allow", frozen=True, allow_inf_nan=False)

    approval_id: Id
    status: ApprovalStatus
    run_id: Id | None = None
    action: str | None = None
    risk: Risk | None = None
    required_role: str | None = None
    requested_by: str | None = None
    requested_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    decided_by: str | None = None
    decided_at: Timestamp | None = None
    reason: str | None = None


def is_approval_record(obj: Any) -> bool:
    """An approval record carries `approval_id` and `status` but no event `type`."""
    return isinstance(obj, dict) and "type" not in obj and "approval_id" in obj and "status" in obj


def event_json_schema() -> dict[str, Any]:
    """JSON Schema of one event line (and of an approval record), for producers."""
    schema = EVENT_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"Quarterdeck run event {SCHEMA_VERSION}"
    schema["description"] = (
        "One JSON object per line, UTF-8. See DESIGN §2. Approval records "
        "(no `type`, with `approval_id` and `status`) follow `ApprovalRecord` in $defs."
    )
    record = ApprovalRecord.model_json_schema()
    schema.setdefault("$defs", {}).update(record.pop("$defs", {}))
    schema["$defs"]["ApprovalRecord"] = record
    return schema


def event_json_schema_text() -> str:
    return json.dumps(event_json_schema(), indent=2, sort_keys=True)
