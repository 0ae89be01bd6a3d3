"""The architecture, checked over every module on disk rather than a list of them.

The rules (DESIGN §1, core/__init__.py):
- The headless packages — `quarterdeck`'s own modules (core/), `quarterdeck.ingest`,
  `quarterdeck.queries`, `quarterdeck.runner`, `quarterdeck.server`, and any package
  pyproject.toml maps later — never import Textual, the console or the command line. Checked
  twice: statically, from the source of every file (lazy imports inside functions included),
  and dynamically, by importing every module in a fresh interpreter and looking at what got
  loaded.
- The runner simulates a process on another host: it imports nothing of the store or the
  ingester (runner/__init__.py).
- The console writes no SQL: every query lives in `queries/` under a name.
- Every package folder on disk is shipped by an install (`[tool.setuptools] packages`).

The packages and their folders are read from pyproject.toml (support/layout.py), so a module or
a folder added tomorrow is checked without anyone adding it here. A `__main__` module is a
program, not a library module — nothing imports it, and `python -m quarterdeck` hands over to
the command line by design — so it is left out of the import rules.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from support.layout import ROOT, declared_packages, modules, package_dirs

#: Packages with a user interface; every other package of the namespace is headless.
INTERFACES = {"quarterdeck.console", "quarterdeck.cli"}
#: What no headless module may load: Textual (and its widget libraries), the console, the CLI.
NOT_HEADLESS = ("textual", "textual_fastdatatable", *sorted(INTERFACES))
#: What each package may not import beyond that, with the docstring that says so.
ALSO_FORBIDDEN = {
    "quarterdeck.runner": ("quarterdeck.queries", "quarterdeck.ingest"),  # runner/__init__.py
}


def headless_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in sorted(set(package_dirs()) - INTERFACES):
        found.update(
            (name, path)
            for name, path in modules(package).items()
            if not name.endswith(".__main__")
        )
    return found


def forbidden_for(module: str) -> tuple[str, ...]:
    extra = next(
        (
            names
            for package, names in ALSO_FORBIDDEN.items()
            if module == package or module.startswith(package + ".")
        ),
        (),
    )
    return (*NOT_HEADLESS, *extra)


def is_under(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def imports(source: str, module: str, *, is_package: bool = False) -> set[str]:
    """Every module name `source` (the text of `module`) imports, anywhere in the file.

    `from a import b` counts as importing both `a` and `a.b` (b may be a submodule, as in
    `from quarterdeck import console`); relative imports are resolved against `module`.
    """
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def test_every_layer_is_found_on_disk() -> None:
    found = headless_modules()
    for package in set(package_dirs()) - INTERFACES:
        assert package in found, f"no {package} on disk"
    assert {
        "quarterdeck.config",
        "quarterdeck.ingest.load",
        "quarterdeck.queries.store",
        "quarterdeck.runner.fleet",
        "quarterdeck.server.serve",
        "quarterdeck.client",
    } <= set(found)
    assert not any(is_under(name, tuple(INTERFACES)) for name in found)


@pytest.mark.parametrize(
    ("source", "module", "caught"),
    [
        ("import textual", "quarterdeck.queries.runs", True),
        ("def f():\n    from textual.app import App", "quarterdeck.desk", True),
        ("from quarterdeck import console", "quarterdeck.watch", True),
        ("from ..cli import main", "quarterdeck.ingest.load", True),
        ("from . import runs", "quarterdeck.queries.store", False),
        ("from quarterdeck.queries import writes", "quarterdeck.runner.live", True),
        ("import textwrap\nfrom quarterdeck.config import Settings", "quarterdeck.desk", False),
    ],
)
def test_the_static_check_catches_what_it_should(source: str, module: str, caught: bool) -> None:
    found = imports(source, module)
    assert any(is_under(name, forbidden_for(module)) for name in found) is caught


def test_headless_modules_import_no_textual_console_or_cli() -> None:
    offenders = []
    for name, path in headless_modules().items():
        found = imports(path.read_text(), name, is_package=path.name == "__init__.py")
        offenders += [
            f"{path.relative_to(ROOT)}: {bad}"
            for bad in sorted(found)
            if is_under(bad, forbidden_for(name))
        ]
    assert offenders == []


def test_importing_every_headless_module_loads_no_textual() -> None:
    """In a fresh interpreter: what the headless modules load, all of them together."""
    names = sorted(headless_modules())
    code = (
        "import importlib, json, sys\n"
        "names = json.loads(sys.argv[1])\n"
        "files = {n: importlib.import_module(n).__file__ for n in names}\n"
        "print(json.dumps({'files': files, 'loaded': sorted(sys.modules)}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, json.dumps(names)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    loaded = [m for m in report["loaded"] if is_under(m, NOT_HEADLESS)]
    assert loaded == [], "a headless module loads the user interface"
    # the modules imported are the files checked above, not an installed copy elsewhere
    assert {n: Path(f) for n, f in report["files"].items()} == headless_modules()


def test_console_writes_no_sql() -> None:
    """Every query lives in queries/ under a name; the console has none inline."""
    pattern = re.compile(r"""["'](SELECT|INSERT INTO|UPDATE|DELETE FROM|WITH) """)
    offenders = [
        str(path.relative_to(ROOT))
        for path in modules("quarterdeck.console").values()
        if pattern.search(path.read_text())
    ]
    assert offenders == []


def test_every_package_on_disk_is_shipped() -> None:
    on_disk = {
        name
        for package in package_dirs()
        for name, path in modules(package).items()
        if path.name == "__init__.py"
    }
    assert on_disk == declared_packages()
