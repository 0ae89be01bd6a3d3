"""The binding ids a `[keys]` table may remap, found from the console's own classes.

Every module of the `quarterdeck.console` package is imported, and every App, Screen and Widget
class defined there gives the ids of the BINDINGS it declares. Nothing is registered by hand:
a new screen's keys can be remapped as soon as the screen exists, and a class that is removed
takes its ids with it.

Remaps are checked here, in the console, when it starts (`check_remaps`), not when the config
is read: the config lives in the headless core, which never imports the console, and the ids
are the console's to know. The error names the config file, the unknown ids and the known ones.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode
from textual.screen import Screen
from textual.widget import Widget

from quarterdeck.config import ConfigError, Settings

PACKAGE = "quarterdeck.console"


def console_classes() -> Iterator[type[DOMNode]]:
    """Every App, Screen and Widget subclass defined in a module of the console package."""
    package = importlib.import_module(PACKAGE)
    names = [PACKAGE] + [m.name for m in pkgutil.walk_packages(package.__path__, PACKAGE + ".")]
    for name in names:
        module = importlib.import_module(name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ == name and issubclass(cls, (App, Screen, Widget)):
                yield cls


def binding_ids() -> set[str]:
    """Every binding id a `[keys]` table in the config may remap."""
    return {
        binding.id
        for cls in console_classes()
        for binding in vars(cls).get("BINDINGS", ())
        if isinstance(binding, Binding) and binding.id
    }


def check_remaps(settings: Settings) -> None:
    """Refuse a `[keys]` table that names a binding id no class declares (a typo would
    otherwise remap nothing, silently)."""
    known = binding_ids()
    unknown = sorted(set(settings.keys) - known)
    if unknown:
        raise ConfigError(
            f"{settings.source or 'config'}: keys: no binding has the id "
            f"{', '.join(repr(u) for u in unknown)}; known ids: {', '.join(sorted(known))}"
        )
