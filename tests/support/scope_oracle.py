"""An independent, plain-Python statement of the scope rules, to check the SQL against."""

from __future__ import annotations

COVERS = {
    "*": {"read", "create", "update", "delete", "export"},
    "read": {"read"},
    "write": {"read", "create", "update"},
    "delete": {"delete"},
    "export": {"export"},
}


def grant_covers(grant: str, system: str, obj: str, action: str) -> bool:
    parts = grant.split(":")
    g_system, g_access = parts[0], parts[1]
    g_object = parts[2] if len(parts) > 2 else ""
    return (
        g_system in (system, "*")
        and action in COVERS.get(g_access, set())
        and g_object in ("", "*", obj)
    )


def in_scope(scope: list[str] | None, system: str, obj: str, action: str) -> bool | None:
    if scope is None:
        return None
    return any(grant_covers(g, system, obj, action) for g in scope)
