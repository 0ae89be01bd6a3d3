"""`quarterdeck serve` as tests run it: a real process on a real socket, and commands run as
real processes against it. Nothing here sleeps for a fixed time: a server is ready when its
socket answers, and a test waits for the condition it needs (`until`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from quarterdeck import client
from quarterdeck.queries.store import StoreError

#: How long a server may take to open its store and answer, on a loaded machine.
READY_S = 90.0


def env() -> dict[str, str]:
    """The environment without the QUARTERDECK_ variables a developer may have set."""
    return {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}


def qd(
    *args: str, cwd: Path, prefix: tuple[str, ...] = (), timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "quarterdeck.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env(),
        timeout=timeout,
    )


def until(condition: Callable[[], Any], what: str, timeout: float = READY_S) -> Any:
    """Poll `condition` until it returns something true; fail naming `what` after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out waiting for {what}")


class Served:
    """A `quarterdeck serve` subprocess for one store; its stderr goes to a file."""

    def __init__(self, db: Path, config: Path, *extra: str, cwd: Path) -> None:
        self.db = db
        db.parent.mkdir(parents=True, exist_ok=True)
        self.log = db.parent / f"serve-{time.monotonic_ns()}.log"
        self._log = self.log.open("w")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "quarterdeck.cli",
                "serve",
                "--db",
                str(db),
                "--config",
                str(config),
                *extra,
            ],
            cwd=cwd,
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            text=True,
        )
        until(self._answers, "the server to answer on its socket")

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            pytest.fail(f"serve exited {self.proc.returncode}:\n{self.stderr()}")
        found = client.find(self.db)
        if found is None:
            return False
        try:
            return found.status()["pid"] == self.proc.pid
        except StoreError:
            return False

    def status(self) -> dict[str, Any]:
        found = client.find(self.db)
        assert found is not None
        return found.status()

    def stderr(self) -> str:
        """What the server has logged so far (it writes to the file itself)."""
        return self.log.read_text()

    def stop(self, number: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(number)
        code = self.proc.wait(timeout=60)
        self._log.close()
        return code


@pytest.fixture
def serving() -> Iterator[Callable[..., Served]]:
    """Start servers; any still running at the end is stopped (killed if it will not stop)."""
    started: list[Served] = []

    def start(db: Path, config: Path, *extra: str, cwd: Path) -> Served:
        server = Served(db, config, *extra, cwd=cwd)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.send_signal(signal.SIGTERM)
            try:
                server.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.proc.kill()
                server.proc.wait()
        server._log.close()
