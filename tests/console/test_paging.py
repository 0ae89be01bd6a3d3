"""Panes load a page at a time: the next page when the cursor reaches the end, up to a cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.widgets import pane as pane_module
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.pane import Pane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.touched_pane import TouchedPane
from quarterdeck.queries.approvals import approvals
from quarterdeck.queries.runs import run_history
from quarterdeck.queries.store import Store
from quarterdeck.queries.touches import touches
from support.events import NOW, event, started, write_jsonl
from support.pilot import settle, until

SIZE = (160, 40)


def _pages(fetch, size: int) -> list[str]:
    """Every row, page by page: `fetch(limit, offset, last)` → one page."""
    keys: list[str] = []
    last = None
    while True:
        page = fetch(size, len(keys), last).to_pylist()
        keys += [row["key"] for row in page]
        if len(page) < size:
            return keys
        last = page[-1]


def test_touch_pages_follow_each_other_even_within_one_instant(
    tmp_path: Path, store, ingest
) -> None:
    # 13 touches, most of them sharing a timestamp: the page boundary falls inside a tie
    lines = [started()]
    for i in range(13):
        ts = "2026-11-20T08:05:00Z" if i % 4 else f"2026-11-20T08:0{i // 4}:30Z"
        lines.append(
            event(
                "data.touched",
                ts,
                event_id=f"t{i:02d}",
                system="ledger",
                object="Invoice",
                record_id="INV-1",
                action="update",
            )
        )
    ingest(write_jsonl(tmp_path / "a.jsonl", lines))
    for oldest_first in (False, True):
        whole = touches(store.con, oldest_first=oldest_first)["event_id"].to_pylist()

        def fetch(limit, offset, last, oldest_first=oldest_first):
            after = (last["ts"], last["event_id"]) if last else None
            page = touches(store.con, limit=limit, after=after, oldest_first=oldest_first)
            return page.append_column("key", page["event_id"])

        for size in (1, 3, 4, 5):
            assert _pages(fetch, size) == whole, (oldest_first, size)


def test_run_and_approval_pages_by_offset_add_up_to_the_whole(fleet_store: Store) -> None:
    con = fleet_store.con
    whole = run_history(con, now=NOW, sort="duration_s")["run_id"].to_pylist()

    def runs_page(limit, offset, last):
        page = run_history(con, now=NOW, sort="duration_s", limit=limit, offset=offset)
        return page.append_column("key", page["run_id"])

    assert len(whole) == 120 and _pages(runs_page, 7) == whole
    every = approvals(con, now=NOW)["approval_id"].to_pylist()

    def approvals_page(limit, offset, last):
        page = approvals(con, now=NOW, limit=limit, offset=offset)
        return page.append_column("key", page["approval_id"])

    assert _pages(approvals_page, 5) == every


def _app(store: Store) -> QuarterdeckApp:
    # no timed refresh: each load here is one the keys asked for (ctrl+r refreshes)
    return make_app(store, Settings(console={"refresh": "1h"}), clock=lambda: NOW)


def _title(pane: Pane) -> str:
    return str(pane.query_one(".pane-title").render())


async def test_moving_to_the_end_loads_the_next_page_up_to_the_cap(
    fleet_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pane_module, "PAGE", 7)
    monkeypatch.setattr(pane_module, "MAX_ROWS", 25)
    runs = [
        r[0]
        for r in fleet_store.con.execute(
            "SELECT run_id FROM run_summary ORDER BY started_at DESC, run_id"
        ).fetchall()
    ]
    newest = [
        r[0]
        for r in fleet_store.con.execute(
            "SELECT event_id FROM touches ORDER BY ts DESC, event_id LIMIT 25"
        ).fetchall()
    ]
    app = _app(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(RunsPane)
        table = pane.query_one(TableView)
        assert table.keys == runs[:7]
        assert "7 loaded" in _title(pane) and "more load as you scroll" in _title(pane)
        await pilot.press("down")
        await settle(pilot)
        assert len(table.keys) == 7  # not at the end yet: nothing more fetched
        await pilot.press("end")
        await until(pilot, lambda: table.keys == runs[:14])
        await settle(pilot)
        assert table.current_key() == runs[6]  # the cursor stays on its row
        for loaded in (21, 25, 25):
            await pilot.press("end")
            await until(pilot, lambda n=loaded: len(table.keys) == n)
            await settle(pilot)
        assert table.keys == runs[:25]  # 7 + 7 + 7 + 4: the cap, not a fourth page of 7
        assert "25 loaded" in _title(pane) and "the most kept at once" in _title(pane)
        # a refresh fetches again the pages up to the cursor, which keeps its row
        await pilot.press("up", "up")
        await until(pilot, lambda: table.current_key() == runs[22])
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert table.keys == runs[:25] and table.current_key() == runs[22]
        # ... and lets go of what scrolled far out of sight
        await pilot.press("home")
        await until(pilot, lambda: table.current_key() == runs[0])
        await pilot.press("ctrl+r")
        await until(pilot, lambda: table.keys == runs[:7])
        assert table.current_key() == runs[0]

        await pilot.press("2")
        await settle(pilot)
        touched = app.screen.query_one(TouchedPane)
        touched_table = touched.query_one(TableView)
        await until(pilot, lambda: len(touched_table.keys) == 7)
        for loaded in (14, 21, 25):
            await pilot.press("end")
            await until(pilot, lambda n=loaded: len(touched_table.keys) == n)
            await settle(pilot)
        await pilot.press("end")  # the last row of what is loaded
        await until(pilot, lambda: touched.current_record()["event_id"] == newest[-1])
        await settle(pilot)
        assert touched_table.keys == newest  # keyset pages: none lost, none twice

        await pilot.press("3")
        await settle(pilot)
        approvals_pane = app.screen.query_one(ApprovalsPane)
        count = fleet_store.con.execute("SELECT count(*) FROM approval_summary").fetchone()[0]
        assert count < 25 and count % 7  # under the cap; the last page comes back short
        approvals_table = approvals_pane.query_one(TableView)
        await until(pilot, lambda: len(approvals_table.keys) == 7)
        for page in range(count // 7):
            await pilot.press("end")
            await until(pilot, lambda p=page: len(approvals_table.keys) == min(count, 7 * (p + 2)))
            await settle(pilot)
        await settle(pilot)
        assert len(approvals_table.keys) == count
        assert f"{count} shown" in _title(approvals_pane)
        assert "more" not in _title(approvals_pane)
