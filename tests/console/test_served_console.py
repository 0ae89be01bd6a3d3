"""The console as the client of `quarterdeck serve`: a real server process on a real socket, a
real Pilot session. The same answers as in-process; a line the server stores is on screen
without a refresh timer; a decision is recorded by the server as the peer the kernel names;
keys the server says this operator cannot use are hidden, and planning them is refused; a
trip is decided once however many consoles try; a server that goes away is said plainly, and
the console carries on and reconnects. (The load test with tmux: tests/server/test_load.py.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Button

from quarterdeck import client
from quarterdeck import config as config_mod
from quarterdeck.cli import main
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.data import StoreReader
from quarterdeck.console.live import ServerFeed
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.status_bar import StatusBar
from quarterdeck.console.widgets.table import TableView
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries import runs, touches
from quarterdeck.queries.decisions import Refused
from quarterdeck.queries.store import Store
from quarterdeck.remote_desk import RemoteDesk, RemoteWatch
from quarterdeck.server.peer import name_of
from support.events import NOW, event, started, write_jsonl
from support.pilot import type_into, until
from support.serving import Served, qd
from support.serving import until as wait_for

ME = name_of(os.getuid())
SIZE = (170, 45)
RULE = (
    '[[trigger]]\nname = "failing"\nmetric = "failed_run_ratio"\nworkflow = "invoice-posting"\n'
    'window = "3650d"\nthreshold = 0.0001\n'
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def ago(seconds: float) -> str:
    return stamp(datetime.now(UTC) - timedelta(seconds=seconds))


def config(folder: Path, *, roles: bool = True, extra: str = "") -> Path:
    text = '[store]\nstale_after = "3650d"\n'
    if roles:
        text += f'[operators."{ME}"]\nroles = ["operator"]\n'
    path = folder / "quarterdeck.toml"
    path.write_text(text + extra)
    return path


@pytest.fixture
def served_store(tmp_path: Path, fleet_dir: Path) -> tuple[Path, Path]:
    """The test fleet plus a live log (one failed and one running run of invoice-posting):
    the store's path and the live log."""
    live = write_jsonl(
        tmp_path / "logs" / "live.jsonl",
        [
            started("r-failed", ago(120)),
            event("run.finished", ago(100), "r-failed", event_id="r-failed-end", status="failed"),
            started("r-running", ago(90)),
        ],
    )
    db = tmp_path / "store" / "qd.duckdb"
    with Store.open(db) as store:
        load_paths(store.con, [fleet_dir, live])
    return db, live


def append(path: Path, *lines: dict[str, Any]) -> None:
    import json

    with path.open("a") as handle:
        for line in lines:
            handle.write(json.dumps(line) + "\n")


@pytest.fixture
def consoles() -> Iterator[Callable[..., QuarterdeckApp]]:
    """Consoles as clients of a server; their change feeds are stopped at the end."""
    feeds: list[ServerFeed] = []

    def console(server: client.Client, settings: config_mod.Settings, **kw: Any) -> QuarterdeckApp:
        feed = ServerFeed(server)
        feeds.append(feed)
        read_only = bool(kw.pop("read_only", False))
        return make_app(
            server,
            settings,
            read_only=read_only,
            feed=feed,
            desk=RemoteDesk(server, read_only=read_only),
            watch=RemoteWatch(server),
            **kw,
        )

    yield console
    for feed in feeds:
        feed.stop()


def readings(reader: StoreReader, run_id: str, event_id: str) -> dict[str, Any]:
    """Every read the console makes, once."""
    detail = reader.run_detail(run_id)
    assert detail is not None
    page = reader.touches(touches.TouchFilter(), limit=5)
    last = page.to_pylist()[-1]
    approvals = reader.approvals(limit=5)
    approval_id = approvals.column("approval_id")[0].as_py()
    approval = reader.approval_detail(approval_id)
    assert approval is not None
    touch = reader.touch_detail(event_id)
    assert touch is not None
    found = reader.trigger_evidence("failing")
    assert found is not None
    return {
        "runs": reader.run_history(runs.RunFilter(text="invoice"), limit=7, offset=3),
        "runs_sorted": reader.run_history(
            runs.RunFilter(text="invoice", invert=True), sort="run_id", descending=False
        ),
        "detail": detail,
        "touches": page,
        "touches_after": reader.touches(
            touches.TouchFilter(), limit=5, after=(last["ts"], last["event_id"])
        ),
        "touch": touch,
        "lineage": reader.lineage(touch["system"], touch["object"], touch["record_id"]),
        "approvals": approvals,
        "approval": approval,
        "decisions": reader.decisions(),
        "trigger_status": reader.trigger_status(),
        "trigger_evidence": found,
        "evidence": reader.evidence(run_id),
        "one_run": reader.run_history(runs.RunFilter(run_id=run_id)),
        "some_runs": reader.run_history(runs.RunFilter(run_ids=(run_id, "r-running"))),
        "touches_until": reader.touches(touches.TouchFilter(until=last["ts"]), limit=5),
        "nothing": [
            reader.evidence("r-nope"),
            reader.run_detail("r-nope"),
            reader.touch_detail("nope"),
            reader.approval_detail("nope"),
            reader.trigger_evidence("nope"),
        ],
        "counts": reader.counts(),
        "quarantined": reader.quarantined(),
    }


