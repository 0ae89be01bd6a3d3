"""The console's one way to the store: named queries (`queries.named`), asked of whoever holds
the store.

Every read a screen makes is a method here, and every method runs through one function,
`_query`: in embedded mode (no server) it runs the named query on the reader's own cursor,
under its lock (DuckDB cursors are not safe to share between threads, and workers call from
threads; the queries are short); against `quarterdeck serve` it asks the server
(`client.Client.query`) and never opens the file. The queries are the same, so a screen shows
the same either way; what the holder of the store decides (when a run goes stale, the rules)
is the holder's: the `Context` here in embedded mode, the server's otherwise.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from quarterdeck.client import Client
from quarterdeck.queries import findings, named, runs, touches, triggers
from quarterdeck.queries.store import Store, utc_now


def split_filter(text: str) -> tuple[str | None, bool]:
    """The filter syntax of every pane: `!text` → (text, inverted)."""
    text = text.strip()
    invert = text.startswith("!")
    text = text.removeprefix("!").strip()
    return (text or None), invert


def filter_rows(rows: list[dict[str, Any]], text: str, keys: Sequence[str]) -> list[dict[str, Any]]:
    """The rows whose `keys` hold the filter's text (case aside; `!text`: those that do not),
    for the panes that filter a small table themselves."""
    needle, invert = split_filter(text)
    if not needle:
        return rows
    low = needle.lower()
    return [r for r in rows if (low in " ".join(str(r[k] or "") for k in keys).lower()) != invert]


@dataclass(frozen=True)
class RunDetail:
    overview: dict[str, object]
    steps: pa.Table
    touches: pa.Table
    events: pa.Table
    approvals: pa.Table
    decisions: pa.Table
    findings: pa.Table | None = None  # what the run broke of the publish rules


@dataclass(frozen=True)
class VersionDetail:
    """One version of a workflow: `detail` as `queries.versions.version_detail` gives it, and
    its runs as rows of the run history."""

    detail: dict[str, Any]
    runs: pa.Table


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
    """Reads for the screens, from `source`: a store read in-process, or the client of the
    server that serves it. `stale_seconds` and `rules` are used in-process only."""

    def __init__(
        self,
        source: Store | Client,
        *,
        stale_seconds: int = runs.DEFAULT_STALE_SECONDS,
        clock: Callable[[], datetime] = utc_now,
        rules: Sequence[triggers.Rule] = (),
        publish_rules: Sequence[findings.PublishRule] = (),
    ) -> None:
        self.clock = clock
        self.context = named.Context(
            stale_seconds=stale_seconds, rules=tuple(rules), publish_rules=tuple(publish_rules)
        )
        self._lock = threading.Lock()
        self._server: Client | None = None
        self._cursor: duckdb.DuckDBPyConnection | None = None
        if isinstance(source, Client):
            self._server = source
            self.path: Path = source.store
        else:
            self._cursor = source.cursor()
            self.path = source.path

    @property
    def served(self) -> bool:
        """Whether a server answers these reads (the console is its client)."""
        return self._server is not None

    def _query(self, name: str, /, **values: Any) -> pa.Table:
        """The one way every read goes: named query `name` with `values`."""
        params = named.params_for(name, values)
        if self._server is not None:
            return self._server.query(name, params.model_dump(mode="json"))
        with self._lock:
            assert self._cursor is not None
            return named.run(self._cursor, name, params, self.context)

    def run_history(
        self,
        where: runs.RunFilter,
        *,
        sort: str = "started_at",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> pa.Table:
        return self._query(
            "runs",
            now=self.clock(),
            **dataclasses.asdict(where),
            sort=sort,
            descending=descending,
            limit=limit,
            offset=offset,
        )

    def run_detail(self, run_id: str) -> RunDetail | None:
        now = self.clock()
        overview = named.first(self._query("run", run_id=run_id, now=now))
        if overview is None:
            return None
        return RunDetail(
            overview=overview,
            steps=self._query("run_steps", run_id=run_id),
            touches=self._query("run_touches", run_id=run_id),
            events=self._query("run_events", run_id=run_id),
            approvals=self._query("approvals", now=now, run_id=run_id),
            decisions=self._query("decisions", run_id=run_id),
            findings=self.findings(run_id=run_id),
        )

    def touches(
        self,
        where: touches.TouchFilter,
        *,
        limit: int | None = None,
        after: tuple[datetime, str] | None = None,
    ) -> pa.Table:
        return self._query("touches", **dataclasses.asdict(where), limit=limit, after=after)

    def touch_detail(self, event_id: str) -> dict[str, object] | None:
        return named.first(self._query("touch", event_id=event_id))

    def lineage(self, system: str, obj: str, record_id: str) -> pa.Table:
        return self._query("lineage", system=system, object=obj, record_id=record_id)

    def approvals(self, *, text: str = "", limit: int | None = None, offset: int = 0) -> pa.Table:
        needle, invert = split_filter(text)
        return self._query(
            "approvals", now=self.clock(), text=needle, invert=invert, limit=limit, offset=offset
        )

    def approval_detail(self, approval_id: str, *, recent: int = 20) -> ApprovalDetail | None:
        found = named.first(self._query("approval", approval_id=approval_id, now=self.clock()))
        if found is None:
            return None
        run_id = str(found["run_id"] or "")  # a record may name no run: nothing matches
        part = {"run_id": run_id, "limit": recent, "newest_first": True}
        return ApprovalDetail(
            approval=found,
            steps=self._query("run_steps", **part),
            touches=self._query("run_touches", **part),
        )

    def decisions(
        self, *, run_id: str | None = None, decision: str | None = None, limit: int | None = 1000
    ) -> pa.Table:
        return self._query("decisions", run_id=run_id, decision=decision, limit=limit)

    def decision_outcomes(self, decision_id: str) -> pa.Table:
        return self._query("decision_outcomes", decision=decision_id)

    def workflows(self, *, window_s: float) -> pa.Table:
        """Every workflow's versions: publish record, weight and role now, figures over the
        window (`queries.versions.versions`)."""
        return self._query("workflows", at=self.clock(), window_s=window_s)

    def version_detail(self, workflow: str, version: str) -> VersionDetail | None:
        """One version (`queries.versions.version_detail`) and its runs as the history
        shows them."""
        found = named.first(
            self._query("version", workflow=workflow, version=version, at=self.clock())
        )
        if found is None:
            return None
        history = self.run_history(runs.RunFilter(run_ids=tuple(found["run_ids"] or ("",))))
        return VersionDetail(found, history)

    def findings(self, *, run_id: str | None = None, run_ids: tuple[str, ...] = ()) -> pa.Table:
        """The findings that name a run, or any of `run_ids` (`queries.findings`)."""
        return self._query("findings", run_id=run_id, run_ids=run_ids)

    def trigger_status(self) -> pa.Table:
        """Every configured rule with its latest evaluation and recent values."""
        return self._query("trigger_status")

    def trigger_evidence(self, name: str) -> TriggerEvidence | None:
        """A rule evaluated now, with the runs and touches behind its value."""
        table = self._query("trigger_evidence", name=name, at=self.clock())
        row = named.first(table)
        if row is None:
            return None
        rule, evaluation = named.unpack_trigger(row)
        found = named.unnest(table, "runs")
        assert found is not None
        return TriggerEvidence(rule, evaluation, found, named.unnest(table, "touches"))

    def evidence(self, run_id: str) -> dict[str, object] | None:
        return named.unpack_evidence(self._query("evidence", run_id=run_id, now=self.clock()))

    def counts(self) -> StoreCounts:
        row = named.first(self._query("counts"))
        assert row is not None
        return StoreCounts(runs=row["runs"], quarantined=row["quarantined"])

    def quarantined(self, limit: int = 1000) -> pa.Table:
        return self._query("quarantine", limit=limit)

    def close(self) -> None:
        if self._cursor is not None:
            with self._lock:
                self._cursor.close()
