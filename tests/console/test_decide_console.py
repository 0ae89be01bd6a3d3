"""Deciding in the console: dialogs that open on the reason and say what will happen, keys only
for what this operator may do, refusals explained. (A pause the live runner applies:
tests/e2e/test_demo_runner.py.)"""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from textual import events
from textual.widgets import Button, ContentSwitcher, Input

from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import DecisionDesk
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.decisions import MAX_REASON
from quarterdeck.queries.store import Store
from support.desks import desk_for
from support.events import NOW, started, write_jsonl
from support.pilot import type_into, until

SIZE = (170, 45)


def app_for(store: Store, desk: DecisionDesk, **kwargs: Any) -> QuarterdeckApp:
    return make_app(
        store, Settings(), clock=lambda: NOW, desk=desk, read_only=desk.read_only, **kwargs
    )


def footer_keys(app: QuarterdeckApp) -> set[str]:
    return {
        b.binding.description
        for b in app.screen.active_bindings.values()
        if b.enabled and b.binding.show
    }


async def to_row(pilot, app: QuarterdeckApp, pane_type: type, wanted) -> None:
    """Move the pane's cursor to the first row whose record satisfies `wanted`."""
    pane = app.screen.query_one(pane_type)
    await until(pilot, lambda: pane.records is not None and pane.records.num_rows > 0)
    for index, record in enumerate(pane.records.to_pylist()):
        if wanted(record):
            pane.query_one(TableView).table.move_cursor(row=index)
            await pilot.pause()
            return
    raise AssertionError("no such row")


ACTIVE = ("running", "stale", "awaiting_approval")


def live_run(store: Store, tmp_path: Path, run_id: str = "r-live-1") -> str:
    """Add a running run of ticket-triage (the fleet's only live-looking run is stale, and a
    workflow decision leaves stale runs out); its workflow."""
    when = (NOW - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    path = write_jsonl(
        tmp_path / "live" / f"{run_id}.jsonl", [started(run_id, ts=when, workflow="ticket-triage")]
    )
    load_paths(store.con, [path])
    return "ticket-triage"


async def dialog_for(pilot, app: QuarterdeckApp, key: str) -> dict[str, Any]:
    """Put the cursor on an active run, press `key`, wait for the dialog; the run's row."""
    await to_row(pilot, app, RunsPane, lambda r: r["status"] in ACTIVE)
    record = app.screen.query_one(RunsPane).current_record()
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
    return record


async def test_pause_opens_on_the_reason_and_records_only_with_one(
    fleet_store: Store, tmp_path: Path
) -> None:
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        run_id = (await dialog_for(pilot, app, "p"))["run_id"]
        dialog = app.screen
        assert app.focused is dialog.query_one("#decide-reason", Input)  # where typing goes
        assert dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press("enter")  # Enter with no reason: said, nothing recorded
        await until(pilot, lambda: "a reason is needed" in str(_error(dialog)))
        dialog.query_one("#decide-reason", Input).value = "x" * (MAX_REASON + 1)
        await pilot.press("enter")  # over the limit: said as the command and the server say it
        await until(pilot, lambda: "the most a decision takes is 10,000" in str(_error(dialog)))
        assert isinstance(app.screen, DecideScreen)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        assert not (tmp_path / "journal.jsonl").exists()

        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        await pilot.press(*"checking a duplicate payment")  # typed at once: it lands in the box
        await until(
            pilot,
            lambda: (
                app.screen.query_one("#decide-reason", Input).value
                == "checking a duplicate payment"
            ),
        )
        assert not app.screen.query_one("#decide-confirm", Button).disabled
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "journal.jsonl").exists())
        record = json.loads((tmp_path / "journal.jsonl").read_text())
        assert record["action"] == "pause" and record["runs"] == [run_id]
        assert record["reason"] == "checking a duplicate payment" and record["source"] == "console"
        outbox = json.loads((tmp_path / "outbox.jsonl").read_text())
        assert outbox["decision_id"] == record["decision_id"]


def _error(dialog: Any) -> object:
    return dialog.query_one("#decide-error").render()


async def test_rolling_back_a_workflow_needs_its_name_typed(
    fleet_store: Store, tmp_path: Path
) -> None:
    live_run(fleet_store, tmp_path)
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        workflow = (await dialog_for(pilot, app, "B"))["workflow"]
        dialog = app.screen
        assert "active run" in str(dialog.query_one("#decide-title").render())
        await type_into(pilot, "#decide-reason", "bad deploy")
        assert dialog.query_one("#decide-confirm", Button).disabled  # the name is missing
        await type_into(pilot, "#decide-name", workflow[:-1])
        assert dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press(workflow[-1])
        assert not dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        assert not (tmp_path / "journal.jsonl").exists()


