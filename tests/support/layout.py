"""The repository as pyproject.toml declares it: where it is, which folder each package of
the `quarterdeck` namespace lives in, and which packages an install ships.

Read from pyproject.toml rather than written down again, so that a test over "every module"
also covers the folder or subpackage added after the test was written.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

#: The repository's root (the folder with pyproject.toml).
ROOT = Path(__file__).resolve().parents[2]
#: The sample logs shipped with the project.
SAMPLE_LOGS = ROOT / "sample_logs"

_SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def package_dirs() -> dict[str, Path]:
    """Each top package of the namespace and its folder, e.g. `quarterdeck.ingest` -> ingest/."""
    return {name: ROOT / folder for name, folder in _SETUPTOOLS["package-dir"].items()}


def declared_packages() -> set[str]:
    """The packages an install ships (`[tool.setuptools] packages`)."""
    return set(_SETUPTOOLS["packages"])


def modules(package: str) -> dict[str, Path]:
    """Every module of a top package found on disk, by its import name, with its file.

    The folders of the other top packages are not inside this one's (core/ holds `quarterdeck`
    only; `quarterdeck.console` is console/), so a walk of one folder is one package.
    """
    root = package_dirs()[package]
    found: dict[str, Path] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join((package, *parts))] = path
    return found
