"""The console through Textual's Pilot: keys in, what an operator sees out."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from textual import events

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.live import Flow
from quarterdeck.console.screens.help import HelpScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.screens.quarantine import QuarantineScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.events import NOW, event, started, write_jsonl
from support.pilot import screen_lines, settle, until

SIZE = (160, 40)


def app_for(store: Store, **kwargs) -> QuarterdeckApp:
    return make_app(store, Settings(), clock=lambda: NOW, **kwargs)


def burst(app: QuarterdeckApp, *keys: str) -> None:
    """Keys read in one burst, as a terminal delivers fast typing: none acted on before the
    next is read (Pilot's `press` lets each act first)."""
    characters = {"slash": "/", "colon": ":", "enter": "\r"}
    for key in keys:
        app.post_message(events.Key(key, characters.get(key, key)))


def runs_table(app: QuarterdeckApp) -> TableView:
    return app.screen.query_one(RunsPane).query_one(TableView)


async def test_runs_pane_lists_every_run_newest_first(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        keys = runs_table(app).keys
        assert len(keys) == 120
        newest = fleet_store.con.execute(
            "SELECT run_id FROM run_summary ORDER BY started_at DESC LIMIT 1"
        ).fetchone()[0]
        assert keys[0] == newest
        assert app.focused is runs_table(app).table
        status = str(app.screen.query_one("#status-bar").render())
        assert "120 runs" in status and "9 quarantined" in status and "qd.duckdb" in status


#: The glyphs Textual draws a scrollbar thumb's ends with, in eighths of a cell.
EIGHTHS = set("▁▂▃▄▅▆▇▉▊▋▌▍▎▏")


async def test_on_80_columns_the_status_bar_says_the_shorter_path_not_less_news(
    tmp_path: Path, fleet_copy
) -> None:
    """At 80 columns a long store path pushed the runs, the quarantined lines and READ-ONLY
    past the right edge: the path gives way first."""
    path = fleet_copy(tmp_path / "operations" / "fleet-of-the-payments-team" / "store.duckdb")
    store = Store.open(path)
    try:
        app = app_for(store, read_only=True)
        async with app.run_test(size=(80, 24)) as pilot:
            bar = app.screen.query_one("#status-bar")
            await until(pilot, lambda: "quarantined" in str(bar.render()))
            said = str(bar.render())
            assert "120 runs" in said and "⚠ 9 quarantined (Q)" in said and "READ-ONLY" in said
            assert len(said) <= 78  # (80, less its padding)
            await pilot.resize_terminal(200, 24)
            await until(pilot, lambda: str(path.parent) in str(bar.render()))
            await pilot.resize_terminal(80, 24)
            # a deciding console's (no READ-ONLY) following a fleet, two trips undecided: the
            # follower's word and the runs give way, the alerts stay whole
            bar.read_only, bar.served, bar.following = False, True, True
            bar.follow = Flow(1234.0, 0.3)
            bar.update_undecided(2)
            await until(pilot, lambda: "undecided" in str(bar.render()))
            said = str(bar.render())
            assert "⚠ 9 quarantined (Q)" in said and "⚠ 2 undecided trips (4)" in said
            assert "1,234 ev/s · lag 0.3s" in said and len(said) <= 78
    finally:
        store.close()


async def test_no_stray_blocks_at_the_edges_of_a_tables_rows(fleet_store: Store) -> None:
    """A table's scrollbars are whole cells: nothing at the right end of a row or under the
    last one reads as a stray character (Textual's eighths did: `▅▅`, `▏`), at 120 columns
    and at 80."""
    app = app_for(fleet_store)
    async with app.run_test(size=(120, 30)) as pilot:
        for width in (120, 80):
            await pilot.resize_terminal(width, 30)
            await settle(pilot)
            table = runs_table(app)
            assert table.table is not None and table.table.max_scroll_y > 0  # it scrolls
            for _ in range(2):  # at the top, then a few rows down
                top, bottom = table.region.y, table.region.bottom
                shown = screen_lines(app)[top:bottom]
                stray = [line for line in shown if EIGHTHS & set(line)]
                assert not stray, "\n".join(shown)
                await pilot.press("pagedown", "down", "down")
                await settle(pilot)


async def test_the_touched_pane_shows_the_needed_grant_whole_at_120_columns(
    fleet_store: Store,
) -> None:
    grants = {
        g
        for (g,) in fleet_store.con.execute(
            "SELECT DISTINCT qd_needed_grant(in_scope, system, object, action) FROM touches "
            "WHERE in_scope = false"
        ).fetchall()
    }
    app = app_for(fleet_store)
    async with app.run_test(size=(120, 30)) as pilot:
        await settle(pilot)
        await pilot.press("2", "o")
        await settle(pilot)
        lines = screen_lines(app)
        header = next(line for line in lines if "TIME (UTC)" in line)
        assert "NEEDED GRANT" in header
        rows = [line for line in lines if any(g in line for g in grants)]
        assert len(rows) >= 5, "\n".join(lines)
        for line in rows:  # each grant whole, before the pane's right border
            grant = next(g for g in grants if g in line)
            assert line.index(grant) + len(grant) < line.rindex("│"), line


async def test_filter_keeps_on_enter_and_clears_on_escape(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"crm")
        await until(pilot, lambda: all(k.startswith("r-crm") for k in runs_table(app).keys))
        await settle(pilot)
        narrowed = runs_table(app).keys
        assert narrowed and all(k.startswith("r-crm") for k in narrowed)
        await pilot.press("enter")
        await settle(pilot)
        assert app.focused is runs_table(app).table
        assert runs_table(app).keys == narrowed  # the filter stays
        await pilot.press("slash", "home", "!")
        await until(pilot, lambda: not any(k.startswith("r-crm") for k in runs_table(app).keys))
        await settle(pilot)
        assert runs_table(app).keys and not any(k.startswith("r-crm") for k in runs_table(app).keys)
        await pilot.press("escape")
        await settle(pilot)
        assert len(runs_table(app).keys) == 120


async def test_keys_typed_right_after_a_boxs_enter_go_where_it_leaves_the_operator(
    fleet_store: Store,
) -> None:
    """A box's Enter acts once its box has read it, and Textual hands the box the keys typed
    after it meanwhile: `/crm` Enter `2` kept the filter `crm2` and stayed on Runs, `:runs`
    Enter `3` typed `3` into a jump box already closed. They wait for Enter to act now."""
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(RunsPane)
        burst(app, "slash", *"crm", "enter", "2")
        await until(pilot, lambda: app.screen.current_pane().id == "touched")
        await until(pilot, lambda: pane.view.text == "crm")
        await settle(pilot)
        assert pane.view.text == "crm"
        burst(app, "colon", *"runs", "enter", "3")
        await until(pilot, lambda: isinstance(app.screen, MainScreen))
        await until(pilot, lambda: app.screen.current_pane().id == "approvals")


async def test_the_title_says_a_new_order_or_filter_is_loading_until_its_rows_come(
    fleet_store: Store,
) -> None:
    """Under load a new order took seconds to come, and the title claimed it at once over the
    rows of the old one (`sorted by duration ↓` over the newest runs first)."""
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(RunsPane)

        def title() -> str:
            return str(pane.query_one(".pane-title").render())

        newest_first = runs_table(app).keys
        pane.apply(dataclasses.replace(pane.view, sort="duration_s", text="crm"))
        said = title()  # at once: the rows shown are still the old view's
        assert "sorted by started (utc) ↓" in said and "filter" not in said.split("loading")[0]
        assert "loading sorted by duration ↓ · filter crm…" in said
        assert runs_table(app).keys == newest_first
        await until(pilot, lambda: "loading" not in title())
        assert "sorted by duration ↓" in title() and "filter crm" in title()
        pane.apply(dataclasses.replace(pane.view, text=""))
        assert "loading without a filter…" in title()
        await until(pilot, lambda: "loading" not in title() and "filter" not in title())


async def test_sort_keys_reorder_the_runs(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        pane = app.screen.query_one(RunsPane)
        await pilot.press("s")
        assert pane.view.sort == "duration_s"
        while pane.view.sort != "run_id":  # `s` cycles through the columns
            await pilot.press("s")
        await settle(pilot)
        keys = runs_table(app).keys
        assert keys == sorted(keys, reverse=True)
        await pilot.press("S")
        await settle(pilot)
        assert runs_table(app).keys == sorted(keys)
        title = app.screen.query_one(RunsPane).query_one(".pane-title")
        assert "sorted by run ↑" in str(title.render())


async def test_enter_opens_the_run_with_out_of_scope_touches_marked(fleet_store: Store) -> None:
    run_id = fleet_store.con.execute(
        "SELECT run_id FROM run_summary WHERE out_of_scope > 0 LIMIT 1"
    ).fetchone()[0]
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *run_id, "enter")
        await until(pilot, lambda: runs_table(app).keys == [run_id])
        await settle(pilot)
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunDetailScreen)
        facts = str(screen.query_one("#run-facts").render())
        assert run_id in facts and "scope" in facts
        steps = screen.query_one("#steps-table", TableView)
        assert steps.keys and steps.keys[0] == "s1"
        await pilot.press("right_square_bracket")
        await settle(pilot)
        touches = screen.query_one("#touches-table", TableView)
        rows = [touches.table.get_row_at(i) for i in range(len(touches.keys))]
        assert any("OUT OF SCOPE" in " ".join(map(str, row)) for row in rows)
        await pilot.press("right_square_bracket")
        events = screen.query_one("#events-table", TableView)
        assert len(events.keys) >= len(steps.keys) * 2
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, RunDetailScreen)
        assert runs_table(app).current_key() == run_id


