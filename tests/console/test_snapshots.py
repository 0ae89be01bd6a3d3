"""SVG snapshots of every screen, each reached the way an operator reaches it: the four panes,
a run, a touch and a record's lineage, an approval request, the decide dialog (with and
without runs hidden by the filter), the decisions, a trigger's evidence, the quarantine, the
help, the jump box, and a read-only console. Behaviour is tested beside this file; these record
what the screens look like.

Nothing moves while a picture is taken: the clock is frozen at NOW (the console's, the decision
desk's, the triggers'), text cursors stop blinking (`settle`), the periodic refresh is an hour
apart (each screen loads once, on opening, as it would), and trigger rules are evaluated before
the console opens rather than by a watch running beside it.
After an intended layout change, re-record them with `make snapshots` and look at the report.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from quarterdeck.config import Settings, TriggerSettings
from quarterdeck.console.app import QuarterdeckApp, make_app
from quarterdeck.console.pressed import SEEN_S
from quarterdeck.desk import DecisionDesk
from quarterdeck.ingest.load import load_paths
from quarterdeck.queries.store import Store
from quarterdeck.watch import TriggerWatch
from support.desks import desk_for
from support.events import NOW
from support.pilot import settle

SIZE = (150, 36)
QUIET = {"refresh": "1h"}

#: One rule in each phase the fleet can show at NOW (values worked out on the test fleet).
RULES = [
    TriggerSettings(
        name="out-of-scope", metric="out_of_scope_touches", window="2d", threshold=1
    ),  # 10 touches: tripped
    TriggerSettings(
        name="rejections", metric="rejected_approvals", window="2d", threshold=6
    ),  # 5 of 6: warning
    TriggerSettings(
        name="failures", metric="failed_run_ratio", window="2d", threshold=0.2, min_runs=5
    ),  # 0.06: ok
    TriggerSettings(
        name="scores",
        metric="metric:eval_score",
        window="2d",
        threshold=0.5,
        below=True,
        min_runs=500,
    ),  # 23 runs: inconclusive
]


def app_on(
    store: Store, *, desk: DecisionDesk | None = None, rules: Sequence[TriggerSettings] = ()
) -> QuarterdeckApp:
    """The console on `store`; with `rules`, evaluated once at NOW before it opens (the
    Triggers pane shows the evaluations kept in the store, as after the watch's first round,
    without a watch evaluating again while the picture is taken)."""
    settings = Settings(trigger=list(rules), console=QUIET)
    if rules:
        TriggerWatch(store, settings.rules(), None, stale_seconds=900, clock=lambda: NOW).evaluate()
    return make_app(
        store, settings, clock=lambda: NOW, desk=desk, read_only=desk is not None and desk.read_only
    )


def keys(*steps: str | Sequence[str]):
    """A `run_before`: settle, then each step's keys pressed together, then settle again.

    Each step waits out the filter box too, which applies what was typed 0.15 s after the
    last key (Enter keeps the filter; it does not apply it).
    """

    async def run(pilot) -> None:
        await settle(pilot)
        for step in steps:
            await pilot.press(*([step] if isinstance(step, str) else step))
            # past `SEEN_S`: what a step showed is what the next step's keys act on
            await pilot.pause(SEEN_S + 0.1)
            await settle(pilot)

    return run


def first(store: Store, sql: str, *params: object) -> tuple:
    row = store.con.execute(sql, list(params)).fetchone()
    assert row is not None, sql
    return row


def active_run(store: Store) -> tuple[str, str]:
    """The newest run still going at NOW, and its workflow."""
    return first(
        store,
        "SELECT run_id, workflow FROM run_summary WHERE outcome IS NULL "
        "ORDER BY started_at DESC, run_id LIMIT 1",
    )


def out_of_scope_update(store: Store) -> str:
    """A record changed by an update no grant covered (the touch screen shows why, and the
    change field by field)."""
    return first(
        store,
        "SELECT record_id FROM touches WHERE action = 'update' "
        "AND NOT in_scope AND before IS NOT NULL "
        "ORDER BY ts DESC, event_id LIMIT 1",
    )[0]


def record_of_many_runs(store: Store) -> str:
    """The record touched by the most runs (its lineage is the longest)."""
    return first(
        store,
        "SELECT record_id FROM touches WHERE record_id IS NOT NULL "
        "GROUP BY record_id ORDER BY count(DISTINCT run_id) DESC, count(*) DESC, "
        "record_id LIMIT 1",
    )[0]


@pytest.fixture
def relative_fleet_store(
    tmp_path: Path, fleet_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """The fleet loaded as `fleet/…` from the working directory, so the sources a screen
    lists are the same on every machine (not a temp folder's absolute path)."""
    monkeypatch.chdir(tmp_path)
    Path("fleet").symlink_to(fleet_dir, target_is_directory=True)
    store = Store.open(Path("qd.duckdb"))
    load_paths(store.con, [Path("fleet")])
    yield store
    store.close()


def snap(snap_compare, app: QuarterdeckApp, *steps: str | Sequence[str]) -> bool:
    return snap_compare(app, terminal_size=SIZE, run_before=keys(*steps))


# --- the panes --------------------------------------------------------------------------------


def test_runs_pane(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store))


