"""Shared fixtures: a real DuckDB store in a temp dir, real log files, the generated fleet.

Plain helpers (event builders, the fixed clock `NOW`, `settle` and `until` for Pilot sessions)
are in tests/support, imported as `support.…`; fixtures that only one layer's tests use are in
that folder's conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quarterdeck.ingest.load import LoadSummary, load_paths
from quarterdeck.queries.store import Store
from support.events import FLEET_END


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "store" / "qd.duckdb")
    yield opened
    opened.close()


@pytest.fixture
def ingest(store: Store) -> Callable[..., LoadSummary]:
    def run(*paths: Path | str) -> LoadSummary:
        return load_paths(store.con, list(paths))

    return run


@pytest.fixture(scope="session")
def fleet_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A generated sample fleet (fixed seed and end), shared read-only by tests."""
    from quarterdeck.runner.fleet import generate

    out = tmp_path_factory.mktemp("fleet")
    generate(out, runs=120, seed=11, days=2, end=FLEET_END)
    return out


@pytest.fixture
def fleet_store(
    tmp_path: Path, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The fleet loaded into a store at `qd.duckdb` in the working directory (so the
    console's status bar shows a short, stable path)."""
    monkeypatch.chdir(tmp_path)
    opened = Store.open(Path("qd.duckdb"))
    load_paths(opened.con, [fleet_dir])
    yield opened
    opened.close()