async def test_a_workflow_decision_names_the_runs_the_filter_hides(
    fleet_store: Store, tmp_path: Path
) -> None:
    live_run(fleet_store, tmp_path)
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await to_row(pilot, app, RunsPane, lambda r: r["status"] in ACTIVE)
        pane = app.screen.query_one(RunsPane)
        workflow = pane.current_record()["workflow"]
        other = next(r["workflow"] for r in pane.records.to_pylist() if r["workflow"] != workflow)
        app.decisions_flow.decide("pause", workflow=workflow)
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        assert app.screen.hidden == ()  # nothing filtered: every run is on screen
        await pilot.press("escape")
        await pilot.press("slash", *other)
        await until(
            pilot,
            lambda: (
                pane.records is not None
                and all(r["workflow"] == other for r in pane.records.to_pylist())
            ),
        )
        await pilot.press("enter")
        app.decisions_flow.decide("pause", workflow=workflow)
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        assert app.screen.hidden and set(app.screen.hidden) == set(app.screen.plan.runs)
        assert "not on screen now (hidden by the filter" in str(
            app.screen.query_one("#decide-what").render()
        )
        # a load begun before the dialog opened lands under it: the dialog says it again
        pane.apply(dataclasses.replace(pane.view, text=""))
        await until(pilot, lambda: app.screen.hidden == ())
        assert "not on screen" not in str(app.screen.query_one("#decide-what").render())
        # a pane that shows no runs says nothing of the screen (the filter is still on)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        await pilot.press("5")
        app.decisions_flow.decide("pause", workflow=workflow)
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        assert app.screen.hidden is None  # nothing listed to compare with
        assert "not on screen" not in str(app.screen.query_one("#decide-what").render())


async def test_keys_are_offered_only_to_who_may_use_them(
    pending_store: Store, tmp_path: Path
) -> None:
    fleet_store = pending_store
    approver = desk_for(fleet_store, tmp_path, {"finance-approver"})
    app = app_for(fleet_store, approver)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        assert "Pause" not in footer_keys(app)  # no operator role: no control keys
        await pilot.press("3")
        await to_row(
            pilot,
            app,
            ApprovalsPane,
            lambda a: a["status"] == "pending" and a["required_role"] == "finance-approver",
        )
        assert {"Approve", "Reject"} <= footer_keys(app)
        await to_row(
            pilot,
            app,
            ApprovalsPane,
            lambda a: a["status"] == "pending" and a["required_role"] != "finance-approver",
        )
        assert "Approve" not in footer_keys(app)  # not this operator's role

    viewer = desk_for(fleet_store, tmp_path, {"operator", "finance-approver"}, read_only=True)
    app = app_for(fleet_store, viewer)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        assert not {"Pause", "Resume", "Roll back"} & footer_keys(app)
        await pilot.press("p")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, DecideScreen)
        assert "READ-ONLY" in str(app.screen.query_one("#status-bar").render())


async def test_keys_held_for_a_dialog_that_never_opens_reach_nothing_and_are_said(
    fleet_store: Store, tmp_path: Path
) -> None:
    """The keys typed after a decision key wait for its dialog (see `pressed.TypeAhead`); if
    none opens (refused), none of them reaches the table below (`s` would sort it): they are
    said, and the keys typed after that work as ever."""
    app = app_for(fleet_store, desk_for(fleet_store, tmp_path, {"operator"}))
    async with app.run_test(size=SIZE) as pilot:
        pane = app.screen.query_one(RunsPane)
        await until(pilot, lambda: pane.records is not None)
        view = pane.view
        app.hold_keys("pause")  # as `p` does, the moment it is read
        await pilot.press("s", "S", "o", "k", "enter")
        assert pane.view == view and not isinstance(app.screen, DecideScreen)
        app.drop_held_keys("it was refused")
        await until(
            pilot,
            lambda: any(
                "after asking to pause ('sSok<enter>') was not used: it was refused"
                in str(n.message)
                for n in app._notifications
            ),
        )
        await pilot.press("s")
        await until(pilot, lambda: pane.view.sort != view.sort)


async def test_a_refusal_is_explained_and_not_recorded(
    pending_store: Store, tmp_path: Path
) -> None:
    fleet_store = pending_store
    approval_id, requester, role = "apr-fin", "svc-agent", "finance-approver"
    itself = desk_for(fleet_store, tmp_path, {role}, name=requester)
    app = app_for(fleet_store, itself)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        app.decisions_flow.decide("approve", approval_id=approval_id)
        await until(
            pilot, lambda: any("separation of duties" in str(n.message) for n in app._notifications)
        )
        assert not isinstance(app.screen, DecideScreen)
        assert not (tmp_path / "journal.jsonl").exists()


