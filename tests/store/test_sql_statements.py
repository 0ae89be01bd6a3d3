"""Every SQL statement in the store package binds against a migrated, empty store.

A statement that cannot parse or bind (a typo, a function DuckDB does not have, a column that
was renamed) used to surface only when the rare path that runs it was taken — once, as a whole
file lost to `Catalog Error`. Here each one is PREPAREd, which parses and binds it (names,
types, functions) without running it, so such a statement fails the suite instead.

Statements are found, not listed: every string reachable from a `quarterdeck.queries` module's
globals (constants, dict values, tuple items) that starts like a statement, and every first
argument of an `.execute(…)` call that can be evaluated from the module's globals alone.
Format placeholders (`{order}`, `{runs}`, …) are filled with a value the code itself would use.
"""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest

import quarterdeck.queries
from quarterdeck.queries import derived
from quarterdeck.queries.store import Store

#: What the code puts into each `{placeholder}` (one legal value is enough to bind).
PLACEHOLDERS = {
    "order": "started_at DESC",
    "direction": "DESC",
    "runs": "",
    "active": "0",
    "source": "touches",
    "where": "true",
    "page": "AND s.run_id IN (SELECT run_id FROM _qd_page)",
    "table": "events",  # derived._BACKFILL_SCOPE: events, then record_touches
    "touch": "",
    "join": "",  # runs._HISTORY: or the pending approvals' join
    "pending": "false",  # approvals._APPROVALS: pending_only
    "run_set": "_runs",  # derived._SUMMARY_ROWS: the new runs, or the known ones
    "recheck": "",  # derived._BACKFILL: or the runs a new publish bears on
    "since": "$since",  # macros._STATES_OF: the macros' parameter, or the refresh's
    "only": "",  # macros._STATES_OF: or the approvals of a refresh
    "states": "SELECT * FROM qd_approval_states()",  # macros._MERGE_OF
}

_STATEMENT = re.compile(
    r"^\s*(SELECT|WITH|INSERT\s+INTO|UPDATE|DELETE\s+FROM|CREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE)\s+\S",
    re.I,
)
_CREATE_AS = re.compile(r"^\s*CREATE\s+OR\s+REPLACE\s+TEMP\s+TABLE\s+\w+\s+AS\s+", re.I)
_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")  # `{order}`; not `{'kind': …}`, a struct literal

#: Scratch tables the write side makes for the length of one refresh, and the Arrow tables of
#: run ids the findings register for one query.
SCRATCH = {
    "_runs": "run_id VARCHAR",
    "_republished": "run_id VARCHAR",
    "_starts": "run_id VARCHAR, s STRUCT(ts TIMESTAMP, workflow VARCHAR, workflow_version VARCHAR, "
    "environment VARCHAR, identity VARCHAR, trigger_kind VARCHAR, trigger_by VARCHAR, "
    "scope VARCHAR[], session_id VARCHAR, user_id VARCHAR), checked VARCHAR[], "
    "conflicting_start BOOLEAN",
    "_approvals": "approval_id VARCHAR",
    "_known_runs": "run_id VARCHAR, first_event_at TIMESTAMP",
    "_new_runs": "run_id VARCHAR",
    "_qd_page": "run_id VARCHAR",
    "_qd_started": "run_id VARCHAR",
    "_unlike": "pos INTEGER, event_id VARCHAR",
}


def _modules() -> list[ModuleType]:
    package = quarterdeck.queries
    names = [
        info.name for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + ".")
    ]
    return [importlib.import_module(name) for name in sorted(names)]


def _strings(value: Any, depth: int = 0) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif depth < 2 and isinstance(value, dict):
        for item in value.values():
            yield from _strings(item, depth + 1)
    elif depth < 2 and isinstance(value, tuple | list):
        for item in value:
            yield from _strings(item, depth + 1)


def _in_calls(module: ModuleType) -> Iterator[str]:
    """First arguments of `.execute(…)` calls that the module's globals alone determine."""
    tree = ast.parse(Path(module.__file__ or "").read_text())
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"execute", "sql", "executemany"}
            and node.args
        ):
            try:
                value = eval(  # noqa: S307 - the module's own expressions, its own globals
                    compile(ast.Expression(node.args[0]), module.__file__ or "", "eval"),
                    dict(vars(module)),
                )
            except Exception:  # names local to a function: the constant is collected instead
                continue
            if isinstance(value, str):
                yield value


def _statements() -> list[tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}  # one entry per statement, however often it recurs
    for module in _modules():
        texts = [s for value in vars(module).values() for s in _strings(value)]
        texts += list(_in_calls(module))
        for text in texts:
            if _STATEMENT.match(text):
                found.setdefault(" ".join(text.split()), (module.__name__, text))
    return sorted(found.values())


def _filled(sql: str) -> str:
    unknown = set(_PLACEHOLDER.findall(sql)) - PLACEHOLDERS.keys()
    assert not unknown, f"add a sample value for {sorted(unknown)} to PLACEHOLDERS"
    sql = _PLACEHOLDER.sub(lambda m: PLACEHOLDERS[m.group(1)], sql)
    sql = derived._of(sql, every=False)  # `{of RUNS}`: the events of a refresh's runs
    # PREPARE takes no DDL: bind the query a scratch table is made from
    return _CREATE_AS.sub("", sql)


STATEMENTS = _statements()


def test_statements_are_found() -> None:
    """The crawl sees the store's statements (a crawl that finds nothing proves nothing)."""
    modules = {module for module, _ in STATEMENTS}
    assert len(STATEMENTS) >= 40
    assert {"quarterdeck.queries.runs", "quarterdeck.queries.triggers"} <= modules


@pytest.fixture(scope="module")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    store = Store.open(tmp_path_factory.mktemp("sql") / "qd.duckdb")
    # the Arrow tables the write side registers for one statement, and its scratch tables
    for name, columns in SCRATCH.items():
        store.con.execute(f"CREATE TEMP TABLE {name} ({columns})")
    for module in _modules():
        lines = getattr(module, "LINES_SCHEMA", None)
        if isinstance(lines, pa.Schema):
            store.con.register("_incoming", lines.append(pa.field("pos", pa.int32())).empty_table())
        records = getattr(module, "APPROVAL_RECORD_SCHEMA", None)
        if isinstance(records, pa.Schema):
            store.con.register("_records", records.empty_table())
        rejected = getattr(module, "QUARANTINE_SCHEMA", None)
        if isinstance(rejected, pa.Schema):
            store.con.register("_rejected", rejected.empty_table())
    yield store
    store.close()


@pytest.mark.parametrize(
    ("module", "sql"),
    STATEMENTS,
    ids=[f"{m.rsplit('.', 1)[-1]}-{i}" for i, (m, _) in enumerate(STATEMENTS)],
)
def test_statement_binds(empty_store: Store, module: str, sql: str) -> None:
    con = empty_store.con
    try:
        con.execute(f"PREPARE _qd_check AS {_filled(sql)}")
    except Exception as exc:  # the message names what DuckDB could not bind
        pytest.fail(f"{module}: {type(exc).__name__}: {exc}\n--- statement ---\n{sql}")
    con.execute("DEALLOCATE PREPARE _qd_check")
