"""The operator's hands on decisions, help and navigation (issue 14): a workflow resume key
worded as the dialog words it, `?` listing every key a pane has, a footer that fits, the
approval request decided where it is read, each run's outcome of a decision, and Enter, `r`
and `t` going from a touch, a lineage row and a run's Touched tab where the help says."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.widgets import Input
from textual.widgets._footer import FooterKey

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.screens.approval import ApprovalScreen
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.decisions import DecisionsScreen, OutcomesScreen
from quarterdeck.console.screens.help import HelpScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import LineageScreen, TouchScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import DecisionDesk
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from support.desks import desk_for
from support.events import NOW, started, write_jsonl
from support.pilot import settle, until

SIZE = (170, 45)


def app_for(store: Store, desk: DecisionDesk) -> QuarterdeckApp:
    return make_app(store, Settings(), clock=lambda: NOW, desk=desk, read_only=False)


async def on_top(pilot: Any, app: QuarterdeckApp, kind: type) -> Any:
    await until(pilot, lambda: isinstance(app.screen, kind) and app.screen.is_mounted)
    await settle(pilot)
    return app.screen


async def to_run(pilot: Any, app: QuarterdeckApp, run_id: str) -> RunsPane:
    pane = app.screen.query_one(RunsPane)
    await until(pilot, lambda: pane.records is not None and pane.records.num_rows > 0)
    keys = [r["run_id"] for r in pane.records.to_pylist()]
    pane.query_one(TableView).table.move_cursor(row=keys.index(run_id))
    await pilot.pause()
    return pane


def help_text(app: QuarterdeckApp) -> str:
    return str(app.screen.query_one("#help-text").render())


async def test_resume_workflow_is_a_key_worded_as_the_dialog_words_it(
    pending_store: Store, tmp_path: Path
) -> None:
    desk = desk_for(pending_store, tmp_path, {"operator"})
    app = app_for(pending_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await to_run(pilot, app, "r-live-1")  # awaiting approval: no `u` for this row
        await pilot.press("question_mark")
        await on_top(pilot, app, HelpScreen)
        listed = help_text(app)
        for key, what in (("u", "Resume"), ("U", "Resume workflow"), ("P", "Pause workflow")):
            assert f"{key} " in listed and what in listed, (key, what)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))

        commands = {c.title: c.help for c in app.get_system_commands(app.screen)}
        assert commands["Resume workflow invoice-posting"] == (
            "Resume the paused runs of invoice-posting (U)"
        )
        assert commands["Pause workflow invoice-posting"] == (
            "Pause the active runs of invoice-posting (P)"
        )
        await pilot.press("P")
        dialog = await on_top(pilot, app, DecideScreen)
        assert dialog.plan.headline == "pause 1 active run of invoice-posting"
        what = str(dialog.query_one("#decide-what").render())
        # the runner holds the workflow: the dialog says so, not only "pause 1 run"
        assert "Runs of invoice-posting that start later are held too" in what
        assert "until the workflow is resumed (U on its row" in what
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        # no run is paused and the workflow is not held: nothing to resume, and it says so
        await pilot.press("U")
        await until(pilot, lambda: any("not held" in n.message for n in app._notifications))
        assert not isinstance(app.screen, DecideScreen)
        desk.record(desk.plan("pause", workflow="invoice-posting"), "hold it")
        await pilot.press("U")  # held: a resume lets the workflow go
        dialog = await on_top(pilot, app, DecideScreen)
        title = str(dialog.query_one("#decide-title").render())
        assert "resume invoice-posting (no run of it is paused now)" in title
        what = str(dialog.query_one("#decide-what").render())
        assert "No run of invoice-posting to resume now: this decision is for the workflow" in what


async def test_a_workflow_rollback_dialog_takes_enter_only_when_all_is_given(
    pending_store: Store, tmp_path: Path
) -> None:
    app = app_for(pending_store, desk_for(pending_store, tmp_path, {"operator"}))
    async with app.run_test(size=SIZE) as pilot:
        await to_run(pilot, app, "r-live-1")
        await pilot.press("B")
        dialog = await on_top(pilot, app, DecideScreen)
        assert app.focused is dialog.query_one("#decide-reason", Input)
        await pilot.press(*"bad deploy", "enter")  # on to the name box, nothing decided
        name = dialog.query_one("#decide-name", Input)
        await until(pilot, lambda: name.has_focus)
        await pilot.press(*"invoice", "enter")  # a wrong name: said, not decided
        await until(
            pilot,
            lambda: "type the workflow's name" in str(dialog.query_one("#decide-error").render()),
        )
        assert app.screen is dialog and not (tmp_path / "journal.jsonl").exists()
        await pilot.press(*"-posting", "enter")
        await until(pilot, lambda: (tmp_path / "journal.jsonl").exists())


async def test_the_footer_fits_at_80_and_120_columns(pending_store: Store, tmp_path: Path) -> None:
    for width in (80, 120):
        app = app_for(pending_store, desk_for(pending_store, tmp_path, {"operator"}))
        async with app.run_test(size=(width, 30)) as pilot:
            await to_run(pilot, app, "r-live-1")
            await settle(pilot)
            keys = [k for k in app.screen.query(FooterKey) if k.display]
            assert keys
            for key in keys:  # each key whole on screen, none cut mid-word
                assert key.region.right <= width, (width, key.description, key.region)
                assert key.region.width >= len(key.description) + len(key.key_display), (
                    width,
                    key.description,
                )


async def test_the_approval_request_is_decided_where_it_is_read(
    pending_store: Store, tmp_path: Path
) -> None:
    app = app_for(pending_store, desk_for(pending_store, tmp_path, {"finance-approver"}))
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(ApprovalScreen(app.reader, "apr-fin"))
        await on_top(pilot, app, ApprovalScreen)
        await pilot.press("x")
        dialog = await on_top(pilot, app, DecideScreen)
        assert (dialog.plan.action, dialog.plan.approval_id) == ("reject", "apr-fin")
        await pilot.press("escape")
        await on_top(pilot, app, ApprovalScreen)
        await pilot.press("a")
        dialog = await on_top(pilot, app, DecideScreen)
        assert (dialog.plan.action, dialog.plan.approval_id) == ("approve", "apr-fin")


async def test_each_run_of_a_decision_shows_its_outcome(
    pending_store: Store, tmp_path: Path
) -> None:
    desk = desk_for(pending_store, tmp_path, {"operator"})
    plan = desk.plan("pause", workflow="invoice-posting")
    record = desk.record(plan, "duplicate payments")
    ack = {
        "type": "control.applied",
        "ts": "2026-11-20T08:59:30Z",
        "run_id": "r-live-1",
        "event_id": "ack-1",
        "decision_id": record["decision_id"],
        "action": "pause",
        "result": "refused",
        "detail": "the run had already finished",
    }
    # a run that started after the plan, which the runner paused too
    later = started("r-late", ts="2026-11-20T08:59:40Z")
    held = {**ack, "run_id": "r-late", "event_id": "ack-2", "result": "applied", "detail": None}
    # and the runner's answer for the workflow itself (no run): it holds the later runs
    hold = "runs of invoice-posting that start later are held until a resume"
    whole = {k: v for k, v in held.items() if k != "run_id"} | {"event_id": "ack-3"}
    acks = write_jsonl(
        tmp_path / "live" / "ack.jsonl", [ack, later, held, {**whole, "detail": hold}]
    )
    load_paths(pending_store.con, [acks])
    app = app_for(pending_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("D")
        screen = await on_top(pilot, app, DecisionsScreen)
        row = screen.query_one(TableView).table
        await until(pilot, lambda: row.row_count == 1)
        await pilot.press("enter")
        outcomes = await on_top(pilot, app, OutcomesScreen)
        table = outcomes.query_one(TableView)
        await until(pilot, lambda: table.keys == ["", "r-live-1", "r-late"])
        title = str(outcomes.query_one("#outcomes-title").render())
        # as the Decisions view counts them, after the workflow's own answer
        assert f"applied: {hold}; 1 applied, 1 refused" in title
        first = [str(c) for c in table.table.get_row_at(0)]
        assert "(the workflow)" in first[0] and hold in first[4]
        assert "applied" in first[2] and first[5] == "yes"
        await pilot.press("r")  # the workflow's row opens no run, and says so
        await settle(pilot)
        assert app.screen is outcomes
        assert any("no run to open" in str(n.message) for n in app._notifications)
        await pilot.press("down")
        # NAMED no is said in words, in the row and above the table
        assert "no: started after" in str(table.table.get_row_at(2)[-1])
        assert "NAMED no: 1 run the decision did not name — they started after the " in title
        assert "holds its new runs until a resume" in title
        await pilot.press("r")
        detail = await on_top(pilot, app, RunDetailScreen)
        assert detail.run_id == "r-live-1"


async def test_enter_r_and_t_go_from_a_touch_a_lineage_row_and_the_touched_tab(
    fleet_store: Store, tmp_path: Path
) -> None:
    run_id = fleet_store.con.execute(
        "SELECT run_id FROM touches WHERE record_id IS NOT NULL ORDER BY ts LIMIT 1"
    ).fetchone()[0]
    app = app_for(fleet_store, desk_for(fleet_store, tmp_path, {"operator"}))
    async with app.run_test(size=SIZE) as pilot:
        app.push_screen(RunDetailScreen(app.reader, run_id))
        detail = await on_top(pilot, app, RunDetailScreen)
        await pilot.press("right_square_bracket")  # the Touched tab
        touches = detail.query_one("#touches-table", TableView)
        await until(pilot, lambda: touches.table is not None and touches.table.has_focus)
        await pilot.press("t")
        lineage = await on_top(pilot, app, LineageScreen)
        await pilot.press("r")
        assert (await on_top(pilot, app, RunDetailScreen)) is not detail
        await pilot.press("escape")
        await on_top(pilot, app, LineageScreen)
        await pilot.press("enter")
        touch = await on_top(pilot, app, TouchScreen)
        await until(pilot, lambda: touch.touch is not None)
        await pilot.press("t")
        assert (await on_top(pilot, app, LineageScreen)) is not lineage
        await pilot.press("escape")
        await on_top(pilot, app, TouchScreen)
        await pilot.press("r")
        shown = await on_top(pilot, app, RunDetailScreen)
        assert shown.run_id == touch.touch["run_id"]
        await pilot.press("escape")
        await on_top(pilot, app, TouchScreen)
        await pilot.press("question_mark")
        await on_top(pilot, app, HelpScreen)
        listed = help_text(app)
        assert "Run detail" in listed and "Record lineage" in listed
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, TouchScreen))
        await pilot.press("escape", "escape")  # back to the run's Touched tab
        await on_top(pilot, app, RunDetailScreen)
        await until(pilot, lambda: app.screen is detail)
        touches.focus_table()
        await pilot.press("enter")
        await on_top(pilot, app, TouchScreen)
