"""Waiting in a Pilot session without sleeping: for the console to settle, or for a condition.

The console reads the store in worker threads and repaints when they post back, so a test
waits for the workers and the messages they sent, never for a fixed time. One `settle` for
every console test and snapshot: a snapshot taken after it is the screen at rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Input
from textual.worker import WorkerCancelled


async def settle(pilot: Pilot) -> None:
    """Until the app is at rest: no worker running, what they posted handled (and whatever
    workers that started in turn done too), animations over.

    Text cursors stop blinking from here on (each shows, steadily), so a snapshot never
    catches one half-way. A timer still to fire (the filter's pause after typing) is not
    waited for: wait for what it brings with `until`.
    """
    app = pilot.app
    await pilot.pause()
    while True:
        await _workers_done(pilot)
        await pilot.pause()  # handle what they posted, which may start more work
        if all(worker.is_finished for worker in app.workers):
            break
    await pilot.wait_for_scheduled_animations()
    await pilot.pause()
    for screen in app.screen_stack:
        for box in screen.query(Input):
            box.cursor_blink = False


async def _workers_done(pilot: Pilot) -> None:
    """Until no worker is running. An exclusive worker that a newer one of its group cancelled
    is done (its successor is waited for in turn); a worker that failed still fails the test."""
    while True:
        running = [worker for worker in pilot.app.workers if not worker.is_finished]
        if not running:
            return
        for worker in running:
            try:
                await worker.wait()
            except WorkerCancelled:
                pass


async def until(pilot: Pilot, condition: Callable[[], object], timeout: float = 30.0) -> None:
    """Wait, in the session's loop, until `condition()` holds (fails after `timeout`).

    A screen pushed is on top (`app.screen`) before it has composed and mounted: wait for
    `isinstance(app.screen, X) and app.screen.is_mounted` before reading or typing into it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        assert loop.time() < deadline, "timed out"
        await pilot.pause(0.1)


async def type_into(pilot: Pilot, selector: str, text: str) -> None:
    """Type into a field of the screen on top as a person would: once the screen has opened
    and put its focus where it wants it (a dialog opens on its reason, in its on_mount, which a
    busy machine may run after the field is there), move to the field, then type; return once
    the field holds the text."""
    app = pilot.app
    await until(
        pilot,
        lambda: app.screen.query(selector) and app.screen.is_mounted and app.focused is not None,
    )
    field = app.screen.query_one(selector, Input)
    before = field.value
    field.focus()
    await until(pilot, lambda: field.has_focus)
    await pilot.press(*text)
    await until(pilot, lambda: field.value == before + text)


def screen_lines(app: App) -> list[str]:
    """The screen as sent to the terminal, as plain text, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]
