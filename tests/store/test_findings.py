"""Publish authority: the seven kinds of finding, each with the edges the issue names."""

from __future__ import annotations

from pathlib import Path

import pytest

from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.findings import FindingFilter, PublishRule, findings
from support.events import event, published, rollout, started, write_jsonl

RULE = PublishRule(
    "invoice-posting", publishers=("alice", "carol"), approvers=("bob", "dana"), min_approvals=1
)


def _load(store, tmp_path: Path, lines: list[dict]) -> None:
    load_paths(store.con, [write_jsonl(tmp_path / "logs" / "runs.jsonl", lines)])


def _found(store, rules=(RULE,), **where) -> list[dict]:
    rows = findings(store.con, rules, where=FindingFilter(**where)).to_pylist()
    return sorted(rows, key=lambda r: (r["kind"], r["version"] or "", r["run_id"] or ""))


def _kinds(store, rules=(RULE,), **where) -> list[tuple[str, str | None, str | None]]:
    return [(r["kind"], r["version"], r["run_id"]) for r in _found(store, rules, **where)]


def test_release_events_are_stored_without_a_run(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", rollout={"steps": [10, 50, 100]}),
            rollout("1.0.0", 10, "2026-11-20T07:01:00Z"),
            started("r-1"),
        ],
    )
    pub = store.con.execute(
        "SELECT version, publisher, approved_by, identity, scope, source_ref, rollout_steps "
        "FROM publications"
    ).fetchall()
    assert pub == [
        (
            "1.0.0",
            "alice",
            ["bob"],
            "svc-agent",
            ["ledger:write:Invoice"],
            "git:1.0.0",
            [10, 50, 100],
        )
    ]
    assert store.con.execute(
        "SELECT version, weight, changed_by FROM rollout_changes"
    ).fetchall() == [("1.0.0", 10, "release-bot")]
    assert store.con.execute("SELECT count(*) FROM events WHERE run_id IS NULL").fetchone() == (2,)
    assert store.con.execute("SELECT run_id FROM run_summary").fetchall() == [("r-1",)]


@pytest.mark.parametrize(
    ("line", "error_class", "words"),
    [
        (published("1", run_id="r-1"), "invalid_value", "carries no run_id"),
        (published("1", rollout={"steps": [50, 10]}), "invalid_value", "rising, the last 100"),
        (published("1", scope=["ledger:write:"]), "invalid_value", "scope"),
        ({k: v for k, v in published("1").items() if k != "publisher"}, "missing_field",
         "'publisher' is missing from this workflow.published event"),
        (rollout("1", 101, "2026-11-20T07:00:00Z"), "invalid_value", "'weight' is 101"),
        (rollout("1", 5, "2026-11-20T07:00:00"), "bad_timestamp", "no UTC offset"),
        (event("data.touched", "2026-11-20T08:00:00Z", system="s", object="o", action="read",
               identity=7), "wrong_type", "'identity' should be a string"),
        ({"type": "control.applied", "ts": "2026-11-20T08:00:00Z", "decision_id": "d",
          "action": "cancel", "result": "applied"}, "missing_field",
         "control.applied of a cancel needs the run_id"),
    ],
)  # fmt: skip
def test_bad_release_lines_are_quarantined_with_a_clear_class(
    store, tmp_path, line, error_class, words
) -> None:
    _load(store, tmp_path, [line])
    rows = store.con.execute("SELECT error_class, error FROM quarantine").fetchall()
    assert len(rows) == 1 and rows[0][0] == error_class and words in rows[0][1], rows


def test_a_clean_publish_and_its_runs_make_no_finding(store, tmp_path) -> None:
    _load(store, tmp_path, [published("1.0.0"), started("r-1")])
    assert _kinds(store) == []


def test_publish_rule_findings_are_once_per_version(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", publisher="mallory", approved_by=("bob",)),
            published("1.1.0", publisher="alice", approved_by=("alice", "bob")),
            published("1.2.0", publisher="carol", approved_by=("carol",)),
            published("1.3.0", publisher="carol", approved_by=("erin",)),  # not an approver
            published("1.0.0", "2026-11-20T07:30:00Z", publisher="mallory", event_id="again"),
            started("r-1"),
            started("r-2"),
        ],
    )
    # r-1 and r-2 run 1.0.0 (its first publish counts); nothing about them
    assert _kinds(store) == [
        ("insufficient_approvals", "1.2.0", None),
        ("insufficient_approvals", "1.3.0", None),
        ("self_approved_publish", "1.1.0", None),
        ("self_approved_publish", "1.2.0", None),
        ("unauthorized_publisher", "1.0.0", None),
    ]
    detail = {r["version"]: r for r in _found(store, kind="unauthorized_publisher")}
    assert detail["1.0.0"]["event_id"] == "pub-invoice-posting-1.0.0"
    assert "mallory" in detail["1.0.0"]["detail"] and "alice, carol" in detail["1.0.0"]["detail"]
    # without rules, only what needs none: the publisher approving their own publish
    assert {k for k, _, _ in _kinds(store, rules=())} == {"self_approved_publish"}


def test_an_approver_who_publishes_another_version_still_counts(store, tmp_path) -> None:
    rule = PublishRule("invoice-posting", publishers=("alice", "bob"), approvers=("alice", "bob"))
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", publisher="alice", approved_by=("bob",)),
            published("2.0.0", publisher="bob", approved_by=("alice",)),
        ],
    )
    assert _kinds(store, rules=(rule,)) == []
    two = PublishRule(rule.workflow, rule.publishers, rule.approvers, min_approvals=2)
    assert _kinds(store, rules=(two,)) == [
        ("insufficient_approvals", "1.0.0", None),
        ("insufficient_approvals", "2.0.0", None),
    ]


