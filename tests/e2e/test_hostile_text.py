"""Log text never drives the operator's terminal: a store whose ids, names, reasons, errors,
before/after values, attrs and quarantined lines carry escape sequences, C1 controls, bidi
overrides and markup is shown visibly everywhere — CLI tables, report.md, every pane and
screen of the console — while JSON and CSV keep the exact values and keys stay exact."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content
from textual.widgets import Button, Input
from textual_fastdatatable.format import cell_formatter

from quarterdeck.config import Settings, TriggerSettings
from quarterdeck.console import cells
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.screens.approval import ApprovalScreen
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.decisions import DecisionsScreen
from quarterdeck.console.screens.quarantine import QuarantineScreen
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.screens.touch import LineageScreen, TouchScreen
from quarterdeck.console.screens.trigger import TriggerScreen
from quarterdeck.console.widgets.approvals_pane import ApprovalsPane
from quarterdeck.console.widgets.pane import Pane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.touched_pane import TouchedPane
from quarterdeck.console.widgets.triggers_pane import TriggersPane
from quarterdeck.desk import DecisionDesk
from quarterdeck.ingest.load import load_paths
from quarterdeck.printable import PATTERN, printable, printable_json
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store
from support.events import NOW, event, write_jsonl
from support.hostile import (
    HOSTILE,
    HOSTILE_APPROVAL,
    HOSTILE_RECORD,
    HOSTILE_RUN,
    HOSTILE_WORKFLOW,
    hostile,
    write_hostile_log,
)
from support.pilot import screen_lines, settle, until

#: What must never reach a terminal: C0 but newline and tab, DEL, C1, bidi overrides and
#: isolates.
RAW = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
#: Everything `printable` shows visibly, newline and tab included (for one screen line).
SHOWN = re.compile(PATTERN)
#: How HOSTILE looks once shown.
VISIBLE = printable(HOSTILE)
SIZE = (200, 50)
OPERATOR = "anna" + HOSTILE
TRIGGER = hostile("t")


def toml_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a TOML basic string


@pytest.fixture
def hostile_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hostile log loaded, a decision on its run that the runner answered (refused, with
    a hostile detail), and a config with a trigger on the hostile workflow."""
    monkeypatch.chdir(tmp_path)
    store = Store.open(Path("qd.duckdb"))
    try:
        load_paths(store.con, [write_hostile_log(tmp_path / "logs")])
        desk = DecisionDesk(
            store,
            Operator(OPERATOR, frozenset({"operator"})),
            paths(tmp_path),
            stale_seconds=900,
            clock=lambda: NOW,
        )
        record = desk.record(desk.plan("pause", run_id=HOSTILE_RUN), hostile("why"))
        load_paths(
            store.con,
            [
                write_jsonl(
                    tmp_path / "logs" / "ack.jsonl",
                    [
                        event(
                            "control.applied",
                            "2026-11-20T08:55:00Z",
                            HOSTILE_RUN,
                            event_id="ack",
                            decision_id=record["decision_id"],
                            action="pause",
                            result="refused",
                            detail=hostile("said"),
                        )
                    ],
                )
            ],
        )
    finally:
        store.close()
    where = paths(tmp_path)
    (tmp_path / "quarterdeck.toml").write_text(
        f'[operators.{toml_string(OPERATOR)}]\nroles = ["operator"]\n\n'
        f"[decisions]\njournal = {toml_string(str(where.journal))}\noutbox = "
        f"{toml_string(str(where.outbox))}\n\n"
        f"[[trigger]]\nname = {toml_string(TRIGGER)}\nworkflow = "
        f'{toml_string(HOSTILE_WORKFLOW)}\nmetric = "out_of_scope_touches"\nwindow = "2d"\n'
        "threshold = 0\n",
        encoding="utf-8",
    )
    return tmp_path / "qd.duckdb"


def paths(folder: Path) -> Paths:
    return Paths(folder / "journal.jsonl", folder / "outbox.jsonl")


def qd(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck.cli", "--db", "qd.duckdb", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        timeout=120,
    )


def assert_shown(output: bytes | str) -> str:
    """`output` as text, asserting that no control character reaches the terminal."""
    text = output.decode("utf-8") if isinstance(output, bytes) else output
    found = RAW.search(text)
    assert found is None, f"{found.group()!r} reached the terminal in:\n{text}"
    return text


# --- printable itself -----------------------------------------------------------------------