async def test_help_lists_the_keys_of_this_screen(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        text = str(app.screen.query_one("#help-text").render())
        for words in ("Filter", "Sort", "Quarantine", "Quit", "Refresh", "Every run"):
            assert words in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_quarantine_view_and_quit(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("Q")
        await until(
            pilot, lambda: isinstance(app.screen, QuarantineScreen) and app.screen.is_mounted
        )
        await settle(pilot)
        assert len(app.screen.query_one(TableView).keys) == 9
        await pilot.press("escape")
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0 or app.return_code is None


async def test_a_superseded_line_says_so_and_is_not_counted(tmp_path: Path, monkeypatch) -> None:
    """A half-written last line, completed and loaded later: the quarantine shows it
    superseded by its event, and the status bar no longer counts it."""
    monkeypatch.chdir(tmp_path)
    log = tmp_path / "run.jsonl"
    end = b'{"event_id":"end","type":"run.finished","ts":"2026-11-20T08:05:00Z","run_id":"r-1",'
    log.write_bytes(json.dumps(started()).encode() + b"\n" + end)
    with Store.open(Path("qd.duckdb")) as store:
        load_paths(store.con, [log])
        with log.open("ab") as handle:
            handle.write(b'"status":"succeeded"}\n')
        load_paths(store.con, [log])
        app = app_for(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            assert "0 quarantined" in "\n".join(screen_lines(app))
            await pilot.press("Q")
            await until(
                pilot, lambda: isinstance(app.screen, QuarantineScreen) and app.screen.is_mounted
            )
            await settle(pilot)
            shown = "\n".join(screen_lines(app))
            assert "superseded: completed later, event end" in shown


async def test_an_empty_store_says_how_to_load_logs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open(Path("empty.duckdb")) as store:
        app = app_for(store)
        async with app.run_test(size=SIZE) as pilot:
            await settle(pilot)
            empty = str(app.screen.query_one(".empty").render())
            assert "quarterdeck ingest" in empty


async def test_keys_can_be_remapped_by_binding_id(fleet_store: Store) -> None:
    app = make_app(fleet_store, Settings(keys={"pane.filter": "f"}), clock=lambda: NOW)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("f")
        assert app.focused is app.screen.query_one(RunsPane).query_one(".pane-filter")


async def test_filter_matches_statuses_as_shown_and_says_when_nothing_matches(
    fleet_store: Store, tmp_path: Path
) -> None:

    extra = write_jsonl(
        tmp_path / "extra.jsonl",
        [
            started("r-undone"),
            event(
                "run.finished",
                "2026-11-20T08:30:00Z",
                "r-undone",
                event_id="u1",
                status="rolled_back",
            ),
        ],
    )
    load_paths(fleet_store.con, [extra])
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("slash", *"rolled back")  # as the pane shows the status
        await until(pilot, lambda: runs_table(app).keys == ["r-undone"])
        await settle(pilot)
        await pilot.press("ctrl+a", "ctrl+k", *"zzz")
        await until(pilot, lambda: not runs_table(app).keys)
        await settle(pilot)
        empty = str(app.screen.query_one(RunsPane).query_one(".empty").render())
        assert "Nothing matches the filter 'zzz'" in empty and "ingest" not in empty
        await pilot.press("escape")
        await settle(pilot)
        assert len(runs_table(app).keys) == 121


async def test_quarantine_opens_from_any_screen(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("enter")
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted
        )
        await settle(pilot)
        await pilot.press("Q")
        await until(
            pilot, lambda: isinstance(app.screen, QuarantineScreen) and app.screen.is_mounted
        )
        await settle(pilot)


def test_an_unknown_key_id_in_the_config_is_refused(fleet_store: Store) -> None:
    from quarterdeck.config import ConfigError

    with pytest.raises(ConfigError, match="runs.filterr"):
        make_app(fleet_store, Settings(keys={"runs.filterr": "f"}))


async def test_touched_pane_out_of_scope_toggle_diff_and_lineage(fleet_store: Store) -> None:
    from quarterdeck.console.screens.touch import LineageScreen, TouchScreen
    from quarterdeck.console.widgets.touched_pane import TouchedPane

    out = fleet_store.con.execute("SELECT count(*) FROM touches WHERE in_scope = false").fetchone()[
        0
    ]
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("2")
        await settle(pilot)
        pane = app.screen.query_one(TouchedPane)
        table = pane.query_one(TableView)
        total = len(table.keys)
        assert total > out > 0
        await pilot.press("o")
        await settle(pilot)
        assert len(table.keys) == out
        rows = [table.table.get_row_at(i) for i in range(out)]
        grant = table.labels.index("NEEDED GRANT")
        assert all("[bold red]" in row[grant] and ":" in row[grant] for row in rows)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, TouchScreen) and app.screen.is_mounted)
        await settle(pilot)
        facts = str(app.screen.query_one("#touch-facts").render())
        assert "OUT OF SCOPE" in facts and "scope" in facts
        await pilot.press("escape")
        await settle(pilot)
        # lineage of an updated record: oldest first, every touch of that record
        record = fleet_store.con.execute(
            "SELECT system, object, record_id FROM touches WHERE record_id IS NOT NULL "
            "AND action = 'update' LIMIT 1"
        ).fetchone()
        await pilot.press("o", "slash", *record[2], "enter")
        touched = app.screen.query_one(TouchedPane)
        await until(
            pilot,
            lambda: (row := touched.current_record()) is not None and row["record_id"] == record[2],
        )
        await settle(pilot)
        await pilot.press("t")
        await until(pilot, lambda: isinstance(app.screen, LineageScreen) and app.screen.is_mounted)
        await settle(pilot)
        keys = app.screen.query_one(TableView).keys
        expected = [
            r[0]
            for r in fleet_store.con.execute(
                "SELECT event_id FROM touches WHERE system = ? AND object = ? AND record_id = ? "
                "ORDER BY ts, event_id",
                list(record),
            ).fetchall()
        ]
        assert keys == expected


async def test_approvals_pane_opens_the_request_with_its_runs_context(
    fleet_store: Store, tmp_path: Path
) -> None:
    from quarterdeck.console.screens.approval import ApprovalScreen
    from quarterdeck.console.screens.touch import TouchScreen
    from quarterdeck.console.widgets.approvals_pane import ApprovalsPane

    lines = [started("r-wait", scope=["ledger:write:Invoice"])]
    for i in range(3):
        ts = f"2026-11-20T08:1{i}:00Z"
        lines += [
            event(
                "step.started",
                ts,
                "r-wait",
                event_id=f"w-s{i}",
                step_id=f"s{i}",
                name=f"step {i}",
                kind="tool",
            ),
            event(
                "data.touched",
                ts,
                "r-wait",
                event_id=f"w-t{i}",
                step_id=f"s{i}",
                system="crm" if i == 2 else "ledger",
                object="Invoice",
                record_id=f"INV-{i}",
                action="update",
                before={"n": i},
                after={"n": i + 1},
            ),
        ]
    lines.append(
        event(
            "approval.requested",
            "2026-11-20T08:30:00Z",
            "r-wait",
            event_id="w1",
            approval_id="apr-wait",
            action="release 3 payouts",
            risk="critical",
            required_role="treasury",
            requested_by="svc-agent",
            expires_at="2026-11-20T09:20:00Z",
        )
    )
    record = tmp_path / "approvals" / "export.csv"
    record.parent.mkdir()
    record.write_text(
        "approval_id,run_id,status,requested_at\napr-wait,r-wait,pending,2026-11-20T08:30:05Z\n"
    )
    load_paths(fleet_store.con, [write_jsonl(tmp_path / "wait.jsonl", lines), record])
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        pane = app.screen.query_one(ApprovalsPane)
        table = pane.query_one(TableView)
        assert table.keys[0] == "apr-wait"
        first = " ".join(map(str, table.table.get_row_at(0)))
        assert "pending" in first and "20m" in first  # 20 minutes left at NOW
        await pilot.press("enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, ApprovalScreen)
        facts = str(screen.query_one("#approval-facts").render())
        for words in (
            "apr-wait",
            "pending",
            "critical",
            "release 3 payouts",
            "r-wait",
            "invoice-posting",
            "svc-agent",
            "treasury",
            "2026-11-20 08:30:00Z",
            "30m00s ago",
            "2026-11-20 09:20:00Z",
            "20m00s left",
            "approval event",
            "approval-system record",
            "export.csv",
        ):
            assert words in facts, words
        steps = screen.query_one("#steps-table", TableView)
        touches = screen.query_one("#touches-table", TableView)
        assert steps.keys == ["s2", "s1", "s0"]
        assert touches.keys == ["w-t2", "w-t1", "w-t0"]
        newest = " ".join(map(str, touches.table.get_row_at(0)))
        assert "OUT OF SCOPE" in newest and "crm" in newest
        assert app.focused is steps.table
        await pilot.press("tab")
        assert app.focused is touches.table
        await pilot.press("tab")
        assert app.focused is steps.table
        await pilot.press("shift+tab", "enter")
        await settle(pilot)
        assert isinstance(app.screen, TouchScreen) and app.screen.event_id == "w-t2"
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == "r-wait"
        await pilot.press("escape", "escape")
        await settle(pilot)
        assert app.screen.query_one(ApprovalsPane) is pane
        assert table.current_key() == "apr-wait"


async def test_a_decided_request_says_who_decided_when_and_why(fleet_store: Store) -> None:
    from quarterdeck.console.screens.approval import ApprovalScreen

    approval_id, decided_by, reason = fleet_store.con.execute(
        "SELECT approval_id, decided_by, reason FROM approval_summary "
        "WHERE decided_state = 'rejected' AND reason IS NOT NULL LIMIT 1"
    ).fetchone()
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        app.push_screen(ApprovalScreen(app.reader, approval_id))
        await settle(pilot)
        facts = str(app.screen.query_one("#approval-facts").render())
        assert "rejected by" in facts and decided_by in facts and reason in facts
        assert "left" not in facts  # no countdown once decided


def test_jump_commands_parse_or_say_what_to_type() -> None:
    from quarterdeck.console.screens.jump import Jump, parse_jump

    assert parse_jump(":touched") == Jump("pane", ("touched",))
    assert parse_jump("run r-1042") == Jump("run", ("r-1042",))
    assert parse_jump("record crm/Contact/C-1/x") == Jump("record", ("crm", "Contact", "C-1/x"))
    assert parse_jump("quarantine") == Jump("quarantine")
    for bad in ("", "record crm", "launch rockets"):
        with pytest.raises(ValueError):
            parse_jump(bad)


async def test_colon_jumps_to_a_record_and_to_a_run(fleet_store: Store) -> None:
    from quarterdeck.console.screens.touch import LineageScreen

    system, obj, record_id, run_id = fleet_store.con.execute(
        "SELECT system, object, record_id, run_id FROM touches WHERE record_id IS NOT NULL LIMIT 1"
    ).fetchone()
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon")
        await pilot.press(*f"record {system}/{obj}/{record_id}", "enter")
        await until(pilot, lambda: isinstance(app.screen, LineageScreen) and app.screen.is_mounted)
        await settle(pilot)
        assert run_id in " ".join(
            str(c) for c in app.screen.query_one(TableView).table.get_row_at(0)
        )
        await pilot.press("colon")
        await pilot.press(*"nonsense", "enter")
        await pilot.pause()
        assert "no command" in str(app.screen.query_one("#jump-error").render())
        await pilot.press("escape")
        await pilot.press("colon", *f"run {run_id}", "enter")
        await settle(pilot)
        assert isinstance(app.screen, RunDetailScreen) and app.screen.run_id == run_id
        await pilot.press("colon", *"approvals", "enter")
        await settle(pilot)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.current_pane().id == "approvals"


async def test_keys_typed_right_after_colon_go_to_the_jump_box(fleet_store: Store) -> None:
    app = app_for(fleet_store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await pilot.press("colon", *"quarantine", "enter")  # no pause: type-ahead
        await until(
            pilot, lambda: isinstance(app.screen, QuarantineScreen) and app.screen.is_mounted
        )
        await settle(pilot)


async def test_a_contradiction_shows_in_the_runs_pane_and_the_detail_names_it(
    tmp_path: Path, store: Store
) -> None:
    """A run that finished 5 s before it started, with two run.finished that disagree: the
    Runs pane marks its status and its DURATION, the detail says what contradicts what."""
    load_paths(
        store.con,
        [
            write_jsonl(
                tmp_path / "skew.jsonl",
                [
                    *(
                        event("run.finished", "2026-11-20T08:00:00Z", "r-skew", **fields)
                        for fields in (
                            {"event_id": "k1", "status": "succeeded"},
                            {"event_id": "k2", "status": "failed", "error": "boom"},
                        )
                    ),
                    started("r-skew", "2026-11-20T08:00:05Z"),
                ],
            )
        ],
    )
    app = app_for(store)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: runs_table(app).keys == ["r-skew"])
        row = " ".join(map(str, runs_table(app).table.get_row_at(0)))
        assert "failed[/] [bold yellow]⚠ conflict" in row and "⚠ skew -5s" in row
        await pilot.press("enter")
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, RunDetailScreen)
                and app.screen.is_mounted
                and "clock skew" in str(app.screen.query_one("#run-facts").render())
            ),
        )
        facts = str(app.screen.query_one("#run-facts").render())
        assert "clock skew: finished before it started" in facts
        assert "its run.finished events disagree" in facts
