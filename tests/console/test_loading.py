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
from quarterdeck.console.widgets.pane import LOADING
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.queries.store import Store
from support.events import NOW
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
