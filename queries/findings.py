"""Findings: what breaks the publish rules, read from the store as of what it holds.

A workflow's versions are put into production by `workflow.published` events (who published,
who approved, the identity the version runs as, the scope it may use) and the rules of who
may do that are in `quarterdeck.toml` (`[workflows."W"]`, `PublishRule`). A finding is one
violation, of one of seven kinds:

| kind                    | names     | when                                                  |
|-------------------------|-----------|-------------------------------------------------------|
| unauthorized_publisher  | a version | its publisher is not among the workflow's publishers  |
| self_approved_publish   | a version | its publisher is among its `approved_by`              |
| insufficient_approvals  | a version | fewer than `min_approvals` approvers (of `approvers`; |
|                         |           | the publisher never counts)                           |
| unpublished_version     | a run     | no publish of its version at or before its start      |
| scope_exceeds_published | a run     | a grant of its scope beyond its version's scope       |
| identity_mismatch       | a run     | its identity differs from its version's               |
| borrowed_identity       | a touch   | the touch names an identity other than its run's      |

The three about a version are reported once for it (its first publish; no run_id); the other
four name their run, and the event that shows it (the run's start, or the touch).

A workflow is governed when the config has rules for it or a version of it was published:
runs of other workflows have no version record to hold against, and make no findings (a
borrowed identity is a finding in every workflow). A version published more than once keeps
its first record. A run that started before its version was published ran an unpublished
version, even if the version was published later.

Findings are derived when read, not kept: the publish-rule ones depend on the config of
whoever reads, and the rest join `run_summary` (one row per run) with the few publications;
the touches made with a named identity, the only scan of events, are kept apart by the
derived refresh (`identity_touches`), as out-of-scope touches are.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from quarterdeck.queries.statements import registered

KINDS = (
    "unpublished_version",
    "unauthorized_publisher",
    "self_approved_publish",
    "insufficient_approvals",
    "scope_exceeds_published",
    "identity_mismatch",
    "borrowed_identity",
)
#: The kinds about a version's publish (no run), the others name their run.
PUBLISH_KINDS = ("unauthorized_publisher", "self_approved_publish", "insufficient_approvals")

DEFAULT_ROLLOUT_ROLE = "release-manager"


@dataclass(frozen=True)
class PublishRule:
    """`[workflows."W"]`: who may publish a version of W and who must approve it."""

    workflow: str
    publishers: tuple[str, ...] | None = None  # None: anyone may publish
    approvers: tuple[str, ...] | None = None  # None: anyone but the publisher counts
    min_approvals: int = 1
    rollout_role: str = DEFAULT_ROLLOUT_ROLE  # who may promote, roll back, pause a rollout


@dataclass(frozen=True)
class FindingFilter:
    kind: str | None = None
    workflow: str | None = None
    version: str | None = None
    run_id: str | None = None
    run_ids: tuple[str, ...] = ()  # any of these runs (a page of the Runs pane)


def rules_param(rules: tuple[PublishRule, ...]) -> list[dict[str, object]]:
    """The rules as the SQL takes them: a list of structs."""
    return [
        {
            "workflow": r.workflow,
            "publishers": list(r.publishers) if r.publishers is not None else None,
            "approvers": list(r.approvers) if r.approvers is not None else None,
            "min_approvals": r.min_approvals,
        }
        for r in rules
    ]


# The first publish of each version; governed workflows; each kind as one SELECT of
# (kind, workflow, version, run_id, event_id, detail, ts).
_FINDINGS = """
WITH rules AS (
    SELECT r.workflow, r.publishers, r.approvers, r.min_approvals
    FROM (SELECT unnest($rules::STRUCT(workflow VARCHAR, publishers VARCHAR[],
                                       approvers VARCHAR[], min_approvals INTEGER)[]) AS r)
), pubs AS (
    SELECT * FROM publications
    QUALIFY row_number() OVER (PARTITION BY workflow, version ORDER BY ts, event_id) = 1
), governed AS (
    SELECT workflow FROM rules UNION SELECT workflow FROM pubs
), runs AS (
    SELECT s.run_id, s.workflow, s.workflow_version, s.identity, s.scope, s.started_at
    FROM run_summary s
    WHERE s.has_start AND s.workflow IN (SELECT workflow FROM governed)
      AND ($run_id IS NULL OR s.run_id = $run_id)
      AND ($workflow IS NULL OR s.workflow = $workflow)
      {page}
), run_pubs AS (
    SELECT r.*, p.event_id AS pub_event, p.ts AS published_at, p.identity AS pub_identity,
           p.scope AS pub_scope
    FROM runs r LEFT JOIN pubs p
      ON p.workflow = r.workflow AND p.version IS NOT DISTINCT FROM r.workflow_version
), beyond AS (  -- runs share a few scopes: each pair of scopes is compared once
    SELECT scope, pub_scope, qd_beyond_scope(scope, pub_scope) AS grants
    FROM (SELECT DISTINCT scope, pub_scope FROM run_pubs WHERE pub_event IS NOT NULL)
), found AS (
    SELECT 'unauthorized_publisher' AS kind, p.workflow, p.version, NULL AS run_id,
           p.event_id, p.ts,
           'published by ' || p.publisher || ', who is not among the publishers of '
           || p.workflow || ' (' || array_to_string(r.publishers, ', ') || ')' AS detail
    FROM pubs p JOIN rules r USING (workflow)
    WHERE r.publishers IS NOT NULL AND NOT list_contains(r.publishers, p.publisher)
    UNION ALL
    SELECT 'self_approved_publish', workflow, version, NULL, event_id, ts,
           'published by ' || publisher || ', who is also among its approvers ('
           || array_to_string(approved_by, ', ') || ')'
    FROM pubs WHERE list_contains(approved_by, publisher)
    UNION ALL
    SELECT 'insufficient_approvals', workflow, version, NULL, event_id, ts,
           counted || ' approval' || CASE WHEN counted = 1 THEN '' ELSE 's' END
           || ' that count' || CASE WHEN counted = 1 THEN 's' ELSE '' END
           || ', ' || min_approvals || ' needed (approved by: '
           || coalesce(nullif(array_to_string(approved_by, ', '), ''), 'nobody') || ')'
    FROM (
        SELECT p.*, r.min_approvals,
               len(list_distinct(list_filter(p.approved_by, lambda a: a <> p.publisher
                   AND (r.approvers IS NULL OR list_contains(r.approvers, a))))) AS counted
        FROM pubs p JOIN rules r USING (workflow)
    ) WHERE counted < min_approvals
    UNION ALL
    SELECT 'unpublished_version', workflow, workflow_version, run_id, NULL, started_at,
           CASE WHEN pub_event IS NULL
                THEN 'version ' || coalesce(workflow_version, '(none given)')
                     || ' of ' || workflow || ' was never published'
                ELSE 'version ' || workflow_version || ' was published at '
                     || strftime(published_at, '%Y-%m-%d %H:%M:%S') || ', after this run '
                     || 'started (' || strftime(started_at, '%Y-%m-%d %H:%M:%S') || ')'
           END
    FROM run_pubs WHERE pub_event IS NULL OR published_at > started_at
    UNION ALL
    SELECT 'scope_exceeds_published', r.workflow, r.workflow_version, r.run_id, NULL,
           r.started_at,
           'grants beyond the published scope: ' || array_to_string(b.grants, ', ')
           || ' (published: '
           || coalesce(nullif(array_to_string(r.pub_scope, ', '), ''), 'none') || ')'
    FROM run_pubs r JOIN beyond b
      ON b.scope IS NOT DISTINCT FROM r.scope AND b.pub_scope = r.pub_scope
    WHERE len(b.grants) > 0
    UNION ALL
    SELECT 'identity_mismatch', workflow, workflow_version, run_id, NULL, started_at,
           'runs as ' || coalesce(identity, '(none given)') || ', the version as '
           || pub_identity
    FROM run_pubs WHERE pub_identity IS NOT NULL AND identity IS DISTINCT FROM pub_identity
    UNION ALL
    SELECT 'borrowed_identity', s.workflow, s.workflow_version, t.run_id, t.event_id, t.ts,
           t.action || ' of ' || t.system || '/' || t.object
           || coalesce('/' || t.record_id, '') || ' made as ' || t.identity
           || ', not as the run''s ' || coalesce(s.identity, 'identity (unknown)')
    FROM identity_touches t JOIN run_summary s USING (run_id)
    WHERE t.identity IS DISTINCT FROM s.identity
      AND ($run_id IS NULL OR t.run_id = $run_id)
      AND ($workflow IS NULL OR s.workflow = $workflow)
      {page}
)
SELECT f.kind, f.workflow, f.version, f.run_id, f.event_id, f.detail, f.ts
FROM found f
WHERE ($kind IS NULL OR f.kind = $kind)
  AND ($workflow IS NULL OR f.workflow = $workflow)
  AND ($version IS NULL OR f.version = $version)
  AND ($run_id IS NULL OR f.run_id = $run_id)
