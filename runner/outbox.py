"""Reading Quarterdeck's control outbox, the way a runner should.

The outbox is a JSON-lines file Quarterdeck appends one decision to at a time (pause, resume,
rollback, approve, reject), each with a `decision_id`. A runner tails it: it reads only
complete lines (a line still being written waits for its newline), remembers how far it got,
and acts on each decision once — the same decision may be delivered twice after a crash, so
`decision_id` is the key. It then says what it did with a `control.applied` event in its own
log (or, for an approval, an `approval.decided` event).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


class OutboxReader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen: set[str] = set()

    def new_decisions(self) -> list[dict[str, Any]]:
        """Decisions appended since the last call, each once."""
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1  # complete lines only
        self.offset += end
        found = []
        for line in data[:end].splitlines():
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not ours to judge; Quarterdeck writes whole lines
            if isinstance(message, dict) and message.get("decision_id") not in self.seen:
                self.seen.add(message["decision_id"])
                found.append(message)
        return found
