"""The console's one way to the store: named queries, run on a cursor of their own.

Workers call these from threads. DuckDB cursors are not safe to share between threads, so the
reader keeps one cursor and takes turns through a lock; the queries are short (milliseconds).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import pyarrow as pa

from quarterdeck.queries import approvals, decisions, evidence, quarantine, runs, touches, triggers
from quarterdeck.queries.store import Store, utc_now


def split_filter(text: str) -> tuple[str | None, bool]:
    """The filter syntax of every pane: `!text` → (text, inverted)."""
    text = text.strip()
    invert = text.startswith("!")
    text = text.removeprefix("!").strip()
    return (text or None), invert


@dataclass(frozen=True)
class RunDetail:
    overview: dict[str, object]
    steps: pa.Table
    touches: pa.Table
    events: pa.Table
    approvals: pa.Table
    decisions: pa.Table


@dataclass(frozen=True)
class ApprovalDetail:
    """One approval request (see `queries.approvals.approval`) and its run's context: the
    run's most recent steps and touches, newest first."""

    approval: dict[str, object]
    steps: pa.Table
    touches: pa.Table


@dataclass(frozen=True)
class TriggerEvidence:
    rule: triggers.Rule
    evaluation: triggers.Evaluation
    runs: pa.Table
    touches: pa.Table | None


@dataclass(frozen=True)
class StoreCounts:
    runs: int
    quarantined: int


class StoreReader:
    def __init__(
        self,
        store: Store,
        *,
        stale_seconds: int = runs.DEFAULT_STALE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        rules: Sequence[triggers.Rule] = (),
    ) -> None:
        self.store = store
        self.path = store.path
        self.rules = list(rules)
        self.stale_seconds = stale_seconds
        self.clock = clock
        self._cursor = store.cursor()
        self._lock = threading.Lock()

    def run_history(
        self,
        where: runs.RunFilter,
        *,
        sort: str = "started_at",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.Table:
        with self._lock:
            return runs.run_history(
                self._cursor,
                now=self.clock(),
                where=where,
                sort=sort,
                descending=descending,
                limit=limit,
                offset=offset,
                stale_seconds=self.stale_seconds,
            )

    def run_detail(self, run_id: str) -> RunDetail | None:
        now = self.clock()
        with self._lock:
            overview = runs.run_overview(
                self._cursor, run_id, now=now, stale_seconds=self.stale_seconds
            )
            if overview is None:
                return None
            return RunDetail(
                overview=overview,
                steps=runs.run_steps(self._cursor, run_id),
                touches=runs.run_touches(self._cursor, run_id),
                events=runs.run_events(self._cursor, run_id),
                approvals=approvals.approvals(self._cursor, now=now, run_id=run_id),
                decisions=decisions.decisions(self._cursor, run_id=run_id),
            )

    def touches(
        self,
        where: touches.TouchFilter,
        *,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> pa.Table:
        with self._lock:
            return touches.touches(self._cursor, where=where, limit=limit, after=after)

    def touch_detail(self, event_id: str) -> dict[str, object] | None:
        with self._lock:
            return touches.touch_detail(self._cursor, event_id)

    def lineage(self, system: str, obj: str, record_id: str) -> pa.Table:
        with self._lock:
            return touches.lineage(self._cursor, system, obj, record_id)

    def approvals(self, *, text: str = "", limit: int | None = None, offset: int = 0) -> pa.Table:
        needle, invert = split_filter(text)
        with self._lock:
            return approvals.approvals(
                self._cursor,
                now=self.clock(),
                text=needle,
                invert=invert,
                limit=limit,
                offset=offset,
            )

    def approval_detail(self, approval_id: str, *, recent: int = 20) -> ApprovalDetail | None:
        now = self.clock()
        with self._lock:
            found = approvals.approval(self._cursor, approval_id, now=now)
            if found is None:
                return None
            run_id = str(found["run_id"] or "")  # a record may name no run: nothing matches
            return ApprovalDetail(
                approval=found,
                steps=runs.run_steps(self._cursor, run_id, limit=recent, newest_first=True),
                touches=runs.run_touches(self._cursor, run_id, limit=recent, newest_first=True),
            )

    def decisions(self, *, run_id: str | None = None, limit: int | None = 1000) -> pa.Table:
        with self._lock:
            return decisions.decisions(self._cursor, run_id=run_id, limit=limit)

    def trigger_status(self) -> pa.Table:
        """Every configured rule with its latest evaluation and recent values."""
        with self._lock:
            status = {
                r["name"]: r
                for r in triggers.status(
                    self._cursor, [rule.name for rule in self.rules]
                ).to_pylist()
            }
        rows = []
        for rule in self.rules:
            row = status.get(rule.name, {})
            rows.append(
                {
                    "name": rule.name,
                    "metric": rule.metric,
                    "workflow": rule.workflow,
                    "environment": rule.environment,
                    "threshold": rule.threshold,
                    "below": rule.below,
                    "window_s": rule.window_s,
                    "min_runs": rule.min_runs,
                    "on_trip": rule.on_trip,
                    "auto": rule.auto,
                    "phase": row.get("phase"),
                    "value": row.get("value"),
                    "runs_in_window": row.get("runs_in_window"),
                    "reason": row.get("reason"),
                    "evaluated_at": row.get("evaluated_at"),
                    "changed_at": row.get("changed_at"),
                    "history": row.get("history"),
                }
            )
        return pa.Table.from_pylist(rows)

    def trigger_evidence(self, name: str) -> TriggerEvidence | None:
        """A rule evaluated now, with the runs and touches behind its value."""
        rule = next((r for r in self.rules if r.name == name), None)
        if rule is None:
            return None
        with self._lock:
            ev = triggers.evaluate(
                self._cursor, rule, at=self.clock(), stale_seconds=self.stale_seconds
            )
            run_rows, touch_rows = triggers.evidence(
                self._cursor, rule, ev, stale_seconds=self.stale_seconds
            )
        return TriggerEvidence(rule, ev, run_rows, touch_rows)

    def evidence(self, run_id: str) -> dict[str, object] | None:
        with self._lock:
            return evidence.collect(
                self._cursor, run_id, now=self.clock(), stale_seconds=self.stale_seconds
            )

    def counts(self) -> StoreCounts:
        with self._lock:
            return StoreCounts(
                runs=runs.run_count(self._cursor),
                quarantined=quarantine.quarantine_count(self._cursor),
            )

    def quarantined(self, limit: int = 1000) -> pa.Table:
        with self._lock:
            return quarantine.quarantined(self._cursor, limit=limit)

    def close(self) -> None:
        with self._lock:
            self._cursor.close()