def test_every_kind_of_control_character_is_shown_visibly() -> None:
    assert printable("a\x1b[2Jb\x07\x00\x7f") == "a␛[2Jb␇␀␡"
    assert printable("\x9b31m\x85") == "\\x9b31m\\x85"
    assert printable("\u202eevil\u2066\u200f\u061c") == "\\u202eevil\\u2066\\u200f\\u061c"
    assert printable("C-\u200b1\ufeff\U000e0041") == "C-\\u200b1\\ufeff\\U000e0041"
    assert printable("a\u2028b") == "a\\u2028b"
    assert printable("line\nnext\ttab\r") == "line␊next␉tab␍"
    assert printable("line\nnext\ttab\r", multiline=True) == "line\nnext\ttab␍"
    # ordinary text, joiners that emoji and scripts need, and markup are left alone
    ordinary = "Zoë 名前 👨\u200d👩 [red]x[/]"
    assert printable(ordinary) == ordinary


@given(st.text())
def test_printable_leaves_nothing_to_act_and_is_stable(value: str) -> None:
    shown = printable(value)
    assert SHOWN.search(shown) is None
    assert printable(shown) == shown
    assert RAW.search(printable(value, multiline=True)) is None


@given(st.text())
def test_the_pattern_reads_the_same_in_arrow_as_in_python(value: str) -> None:
    in_arrow = pc.match_substring_regex(pa.array([value]), PATTERN)[0].as_py()
    assert in_arrow == (SHOWN.search(value) is not None)


@given(st.text())
def test_json_escapes_what_acts_and_parses_back_to_the_exact_value(value: str) -> None:
    document = printable_json(json.dumps({value: [value]}, ensure_ascii=False))
    assert SHOWN.search(document) is None
    assert json.loads(document) == {value: [value]}


# --- markup is shown, not obeyed --------------------------------------------------------------

#: Pieces that make markup of either dialect, escapes, emoji codes and controls.
PIECES = [
    "[",
    "]",
    "\\",
    "/",
    "=",
    "$",
    "@",
    "#",
    ":",
    " ",
    "a",
    "Z",
    "1",
    "%",
    "-",
    "_",
    "b",
    "red",
    "on",
    "link",
    "Foo",
    "warning",
    "smile",
    "accent",
    "\x1b",
    "\u202e",
    "\x9b",
    "\n",
]
markupish = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@given(markupish)
def test_a_table_cell_shows_the_value_as_written(value: str) -> None:
    rendered = cell_formatter(cells.text(value), null_rep=Text(""))  # as fastdatatable does
    plain = rendered.plain if isinstance(rendered, Text) else Text.from_markup(rendered).plain
    assert plain == printable(value)


@given(markupish)
def test_a_static_shows_the_value_as_written(value: str) -> None:
    shown = printable(value)
    markup = f"[b]{cells.text(value)}[/] {cells.status(value)} [dim]{cells.text(value)}[/]"
    assert cells.content(markup).plain == f"{shown} {shown.replace('_', ' ')} {shown}"


@given(markupish)
def test_a_palette_entry_shows_the_value_as_written(value: str) -> None:
    assert (
        Content.from_markup(f"Pause workflow {cells.palette(value)}").plain
        == f"Pause workflow {printable(value)}"
    )


async def test_a_table_makes_printable_what_a_row_builder_did_not() -> None:
    class One(App[None]):
        def compose(self) -> ComposeResult:
            yield TableView()

    app = One()
    async with app.run_test() as pilot:
        view = app.query_one(TableView)
        view.show(["A", "B"], [[HOSTILE, "ok"]], ["k"])
        await pilot.pause()
        assert view.cells("k") == [VISIBLE, "ok"]


# --- the command line and the evidence bundle -----------------------------------------------


#: A field of each command's JSON rows, and the exact value one row must hold.
EXACT = {
    "runs": ("run_id", HOSTILE_RUN),
    "touched": ("record_id", HOSTILE_RECORD),
    "approvals": ("approval_id", HOSTILE_APPROVAL),
    "decisions": ("reason", hostile("why")),
    "quarantine": ("raw", "not json \x00" + HOSTILE),
    "triggers": ("name", TRIGGER),
}