def test_unpublished_version_and_a_version_published_after_its_first_run(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            started("r-early", "2026-11-20T06:00:00Z"),  # 1.0.0, published at 07:00
            started("r-late", "2026-11-20T08:00:00Z"),
            started("r-at", "2026-11-20T07:00:00Z"),  # the very moment: published
            started("r-2", "2026-11-20T08:00:00Z", workflow_version="2.0.0"),
            started("r-other", "2026-11-20T08:00:00Z", workflow="crm-enrichment"),  # ungoverned
            published("1.0.0"),
        ],
    )
    rows = _found(store)
    assert [(r["kind"], r["version"], r["run_id"]) for r in rows] == [
        ("unpublished_version", "1.0.0", "r-early"),
        ("unpublished_version", "2.0.0", "r-2"),
    ]
    assert "after this run started" in rows[0]["detail"]
    assert "never published" in rows[1]["detail"]
    assert rows[0]["event_id"] == "r-early-start"
    # a workflow with rules but no publish at all: every run is of an unpublished version
    crm = PublishRule("crm-enrichment", publishers=("alice",))
    assert ("unpublished_version", "1.0.0", "r-other") in _kinds(store, rules=(RULE, crm))


def test_scope_beyond_the_published_one(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", scope=["ledger:write:Invoice", "erp:read"]),
            started("r-ok", scope=["ledger:read:Invoice", "erp:read:Vendor"]),  # narrower
            started("r-same", scope=["ledger:write:Invoice", "erp:read"]),
            started("r-wide", scope=["ledger:write", "erp:read", "bank:export:Payment"]),
            started("r-delete", scope=["ledger:delete:Invoice"]),
        ],
    )
    rows = _found(store, kind="scope_exceeds_published")
    assert [r["run_id"] for r in rows] == ["r-delete", "r-wide"]
    wide = rows[1]["detail"]
    assert "ledger:write, bank:export:Payment" in wide and "erp:read," not in wide


def test_identity_mismatch(store, tmp_path) -> None:
    _load(
        store,
        tmp_path,
        [
            published("1.0.0", identity="svc-agent"),
            started("r-ok"),
            started("r-odd", identity="svc-other"),
            started("r-none", identity=None),
        ],
    )
    assert _kinds(store) == [
        ("identity_mismatch", "1.0.0", "r-none"),
        ("identity_mismatch", "1.0.0", "r-odd"),
    ]


def test_borrowed_identity_names_the_touch_but_not_one_made_as_the_run(store, tmp_path) -> None:
    touch = {"system": "ledger", "object": "Invoice", "record_id": "INV-1", "action": "update"}
    _load(
        store,
        tmp_path,
        [
            published("1.0.0"),
            started("r-1"),
            event("data.touched", "2026-11-20T08:00:01Z", event_id="t-own", identity="svc-agent",
                  **touch),
            event("data.touched", "2026-11-20T08:00:02Z", event_id="t-plain", **touch),
            event("data.touched", "2026-11-20T08:00:03Z", event_id="t-borrowed",
                  identity="human:dana", **touch),
        ],
    )  # fmt: skip
    rows = _found(store)
    assert [(r["kind"], r["run_id"], r["event_id"]) for r in rows] == [
        ("borrowed_identity", "r-1", "t-borrowed")
    ]
    assert "human:dana" in rows[0]["detail"] and "svc-agent" in rows[0]["detail"]
    assert _kinds(store, run_id="r-1", kind="borrowed_identity") == [
        ("borrowed_identity", "1.0.0", "r-1")
    ]
    assert _kinds(store, workflow="crm-enrichment") == []


def test_an_unknown_kind_is_refused_with_the_kinds(store) -> None:
    with pytest.raises(ValueError, match="unpublished_version"):
        findings(store.con, (), where=FindingFilter(kind="nope"))


def test_the_evidence_bundle_holds_the_version_record_and_the_findings(store, tmp_path) -> None:
    from quarterdeck import bundle
    from quarterdeck.queries import evidence
    from support.events import NOW

    _load(
        store,
        tmp_path,
        [
            published("1.0.0", publisher="mallory", scope=["ledger:read"]),
            started("r-1", "2026-11-20T08:00:00Z"),
            started("r-2", "2026-11-20T08:00:00Z", workflow_version="2.0.0"),
        ],
    )
    collected = evidence.collect(store.con, "r-1", now=NOW, publish_rules=(RULE,))
    assert collected is not None
    version = collected["version"]
    assert (version["publisher"], version["approved_by"], version["scope"]) == (
        "mallory",
        ["bob"],
        ["ledger:read"],
    )
    assert [f["kind"] for f in collected["findings"]] == [
        "scope_exceeds_published",
        "unauthorized_publisher",
    ]
    other = evidence.collect(store.con, "r-2", now=NOW, publish_rules=(RULE,))
    assert other is not None and other["version"] is None
    out = bundle.write(
        tmp_path / "bundle", [collected, other], generated_at=NOW, store=store.path, scope="t"
    )
    report = (out / "report.md").read_text()
    assert "by mallory at" in report and "approved by bob" in report
    assert "**unauthorized_publisher**: published by mallory" in report
    assert "2.0.0: no `workflow.published` record of it." in report
    assert "**unpublished_version**" in report
    assert bundle.verify(out) == []