def test_the_console_reads_the_same_through_the_server_as_in_process(
    served_store: tuple[Path, Path],
    tmp_path: Path,
    serving: Callable[..., Served],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, _ = served_store
    cfg = config(tmp_path, extra=RULE)
    settings = config_mod.load(str(cfg))
    with Store.open(db, read_only=True) as store:
        run_id, event_id = store.con.execute(
            "SELECT run_id, event_id FROM touches ORDER BY ts LIMIT 1"
        ).fetchone()
    monkeypatch.setattr("quarterdeck.cli.evidence.utc_now", lambda: NOW)
    bundle = ["evidence", run_id, "--db", str(db), "--config", str(cfg), "--out"]

    server = serving(db, cfg, cwd=tmp_path)  # it stores the rules' evaluations at once
    wait_for(lambda: server.status()["triggers"], "the first evaluation of the triggers")
    remote = readings(StoreReader(client.find(db), clock=lambda: NOW), run_id, event_id)
    assert main([*bundle, str(tmp_path / "served")]) == 0
    assert server.stop() == 0

    with Store.open(db, read_only=True) as store:
        reader = StoreReader(
            store, clock=lambda: NOW, stale_seconds=3650 * 86400, rules=settings.rules()
        )
        embedded = readings(reader, run_id, event_id)
    assert main([*bundle, str(tmp_path / "embedded")]) == 0

    assert remote["trigger_status"].column("phase").to_pylist() == ["tripped"]
    assert remote["one_run"].column("run_id").to_pylist() == [run_id]
    assert remote["nothing"] == [None] * 5
    for name, value in embedded.items():
        assert remote[name] == value, name
    files = sorted(p.name for p in (tmp_path / "embedded").iterdir())
    assert files == sorted(p.name for p in (tmp_path / "served").iterdir())
    for name in files:  # the bundle written from the server's answers, byte for byte
        assert (tmp_path / "served" / name).read_bytes() == (
            tmp_path / "embedded" / name
        ).read_bytes(), name


def runs_shown(app: QuarterdeckApp) -> list[str]:
    main_screen = app.main_screen()
    if main_screen is None:
        return []
    return list(main_screen.query_one(RunsPane).query_one(TableView).keys)


async def test_a_line_the_server_stores_is_on_screen_and_a_decision_is_the_peers(
    served_store: tuple[Path, Path],
    tmp_path: Path,
    serving: Callable[..., Served],
    consoles: Callable[..., QuarterdeckApp],
) -> None:
    db, live = served_store
    cfg = config(tmp_path)
    serving(db, cfg, "--follow", str(live.parent), cwd=tmp_path)
    server = client.find(db)
    assert server is not None
    app = consoles(server, config_mod.load(str(cfg)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "r-running" in runs_shown(app))
        assert app.screen.query_one(StatusBar).served
        append(live, started("r-new", ago(0)))
        # no refresh timer in client mode: the server's change feed brings it
        await until(pilot, lambda: "r-new" in runs_shown(app))

        pane = app.screen.query_one(RunsPane)
        table = pane.query_one(TableView)
        table.table.move_cursor(row=runs_shown(app).index("r-new"))
        # a row that came under the cursor is the operator's once it has been on screen for
        # SEEN_S; before that, a decision key means the row it replaced (`pressed`)
        await until(pilot, lambda: all(at < time.monotonic() - SEEN_S for at, *_ in table._moves))
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen))
        await type_into(pilot, "#decide-reason", "looks wrong")
        assert not app.screen.query_one("#decide-confirm", Button).disabled
        await pilot.press("enter")
        await until(pilot, lambda: server.query("decisions", {}).num_rows == 1)
    (decision,) = server.query("decisions", {}).to_pylist()
    assert decision["operator"] == ME and decision["action"] == "pause"
    assert decision["runs"] == ["r-new"]


