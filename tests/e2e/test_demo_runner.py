"""The demo's runner end to end: a real process writing live logs, and the console following
them — runs appear and change state; a pause decided in the console reaches the runner and
comes back applied; a burst of failures trips a trigger whose prompt pauses the workflow.

Each takes tens of seconds (the runner writes in real time) and waits on another process, so
these are the tests to suspect first on a loaded machine.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from quarterdeck import demo
from quarterdeck.config import Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.live import LiveFeed
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.desk import DecisionDesk
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.runs import RunFilter
from quarterdeck.queries.store import Store, utc_now
from support.desks import watched
from support.pilot import type_into, until

SIZE = (170, 45)


def runs(app: QuarterdeckApp) -> TableView:
    main = next(s for s in app.screen_stack if isinstance(s, MainScreen))
    return main.query_one(RunsPane).query_one(TableView)


async def test_the_demo_runner_makes_runs_appear_and_change_state(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=3)
    runner = demo.start_runner(logs, seed=3, rate=60, log=work / "runner.log")
    store = Store.open(db)
    feed = LiveFeed(store, [logs])
    app = make_app(store, Settings(), feed=feed)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: len(runs(app).keys) >= 300, timeout=60)
            shipped = len(runs(app).keys)
            seen: dict[str, set[str]] = {}

            def live_runs_changed() -> bool:
                history = app.reader.run_history
                for row in history(RunFilter(), limit=50).to_pylist():
                    seen.setdefault(row["run_id"], set()).add(row["status"])
                return any(len(states) > 1 for states in seen.values())

            await until(pilot, lambda: len(runs(app).keys) > shipped, timeout=60)
            await until(pilot, live_runs_changed, timeout=60)
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()
    assert runner.returncode is not None
    assert (logs / "live").is_dir()


async def test_a_pause_reaches_the_runner_and_comes_back_applied(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=5)
    paths = Paths(work / "journal.jsonl", work / "control-outbox.jsonl")
    # every approval request waits for an operator: a run that asks stays in flight until
    # decided, so the run paused below cannot finish first, however busy the machine is
    runner = demo.start_runner(
        logs, seed=5, rate=30, log=work / "runner.log", outbox=paths.outbox, unanswered=1.0
    )
    store = Store.open(db)
    desk = DecisionDesk(
        store, Operator("anna", frozenset({"operator"})), paths, stale_seconds=900, clock=utc_now
    )
    feed = LiveFeed(store, [logs])
    app = make_app(store, Settings(), feed=feed, desk=desk)
    try:
        async with app.run_test(size=SIZE) as pilot:
            pane = app.screen.query_one(RunsPane)

            def live_run() -> str | None:  # a run of the live runner's, waiting on a person
                if pane.records is None:
                    return None
                return next(
                    (
                        r["run_id"]
                        for r in pane.records.to_pylist()
                        if r["status"] == "awaiting_approval" and r["run_id"] in runner_runs()
                    ),
                    None,
                )

            def runner_runs() -> set[str]:
                found = set()
                for log in (logs / "live").rglob("*.jsonl"):
                    for line in log.read_text().splitlines():
                        if '"run.started"' in line:
                            found.add(json.loads(line)["run_id"])
                return found

            await until(pilot, lambda: live_run() is not None, timeout=60)
            run_id = live_run()
            app.decisions_flow.decide("pause", run_id=run_id)
            await until(
                pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted
            )
            await type_into(pilot, "#decide-reason", "end to end")
            await pilot.press("enter")
            await until(pilot, lambda: not isinstance(app.screen, DecideScreen))
            reader = app.reader

            def state() -> tuple[str | None, str | None]:
                rows = reader.decisions().to_pylist()
                status = reader.run_history(RunFilter(run_id=run_id)).to_pylist()
                return (rows[0]["state"] if rows else None, status[0]["status"] if status else None)

            await until(pilot, lambda: state() == ("applied", "paused"), timeout=60)
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()


async def test_a_burst_trips_the_rule_the_prompt_pauses_and_the_runner_applies(
    tmp_path: Path,
) -> None:
    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=9)
    paths = Paths(work / "journal.jsonl", work / "control-outbox.jsonl")
    runner = demo.start_runner(
        logs, seed=9, rate=40, log=work / "runner.log", outbox=paths.outbox, bursts=(60, 60)
    )  # bursting throughout
    store = Store.open(db)
    app, feed = watched(store, logs, paths, demo.DEMO_TRIGGERS[0])
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(
                pilot,
                lambda: (
                    isinstance(app.screen, DecideScreen)
                    and app.screen.query("#decide-reason")
                    and app.focused is app.screen.query_one("#decide-reason")
                ),
                timeout=60,
            )
            dialog = app.screen
            assert "Trigger triage-failures tripped" in str(
                dialog.query_one("#decide-why").render()
            )
            assert dialog.plan.action == "pause" and dialog.plan.target == "ticket-triage"
            assert "failed_run_ratio" in dialog.reason  # the evidence is the reason
            # it opened by itself: a key is its own once it is on screen (`pressed`)
            # ...and an Enter decides once it could be read (`SEEN_S` after it showed)
            await until(
                pilot,
                lambda: (
                    dialog.readable_from is not None and time.monotonic() > dialog.readable_from
                ),
            )
            await pilot.press("enter")  # the reason is the trip's evidence: Enter decides
            reader = app.reader

            def outcome() -> str | None:
                rows = reader.decisions().to_pylist()
                return rows[0]["state"] if rows else None

            try:
                await until(pilot, lambda: outcome() in ("applied", "partly applied"), timeout=60)
            except AssertionError:
                print(
                    reader.decisions().to_pylist(),
                    app.screen,
                    [str(n.message) for n in app._notifications],
                )
                print((work / "runner.log").read_text())
                raise
            trip = (
                store.cursor()
                .execute("SELECT decision_id FROM trigger_trips WHERE name = 'triage-failures'")
                .fetchone()
            )
            assert trip is not None and trip[0] is not None  # the trip is decided
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()