def test_touched_pane(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store), "2")


def test_approvals_pane(snap_compare, pending_store: Store) -> None:
    assert snap(snap_compare, app_on(pending_store), "3")


def test_triggers_pane(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store, rules=RULES), "4")


# --- what the panes open ----------------------------------------------------------------------


def test_run_detail(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store), "enter")


def test_touch_diff(snap_compare, fleet_store: Store) -> None:
    record = out_of_scope_update(fleet_store)
    assert snap(snap_compare, app_on(fleet_store), "2", ["slash", *record, "enter"], "enter")


def test_lineage(snap_compare, fleet_store: Store) -> None:
    record = record_of_many_runs(fleet_store)
    assert snap(snap_compare, app_on(fleet_store), "2", ["slash", *record, "enter"], "t")


def test_approval_request(snap_compare, pending_store: Store) -> None:
    assert snap(snap_compare, app_on(pending_store), "3", "enter")


def test_trigger_evidence(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store, rules=RULES), "4", "enter")


# --- deciding ---------------------------------------------------------------------------------


def test_decide_dialog(snap_compare, fleet_store: Store, tmp_path: Path) -> None:
    run_id, _ = active_run(fleet_store)
    app = app_on(fleet_store, desk=desk_for(fleet_store, tmp_path, {"operator"}))
    assert snap(snap_compare, app, ["slash", *run_id, "enter"], "p")


def test_decide_dialog_names_the_runs_the_filter_hides(
    snap_compare, pending_store: Store, tmp_path: Path
) -> None:
    workflow = "invoice-posting"  # its live run waits on an approval (the fleet's are history)
    other = first(
        pending_store, "SELECT min(workflow) FROM run_summary WHERE workflow != ?", workflow
    )[0]
    app = app_on(pending_store, desk=desk_for(pending_store, tmp_path, {"operator"}))
    assert snap(
        snap_compare,
        app,
        ["slash", *other, "enter"],
        ["colon", *f"pause-workflow {workflow}", "enter"],
    )


def test_decisions(snap_compare, fleet_store: Store, tmp_path: Path) -> None:
    desk = desk_for(fleet_store, tmp_path, {"operator"})
    run_id, workflow = active_run(fleet_store)
    desk.record(desk.plan("pause", run_id=run_id), "a ticket closed without a reply")
    # its only run is stale, and its pause (#1) not acknowledged yet: the workflow's pause
    # leaves it out, naming no run (the runner is not asked twice)
    wide = desk.plan("pause", workflow=workflow, include_stale=True)
    assert wide.runs == ()
    desk.record(wide, "tickets routed to the wrong queue")
    assert snap(snap_compare, app_on(fleet_store, desk=desk), "D")


def test_read_only(snap_compare, fleet_store: Store, tmp_path: Path) -> None:
    """The READ-ONLY badge, and no decision key in the footer."""
    desk = desk_for(fleet_store, tmp_path, {"operator", "finance-approver"}, read_only=True)
    assert snap(snap_compare, app_on(fleet_store, desk=desk))


# --- everywhere -------------------------------------------------------------------------------


def test_quarantine(snap_compare, relative_fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(relative_fleet_store), "Q")


def test_help(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store), "question_mark")


def test_jump(snap_compare, fleet_store: Store) -> None:
    assert snap(snap_compare, app_on(fleet_store), ["colon", *"record crm/Contact/"])


def released(store: Store, tmp_path: Path) -> Store:
    """The fleet with each workflow's version published (ticket-triage's without `kb:read`,
    which its runs use) and a canary of invoice-posting at 10 % by someone who may not."""
    from support.events import published, rollout, write_jsonl

    lines = [
        published("2.1.3", "2026-11-01T00:00:00Z", workflow="crm-enrichment",
                  identity="svc-crm-enricher", scope=["crm:write:Contact", "enrichment:read"]),
        published("1.4.0", "2026-11-01T00:00:00Z", identity="svc-invoice-agent",
                  scope=["ledger:write:Invoice", "erp:read"]),
        published("3.0.0", "2026-11-01T00:00:00Z", workflow="payout-batch", publisher="carol",
                  identity="svc-payout-agent", scope=["payments:write:Payout", "ledger:read"]),
        published("0.9.2", "2026-11-01T00:00:00Z", workflow="ticket-triage", approved_by=(),
                  identity="svc-triage-bot", scope=["helpdesk:write:Ticket"]),
        published("1.5.0", "2026-11-20T06:00:00Z", publisher="mallory",
                  identity="svc-invoice-agent", scope=["ledger:write:Invoice", "erp:read"],
                  rollout={"steps": [10, 50, 100]}),
        rollout("1.4.0", 90, "2026-11-20T06:00:00Z"),
    ]  # fmt: skip
    load_paths(store.con, [write_jsonl(tmp_path / "releases" / "r.jsonl", lines)])
    return store


def test_workflows_pane(snap_compare, fleet_store: Store, tmp_path: Path) -> None:
    assert snap(snap_compare, app_on(released(fleet_store, tmp_path)), "5")


def test_version(snap_compare, fleet_store: Store, tmp_path: Path) -> None:
    assert snap(snap_compare, app_on(released(fleet_store, tmp_path)), "5", "down", "down", "enter")
