"""Messages widgets send the app: an operator asked for something the app carries out."""

from __future__ import annotations

from textual.message import Message


class DecisionWanted(Message):
    """An operator pressed a decision key: `action` on `target` (run_id=, workflow= or
    approval_id=). The app plans it, then asks for confirmation."""

    def __init__(self, action: str, **target: str) -> None:
        super().__init__()
        self.action = action
        self.target = target


class EvidenceWanted(Message):
    """Write the evidence bundle of a run (`e`)."""

    def __init__(self, run_id: str) -> None:
        super().__init__()
        self.run_id = run_id


class TripDecisionWanted(Message):
    """Decide on a tripped trigger (`d` in the Triggers pane): its rule's pause or rollback."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
