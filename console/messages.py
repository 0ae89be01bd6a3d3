"""Messages widgets and screens send the app: an operator asked for something the app carries
out, or a worker failed and the app should say so."""

from __future__ import annotations

from textual.message import Message
from textual.message_pump import MessagePump


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


def want_decision(sender: MessagePump, message: DecisionWanted | TripDecisionWanted) -> None:
    """Ask the app for a decision's dialog, holding the keys read from now on for it (the
    app's `hold_keys`, see `pressed`). The decision key's binding is a priority one, run as the
    key is read: the keys typed after it are not read yet, and none reaches the screen below."""
    hold = getattr(sender.app, "hold_keys", None)
    if hold is not None:
        what = (
            message.action
            if isinstance(message, DecisionWanted)
            else f"decide {message.name}'s trip"
        )
        hold(what)
    sender.post_message(message)


class WorkFailed(Message):
    """A worker raised while `doing` something ("loading Runs"). The app shows the error in a
    notification; the node whose worker it was keeps what it showed (a pane also says it could
    not load) and loads again when next asked."""

    def __init__(self, doing: str, error: BaseException) -> None:
        super().__init__()
        self.doing = doing
        self.error = error
