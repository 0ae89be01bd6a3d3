"""A load derives its runs under its own memory limit, a slice of runs at a time (`derived`);
a refresh that still needs more than that limit holds (DuckDB's OutOfMemoryException, the
slice rolled back) is done again with DuckDB's own limit, so the summaries are never left
behind (issue 17: 1M runs at 10M events)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from quarterdeck.ingest import load
from quarterdeck.queries import derived


def test_a_refresh_out_of_memory_under_the_load_limit_is_done_again(
    store, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    con = store.con
    limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    real = derived.refresh_derived
    limits: list[str] = []

    def refresh(c: duckdb.DuckDBPyConnection, **kw: int) -> int:
        limits.append(c.execute("SELECT current_setting('memory_limit')").fetchone()[0])
        if len(limits) == 2:  # the load's own refresh, after its batches
            raise duckdb.OutOfMemoryException("could not allocate block of size 256.0 KiB")
        return real(c, **kw)

    monkeypatch.setattr(derived, "refresh_derived", refresh)
    summary = load.load_paths(con, [fleet_dir])
    assert summary.problems == [] and summary.runs_updated == 120
    # the load's limit, then DuckDB's own again (as DuckDB prints it: 18.8 GiB set is 18.7)
    assert limits[1] != limit and limits[2] != limits[1]
    assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] != limits[1]
    assert con.execute("SELECT count(*) FROM run_summary").fetchone()[0] == 120