@pytest.mark.parametrize("command", list(EXACT))
def test_cli_tables_show_it_visibly_and_json_keeps_it_exactly(
    hostile_db: Path, command: str
) -> None:
    cwd = hostile_db.parent
    extra = ["--at", "2026-11-20T09:00:00Z"] if command == "triggers" else []
    table = qd(command, *extra, cwd=cwd)
    assert table.returncode in (0, 4), table.stderr  # 4: the trigger is tripped
    shown = assert_shown(table.stdout)
    assert "␛]0;PWNED-TITLE␇" in shown and "[red]x[/]" in shown  # visible, markup as written
    raw = qd(command, *extra, "--format", "json", cwd=cwd).stdout.decode()
    assert SHOWN.search(raw.replace("\n", "")) is None  # escaped, C1 and bidi too
    rows = json.loads(raw)
    key, value = EXACT[command]
    assert value in [r[key] for r in rows]
    if command == "runs":
        assert HOSTILE_WORKFLOW in [r["workflow"] for r in rows]
        assert ":warning:" in shown and "[link=https://e.x]y[/link]" in shown
    if command == "decisions":
        assert {OPERATOR, hostile("said")} <= {
            v for r in rows for v in r.values() if isinstance(v, str)
        }


def test_csv_keeps_the_exact_value(hostile_db: Path) -> None:
    out = qd("touched", "--format", "csv", cwd=hostile_db.parent).stdout.decode()
    assert HOSTILE_RECORD in out


def test_messages_that_echo_an_id_show_it_visibly(hostile_db: Path) -> None:
    cwd = hostile_db.parent
    refused = qd(
        "decide", "resume", "--run", HOSTILE_RUN, "--reason", "x", "--operator", OPERATOR, cwd=cwd
    )
    assert refused.returncode == 3
    assert VISIBLE in assert_shown(refused.stderr)  # "run … is running, not paused"
    recorded = qd(
        "decide",
        "pause",
        "--workflow",
        HOSTILE_WORKFLOW,
        "--reason",
        "x",
        "--operator",
        OPERATOR,
        cwd=cwd,
    )
    assert recorded.returncode == 0, recorded.stderr
    said = assert_shown(recorded.stdout)
    assert printable(HOSTILE_WORKFLOW) in said and printable(OPERATOR) in said
    missing = qd("evidence", "nope" + HOSTILE, cwd=cwd)
    assert missing.returncode == 1
    assert_shown(missing.stderr)


def test_the_report_shows_it_visibly_and_the_data_keeps_it_exactly(hostile_db: Path) -> None:
    cwd = hostile_db.parent
    written = qd("evidence", HOSTILE_RUN, "--out", "bundle", cwd=cwd)
    assert written.returncode == 0, written.stderr
    assert_shown(written.stdout)
    report = assert_shown((cwd / "bundle" / "report.md").read_text(encoding="utf-8"))
    assert f"## Run {printable(HOSTILE_RUN)}" in report
    for shown in (
        printable(HOSTILE_RECORD),
        printable(HOSTILE_WORKFLOW),
        hostile("by"),
        hostile("step"),
        hostile("post"),
        hostile("why"),
    ):
        assert printable(shown).replace("|", "\\|") in report
    data = (cwd / "bundle" / "evidence.json").read_text(encoding="utf-8")
    assert SHOWN.search(data.replace("\n", "")) is None
    run = json.loads(data)["runs"][0]
    assert run["run"]["run_id"] == HOSTILE_RUN
    assert HOSTILE_RECORD in [t["record_id"] for t in run["touches"]]
    assert HOSTILE_RECORD in (cwd / "bundle" / "touched.csv").read_text(encoding="utf-8")
    assert qd("evidence", "--verify", "bundle", cwd=cwd).returncode == 0


# --- the console ----------------------------------------------------------------------------


def screen_text(app: QuarterdeckApp) -> str:
    """The screen as sent to the terminal, line by line; asserts nothing on it acts."""
    assert RAW.search(app.export_screenshot()) is None
    lines = screen_lines(app)
    for line in lines:
        found = SHOWN.search(line)
        assert found is None, f"{found.group()!r} on screen:\n" + "\n".join(lines)
    return "\n".join(lines)


async def open_row(pilot: Any, app: QuarterdeckApp, pane_type: type[Pane], key: str) -> None:
    """Put the pane's cursor on the row with `key` and press Enter."""
    pane = app.screen.query_one(pane_type)
    view = pane.query_one(TableView)
    await until(pilot, lambda: key in view.keys)
    view.table.move_cursor(row=view.keys.index(key))
    view.focus_table()
    await pilot.pause()
    await pilot.press("enter")


@pytest.fixture
def console(hostile_db: Path) -> Iterator[QuarterdeckApp]:
    store = Store.open(hostile_db)
    settings = Settings(
        trigger=[
            TriggerSettings(
                name=TRIGGER,
                workflow=HOSTILE_WORKFLOW,
                metric="out_of_scope_touches",
                window="2d",
                threshold=0,
            )
        ]
    )
    desk = DecisionDesk(
        store,
        Operator(OPERATOR, frozenset({"operator"})),
        paths(hostile_db.parent),
        stale_seconds=900,
        clock=lambda: NOW,
    )
    yield make_app(store, settings, clock=lambda: NOW, desk=desk)
    store.close()


