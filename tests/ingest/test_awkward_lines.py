"""Lines the models accept but the store may find awkward, mixed with invalid lines.

For every generated file: each line is either stored or quarantined with a known class (never
a batch error that loses the file), a stored timestamp is the line's instant in UTC to the
microsecond, and loading the file again adds nothing.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from quarterdeck.ingest.load import load_paths
from quarterdeck.ingest.validate import ERROR_CLASSES
from quarterdeck.queries.store import Store

# --- timestamps ------------------------------------------------------------------------------

_OFFSETS = ["Z", "z", "+00:00", "+14:00", "-14:00", "+05:17", "-13:59", "+05:30", "-00:01"]


@st.composite
def timestamps(draw: st.DrawFn) -> str:
    year = draw(st.sampled_from([1, 2, 1970, 2026, 9999]))
    month, day = draw(st.integers(1, 12)), draw(st.integers(1, 28))
    hour, minute = draw(st.integers(0, 23)), draw(st.integers(0, 59))
    date = f"{year:04d}-{month:02d}-{day:02d}"
    sep = draw(st.sampled_from(["T", "t"]))
    second = draw(st.sampled_from(["", ":00", ":59", ":60", ":07"]))  # "": no seconds
    fraction = ""
    if second:
        fraction = draw(st.sampled_from(["", ".5", ".123456", ".123456789", ".000000001"]))
    return f"{date}{sep}{hour:02d}:{minute:02d}{second}{fraction}{draw(st.sampled_from(_OFFSETS))}"


_TS = re.compile(
    r"^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d)(?::(\d\d)(?:\.(\d+))?)?([Zz]|[+-]\d\d:\d\d)$"
)


def instant(text: str) -> datetime | None:
    """The UTC instant a timestamp names, worked out here independently of the models;
    None when it names none (a leap second) or one no datetime can hold."""
    m = _TS.match(text)
    assert m, text
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))  # truncated to the microsecond
    if second == 60:
        return None
    zone = m.group(8)
    offset = timedelta(0)
    if zone not in ("Z", "z"):
        sign = 1 if zone[0] == "+" else -1
        offset = sign * timedelta(hours=int(zone[1:3]), minutes=int(zone[4:6]))
    try:
        local = datetime(year, month, day, hour, minute, second, micros)
        return (local - offset).replace(tzinfo=None)
    except OverflowError:
        return None


# --- lines -------------------------------------------------------------------------------------

_STRINGS = [
    "plain",
    "nul\u0000inside",
    "rtl\u200fmark",
    "\u202eoverride",
    "tab\tand\u001b[2J",
    "emoji \U0001f600",
    "x" * 300,
]


@st.composite
def awkward_event(draw: st.DrawFn, n: int) -> str:
    kind = draw(
        st.sampled_from(
            ["run.started", "step.finished", "data.touched", "metric", "approval.requested"]
        )
    )
    event: dict[str, Any] = {
        "event_id": f"e-{n}",
        "type": kind,
        "ts": draw(timestamps()),
        "run_id": f"r-{n % 3}",
    }
    text_field = draw(st.sampled_from(_STRINGS))
    if kind == "run.started":
        event.update(workflow=text_field, scope=["ledger:write:Invoice"], identity="svc")
    elif kind == "step.finished":
        event.update(
            step_id="s1",
            name=text_field,
            status="ok",
            tokens_in=draw(st.sampled_from([1, 2**63 - 1, 2**64, 10**30])),
            cost_usd=draw(st.sampled_from([0.5, 1e308])),
        )
    elif kind == "data.touched":
        event.update(
            system="ledger",
            object="Invoice",
            record_id=text_field,
            action="update",
            before={"status": "open"},
            after={"status": text_field},
        )
    elif kind == "metric":
        event.update(name="score", value=draw(st.sampled_from([0.9, 1e308, -1e308])))
    else:
        event.update(approval_id=f"apr-{n}", risk="high", expires_at=draw(timestamps()))
    attrs = draw(st.sampled_from(["none", "deep", "wide", "bigint"]))
    if attrs == "deep":
        nested: Any = 1
        for _ in range(100):
            nested = {"d": nested}
        event["attrs"] = nested
    elif attrs == "wide":
        event["attrs"] = {f"k{i}": i for i in range(10_000)}
    elif attrs == "bigint":
        event["attrs"] = {"big": 2**80, "small": -(2**70)}
    line = json.dumps(
        event,
        ensure_ascii=draw(st.booleans()),
        separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
    )
    trick = draw(
        st.sampled_from(
            ["none", "none", "dup_ts", "dup_run", "nan", "inf", "surrogate", "dup_nested"]
        )
    )
    if trick == "dup_ts":
        line = line[:-1] + ', "ts": "2026-01-01T00:00:00Z"}'
    elif trick == "dup_run":
        line = '{"run_id": "r-other", ' + line[1:]
    elif trick == "nan":
        line = line[:-1] + ', "score": NaN}'
    elif trick == "inf" and kind == "metric":
        line = re.sub(r'"value": ?[-0-9.e+]+', '"value": Infinity', line)
    elif trick == "surrogate":
        line = line[:-1] + ', "s": "\\ud800"}'
    elif trick == "dup_nested" and kind == "data.touched":
        line = line.replace('"before": {', '"before": {"status": "x", ', 1)
    return line


_INVALID = [
    '{"type": "run.started", "ts": "2026-11-20T08:00:00Z"',  # truncated
    '{"type": "metric", "ts": "2026-11-20T08:00:00", "run_id": "r", "name": "x", "value": 1}',
    '{"type": "metric", "ts": "2026-11-20T08:00:00Z", "run_id": 7, "name": "x", "value": 1}',
    '{"type": "nope", "ts": "2026-11-20T08:00:00Z", "run_id": "r"}',
    "[1, 2, 3]",
    '{"type": "data.touched", "ts": "2026-11-20T08:00:00Z", "run_id": "r"}',
]


@st.composite
def files(draw: st.DrawFn) -> list[str]:
    count = draw(st.integers(1, 12))
    lines = []
    for n in range(count):
        if draw(st.integers(0, 4)) == 0:
            lines.append(draw(st.sampled_from(_INVALID)))
        else:
            lines.append(draw(awkward_event(n)))
    return lines


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(lines=files())
def test_every_line_is_stored_or_quarantined_with_a_class(
    tmp_path_factory: Any, lines: list[str]
) -> None:
    folder = tmp_path_factory.mktemp("awkward")
    log = Path(folder) / "run.jsonl"
    log.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    with Store.open(Path(folder) / "qd.duckdb") as store:
        first = load_paths(store.con, [log])
        assert first.problems == [], first.problems
        stored = {
            row[0]: row[1:]
            for row in store.con.execute("SELECT line_no, ts, expires_at FROM events").fetchall()
        }
        quarantined = dict(
            store.con.execute("SELECT line_no, error_class FROM quarantine").fetchall()
        )
        for number, line in enumerate(lines, start=1):
            assert (number in stored) != (number in quarantined), (number, line[:200])
            if number in quarantined:
                assert quarantined[number] in ERROR_CLASSES, quarantined[number]
                event(f"quarantined: {quarantined[number]}")
                continue
            event("stored")
            ts, expires_at = stored[number]
            obj = json.loads(line)  # stored lines are JSON the standard library reads alike
            assert ts == instant(obj["ts"]), (obj["ts"], ts)
            if obj.get("expires_at") is not None:
                assert expires_at == instant(obj["expires_at"])
        again = load_paths(store.con, [log])
        assert (again.events, again.quarantined_new) == (0, 0)
        assert store.con.execute("SELECT count(*) FROM events").fetchone()[0] == len(stored)


def test_a_timestamp_without_seconds_is_stored_not_a_lost_file(
    store: Store, tmp_path: Path
) -> None:
    """The reported case: one such line made the whole file fail with a Catalog Error."""
    log = tmp_path / "run.jsonl"
    log.write_text(
        '{"event_id":"a","type":"metric","ts":"2026-11-20T08:05Z","run_id":"r","name":"x",'
        '"value":1}\n'
        '{"event_id":"b","type":"metric","ts":"2026-11-20T08:06:00Z","run_id":"r","name":"x",'
        '"value":2}\n'
    )
    summary = load_paths(store.con, [log])
    assert summary.problems == [] and summary.events == 2
    assert store.con.execute("SELECT ts FROM events ORDER BY ts").fetchall() == [
        (datetime(2026, 11, 20, 8, 5),),
        (datetime(2026, 11, 20, 8, 6),),
    ]


def test_a_line_the_store_refuses_is_quarantined_and_the_rest_loads(
    store: Store, tmp_path: Path
) -> None:
    """Whatever the store refuses (here: a NULL a constraint forbids, as a stand-in for any
    value the models accept and DuckDB will not hold) is found by bisection and quarantined
    as `store_rejected` with the database's message; the other lines load."""
    store.con.execute("ALTER TABLE events ALTER COLUMN workflow SET NOT NULL")
    lines = [
        json.dumps(
            {
                "event_id": f"e{i}",
                "type": "metric",
                "ts": "2026-11-20T08:00:00Z",
                "run_id": "r",
                "name": "x",
                "value": i,
                **({} if i in (3, 11) else {"workflow": "wf"}),
            }
        )
        for i in range(16)
    ]
    log = tmp_path / "run.jsonl"
    log.write_text("\n".join(lines) + "\n")
    summary = load_paths(store.con, [log])
    assert summary.problems == [] and summary.events == 14
    rows = store.con.execute(
        "SELECT line_no, error_class, error FROM quarantine ORDER BY line_no"
    ).fetchall()
    assert [(n, c) for n, c, _ in rows] == [(4, "store_rejected"), (12, "store_rejected")]
    assert all("the store refused this line" in e for _, _, e in rows)


def test_a_run_whose_token_sum_passes_64_bits_is_summed(store: Store, tmp_path: Path) -> None:
    """Found by the property test: two steps of 2**63 - 1 tokens each failed the summary
    refresh for every run of the load; then the sum was unknown (NULL). The sums are
    HUGEINT now: the sum is what it is."""
    big = 2**63 - 1
    log = tmp_path / "run.jsonl"
    log.write_text(
        "\n".join(
            json.dumps(
                {
                    "event_id": f"s{i}",
                    "type": "step.finished",
                    "ts": f"2026-11-20T08:00:0{i}Z",
                    "run_id": "r-big",
                    "step_id": f"s{i}",
                    "status": "ok",
                    "tokens_in": big,
                    "tokens_out": 1,
                }
            )
            for i in range(2)
        )
        + "\n"
    )
    summary = load_paths(store.con, [log])
    assert summary.problems == []
    assert store.con.execute(
        "SELECT steps, tokens_in, tokens_out FROM run_summary WHERE run_id = 'r-big'"
    ).fetchone() == (2, 2 * big, 2)
