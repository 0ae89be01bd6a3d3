"""The binding ids a config may remap are found from the console's classes, not listed; and
every full screen offers the app a reload."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from textual.binding import Binding
from textual.screen import ModalScreen, Screen

import quarterdeck.console.screens as screens_package
from quarterdeck.config import ConfigError, Settings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.keys import binding_ids, check_remaps, console_classes
from quarterdeck.console.screens.decide import DecideScreen
from quarterdeck.console.screens.main import MainScreen
from quarterdeck.console.screens.offers import Reloadable
from quarterdeck.console.screens.run_detail import RunDetailScreen
from quarterdeck.console.widgets.pane import Pane
from quarterdeck.console.widgets.runs_pane import RunsPane
from quarterdeck.queries.store import Store
from support.events import NOW

PROBE = """
from textual.binding import Binding
from textual.screen import Screen


class ProbeScreen(Screen[None]):
    BINDINGS = [Binding("z", "probe", "Probe", id="probe.zap")]
"""


def test_every_id_of_every_console_class_can_be_remapped() -> None:
    found = set(console_classes())
    assert {QuarterdeckApp, MainScreen, RunDetailScreen, DecideScreen, Pane, RunsPane} <= found
    declared = {
        b.id
        for cls in found
        for b in vars(cls).get("BINDINGS", ())
        if isinstance(b, Binding) and b.id
    }
    assert binding_ids() == declared
    assert {"app.jump", "pane.filter", "runs.pause", "decide.cancel"} <= declared


def test_a_new_screen_in_the_console_package_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A module added to the package, with nothing registered anywhere: its ids are known."""
    assert "probe.zap" not in binding_ids()
    (tmp_path / "probe.py").write_text(PROBE)
    monkeypatch.setattr(screens_package, "__path__", [*screens_package.__path__, str(tmp_path)])
    monkeypatch.delitem(sys.modules, "quarterdeck.console.screens.probe", raising=False)
    try:
        assert "probe.zap" in binding_ids()
        assert "ProbeScreen" in {cls.__name__ for cls in console_classes()}
        check_remaps(Settings(keys={"probe.zap": "x"}))  # a remap of it is accepted
    finally:
        sys.modules.pop("quarterdeck.console.screens.probe", None)


def test_an_unknown_id_is_refused_with_the_known_ones_listed() -> None:
    with pytest.raises(ConfigError) as refused:
        check_remaps(Settings(keys={"runs.filterr": "f", "pane.filter": "f"}))
    assert str(refused.value) == (
        "config: keys: no binding has the id 'runs.filterr'; known ids: "
        + ", ".join(sorted(binding_ids()))
    )


def test_every_full_screen_offers_a_reload() -> None:
    """The refresh timer, the follower and ctrl+r reach a screen only through `Reloadable`."""
    full = [
        cls
        for cls in console_classes()
        if issubclass(cls, Screen) and not issubclass(cls, ModalScreen)
    ]
    assert MainScreen in full and RunDetailScreen in full
    assert [cls.__name__ for cls in full if not issubclass(cls, Reloadable)] == []


async def test_more_backs_than_screens_never_leave_the_console_blank(
    fleet_store: Store,
) -> None:
    """Textual's `dismiss` pops whatever is on top: a dialog dismissed twice, or Esc read in
    a burst as screens close, once popped the Runs screen itself and left an empty screen.
    The console never pops the screen it stands on."""
    app = make_app(fleet_store, Settings(), clock=lambda: NOW)
    async with app.run_test(size=(170, 45)) as pilot:
        await pilot.pause()
        run_id = fleet_store.con.execute("SELECT run_id FROM run_summary LIMIT 1").fetchone()[0]
        for _ in range(2):
            app.push_screen(RunDetailScreen(app.reader, run_id))
        await pilot.pause()
        for _ in range(4):
            app.pop_screen()
        await pilot.press("escape", "escape", "escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("2")
        assert app.screen.current_pane().KEY == "2"