async def test_every_pane_shows_it_visibly(console: QuarterdeckApp) -> None:
    app = console
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        runs = screen_text(app)
        assert "r-1␛]0;PWNED-TITLE␇" in runs and "[red]x[/]" in runs
        assert "[link=https://e.x]y[/link][$accent]z[Foo]:warning:" in runs  # as written
        for key, pane in (("2", TouchedPane), ("3", ApprovalsPane), ("4", TriggersPane)):
            await pilot.press(key)
            table = app.screen.query_one(pane).query_one(TableView)
            await until(pilot, lambda t=table: bool(t.keys))
            await settle(pilot)
            assert "PWNED-TITLE" in screen_text(app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
        assert f"Pause workflow {cells.palette(HOSTILE_WORKFLOW)}" in titles
        app.notify(hostile("note"), title=hostile("title"), markup=True)
        await until(pilot, lambda: "title␛]0;PWNED-TITLE␇" in screen_text(app))


async def test_every_detail_screen_shows_it_visibly_and_opens_by_the_exact_key(
    console: QuarterdeckApp,
) -> None:
    app = console
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        await open_row(pilot, app, RunsPane, HOSTILE_RUN)
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.detail is not None
        )  # found by its exact id
        for _tab in range(5):  # timeline, touched, events, approvals, decisions
            await settle(pilot)
            assert "PWNED-TITLE" in screen_text(app)
            await pilot.press("right_square_bracket")
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, DecideScreen) and app.screen.is_mounted)
        assert VISIBLE in screen_text(app)
        await pilot.press("escape")
        await until(
            pilot, lambda: isinstance(app.screen, RunDetailScreen) and app.screen.is_mounted
        )
        await pilot.press("escape")

        await pilot.press("2")
        touch_id = "h4"  # the touch of HOSTILE_RECORD
        await open_row(pilot, app, TouchedPane, touch_id)
        await until(
            pilot, lambda: isinstance(app.screen, TouchScreen) and app.screen.touch is not None
        )
        await settle(pilot)
        shown = screen_text(app)
        assert printable(HOSTILE_RECORD) in shown and hostile("before")[:6] in shown
        await pilot.press("t")  # the lineage of the exact record id
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, LineageScreen) and bool(app.screen.query_one(TableView).keys)
            ),
        )
        assert "PWNED-TITLE" in screen_text(app)
        await pilot.press("escape", "escape")

        await pilot.press("3")
        await open_row(pilot, app, ApprovalsPane, HOSTILE_APPROVAL)
        await until(
            pilot, lambda: isinstance(app.screen, ApprovalScreen) and app.screen.detail is not None
        )
        await settle(pilot)
        assert VISIBLE in screen_text(app)
        await pilot.press("escape")

        await pilot.press("4")
        await open_row(pilot, app, TriggersPane, TRIGGER)
        await until(
            pilot,
            lambda: (
                isinstance(app.screen, TriggerScreen)
                and bool(app.screen.query_one("#runs-table", TableView).keys)
            ),
        )
        await settle(pilot)
        assert "PWNED-TITLE" in screen_text(app)
        await pilot.press("escape")

        for key, screen in (("D", DecisionsScreen), ("Q", QuarantineScreen)):
            await pilot.press(key)
            await until(
                pilot,
                lambda s=screen: (
                    isinstance(app.screen, s) and bool(app.screen.query_one(TableView).keys)
                ),
            )
            await settle(pilot)
            assert "PWNED-TITLE" in screen_text(app)
            await pilot.press("escape")


async def test_the_decide_dialog_names_it_visibly_and_takes_the_name_as_shown(
    console: QuarterdeckApp,
) -> None:
    app = console
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        plan = app.desk.plan("rollback", workflow=HOSTILE_WORKFLOW)
        reasons: list[str | None] = []
        app.push_screen(
            DecideScreen(plan, reason=hostile("evidence"), why=f"Trigger {TRIGGER} tripped."),
            reasons.append,
        )
        await pilot.pause()
        assert VISIBLE in screen_text(app)
        reason = app.screen.query_one("#decide-reason", Input)
        assert reason.value == printable(hostile("evidence"))  # what is shown is recorded
        confirm = app.screen.query_one("#decide-confirm", Button)
        app.screen.query_one("#decide-name", Input).value = printable(HOSTILE_WORKFLOW)
        await pilot.pause()
        assert not confirm.disabled  # the name typed as it is shown confirms
        await pilot.press("escape")
        assert reasons == [None]