async def test_keys_the_server_refuses_are_hidden_and_planning_them_is_refused(
    served_store: tuple[Path, Path],
    tmp_path: Path,
    serving: Callable[..., Served],
    consoles: Callable[..., QuarterdeckApp],
) -> None:
    db, _ = served_store
    cfg = config(tmp_path, roles=False)
    serving(db, cfg, cwd=tmp_path)
    server = client.find(db)
    assert server is not None
    desk = RemoteDesk(server)
    assert desk.operator.name == ME and not desk.offers("pause")
    with pytest.raises(Refused, match="operator"):
        desk.plan("pause", run_id="r-running")
    app = consoles(server, config_mod.load(str(cfg)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "r-running" in runs_shown(app))
        pane = app.screen.query_one(RunsPane)
        pane.query_one(TableView).table.move_cursor(row=runs_shown(app).index("r-running"))
        await pilot.pause()
        shown = {b.binding.description for b in app.screen.active_bindings.values() if b.enabled}
        assert not {"Pause", "Roll back"} & shown
        app.decisions_flow.ask("pause", {"run_id": "r-running"})  # as if a key were there
        await until(pilot, lambda: any("cannot pause" in n.title for n in app._notifications))
        assert not isinstance(app.screen, DecideScreen)


async def test_a_trip_is_offered_and_decided_once_whoever_asks(
    served_store: tuple[Path, Path],
    tmp_path: Path,
    serving: Callable[..., Served],
    consoles: Callable[..., QuarterdeckApp],
) -> None:
    db, _ = served_store
    cfg = config(tmp_path, extra=RULE)
    served = serving(db, cfg, cwd=tmp_path)
    wait_for(lambda: served.status()["triggers"], "the first evaluation of the triggers")
    server = client.find(db)
    assert server is not None
    app = consoles(server, config_mod.load(str(cfg)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: isinstance(app.screen, DecideScreen))  # the trip's dialog
        assert "failing" in app.screen.why
        await pilot.press("escape")
    trip = RemoteWatch(server).open_trip("failing")
    assert not isinstance(trip, str)
    key = (trip.rule.name, trip.evaluation.at)
    first, second = RemoteDesk(server), RemoteDesk(server)
    plans = [desk.plan("pause", workflow="invoice-posting") for desk in (first, second)]
    first.record(plans[0], "failing too often", trip=key)
    with pytest.raises(Refused, match="decided already"):
        second.record(plans[1], "me too", trip=key)
    assert server.query("decisions", {}).num_rows == 1
    assert "decided already" in RemoteWatch(server).open_trip("failing")


async def test_the_server_going_away_is_shown_and_the_console_carries_on(
    served_store: tuple[Path, Path],
    tmp_path: Path,
    serving: Callable[..., Served],
    consoles: Callable[..., QuarterdeckApp],
) -> None:
    db, live = served_store
    cfg = config(tmp_path)
    served = serving(db, cfg, "--follow", str(live.parent), cwd=tmp_path)
    server = client.find(db)
    assert server is not None
    app = consoles(server, config_mod.load(str(cfg)))
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "r-running" in runs_shown(app))
        bar = app.screen.query_one(StatusBar)
        assert served.stop() == 0
        await until(pilot, lambda: bar.server_problem is not None, timeout=60)
        assert "SERVER GONE" in str(bar.render())
        await pilot.press("2")  # the console still answers its keys
        await pilot.press("1")
        serving(db, cfg, "--follow", str(live.parent), cwd=tmp_path)
        await until(pilot, lambda: bar.server_problem is None, timeout=90)
        append(live, started("r-after", ago(0)))
        await until(pilot, lambda: "r-after" in runs_shown(app), timeout=60)


def test_the_console_command_against_a_server_refuses_follow_and_another_name(
    served_store: tuple[Path, Path], tmp_path: Path, serving: Callable[..., Served]
) -> None:
    db, live = served_store
    cfg = config(tmp_path)
    serving(db, cfg, cwd=tmp_path)
    where = ("--db", str(db), "--config", str(cfg))
    follow = qd("console", *where, "--follow", str(live), cwd=tmp_path)
    assert follow.returncode == 2
    assert "[serve] follow" in follow.stderr and "Traceback" not in follow.stderr
    other = qd("console", *where, "--operator", "somebody-else", cwd=tmp_path)
    assert other.returncode == 3
    assert f"knows you as {ME}" in other.stderr and "Traceback" not in other.stderr