ORDER BY f.ts DESC, f.kind, f.run_id, f.event_id
LIMIT $limit
"""
#: Only the runs of a page (`run_ids`): a semi-join, before anything is worked out.
_PAGE = "AND s.run_id IN (SELECT run_id FROM _qd_page)"

# A run's finding names the run's start: looked up for the runs found, within the span of
# their starts (a finding's `ts` is its run's start), so the scan reads only those row groups.
_STARTS = """
SELECT run_id, arg_min(event_id, ts) FROM run_starts
WHERE ts >= $lo AND ts <= $hi AND run_id IN (SELECT run_id FROM _qd_started) GROUP BY run_id
"""

SCHEMA = pa.schema(
    [
        ("kind", pa.string()),
        ("workflow", pa.string()),
        ("version", pa.string()),
        ("run_id", pa.string()),
        ("event_id", pa.string()),
        ("detail", pa.string()),
        ("ts", pa.timestamp("us")),
    ]
)


def findings(
    con: duckdb.DuckDBPyConnection,
    rules: tuple[PublishRule, ...] = (),
    *,
    where: FindingFilter = FindingFilter(),
    limit: int | None = None,
    starts: bool = True,
) -> pa.Table:
    """Every finding (newest first): kind, workflow, version, run_id, event_id, detail, ts.
    Without `starts`, a run's finding is not given its run's start event (null): for who
    only counts them."""
    if where.kind is not None and where.kind not in KINDS:
        raise ValueError(f"{where.kind!r} is not a kind of finding; one of {', '.join(KINDS)}")
    params: dict[str, object] = {
        "rules": rules_param(rules),
        "kind": where.kind,
        "workflow": where.workflow,
        "version": where.version,
        "run_id": where.run_id,
        "limit": limit if limit is not None else 2**62,
    }
    # run ids go in as a table: a list parameter of thousands binds value by value (~0.5 s)
    page = _ids(where.run_ids)
    with registered(con, "_qd_page", page):
        sql = _FINDINGS.format(page=_PAGE if where.run_ids else "")
        table = con.execute(sql, params).to_arrow_table()
    missing = pc.and_(pc.is_null(table["event_id"]), pc.is_valid(table["run_id"]))
    if not starts or not pc.any(missing).as_py():
        return table.cast(SCHEMA)
    starting = table.filter(missing)
    with registered(con, "_qd_started", _ids(pc.unique(starting["run_id"]).to_pylist())):
        span = {"lo": pc.min(starting["ts"]).as_py(), "hi": pc.max(starting["ts"]).as_py()}
        start_of = dict(con.execute(_STARTS, span).fetchall())
    event_ids = [
        e if e is not None else start_of.get(r)
        for e, r in zip(table["event_id"].to_pylist(), table["run_id"].to_pylist(), strict=True)
    ]
    table = table.set_column(
        table.schema.get_field_index("event_id"), "event_id", pa.array(event_ids, pa.string())
    )
    return table.cast(SCHEMA)


def _ids(run_ids: Iterable[str]) -> pa.Table:
    return pa.table({"run_id": pa.array(list(run_ids), pa.string())})
