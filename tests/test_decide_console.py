"""Deciding in the console: dialogs that open on Cancel and say what will happen, keys only
for what this operator may do, refusals explained, and — with the demo's runner live — a
pause that the runner applies and the console shows applied."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button, Input

from conftest import NOW, started, until, write_jsonl
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.config import Settings
from quarterdeck.desk import DecisionDesk
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store

SIZE = (170, 45)


def request(approval_id: str, run_id: str, role: str) -> dict[str, Any]:
    return {"type": "approval.requested", "ts": "2026-11-20T08:50:00Z", "run_id": run_id,
            "event_id": f"{approval_id}-req", "approval_id": approval_id,
            "action": f"post invoices for {run_id}", "risk": "high", "required_role": role,
            "requested_by": "svc-agent", "expires_at": "2030-01-01T00:00:00Z"}


@pytest.fixture
def pending_store(tmp_path: Path, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The test fleet plus two live runs waiting on approvals of different roles."""
    monkeypatch.chdir(tmp_path)
    store = Store.open(Path("qd.duckdb"))
    write_jsonl(tmp_path / "live" / "a.jsonl", [
        started("r-live-1", ts="2026-11-20T08:49:00Z"),
        started("r-live-2", ts="2026-11-20T08:49:30Z", workflow="payout-batch"),
        request("apr-fin", "r-live-1", "finance-approver"),
        request("apr-tre", "r-live-2", "treasury"),
    ])
    load_paths(store.con, [fleet_dir, tmp_path / "live"])
    yield store
    store.close()


def desk_for(store: Store, tmp_path: Path, roles: set[str], *, name: str = "anna",
             read_only: bool = False) -> DecisionDesk:
    return DecisionDesk(store, Operator(name, frozenset(roles), read_only=read_only),
                        Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl"),
                        stale_seconds=15 * 60, clock=lambda: NOW)


def app_for(store: Store, desk: DecisionDesk, **kwargs: Any) -> QuarterdeckApp:
    return make_app(store, Settings(), clock=lambda: NOW, desk=desk,
                    read_only=desk.read_only, **kwargs)




def footer_keys(app: QuarterdeckApp) -> set[str]:
    return {b.binding.description for b in app.screen.active_bindings.values()
            if b.enabled and b.binding.show}


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


async def dialog_for(pilot, app: QuarterdeckApp, key: str) -> dict[str, Any]:
    """Put the cursor on an active run, press `key`, wait for the dialog; the run's row."""
    await to_row(pilot, app, RunsPane, lambda r: r["status"] in ACTIVE)
    record = app.screen.query_one(RunsPane).current_record()
    await pilot.press(key)
    await until(pilot, lambda: isinstance(app.screen, DecideScreen))
    return record


async def type_into(pilot, app, selector: str, text: str) -> None:
    """Type into one of the dialog's fields as a person would: once the dialog has opened
    (on Cancel), move to the field, then type; wait until the field holds the text."""
    await until(pilot, lambda: isinstance(app.screen, DecideScreen)
                and app.screen.query("#decide-cancel") and app.focused is not None)
    field = app.screen.query_one(selector, Input)
    before = field.value
    field.focus()
    await until(pilot, lambda: field.has_focus)
    await pilot.press(*text)
    await until(pilot, lambda: field.value == before + text)


async def test_pause_opens_on_cancel_and_records_only_with_a_reason(
        fleet_store: Store, tmp_path: Path) -> None:
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        run_id = (await dialog_for(pilot, app, "p"))["run_id"]
        dialog = app.screen
        assert app.focused is dialog.query_one("#decide-cancel", Button)  # the safe default
        assert dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press("enter")  # Enter on Cancel: nothing happens
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        assert not (tmp_path / "journal.jsonl").exists()

        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen))
        await type_into(pilot, app, "#decide-reason", "checking a duplicate payment")
        assert not app.screen.query_one("#decide-confirm", Button).disabled
        await pilot.press("enter")
        await until(pilot, lambda: (tmp_path / "journal.jsonl").exists())
        record = json.loads((tmp_path / "journal.jsonl").read_text())
        assert record["action"] == "pause" and record["runs"] == [run_id]
        assert record["reason"] == "checking a duplicate payment" and record["source"] == "console"
        outbox = json.loads((tmp_path / "outbox.jsonl").read_text())
        assert outbox["decision_id"] == record["decision_id"]


async def test_rolling_back_a_workflow_needs_its_name_typed(fleet_store: Store,
                                                            tmp_path: Path) -> None:
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        workflow = (await dialog_for(pilot, app, "B"))["workflow"]
        dialog = app.screen
        assert "active run" in str(dialog.query_one("#decide-title").render())
        await type_into(pilot, app, "#decide-reason", "bad deploy")
        assert dialog.query_one("#decide-confirm", Button).disabled  # the name is missing
        await type_into(pilot, app, "#decide-name", workflow[:-1])
        assert dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press(workflow[-1])
        assert not dialog.query_one("#decide-confirm", Button).disabled
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
        assert not (tmp_path / "journal.jsonl").exists()


