"""Shared fixtures: a real DuckDB store in a temp dir, real log files, the generated fleet.

Plain helpers (event builders, the fixed clock `NOW`, `settle` and `until` for Pilot sessions)
are in tests/support, imported as `support.…`; fixtures that only one layer's tests use are in
that folder's conftest.py.

How the suite runs, and what that asks of every test
----------------------------------------------------
`make test` runs the suite in two processes at once (pytest-xdist, `-n 2 --dist loadgroup`):
CI's machine has two cores and most of the suite's time is CPU, its own or its subprocesses'.
Each worker is a separate pytest session, so a session fixture is built once per worker, and
any test may run beside any other. Hence:

- A test writes only under its own `tmp_path` (or `tmp_path_factory`): never into the checkout,
  the home folder, or a fixed path in /tmp. A folder that must be outside pytest's (another
  user must enter it) comes from `tempfile.mkdtemp`, and is removed by the test.
- Whatever the machine shares is named uniquely per test: a tmux server of its own
  (`tmux -L <uuid>`), a server's socket beside the test's own store, a test user named after
  the worker's pid.
- A test waits for the condition it needs (`support.serving.until`, `support.pilot.until` and
  `settle`), never for a fixed time, and asserts nothing about how long something took: the
  other core may be running a server under load meanwhile. In a Pilot session a pushed
  screen is `app.screen` before it has mounted: wait for `app.screen.is_mounted` too.
- A test that must not run beside another heavy one (a load test, a soak, one that measures a
  latency the issue names) is marked `@pytest.mark.xdist_group("heavy")`: the tests of a group
  run one after another on one worker, so no two of them run at once.
- The environment a test's subprocesses inherit is the one a plain `pytest` run has: xdist's
  workers are given COLUMNS and LINES (80x24), which would size every console a test starts in
  a terminal of its own (tmux); `pytest_configure` below removes them.
- A store with the test fleet in it is a copy of one loaded once per worker
  (`fleet_template`), not loaded again per test: `fleet_store` and `pending_store` are such
  copies, and `fleet_copy(path)` puts one wherever a test needs its store (a command's default
  `.quarterdeck/quarterdeck.duckdb`, a server's store).

`make test` stays under a budget (CI's whole run, install included, under 10 minutes on its
2-core machine): a new test costs what it waits, so keep it to a few seconds unless the issue
it proves names a duration. `pytest --durations=20` shows where the time goes.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from quarterdeck.ingest.load import LoadSummary, load_paths
from quarterdeck.queries.decisions import Paths
from quarterdeck.queries.store import Store
from support.events import FLEET_END


def pytest_configure(config: pytest.Config) -> None:
    """No COLUMNS or LINES for the tests' subprocesses (see the module's docstring)."""
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "store" / "qd.duckdb")
    yield opened
    opened.close()


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    """Where a test's decisions go: a journal and an outbox in its own folder."""
    return Paths(journal=tmp_path / "journal.jsonl", outbox=tmp_path / "outbox.jsonl")


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


@pytest.fixture(scope="session")
def fleet_template(tmp_path_factory: pytest.TempPathFactory, fleet_dir: Path) -> Path:
    """A closed store with `fleet_dir` loaded into it, as `quarterdeck ingest FLEET_DIR` leaves
    it. No test opens it: tests get copies (`fleet_copy`)."""
    path = tmp_path_factory.mktemp("fleet-store") / "qd.duckdb"
    with Store.open(path) as store:
        load_paths(store.con, [fleet_dir])
    return path


@pytest.fixture
def fleet_copy(fleet_template: Path) -> Callable[[Path], Path]:
    """`fleet_copy(path)`: a copy of the fleet's store at `path` (its folder made), closed, a
    file of the test's own; returns `path`."""

    def copy(to: Path) -> Path:
        to.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(fleet_template, to)
        return to

    return copy


@pytest.fixture
def fleet_store(
    tmp_path: Path, fleet_copy: Callable[[Path], Path], monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The fleet loaded into a store at `qd.duckdb` in the working directory (so the
    console's status bar shows a short, stable path)."""
    monkeypatch.chdir(tmp_path)
    fleet_copy(tmp_path / "qd.duckdb")
    opened = Store.open(Path("qd.duckdb"))
    yield opened
    opened.close()


@pytest.fixture(scope="session")
def agent_traces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real agent apps' traces (tests/support/agents.py), made once per worker: app and
    instrumentation (`langgraph-openinference`, `langgraph-openllmetry`, `openai-agents`) →
    an OTLP JSON file as the Collector writes it. Tests that use it are marked
    `xdist_group("agents")`, so that one worker pays for them (~5 s)."""
    from support.agents import agent_traces as make

    out = tmp_path_factory.mktemp("agent-traces")
    files = {}
    for name, lines in make().items():
        files[name] = out / f"{name}.json"
        files[name].write_text("\n".join(lines) + "\n")
    return files
