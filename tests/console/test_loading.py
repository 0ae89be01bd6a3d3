"""A pane says it is loading until its first answer arrives: a console through a server that
takes a moment never says the store is empty while the status bar counts its runs."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from quarterdeck.config import Settings
from quarterdeck.console.app import make_app
from quarterdeck.console.data import StoreReader
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import LOADING
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import NOW, started, write_jsonl
from support.pilot import screen_lines, until


async def test_a_pane_says_loading_until_its_first_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answer = threading.Event()
    fetch = RunsPane.fetch

    def slow(self: RunsPane, view: Any, page: Any) -> pa.Table:
        answer.wait(30)  # a server that takes a moment
        return fetch(self, view, page)

    monkeypatch.setattr(RunsPane, "fetch", slow)
    with Store.open(tmp_path / "qd.duckdb") as store:
        app = make_app(store, Settings(), clock=lambda: NOW)
        async with app.run_test(size=(140, 30)) as pilot:
            await until(pilot, lambda: any(LOADING in line for line in screen_lines(app)))
            assert not any(RunsPane.EMPTY[:20] in line for line in screen_lines(app))
            answer.set()
            await until(
                pilot, lambda: any(RunsPane.EMPTY[:20] in line for line in screen_lines(app))
            )
            assert not any(LOADING in line for line in screen_lines(app))


async def test_a_screens_tables_say_loading_not_empty_until_its_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run's detail on a busy server: its tabs said "No steps recorded." before its answer
    came, a claim about a run nobody had read yet."""
    answer = threading.Event()
    fetch = StoreReader.run_detail

    def slow(self: StoreReader, run_id: str) -> Any:
        answer.wait(30)
        return fetch(self, run_id)

    monkeypatch.setattr(StoreReader, "run_detail", slow)
    write_jsonl(tmp_path / "logs" / "a.jsonl", [started("r-1")])  # a run with no step
    with Store.open(tmp_path / "qd.duckdb") as store:
        load_paths(store.con, [tmp_path / "logs"])
        app = make_app(store, Settings(), clock=lambda: NOW)
        async with app.run_test(size=(140, 30)) as pilot:
            app.push_screen(RunDetailScreen(app.reader, "r-1"))
            await until(pilot, lambda: any(LOADING in line for line in screen_lines(app)))
            assert not any("No steps recorded" in line for line in screen_lines(app))
            answer.set()
            await until(
                pilot, lambda: any("No steps recorded" in line for line in screen_lines(app))
            )
            assert not any(LOADING in line for line in screen_lines(app))
