"""Installed as a user installs it: a wheel, not the editable checkout the other tests use.

The project's wheel is built from a copy of its folders (so the build leaves nothing in the
repository), next to a wheel of another distribution that ships a top-level `console` package,
and both are installed into a fresh virtualenv. Nothing is downloaded: the build runs without
isolation on the setuptools of the test extras, and the new venv finds the dependencies in the
test environment's site-packages through a path file (without running that environment's .pth
hooks, so the editable install of the checkout stays out of sight).

Checked: every module comes from the venv's site-packages, the console's stylesheet is shipped,
the commands run, and the other distribution's `console` and `quarterdeck.console` both import.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

from support.layout import ROOT, package_dirs

pytestmark = pytest.mark.install

#: A distribution of someone else's, with a top-level package named as our console once was.
OTHER = {
    "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\n'
    'build-backend = "setuptools.build_meta"\n'
    '[project]\nname = "someone-elses-console"\nversion = "1.0"\n'
    '[tool.setuptools]\npackages = ["console"]\n',
    "console/__init__.py": 'OWNER = "someone else"\n',
}

PROBE = """
import importlib, json, sys
import console
app = importlib.import_module("quarterdeck.console.app")
cli = importlib.import_module("quarterdeck.cli")
print(json.dumps({"console": console.__file__, "owner": console.OWNER, "app": app.__file__,
                  "cli": cli.__file__, "prefix": sys.prefix}))
"""


def _run(*command: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME") and not k.startswith("QUARTERDECK_")
    }
    result = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the project's wheel and the other `console` installed: its python."""
    work = tmp_path_factory.mktemp("install")
    source = work / "quarterdeck"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, source / name)
    for folder in {path.name for path in package_dirs().values()}:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    other = work / "other"
    for name, text in OTHER.items():
        (other / name).parent.mkdir(parents=True, exist_ok=True)
        (other / name).write_text(text)
    wheels = work / "wheels"
    _run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--quiet",
        "--no-deps",
        "--no-index",
        "--no-build-isolation",
        "--wheel-dir",
        wheels,
        source,
        other,
        cwd=work,
    )

    env_dir = work / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    purelib = _run(
        python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))", cwd=work
    ).stdout.strip()
    (Path(purelib) / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--quiet",
        "--no-deps",
        "--no-index",
        *sorted(wheels.glob("*.whl")),
        cwd=work,
    )
    return python


def _probe(python: Path) -> dict[str, str]:
    # run from the venv's folder: the checkout is not on the path, not even as the cwd
    return json.loads(_run(python, "-c", PROBE, cwd=python.parent.parent).stdout)


def test_a_non_editable_install_ships_the_console_and_the_commands(installed: Path) -> None:
    found = _probe(installed)
    site_packages = Path(found["prefix"]) / "lib"
    app = Path(found["app"])
    assert app.is_relative_to(site_packages) and app.parent.name == "console"
    assert Path(found["cli"]).is_relative_to(site_packages)
    assert (app.parent / "app.tcss").is_file()  # package data: the console's stylesheet
    for command in ("quarterdeck", "qd"):
        shown = _run(installed.parent / command, "--help", cwd=installed.parent)
        assert "usage" in shown.stdout.lower()


def test_it_installs_beside_another_distributions_top_level_console(installed: Path) -> None:
    found = _probe(installed)
    assert found["owner"] == "someone else"
    assert Path(found["console"]).parent != Path(found["app"]).parent
    assert Path(found["app"]).parent.parent.name == "quarterdeck"
