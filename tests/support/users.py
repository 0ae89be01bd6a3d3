"""Users made for a test, to run a client as someone else: `stranger` (a fixture; root only)
and `python_for` (how that user starts this interpreter with these packages)."""

from __future__ import annotations

import grp
import os
import pwd
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def stranger() -> Iterator[tuple[str, int, int]]:
    """A user made for the test (name, uid, gid), removed after it; root only."""
    if os.geteuid() != 0 or not shutil.which("useradd") or not shutil.which("setpriv"):
        pytest.skip("needs root, useradd and setpriv to run a client as another user")
    name = f"qdt{os.getpid() % 100000}"
    made = subprocess.run(
        ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", "--user-group", name],
        capture_output=True,
        text=True,
    )
    if made.returncode != 0:
        pytest.skip(f"useradd failed: {made.stderr.strip()}")
    try:
        user = pwd.getpwnam(name)
        yield name, user.pw_uid, user.pw_gid
    finally:
        subprocess.run(["userdel", name], capture_output=True)
        if _group_exists(name):
            subprocess.run(["groupdel", name], capture_output=True)


def python_for(prefix: tuple[str, ...]) -> list[str]:
    """How the user `prefix` runs as starts this interpreter with these packages: this one if
    it can run it; else (a pyenv under root's private home) the system's Python of the same
    minor version, given this environment's site-packages."""
    if subprocess.run([*prefix, "test", "-x", sys.executable]).returncode == 0:
        return [sys.executable, "-m", "quarterdeck.cli"]
    system = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    if not system.exists():
        pytest.skip(f"the test user cannot run {sys.executable}, and there is no {system}")
    packages = next(p for p in sys.path if p.endswith("site-packages") and ".venv" in p)
    code = (
        f"import runpy, site; site.addsitedir({packages!r}); "
        "runpy.run_module('quarterdeck.cli', run_name='__main__')"
    )
    return [str(system), "-c", code]


def _group_exists(name: str) -> bool:
    try:
        grp.getgrnam(name)
    except KeyError:
        return False
    return True
