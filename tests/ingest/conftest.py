"""Fixtures of the ingest tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    """An empty folder of logs, to follow."""
    folder = tmp_path / "logs"
    folder.mkdir()
    return folder
