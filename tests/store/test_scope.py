"""Scope coverage: every touch gets `in_scope`, computed in SQL, checked against the rules."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quarterdeck.queries.runs import run_touches
from quarterdeck.queries.touches import TouchFilter, touch_detail, touches
from support.events import event, started, write_jsonl
from support.scope_oracle import grant_covers
from support.scope_oracle import in_scope as oracle

RULES = [
    (["crm:read"], "crm", "Contact", "read", True),
    (["crm:read"], "crm", "Contact", "update", False),
    (["crm:write"], "crm", "Contact", "read", True),
    (["crm:write"], "crm", "Contact", "create", True),
    (["crm:write"], "crm", "Contact", "update", True),
    (["crm:write"], "crm", "Contact", "delete", False),
    (["crm:write"], "crm", "Contact", "export", False),
    (["crm:delete"], "crm", "Contact", "delete", True),
    (["crm:delete"], "crm", "Contact", "read", False),
    (["crm:export"], "crm", "Contact", "export", True),
    (["crm:*"], "crm", "Contact", "delete", True),
    (["crm:write:Contact"], "crm", "Contact", "update", True),
    (["crm:write:Contact"], "crm", "Account", "update", False),
    (["crm:write:Contact"], "erp", "Contact", "update", False),
    (["crm:read", "crm:write:Account"], "crm", "Account", "create", True),
    ([], "crm", "Contact", "read", False),
    (["*:read"], "anything", "X", "read", True),
    (["ledger:write:*"], "ledger", "Payment", "update", True),
]


@pytest.mark.parametrize(("scope", "system", "obj", "action", "expected"), RULES)
def test_grant_rules(store, scope, system, obj, action, expected) -> None:
    got = store.con.execute(
        "SELECT qd_in_scope(?, ?, ?, ?)", [scope, system, obj, action]
    ).fetchone()[0]
    assert got is expected
    assert oracle(scope, system, obj, action) is expected


@functools.cache
def _memory_store():
    import duckdb

    from quarterdeck.queries import macros
    from quarterdeck.queries.migrations import migrate

    con = duckdb.connect()
    migrate(con)
    macros.install(con)
    return con


_names = st.sampled_from(["crm", "erp", "ledger", "*"])
_objects = st.sampled_from(["Contact", "Invoice", "*"])
_access = st.sampled_from(["read", "write", "delete", "export", "*"])
_grants = st.builds(
    lambda s, a, o: f"{s}:{a}" + (f":{o}" if o else ""),
    _names,
    _access,
    st.one_of(st.none(), _objects),
)
#: A run's scope and one touch of it.
_TOUCH = {
    "scope": st.lists(_grants, max_size=4),
    "system": st.sampled_from(["crm", "erp", "ledger"]),
    "obj": st.sampled_from(["Contact", "Invoice"]),
    "action": st.sampled_from(["read", "create", "update", "delete", "export"]),
}


@settings(max_examples=150, deadline=None)
@given(**_TOUCH)
def test_sql_agrees_with_the_rules(scope, system, obj, action) -> None:
    got = (
        _memory_store()
        .execute("SELECT qd_in_scope(?, ?, ?, ?)", [scope, system, obj, action])
        .fetchone()
    )
    assert got[0] is oracle(scope, system, obj, action)


@settings(max_examples=150, deadline=None)
@given(**_TOUCH)
def test_the_grant_an_out_of_scope_touch_needed_would_have_covered_it(
    scope, system, obj, action
) -> None:
    inside, needed = (
        _memory_store()
        .execute(
            "SELECT qd_in_scope($1, $2, $3, $4), "
            "qd_needed_grant(qd_in_scope($1, $2, $3, $4), $2, $3, $4)",
            [scope, system, obj, action],
        )
        .fetchone()
    )
    if inside:
        assert needed is None
    else:  # the narrowest grant: this system, this object, the least access for the action
        assert grant_covers(needed, system, obj, action) and oracle(
            [*scope, needed], system, obj, action
        )
        assert needed.split(":")[0::2] == [system, obj]
        assert needed.split(":")[1] == ("write" if action in ("create", "update") else action)


def test_touches_are_marked_and_counted_per_run(tmp_path: Path, store, ingest) -> None:
    touch = lambda i, action, obj="Invoice", system="ledger": event(  # noqa: E731
        "data.touched",
        "2026-11-20T08:01:00Z",
        event_id=f"t{i}",
        system=system,
        object=obj,
        record_id=f"R{i}",
        action=action,
    )
    path = write_jsonl(
        tmp_path / "a.jsonl",
        [
            started(scope=["ledger:write:Invoice", "erp:read"]),
            touch(1, "update"),
            touch(2, "delete"),
            touch(3, "read", "PO", "erp"),
            touch(4, "update", "Payment"),
        ],
    )
    ingest(path)
    marks = dict(store.con.execute("SELECT record_id, in_scope FROM touches").fetchall())
    assert marks == {"R1": True, "R2": False, "R3": True, "R4": False}
    assert store.con.execute(
        "SELECT out_of_scope, touched, deletes FROM run_summary"
    ).fetchone() == (2, 4, 1)
    listed = touches(store.con, where=TouchFilter(out_of_scope=True)).column("record_id")
    assert sorted(listed.to_pylist()) == ["R2", "R4"]  # the filter reads its own table
    needed = {"R1": None, "R2": "ledger:delete:Invoice", "R3": None, "R4": "ledger:write:Payment"}
    for found in (touches(store.con), run_touches(store.con, "r-1")):
        got = found.to_pydict()
        assert dict(zip(got["record_id"], got["needed_grant"], strict=True)) == needed
    assert touch_detail(store.con, "t4")["needed_grant"] == "ledger:write:Payment"


def test_a_touch_logged_before_its_run_started_is_marked_later(
    tmp_path: Path, store, ingest
) -> None:
    touch = event(
        "data.touched",
        "2026-11-20T08:01:00Z",
        event_id="t1",
        system="crm",
        object="Contact",
        record_id="C1",
        action="export",
    )
    ingest(write_jsonl(tmp_path / "first.jsonl", [touch]))
    assert store.con.execute("SELECT in_scope FROM touches").fetchone() == (None,)
    assert store.con.execute("SELECT out_of_scope FROM run_summary").fetchone() == (0,)
    ingest(write_jsonl(tmp_path / "second.jsonl", [started(scope=["crm:write"])]))
    assert store.con.execute("SELECT in_scope FROM touches").fetchone() == (False,)
    assert store.con.execute("SELECT out_of_scope FROM run_summary").fetchone() == (1,)
    listed = touches(store.con, where=TouchFilter(out_of_scope=True)).column("record_id")
    assert listed.to_pylist() == ["C1"]
