"""The console as a person uses it: a real terminal (tmux), real keys, the screen read back."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest

from support.hostile import write_hostile_log
from support.terminal import Terminal

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


def test_operator_session_in_a_real_terminal(
    tmp_path: Path, fleet_copy: Callable[[Path], Path]
) -> None:
    fleet_copy(tmp_path / ".quarterdeck" / "quarterdeck.duckdb")  # as `quarterdeck ingest` does
    term = Terminal([sys.executable, "-m", "quarterdeck.cli"], tmp_path)
    try:
        term.wait_for("120 shown")
        term.wait_for("Filter")
        term.wait_for("9 quarantined")  # the status bar counts them once its query is back
        term.keys("/")
        term.wait_for("Esc clears")  # the filter box is open (a person waits to see it)
        term.keys("payout")
        term.wait_for("filter payout")
        term.wait_until(
            lambda screen: all(
                "payout-batch" in line for line in screen.splitlines() if "│ r-" in line
            ),
            "only payout runs listed",
        )
        term.keys("Enter")  # keep the filter: the table takes the keys again
        time.sleep(0.5)  # (a person sees the cursor back in the table before going on)
        term.keys("Enter")
        screen = term.wait_for("scope payments:write:Payout")  # the run's facts, loaded
        assert "svc-payout-agent" in screen and "Timeline" in screen
        # Esc and the next keys typed in one burst: Esc leaves the run (it is not read as
        # Alt+/ and lost), and `/running` filters the runs instead of going to the run
        term.keys("Escape", "/running")
        screen = term.wait_for("filter running")
        assert "Timeline" not in screen
        term.keys("Escape", "?")  # the filter cleared, and help
        term.wait_for("Help · Runs")
        assert "filter running" not in term.screen()
        term.keys("Escape")
        term.wait_for_gone("Help · Runs")
        term.keys("?")
        term.wait_for("Help · Runs")
        term.keys("Escape", "2")  # at once: Esc, then the Touched pane (not ESC 2 read as ™)
        term.wait_for("Touched [2]")
        assert "Help · Runs" not in term.screen()
        term.keys("q")
        term.wait_for("EXITED:0")
    finally:
        term.close()


def test_a_second_console_on_the_same_store_is_told_who_holds_it(
    tmp_path: Path, fleet_copy: Callable[[Path], Path]
) -> None:
    fleet_copy(tmp_path / ".quarterdeck" / "quarterdeck.duckdb")  # as `quarterdeck ingest` does
    first = Terminal([sys.executable, "-m", "quarterdeck.cli"], tmp_path)
    try:
        first.wait_for("120 shown")
        second = subprocess.run(
            [sys.executable, "-m", "quarterdeck.cli"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 3
        assert "is in use by process" in second.stderr and "--db" in second.stderr
    finally:
        first.close()


def test_the_demo_shows_a_living_fleet_and_stops_its_runner(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    term = Terminal(
        [sys.executable, "-m", "quarterdeck.cli", "demo", "--rate", "40", "--dir", str(work)],
        tmp_path,
    )
    try:
        screen = term.wait_until(
            lambda s: "following" in s and "ev/s · lag" in s,
            "the status bar shows the follow rate and lag",
        )

        def runs(screen: str) -> int:
            found = re.search(r"([\d,]+) runs", screen)
            return int(found[1].replace(",", "")) if found else 0

        first = runs(term.wait_until(lambda s: runs(s) >= 300, "the shipped fleet is loaded"))
        term.wait_until(lambda s: runs(s) > first, "live runs keep arriving")
        runner = subprocess.run(
            ["pgrep", "-f", f"runner.live --out {work}"], capture_output=True, text=True
        )
        assert runner.stdout.strip(), "the runner is running"
        term.keys("q")
        term.wait_for("EXITED:0")
        deadline = time.monotonic() + 10
        while (
            subprocess.run(
                ["pgrep", "-f", f"runner.live --out {work}"], capture_output=True
            ).returncode
            == 0
        ):
            assert time.monotonic() < deadline, "the runner outlived the console"
            time.sleep(0.2)
        assert "Traceback" not in screen
    finally:
        term.close()


def test_a_record_id_cannot_retitle_or_clear_the_terminal(tmp_path: Path) -> None:
    """A touch whose record id sets the title to PWNED-TITLE and clears the screen: the
    Touched pane and the touch show it, visibly, and the terminal is not driven by it."""
    logs = write_hostile_log(tmp_path / "logs")
    subprocess.run(
        [sys.executable, "-m", "quarterdeck.cli", "ingest", str(logs), "--quiet"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
    )
    term = Terminal([sys.executable, "-m", "quarterdeck.cli"], tmp_path)
    try:
        term.wait_for("2 shown")
        before = term.title()
        term.keys("2")
        screen = term.wait_for("Touched [2]  2 shown")
        # the touches' run id carries the same sequence, in a column on screen
        assert "r-1␛]0;PWNED-TITLE␇␛[2J" in screen and "TIME (UTC)" in screen
        term.keys("Down")
        time.sleep(0.5)  # (a person sees the cursor on the row before pressing Enter)
        term.keys("Enter")
        # its facts, and its before/after table (drawn once its values are read, maybe later)
        screen = term.wait_until(
            lambda s: "crm/Contact/C-1␛]0;PWNED-TITLE␇␛[2J␛[HFAKE" in s and "BEFORE" in s,
            "the touch's facts and its before/after table",
        )
        assert "FIELD" in screen
        assert "PWNED" not in term.title() and term.title() == before
        term.keys("q")
        term.wait_for("EXITED:0")
        assert "PWNED" not in term.title()
    finally:
        term.close()


def test_keys_typed_in_one_burst_reach_the_box_they_were_typed_for(tmp_path: Path) -> None:
    """`/text` and `:run ID` Enter, each sent in one write (as typed fast or pasted), right
    after the console starts and again while live rows arrive: every key lands in the box
    that `/` or `:` opened, including a capital that is a key binding elsewhere (T, R)."""
    work = tmp_path / "demo"
    term = Terminal(
        [sys.executable, "-m", "quarterdeck.cli", "demo", "--rate", "40", "--dir", str(work)],
        tmp_path,
    )
    try:
        term.wait_for("Runs [1]", timeout=90)  # up: the fleet is still being read in
        term.keys("/T-57519")
        term.wait_for("filter T-57519")
        term.keys("Escape")
        term.wait_for_gone("filter T-57519")
        term.keys(":resume-workflow invoice-posting")
        term.wait_for("▊  resume-workflow invoice-posting ")  # the jump box holds it all
        term.keys("Escape")
        term.wait_for_gone("record SYSTEM/OBJECT/ID")

        def runs(screen: str) -> int:
            found = re.search(r"([\d,]+) runs", screen)
            return int(found[1].replace(",", "")) if found else 0

        first = runs(term.wait_until(lambda s: runs(s) >= 300, "the shipped fleet is loaded"))
        screen = term.wait_until(lambda s: runs(s) > first, "live runs keep arriving")
        live = re.findall(r"r-[a-z]+-\d{10}-\d{4}", screen)[0]  # a run of the runner's
        term.keys("/Rollback payout")  # R rolls back, but not in the box
        term.wait_for("filter Rollback payout")
        term.keys("Escape")
        term.wait_for_gone("filter Rollback payout")
        term.keys(f":run {live}", "Enter")
        screen = term.wait_for("Timeline")
        assert f"Runs  ›  {live}" in screen
        term.keys("q")
        term.wait_for("EXITED:0")
    finally:
        term.close()


def test_text_typed_into_a_trips_dialog_on_screen_stays_in_it(
    tmp_path: Path, fleet_copy: Callable[[Path], Path]
) -> None:
    """A trip's dialog opens by itself; once it is drawn, what the operator types is its: the
    text sent in one write the moment the dialog shows lands in the reason box, and the dialog
    stays open (it is not taken back as if the keys had been pressed before it showed)."""
    store = fleet_copy(tmp_path / ".quarterdeck" / "quarterdeck.duckdb")
    with duckdb.connect(str(store), read_only=True) as con:
        workflow = con.execute(
            "SELECT workflow FROM run_summary WHERE outcome IS NULL GROUP BY workflow "
            "ORDER BY count(*) DESC LIMIT 1"
        ).fetchone()[0]
    (tmp_path / "quarterdeck.toml").write_text(
        'operator = "anna"\n[operators.anna]\nroles = ["operator"]\n\n'
        '[store]\nstale_after = "100000d"\n\n'  # the fleet's unfinished runs are still active
        f'[[trigger]]\nname = "busy"\nworkflow = "{workflow}"\nmetric = "records_touched"\n'
        'window = "3650d"\nthreshold = 0\nmin_runs = 0\n',
        encoding="utf-8",
    )
    term = Terminal([sys.executable, "-m", "quarterdeck.cli"], tmp_path)
    try:
        term.wait_for("Trigger busy tripped.")
        term.keys("kwyz on call")  # at once, as a person who sees it types
        # in the box (a dialog taken back would have given them to the table, and come back
        # with the trip's reason only)
        screen = term.wait_for("kwyz on call")
        assert "Trigger busy tripped." in screen
        term.keys("Escape")
        term.wait_for_gone("Trigger busy tripped.")
        term.keys("q")
        term.wait_for("EXITED:0")
    finally:
        term.close()


def test_a_reason_typed_with_the_decision_key_lands_in_its_dialog(
    tmp_path: Path, fleet_copy: Callable[[Path], Path]
) -> None:
    """`p`, a reason and Enter sent in one write, while the dialog is still being planned:
    the reason lands in the dialog's box (none of its letters reached the Runs pane, where `s`
    sorts), and the Enter typed before the dialog showed decides nothing until pressed again."""
    fleet_copy(tmp_path / ".quarterdeck" / "quarterdeck.duckdb")
    (tmp_path / "quarterdeck.toml").write_text(
        'operator = "anna"\n[operators.anna]\nroles = ["operator"]\n\n'
        '[store]\nstale_after = "100000d"\n',  # the fleet's unfinished runs are still active
        encoding="utf-8",
    )
    term = Terminal([sys.executable, "-m", "quarterdeck.cli"], tmp_path)
    try:
        term.wait_for("Filter")
        term.keys("/")
        term.wait_for("Esc clears")
        term.keys("running", "Enter")  # the running runs, the table focused again
        screen = term.wait_until(
            lambda screen: (
                "filter running" in screen
                and all(" running " in line for line in screen.splitlines() if "│   r-" in line)
            ),
            "only running runs listed",
        )
        sorted_by = re.search(r"sorted by [^·│]+[↓↑]", screen)
        assert sorted_by is not None, screen
        time.sleep(1.0)  # (a person reads the row: past `SEEN_S` since it came)
        term.keys("p", "shift handover: fix sent", "Enter")
        screen = term.wait_for("shift handover: fix sent")
        assert "Pause — " in screen  # in the dialog's reason box
        screen = term.wait_for("so it decided nothing")  # the early Enter, said
        assert "decision recorded" not in screen
        term.keys("Enter")  # read, confirmed
        term.wait_for("decision recorded")
        assert sorted_by[0] in term.screen()  # no `s` of the reason reached the pane
        term.keys("q")
        term.wait_for("EXITED:0")
    finally:
        term.close()
