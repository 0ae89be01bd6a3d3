"""The demo's canary end to end: the live runner publishes invoice-posting 1.6.0 at 10 %, its
runs fail more often than the stable version's, the demo's trigger rolls it back by itself,
the runner applies it, and the Workflows pane shows the weights move."""

from __future__ import annotations

from pathlib import Path

from quarterdeck import demo
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.workflows_pane import WorkflowsPane
from quarterdeck.queries.decisions import Paths
from quarterdeck.queries.store import Store
from quarterdeck.runner.live import CANARY
from support.desks import watched
from support.pilot import until

SIZE = (170, 45)


async def test_the_demo_rolls_its_failing_canary_back_and_the_weights_move(
    tmp_path: Path,
) -> None:
    work = tmp_path / "demo"
    db = work / "demo.duckdb"
    logs = demo.prepare(work, db, seed=5)
    paths = Paths(work / "journal.jsonl", work / "control-outbox.jsonl")
    runner = demo.start_runner(
        logs, seed=5, rate=80, log=work / "runner.log", outbox=paths.outbox,
        bursts=(0, 0), canary_after=2,
    )  # fmt: skip
    rule = next(t for t in demo.DEMO_TRIGGERS if t.name == "invoice-canary")
    store = Store.open(db)
    app, feed = watched(store, logs, paths, rule)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("5")
            pane = app.screen.query_one(WorkflowsPane)

            def weights() -> dict[str, int | None]:
                records = pane.records
                if records is None:
                    return {}
                return {
                    r["version"]: r["weight"]
                    for r in records.to_pylist()
                    if r["workflow"] == CANARY.workflow
                }

            await until(pilot, lambda: weights().get(CANARY.version) == 10, timeout=60)
            assert weights()["1.4.0"] == 90
            try:
                await until(pilot, lambda: weights().get(CANARY.version) == 0, timeout=120)
            except AssertionError:
                print(weights(), app.reader.decisions().to_pylist())
                print((work / "runner.log").read_text())
                raise
            assert weights()["1.4.0"] == 100
            decided = app.reader.decisions().to_pylist()[0]
            assert (decided["action"], decided["operator"]) == (
                "rollback-version",
                "trigger:invoice-canary",
            )
            await until(pilot, lambda: app.reader.decisions().to_pylist()[0]["state"] == "applied")
            shown = pane.query_one(TableView)  # what is on screen: the canary's bar at 0
            canary_row = " ".join(shown.cells(f"{CANARY.workflow}\t{CANARY.version}") or [])
            assert "  0 %" in canary_row and "canary" not in canary_row
            assert "100 %" in " ".join(shown.cells(f"{CANARY.workflow}\t1.4.0") or [])
    finally:
        feed.stop()
        demo.stop_runner(runner)
        store.close()
