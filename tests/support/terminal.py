"""A real terminal for tests: a program in its own tmux server, keys sent, the screen read back.
Waits poll the screen for what a person would wait to see, never a fixed time."""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path


class Terminal:
    def __init__(self, command: list[str], cwd: Path) -> None:
        self.name = f"qd-test-{uuid.uuid4().hex[:8]}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
        env["TERM"] = "xterm-256color"
        line = " ".join(command) + "; echo EXITED:$?; sleep 30"
        # a server of its own, so tests never share (or kill) another tmux server
        self.tmux = ["tmux", "-L", self.name, "-f", "/dev/null"]
        subprocess.run(
            [
                *self.tmux,
                "new-session",
                "-d",
                "-s",
                self.name,
                "-x",
                "150",
                "-y",
                "40",
                "-c",
                str(cwd),
                line,
            ],
            check=True,
            env=env,
        )

    def screen(self) -> str:
        return subprocess.run(
            [*self.tmux, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        ).stdout

    def wait_for(self, text: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if text in screen:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def wait_until(self, ok, what: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            screen = self.screen()
            if ok(screen):
                return screen
            time.sleep(0.2)
        raise AssertionError(f"never true: {what}; the screen shows:\n{self.screen()}")

    def wait_for_gone(self, text: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while text in self.screen():
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} is still on screen:\n{self.screen()}")
            time.sleep(0.2)

    def keys(self, *keys: str) -> None:
        subprocess.run([*self.tmux, "send-keys", "-t", self.name, *keys], check=True)

    def title(self) -> str:
        """The pane's title: what the program in it last set (OSC 0/2), else the host."""
        return subprocess.run(
            [*self.tmux, "display", "-p", "-t", self.name, "#{pane_title}"],
            capture_output=True,
            text=True,
        ).stdout.strip()

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True)
