"""Fixtures for the server's tests: servers started as subprocesses, always stopped."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support.serving import Served


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
