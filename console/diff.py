"""Before/after of a touched record as a list of field changes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldChange:
    field: str
    kind: str  # added | removed | changed | same
    before: Any
    after: Any


def parse(value: str | None) -> dict[str, Any]:
    if not value:
        return {}
    try:
        loaded = json.loads(value)
    except ValueError:
        return {}
    return loaded if isinstance(loaded, dict) else {}


def diff(before: str | None, after: str | None) -> list[FieldChange]:
    """Every field of either side: added, removed, changed or the same, in field order."""
    old, new = parse(before), parse(after)
    changes = []
    for key in sorted(set(old) | set(new)):
        if key not in old:
            changes.append(FieldChange(key, "added", None, new[key]))
        elif key not in new:
            changes.append(FieldChange(key, "removed", old[key], None))
        elif old[key] != new[key]:
            changes.append(FieldChange(key, "changed", old[key], new[key]))
        else:
            changes.append(FieldChange(key, "same", old[key], new[key]))
    return changes
