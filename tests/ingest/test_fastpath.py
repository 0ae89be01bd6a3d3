"""The fast path (msgspec) and the models (pydantic) make the same of every line.

Lines are generated from the models, then mutated the ways producers get them wrong and the
ways JSON readers disagree: a field dropped, nulled or of the wrong type, an enum or a grant
out of range, timestamps in every form the models read (and some they refuse), a key written
twice, NaN, escapes, huge numbers, unknown fields (kept in attrs, or refused when attrs holds
their key already). `check_batch` with the fast path and
without it (the models alone) must return the same outcome for every line: the same lines
accepted with the same id and instants, the same lines quarantined with the same class and
message.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from typing import Any
from unittest import mock

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from quarterdeck.ingest import fastpath, models, validate
from quarterdeck.ingest.reader import LineBatch, open_binary, read_batches
from quarterdeck.ingest.validate import check_batch
from tests.support.layout import SAMPLE_LOGS

#: Each pool: values the models accept, then values they refuse (or the fast path declines).
_USUAL_TIMES = [
    "2026-11-20T08:00:00Z",
    "2026-11-20T08:00:00.5+05:30",
    "2026-11-20T08:00:00.123456-00:01",
    "1970-01-01T00:00:00.000001-23:59",
]
_TIMES = (
    _USUAL_TIMES * 6
    + [
        "2026-11-20T08:00:00.1234567Z",  # seven digits: msgspec's own parse would round
        "2026-11-20T08:00:00.999999999+14:00",
        "2026-11-20t08:00:00z",
        "2026-11-20 08:00:00Z",
        "2026-11-20T08:00Z",
        "0002-01-01T00:00:00+14:00",
        "9998-12-31T23:59:59.999999-14:00",
        "0001-01-01T00:00:00+14:00",
        "9999-12-31T23:59:59-01:00",
        "0001-01-01T10:00:00+01:00",
    ],
    [
        "2026-11-20T08:00:60Z",
        "2026-11-20T24:00:00Z",
        "2026-11-20T08:00:00",
        "2026-11-20T08:00:00+24:00",
        "2026-02-30T08:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-11-20T08:00:00+0530",
        "1700000000",
    ],
)
_STRINGS = (["x", "plain", "emoji \U0001f600", "nul\u0000", 'q"uote:', "é"], ["", "a" * 513])
_GRANTS = (
    ["ledger:write:Invoice", "erp:read", "*:*", "crm\x1c:read"],
    ["crm:read\n", "crm:admin", "crm\u00a0:read", "a:b:c:d", "crm:read\u2028"],
)
#: A touch's system, as grants name it (`\x1c` is white space to Python, not to the models).
_SYSTEMS = (
    ["ledger", "crm\x1c", "é"],
    ["crm:eu", "my crm", "crm\n", "", "crm\u00a0", "crm\u2028", "a" * 513],
)
_COUNTS: tuple[list[Any], list[Any]] = ([0, 1, 2**63 - 1], [-1, 0.5, 2**63, 10**30, True, "1"])
_FLOATS: tuple[list[Any], list[Any]] = ([0, 0.5, -0.0, 1e308, 10**30], [-1, True, "1", None])
_ENUMS = {
    "trigger": (["manual", "schedule"], ["cron"]),
    "step_kind": (["tool", "llm"], ["robot"]),
    "status": (["ok", "error"], ["fine"]),
    "action": (["update", "read"], ["patch"]),
    "risk": (["high", "low"], ["extreme"]),
    "decision": (["approved", "expired"], ["maybe"]),
    "outcome": (["succeeded", "rolled_back"], ["done"]),
    "environment": (["prod", "x" * 64], ["", "x" * 65]),
    "context": ([{"k": 1}, "text", None], [5]),
}


Pool = tuple[list[Any], list[Any]]
_SPOILS = {
    "run.started": ["ts", "environment", "trigger", "grant"],
    "step.started": ["ts", "step_kind"],
    "step.finished": ["ts", "step_kind", "status", "count", "float"],
    "data.touched": ["ts", "string", "system", "action", "count"],
    "approval.requested": ["ts", "risk", "expires", "context"],
    "approval.decided": ["ts", "decision"],
    "run.finished": ["ts", "outcome"],
    "metric": ["ts", "string", "float"],
}


def _base(kind: str, pick: Callable[[str, Pool], Any], flag: Callable[[], bool]) -> dict[str, Any]:
    """An event of `kind` as the models describe it, each value chosen by `pick` from the
    pool it names (the accepted side, or the refused side to spoil it)."""
    event: dict[str, Any] = {
        "event_id": "e-1",
        "type": kind,
        "ts": pick("ts", _TIMES),
        "run_id": "r-1",
    }
    if kind == "run.started":
        event.update(
            workflow="invoice-posting",
            workflow_version="1.4.0",
            environment=pick("environment", _ENUMS["environment"]),
            identity="svc",
            trigger={"kind": pick("trigger", _ENUMS["trigger"]), "by": "s"},
            scope=[pick("grant", _GRANTS)] + (["erp:read"] if flag() else []),
            session_id="sess",
            user_id="u",
        )
    elif kind in ("step.started", "step.finished"):
        event.update(step_id="s1", name="post", kind=pick("step_kind", _ENUMS["step_kind"]))
        if kind == "step.finished":
            event.update(
                status=pick("status", _ENUMS["status"]),
                tokens_in=pick("count", _COUNTS),
                tokens_out=96,
                cost_usd=pick("float", _FLOATS),
            )
    elif kind == "data.touched":
        event.update(
            step_id="s1",
            system=pick("system", _SYSTEMS),
            object="Invoice",
            record_id=pick("string", _STRINGS),
            action=pick("action", _ENUMS["action"]),
            fields=["status", "amount"],
            before={"status": "open", "amount": 1200.5, "nested": {"a": [1, {"b": None}]}},
            after={"status": "posted", "amount": 96},
            record_count=pick("count", _COUNTS),
        )
    elif kind == "approval.requested":
        event.update(
            approval_id="apr-1",
            action="post",
            risk=pick("risk", _ENUMS["risk"]),
            expires_at=pick("expires", _TIMES),
            context=pick("context", _ENUMS["context"]),
        )
    elif kind == "approval.decided":
        event.update(approval_id="apr-1", decision=pick("decision", _ENUMS["decision"]))
    elif kind == "run.finished":
        event.update(status=pick("outcome", _ENUMS["outcome"]), error=None)
    elif kind == "metric":
        event.update(name=pick("string", _STRINGS), value=pick("float", _FLOATS))
    elif kind == "control.applied":
        event.update(decision_id="d-1", action="cancel", result="applied")
        if flag():
            del event["run_id"]
    elif kind in ("workflow.published", "rollout.changed"):
        del event["run_id"]
        event.update(workflow="w", version="2", publisher="me", weight=50)
    if flag():
        event["attrs"] = {"k": pick("attrs", (_COUNTS[1], _COUNTS[1])), "s": "\\ \u2028"}
    return event


@st.composite
def lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from([*models.EVENT_TYPES, "nope"]))
    spoil = draw(st.sampled_from(["none"] * 8 + _SPOILS.get(kind, [])))

    def pick(name: str, pool: Pool) -> Any:
        return draw(st.sampled_from(pool[1] if spoil == name else pool[0]))

    event = _base(kind, pick, lambda: draw(st.booleans()))
    mutation = draw(
        st.sampled_from(
            ["none"] * 12 + ["drop", "null", "wrong_type", "extra", "no_id", "string_id"]
        )
    )
    keys = sorted(event)
    if mutation == "drop":
        del event[draw(st.sampled_from(keys))]
    elif mutation == "null":
        event[draw(st.sampled_from(keys))] = None
    elif mutation == "wrong_type":
        event[draw(st.sampled_from(keys))] = draw(st.sampled_from([7, 1.5, [], {}, "s", False]))
    elif mutation == "extra":
        event["newer_field"] = draw(st.sampled_from(_STRINGS[0]))
        if draw(st.booleans()):  # the key unknown fields are kept under, taken already
            event["attrs"] = {**(event.get("attrs") or {}), "_unknown_fields": 1}
    elif mutation == "no_id":
        del event["event_id"]
    elif mutation == "string_id":
        event["event_id"] = draw(st.sampled_from(_STRINGS[0] + _STRINGS[1]))
    text = json.dumps(
        event,
        ensure_ascii=draw(st.sampled_from([False, False, True])),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": "), (" ,", " : ")])),
    )
    trick = draw(
        st.sampled_from(
            ["none"] * 12
            + ["dup", "dup_nested", "nan", "inf", "escape", "quote", "surrogate", "huge"]
        )
    )
    if trick == "dup":
        key = draw(st.sampled_from(keys))
        text = text[:-1] + f', "{key}": {json.dumps(event.get(key, "x"))}' + "}"
    elif trick == "dup_nested" and '"before": {' in text:
        text = text.replace('"before": {', '"before": {"status": "x", ', 1)
    elif trick == "nan":
        text = text[:-1] + ', "score": NaN}'
    elif trick == "inf":
        text = text.replace("1e+308", "Infinity").replace("0.5", "-Infinity")
    elif trick == "escape":  # a key written twice, and a quote escaped so as to hide it
        text = '{"run_id": "r-1", "actor": "\\u0022:", ' + text[1:]
    elif trick == "quote":  # an escaped quote and colon, as in a key
        text = text[:-1] + ', "t": "a\\":b"}'
    elif trick == "surrogate":
        text = text[:-1] + ', "s": "\\ud800"}'
    elif trick == "huge":
        text = text.replace("1200.5", "1e999").replace("96", "9" * 40)
    return text.encode("utf-8", errors="surrogatepass")


def _batch(raw: list[bytes]) -> LineBatch:
    data = b"".join(line + b"\n" for line in raw)
    starts = [0]
    for line in raw[:-1]:
        starts.append(starts[-1] + len(line) + 1)
    return LineBatch(data, 0, 1, list(raw), starts)


def _models_alone(batch: LineBatch) -> validate.CheckedBatch:
    with mock.patch.object(validate, "accept", lambda line: None):
        return check_batch(batch)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=st.lists(lines(), min_size=1, max_size=8))
def test_the_fast_path_and_the_models_agree_on_every_line(raw: list[bytes]) -> None:
    batch = _batch(raw)
    assert check_batch(batch) == _models_alone(batch)
    for line in raw:
        fast = fastpath.accept(line)
        if fast is not None:  # what it accepts, the models accept, and read the same
            alone = _models_alone(_batch([line]))
            assert alone.valid == [True], line
            assert (alone.ids[0], alone.ts[0], alone.expires[0]) == fast, line


def test_every_value_of_every_pool_alone() -> None:
    """Each event type with each value of each pool it reads (accepted and refused), one at
    a time, written compactly and with spaces: the same outcome both ways, line by line."""
    raw: list[bytes] = []
    for kind in [*models.EVENT_TYPES, "nope"]:
        names: list[tuple[str, Pool]] = []
        _base(kind, lambda name, pool, names=names: names.append((name, pool)), lambda: True)
        for name, pool in names:
            for value in pool[0] + pool[1]:

                def pick(wanted: str, choices: Pool, name: str = name, value: Any = value) -> Any:
                    return value if wanted == name else choices[0][0]

                event = _base(kind, pick, lambda: True)
                for separators in ((",", ":"), (", ", ": ")):
                    text = json.dumps(event, separators=separators, ensure_ascii=False)
                    raw.append(text.encode())
    assert len(raw) > 200
    for start in range(0, len(raw), 50):
        batch = _batch(raw[start : start + 50])
        assert check_batch(batch) == _models_alone(batch)


def test_the_fast_path_takes_the_usual_lines() -> None:
    """Not a path never taken: the sample fleet's valid events go the fast way (all but the
    types the models keep for themselves), with what the models read from them."""
    taken = declined = 0
    for path in sorted(SAMPLE_LOGS.rglob("*.jsonl*")):
        with open_binary(path) as handle:
            for batch in read_batches(handle):
                alone = _models_alone(batch)
                for index, line in enumerate(batch.lines):
                    fast = fastpath.accept(line)
                    if fast is None:
                        declined += alone.valid[index]
                        continue
                    taken += 1
                    assert alone.valid[index], line
                    at = sum(alone.valid[:index])
                    assert (alone.ids[at], alone.ts[at], alone.expires[at]) == fast
    assert taken > 1000
    assert declined < taken / 20, (taken, declined)


def test_each_struct_has_the_fields_of_its_model() -> None:
    """The Structs mirror the models: the same fields, required where the models require."""
    by_tag = {
        typing.get_args(model.model_fields["type"].annotation)[0]: model
        for model in typing.get_args(typing.get_args(models.Event)[0])
    }
    for struct in fastpath.STRUCTS:
        model = by_tag[struct.__struct_config__.tag]
        info = msgspec.structs.fields(struct)
        assert {f.name for f in info} == set(model.model_fields) - {"type"}, struct
        required = {f.name for f in info if f.required}
        assert required == {
            name for name, field in model.model_fields.items() if field.is_required()
        } - {"type"}, struct