async def test_a_workflow_decision_names_the_runs_the_filter_hides(fleet_store: Store,
                                                                   tmp_path: Path) -> None:
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    app = app_for(fleet_store, desk)
    async with app.run_test(size=SIZE) as pilot:
        await to_row(pilot, app, RunsPane, lambda r: r["status"] in ACTIVE)
        pane = app.screen.query_one(RunsPane)
        workflow = pane.current_record()["workflow"]
        other = next(r["workflow"] for r in pane.records.to_pylist() if r["workflow"] != workflow)
        app.decide("pause", workflow=workflow)
        await until(pilot, lambda: isinstance(app.screen, DecideScreen))
        assert app.screen.hidden == ()  # nothing filtered: every run is on screen
        await pilot.press("escape")
        await pilot.press("slash", *other)
        await until(pilot, lambda: pane.records is not None and all(
            r["workflow"] == other for r in pane.records.to_pylist()))
        await pilot.press("enter")
        app.decide("pause", workflow=workflow)
        await until(pilot, lambda: isinstance(app.screen, DecideScreen))
        assert app.screen.hidden and set(app.screen.hidden) == set(app.screen.plan.runs)
        assert "not on screen now (hidden by the filter" in str(
            app.screen.query_one("#decide-what").render())


async def test_keys_are_offered_only_to_who_may_use_them(pending_store: Store,
                                                         tmp_path: Path) -> None:
    fleet_store = pending_store
    approver = desk_for(fleet_store, tmp_path, {"finance-approver"})
    app = app_for(fleet_store, approver)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        assert "Pause" not in footer_keys(app)  # no operator role: no control keys
        await pilot.press("3")
        await to_row(pilot, app, ApprovalsPane, lambda a: a["status"] == "pending"
                     and a["required_role"] == "finance-approver")
        assert {"Approve", "Reject"} <= footer_keys(app)
        await to_row(pilot, app, ApprovalsPane, lambda a: a["status"] == "pending"
                     and a["required_role"] != "finance-approver")
        assert "Approve" not in footer_keys(app)  # not this operator's role

    viewer = desk_for(fleet_store, tmp_path, {"operator", "finance-approver"},
                      read_only=True)
    app = app_for(fleet_store, viewer)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        assert not {"Pause", "Resume", "Roll back"} & footer_keys(app)
        await pilot.press("p")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, DecideScreen)
        assert "READ-ONLY" in str(app.screen.query_one("#status-bar").render())


async def test_a_refusal_is_explained_and_not_recorded(pending_store: Store,
                                                       tmp_path: Path) -> None:
    fleet_store = pending_store
    approval_id, requester, role = "apr-fin", "svc-agent", "finance-approver"
    itself = desk_for(fleet_store, tmp_path, {role}, name=requester)
    app = app_for(fleet_store, itself)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.screen.query_one(RunsPane).records is not None)
        app.decide("approve", approval_id=approval_id)
        await until(pilot, lambda: any("separation of duties" in str(n.message)
                                       for n in app._notifications))
        assert not isinstance(app.screen, DecideScreen)
        assert not (tmp_path / "journal.jsonl").exists()


# --- end to end, with the demo's runner ---------------------------------------------------------


async def test_a_pause_reaches_the_runner_and_comes_back_applied(tmp_path: Path) -> None:
    from quarterdeck import demo
    from quarterdeck.console.live import LiveFeed
    from quarterdeck.queries.runs import RunFilter
    from quarterdeck.queries.store import utc_now

    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=5)
    paths = Paths(work / "journal.jsonl", work / "control-outbox.jsonl")
    # every approval request waits for an operator: a run that asks stays in flight until
    # decided, so the run paused below cannot finish first, however busy the machine is
    runner = demo.start_runner(logs, seed=5, rate=30, log=work / "runner.log",
                               outbox=paths.outbox, unanswered=1.0)
    store = Store.open(db)
    desk = DecisionDesk(store, Operator("anna", frozenset({"operator"})), paths,
                        stale_seconds=900, clock=utc_now)
    feed = LiveFeed(store, [logs])
    app = make_app(store, Settings(), feed=feed, desk=desk)
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = app.screen.query_one(RunsPane)

            def live_run() -> str | None:  # a run of the live runner's, waiting on a person
                if pane.records is None:
                    return None
                return next((r["run_id"] for r in pane.records.to_pylist()
                             if r["status"] == "awaiting_approval"
                             and r["run_id"] in runner_runs()), None)

            def runner_runs() -> set[str]:
                found = set()
                for log in (logs / "live").rglob("*.jsonl"):
                    for line in log.read_text().splitlines():
                        if '"run.started"' in line:
                            found.add(json.loads(line)["run_id"])
                return found

            await until(pilot, lambda: live_run() is not None, timeout=30)
            run_id = live_run()
            app.decide("pause", run_id=run_id)
            await until(pilot, lambda: isinstance(app.screen, DecideScreen))
            await type_into(pilot, app, "#decide-reason", "end to end")
            await pilot.press("enter")
            await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
            reader = app.reader

            def state() -> tuple[str | None, str | None]:
                rows = reader.decisions().to_pylist()
                status = reader.run_history(RunFilter(run_id=run_id)).to_pylist()
                return (rows[0]["state"] if rows else None,
                        status[0]["status"] if status else None)

            await until(pilot, lambda: state() == ("applied", "paused"), timeout=30)
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()


def test_the_runs_recorded_are_the_runs_the_dialog_named(pending_store: Store,
                                                         tmp_path: Path) -> None:
    desk = desk_for(pending_store, tmp_path, {"operator"})
    plan = desk.plan("pause", workflow="invoice-posting")
    write_jsonl(tmp_path / "later" / "b.jsonl", [started("r-after-the-dialog",
                                                        ts="2026-11-20T08:59:00Z")])
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
