"""Tools become touched data: the tool map (`[[tool]]` in quarterdeck.toml) says what a tool
does to which records, and a tool step of a trace becomes a `data.touched` event by it.

Agent frameworks' traces know tools, not records. An operator declares each tool's effect:

```toml
[[tool]]
name = "charge_card"          # the tool's name as traces give it
system = "payments"
object = "Charge"
action = "create"
record_id = "customer_id"     # the argument that names the record
```

The arguments are read wherever the convention puts them (`ingest.conventions
.tool_arguments`); a tool called with one bare value uses that value as the record id. The
touch is the step's (same run, step and time), so it gets its scope check like any other. A
tool step with no entry is marked `unmapped` (`EFFECT` in the step's attrs), and the run detail
shows it, so that an operator sees which tools act without a declared effect.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: The key in a tool step's attrs that says whether the tool map knew the tool.
EFFECT = "quarterdeck.effect"
UNMAPPED = "unmapped"


@dataclass(frozen=True)
class ToolEffect:
    """What one tool does: the touch each call of it makes."""

    system: str
    object: str
    action: str
    record_id: str | None = None  # the argument naming the record


#: Tool name → its effect.
ToolMap = Mapping[str, ToolEffect]


def touch(effect: ToolEffect, arguments: Any) -> dict[str, Any]:
    """The fields of the touch one call makes, given its arguments (an object or one bare
    value; None when the trace did not carry them)."""
    if isinstance(arguments, dict):
        record = arguments.get(effect.record_id) if effect.record_id else None
    else:
        record = arguments
    if isinstance(record, bool) or record in (None, ""):
        record = None
    return {
        "system": effect.system,
        "object": effect.object,
        "action": effect.action,
        "record_id": None if record is None else str(record),
    }
