"""What the console shows to lead back to the logs and to the missing grant: a run's Events
tab gives each event's file relative to the folder ingested (four workflows' folders share
`runs-2026-11-26.jsonl`), its line and byte offset; the Touched tab and the touch itself name
the grant an out-of-scope touch needed."""

from __future__ import annotations

from quarterdeck.config import Settings
from quarterdeck.console.app import make_app
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import TouchScreen
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.store import Store
from support.events import NOW
from support.pilot import settle, until


def rows(table: TableView) -> list[str]:
    return [" ".join(map(str, table.table.get_row_at(i))) for i in range(len(table.keys))]


async def test_events_name_their_file_line_and_offset_and_touches_their_missing_grant(
    fleet_store: Store,
) -> None:
    event_id, run_id, needed = fleet_store.con.execute(
        "SELECT event_id, run_id, qd_needed_grant(in_scope, system, object, action) "
        "FROM touches WHERE in_scope = false ORDER BY event_id LIMIT 1"
    ).fetchone()
    source, line, offset = fleet_store.con.execute(
        "SELECT source, line_no, byte_offset FROM events WHERE event_id = ?", [event_id]
    ).fetchone()
    assert "/" in source  # the workflow's folder, then the file
    app = make_app(fleet_store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=(200, 40)) as pilot:
        await settle(pilot)
        app.push_screen(RunDetailScreen(app.reader, run_id))
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.detail)
        screen = app.screen
        touched = screen.query_one("#touches-table", TableView)
        assert "NEEDED GRANT" in touched.labels
        assert needed in rows(touched)[touched.keys.index(event_id)]
        events = screen.query_one("#events-table", TableView)
        shown = rows(events)[events.keys.index(event_id)]
        assert f"{source}:{line}" in shown and str(offset) in shown

        app.push_screen(TouchScreen(app.reader, event_id))
        await until(pilot, lambda: isinstance(app.screen, TouchScreen) and app.screen.touch)
        facts = str(app.screen.query_one("#touch-facts").render())
        assert f"no grant of the run covers it; it needed {needed}" in facts
