"""The command line as a person runs it: `quarterdeck …` in a real process, with the
environment of a plain shell (no QUARTERDECK_* variables but those given)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def qd(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("QUARTERDECK_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "quarterdeck.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
    )
