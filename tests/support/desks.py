"""A decision desk for tests: an operator with the given roles, a journal and an outbox in a
temp folder, the clock frozen at NOW; and a decision taken as a command takes it (`decided`)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from quarterdeck.config import Settings, TriggerSettings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.live import LiveFeed
from quarterdeck.desk import DecisionDesk
from quarterdeck.queries import decisions
from quarterdeck.queries.decisions import Operator, Paths
from quarterdeck.queries.store import Store, utc_now
from quarterdeck.watch import TriggerWatch
from support.events import NOW


def desk_for(
    store: Store, tmp_path: Path, roles: set[str], *, name: str = "anna", read_only: bool = False
) -> DecisionDesk:
    return DecisionDesk(
        store,
        Operator(name, frozenset(roles), read_only=read_only),
        Paths(tmp_path / "journal.jsonl", tmp_path / "outbox.jsonl"),
        stale_seconds=15 * 60,
        clock=lambda: NOW,
    )


def decided(
    store: Store,
    paths: Paths,
    action: str,
    operator: Operator,
    *,
    reason: str = "because",
    now: datetime = NOW,
    **target: Any,
) -> dict[str, Any]:
    """`action` on `target` planned and recorded as `operator`, as a command does in-process;
    the journal's record."""
    plan = decisions.plan(store.con, operator, action, now=now, **target)
    return decisions.record(
        store.con, plan, operator=operator, reason=reason, source="test", paths=paths, now=now
    )


def watched(
    store: Store, logs: Path, paths: Paths, rule: TriggerSettings
) -> tuple[QuarterdeckApp, LiveFeed]:
    """A console following the demo's logs, watching one of its rules (evaluated every
    second), its operator anna with the role `operator`."""
    settings = Settings(trigger=[rule], console={"evaluate_every": 1, "refresh": 1})
    desk = DecisionDesk(
        store, Operator("anna", frozenset({"operator"})), paths, stale_seconds=900, clock=utc_now
    )
    watch = TriggerWatch(store, settings.rules(), desk, stale_seconds=900, clock=utc_now)
    feed = LiveFeed(store, [logs])
    return make_app(store, settings, feed=feed, desk=desk, watch=watch), feed