async def test_a_second_pause_before_the_first_is_applied_is_refused_naming_it(
    fleet_store: Store, tmp_path: Path
) -> None:
    """`p` twice on one run (the runner has not answered the first): the second is refused
    on screen, naming the first, and nothing more is recorded; the workflow's pause (`P`)
    says it leaves that run out (tests/decisions/)."""
    workflow = live_run(fleet_store, tmp_path)
    app = app_for(fleet_store, desk_for(fleet_store, tmp_path, {"operator"}))
    journal = tmp_path / "journal.jsonl"
    async with app.run_test(size=SIZE) as pilot:
        await to_row(pilot, app, RunsPane, lambda r: r["run_id"] == "r-live-1")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        await pilot.press(*"first", "enter")
        await until(pilot, lambda: journal.exists() and not isinstance(app.screen, DecideScreen))
        first = json.loads(journal.read_text())
        await pilot.press("p")
        said = f"run r-live-1 has a pause outstanding: pause {first['decision_id'][:8]} (#1)"
        await until(pilot, lambda: any(said in str(n.message) for n in app._notifications))
        (toast,) = [n for n in app._notifications if said in str(n.message)]
        assert toast.title == "cannot pause" and "by anna at 2026-11-20 09:00:00Z" in toast.message
        assert not isinstance(app.screen, DecideScreen)
        assert len(journal.read_text().splitlines()) == 1
        await pilot.press("P")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        what = str(app.screen.query_one("#decide-what").render())
        assert f"No run of {workflow} to pause now" in what
        assert "1 run left out, with a pause not yet acknowledged: r-live-1 (pause " in what


async def test_keys_typed_after_enter_go_where_it_leaves_the_operator(
    pending_store: Store, tmp_path: Path
) -> None:
    """Enter in the dialog acts after the keys typed before it (the reason's last letters):
    the keys typed right after it wait until it has. Read at once, as a terminal burst is,
    `1` went to the reason box of the dialog Enter then closed, and the Runs pane never came;
    now it switches to it, and keys after an Enter that closed nothing stay the dialog's."""
    desk = desk_for(pending_store, tmp_path, {"finance-approver"})
    app = app_for(pending_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        await pilot.press("3")
        await to_row(pilot, app, ApprovalsPane, lambda a: a["approval_id"] == "apr-fin")
        await pilot.pause(SEEN_S)  # (a key pressed as the pane comes up decides nothing)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        dialog = app.screen
        reason = dialog.query_one("#decide-reason", Input)
        burst = [events.Key("enter", "\r"), events.Key("o", "o"), events.Key("k", "k")]
        for key in burst:  # in one burst: read before any of them is acted on
            app.post_message(key)
        await until(pilot, lambda: reason.value == "ok")  # no reason yet: Enter closed nothing
        assert app.screen is dialog  # (the error said, then cleared by the typing)
        for key in (events.Key("enter", "\r"), events.Key("1", "1")):
            app.post_message(key)
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        await until(pilot, lambda: app.screen.query_one(ContentSwitcher).current == "runs")
        record = json.loads((tmp_path / "journal.jsonl").read_text())
        assert record["approval_id"] == "apr-fin" and record["reason"] == "ok"


async def test_after_a_request_is_decided_the_cursor_is_on_the_next_pending_one(
    pending_store: Store, tmp_path: Path
) -> None:
    """The decided request moves down among the decided ones. The cursor stays at its place
    on screen, now on the request that took its place: following the decided one down, with
    the rows above it kept in view, had scrolled every pending request out of sight."""
    desk = desk_for(pending_store, tmp_path, {"finance-approver"})
    app = app_for(pending_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        await pilot.press("3")
        pane = app.screen.query_one(ApprovalsPane)
        await to_row(pilot, app, ApprovalsPane, lambda a: a["approval_id"] == "apr-fin")
        table = pane.query_one(TableView)
        assert table.keys[:2] == ["apr-fin", "apr-tre"]  # pending first
        await pilot.pause(SEEN_S)
        await pilot.press("a")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        await type_into(pilot, "#decide-reason", "invoices checked")
        await pilot.press("enter")

        def status(approval_id: str) -> str:
            assert pane.records is not None
            return pane.records.column("status").to_pylist()[table.keys.index(approval_id)]

        await until(pilot, lambda: status("apr-fin") == "approved")
        await pilot.pause()
        assert table.keys.index("apr-fin") > table.keys.index("apr-tre")
        assert table.current_key() == "apr-tre" and not table.pinned
        assert round(table.table.scroll_y) == 0  # the pending request in view


def test_the_runs_recorded_are_the_runs_the_dialog_named(
    pending_store: Store, tmp_path: Path
) -> None:
    desk = desk_for(pending_store, tmp_path, {"operator"})
    plan = desk.plan("pause", workflow="invoice-posting")
    write_jsonl(
        tmp_path / "later" / "b.jsonl", [started("r-after-the-dialog", ts="2026-11-20T08:59:00Z")]
    )
    load_paths(pending_store.con, [tmp_path / "later"])
    record = desk.record(plan, "as confirmed")
    assert record["runs"] == list(plan.runs) and "r-after-the-dialog" not in record["runs"]


def test_a_new_demo_starts_with_no_decisions(tmp_path: Path) -> None:
    from quarterdeck import demo

    work = tmp_path / "demo"
    demo.prepare(work, work / "demo.duckdb", seed=1)
    (work / "decisions.jsonl").write_text("{}\n")
    (work / "control-outbox.jsonl").write_text("{}\n")
    demo.prepare(work, work / "demo.duckdb", seed=1)
    assert not (work / "decisions.jsonl").exists()
    assert not (work / "control-outbox.jsonl").exists()
