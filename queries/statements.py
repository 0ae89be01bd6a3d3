"""Running the writers' statements: a unit of work in one transaction, a row read back.

`transaction` commits what its block did or, on any exception (an interrupt included), rolls
all of it back and re-raises: a unit is stored whole or not at all. A rollback that itself
fails (the connection already gone) must not hide the error that caused it, so that failure
is dropped and the original exception propagates.

`one_row` is for statements that always return exactly one row (an aggregate, a setting, the
one-row `derived_marks`): no row means the store is not the one this code was written for,
and that is raised as such rather than surfacing later as an error about `None`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import duckdb
import pyarrow as pa


@contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        con.execute("COMMIT")
    except BaseException:
        with suppress(duckdb.Error):
            con.execute("ROLLBACK")
        raise


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> tuple[Any, ...]:
    """The one row `sql` returns."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise LookupError(f"no row where one is always returned: {' '.join(sql.split())}")
    return row


def count(con: duckdb.DuckDBPyConnection, table: str) -> int:
    """The number of rows in `table` (a name the caller wrote, never input)."""
    return scalar(con, f"SELECT count(*) FROM {table}")


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: object = None) -> int:
    """The first column of the first row `sql` returns, as an int (0 when it returns none)."""
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row else 0


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, table: pa.Table) -> Iterator[None]:
    """`table` readable as `name` by the statements of the block (on this cursor only)."""
    con.register(name, table)
    try:
        yield
    finally:
        con.unregister(name)
