"""A simulated fleet of AI workflow runners, writing honest v1 run-event logs.

This is what a runner's author would write: each run announces itself (`run.started`, with the
identity it runs as and the grants it holds), then steps start and finish, records are read and
changed (`data.touched`, with before/after), risky steps ask a human (`approval.requested`), and
the run ends (`run.finished`). Nothing here knows about Quarterdeck's store.

Realism that the ingester must cope with is deliberate: each workflow's runner logs in its own
UTC offset, one runner leaves `event_id` out (Quarterdeck derives it), concurrent runs
interleave in one file, older days are gzipped, and an approval system exports its own CSV.
`bad_lines` adds a handful of the broken lines real fleets produce.
"""

from __future__ import annotations

import csv
import gzip
import heapq
import json
import random
import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Workflow:
    name: str
    version: str
    identity: str
    scope: tuple[str, ...]
    tz: timezone  # the offset this runner writes its timestamps in
    every: timedelta  # mean time between runs
    with_event_ids: bool = True
    environment: str = "prod"


IST = timezone(timedelta(hours=5, minutes=30), "IST")
PST = timezone(timedelta(hours=-8), "PST")

WORKFLOWS: tuple[Workflow, ...] = (
    Workflow(
        "invoice-posting",
        "1.4.0",
        "svc-invoice-agent",
        ("ledger:write:Invoice", "erp:read"),
        IST,
        timedelta(minutes=40),
    ),
    Workflow(
        "crm-enrichment",
        "2.1.3",
        "svc-crm-enricher",
        ("crm:write:Contact", "enrichment:read"),
        PST,
        timedelta(minutes=55),
    ),
    Workflow(
        "ticket-triage",
        "0.9.2",
        "svc-triage-bot",
        ("helpdesk:write:Ticket", "kb:read"),
        UTC,
        timedelta(minutes=25),
        with_event_ids=False,
    ),
    Workflow(
        "payout-batch",
        "3.0.0",
        "svc-payout-agent",
        ("payments:write:Payout", "ledger:read"),
        UTC,
        timedelta(hours=3),
        environment="prod",
    ),
)

APPROVERS = {
    "finance-approver": ["dana.k", "li.wei"],
    "support-lead": ["sam.o"],
    "treasury": ["ines.m", "dana.k"],
}
MODELS = ("gpt-4.1-mini", "claude-sonnet-4", "llama-3.1-70b")


@dataclass
class RunPlan:
    """Events of one simulated run, as dicts in the v1 format (not yet serialised)."""

    workflow: Workflow
    run_id: str
    events: list[dict[str, Any]] = field(default_factory=list)
    approvals: list[dict[str, Any]] = field(default_factory=list)  # approval-system records


class RunSimulator:
    """Builds realistic runs for a workflow. `rng` makes every run reproducible."""

    def __init__(self, rng: random.Random, now: datetime) -> None:
        self.rng = rng
        self.now = now  # events after this moment are not written (the run is still going)

    def run(self, wf: Workflow, run_id: str, start: datetime) -> RunPlan:
        plan = RunPlan(wf, run_id)
        self._seq = 0
        self._steps = 0
        self._current: str | None = None
        self._plan = plan
        self._t = start
        trigger = self.rng.choices(
            [
                {"kind": "schedule", "by": "scheduler"},
                {"kind": "event", "by": "queue"},
                {"kind": "manual", "by": self.rng.choice(["dana.k", "sam.o", "ops-bot"])},
            ],
            weights=[6, 3, 1],
        )[0]
        env = "staging" if self.rng.random() < 0.08 else wf.environment
        self._emit(
            "run.started",
            workflow=wf.name,
            workflow_version=wf.version,
            environment=env,
            identity=wf.identity,
            trigger=trigger,
            scope=list(wf.scope),
        )
        steps = getattr(self, "_" + wf.name.replace("-", "_"))
        outcome = steps()
        if outcome is not None:
            status, error = outcome
            self._advance(1, 4)
            self._emit("run.finished", status=status, **({"error": error} if error else {}))
        plan.events = [e for e in plan.events if e["_at"] <= self.now]
        return plan

    # --- workflows ------------------------------------------------------------------------

    def _invoice_posting(self) -> tuple[str, str | None] | None:
        n = self.rng.randint(5, 60)
        with self._step("fetch open invoices", "tool", tool="erp.search"):
            self._touch("erp", "Invoice", None, "read", record_count=n)
        if self.rng.random() < 0.05:
            return self._fail("match invoices to purchase orders", "llm", "erp timeout after 30s")
        with self._step("match invoices to purchase orders", "llm", model=True):
            pass
        if n > 40:
            decided = self._approval(
                f"post {n} invoices to the ledger", "high", "finance-approver", hours=8
            )
            if decided is None:
                return None
            if decided == "rejected":
                return ("cancelled", "approval rejected")
        with self._step("post invoices", "tool", tool="ledger.post"):
            for _ in range(min(n, 12)):
                rid = f"INV-{self.rng.randint(1, 9999):04d}"
                self._touch(
                    "ledger",
                    "Invoice",
                    rid,
                    "update",
                    fields=["status"],
                    before={"status": "open"},
                    after={"status": "posted"},
                )
            if self.rng.random() < 0.04:  # the workflow reaches past its grants
                self._touch(
                    "ledger",
                    "Payment",
                    f"PAY-{self.rng.randint(1, 999):03d}",
                    "update",
                    fields=["state"],
                    before={"state": "scheduled"},
                    after={"state": "released"},
                )
        return ("succeeded", None)

    def _crm_enrichment(self) -> tuple[str, str | None] | None:
        ids = [f"C-{self.rng.randint(1, 5000):05d}" for _ in range(self.rng.randint(2, 8))]
        with self._step("load contacts", "tool", tool="crm.query"):
            for rid in ids:
                self._touch(
                    "crm", "Contact", rid, "read", fields=["email", "company"], classification="pii"
                )
        with self._step("look up firmographics", "retrieval", tool="enrichment.lookup"):
            self._touch("enrichment", "Company", None, "read", record_count=len(ids))
        if self.rng.random() < 0.06:
            return self._fail("draft enrichment", "llm", "model output failed schema validation")
        with self._step("draft enrichment", "llm", model=True):
            pass
        with self._step("update contacts", "tool", tool="crm.update"):
            for rid in ids:
                old = self.rng.choice(["", "Engineer", "Manager"])
                new = self.rng.choice(["Director of Finance", "VP Operations", "CTO"])
                self._touch(
                    "crm",
                    "Contact",
                    rid,
                    "update",
                    fields=["title"],
                    before={"title": old},
                    after={"title": new},
                    classification="pii",
                )
            if self.rng.random() < 0.05:  # an export nobody granted
                self._touch(
                    "crm", "Contact", None, "export", record_count=len(ids), classification="pii"
                )
        self._emit("metric", name="eval_score", value=round(self.rng.uniform(0.6, 0.99), 3))
        return ("succeeded", None)

    def _ticket_triage(self) -> tuple[str, str | None] | None:
        tid = f"T-{self.rng.randint(10000, 99999)}"
        with self._step("read ticket", "tool", tool="helpdesk.get"):
            self._touch("helpdesk", "Ticket", tid, "read", fields=["subject", "body"])
        if self.rng.random() < 0.07:  # looks the customer up where it has no grant
            with self._step("look up customer", "tool", tool="crm.get"):
                self._touch(
                    "crm",
                    "Contact",
                    f"C-{self.rng.randint(1, 5000):05d}",
                    "read",
                    fields=["email", "plan"],
                    classification="pii",
                )
        with self._step("search knowledge base", "retrieval", tool="kb.search"):
            self._touch("kb", "Article", None, "read", record_count=self.rng.randint(3, 10))
        if self.rng.random() < 0.04:
            return self._fail("classify", "llm", "rate limited by model provider (429)")
        with self._step("classify", "llm", model=True):
            pass
        prio = self.rng.choice(["low", "normal", "high", "urgent"])
        if prio == "urgent" and self.rng.random() < 0.5:
            decided = self._approval(f"page on-call for {tid}", "medium", "support-lead", hours=1)
            if decided is None:
                return None
        with self._step("update ticket", "tool", tool="helpdesk.update"):
            self._touch(
                "helpdesk",
                "Ticket",
                tid,
                "update",
                fields=["priority", "queue"],
                before={"priority": "normal", "queue": "inbox"},
                after={"priority": prio, "queue": self.rng.choice(["billing", "tech"])},
            )
            if self.rng.random() < 0.02:
                self._touch("helpdesk", "Ticket", tid, "delete")  # write does not cover it
        return ("succeeded", None)

    def _payout_batch(self) -> tuple[str, str | None] | None:
        n = self.rng.randint(3, 25)
        total = n * self.rng.randint(200, 4000)
        with self._step("read approved payouts", "tool", tool="ledger.query"):
            self._touch("ledger", "Payout", None, "read", record_count=n)
        decided = self._approval(
            f"release {n} payouts totalling ${total:,}", "critical", "treasury", hours=24
        )
        if decided is None:
            return None
        if decided == "rejected":
            return ("cancelled", "approval rejected")
        with self._step("release payouts", "tool", tool="payments.release"):
            for _ in range(min(n, 10)):
                rid = f"PO-{self.rng.randint(1, 99999):05d}"
                self._touch(
                    "payments",
                    "Payout",
                    rid,
                    "update",
                    fields=["state"],
                    before={"state": "approved"},
                    after={"state": "released"},
                )
        if self.rng.random() < 0.08:
            self._emit("run.finished", status="failed", error="bank API rejected the batch")
            self._advance(30, 120)
            with self._step("reverse released payouts", "tool", tool="payments.reverse"):
                self._touch("payments", "Payout", None, "update", record_count=n)
            return ("rolled_back", "bank API rejected the batch")
        return ("succeeded", None)

    # --- building blocks ------------------------------------------------------------------

    def _advance(self, low: float, high: float) -> None:
        self._t += timedelta(seconds=self.rng.uniform(low, high))

    def _emit(self, type_: str, **fields: Any) -> dict[str, Any]:
        wf, plan = self._plan.workflow, self._plan
        self._seq += 1
        self._advance(0.05, 1.5)
        event: dict[str, Any] = {}
        if wf.with_event_ids:
            event["event_id"] = f"{plan.run_id}-{self._seq:03d}"
        event["type"] = type_
        event["ts"] = self._t.astimezone(wf.tz).isoformat(timespec="milliseconds")
        event["run_id"] = plan.run_id
        event.update(fields)
        event["_at"] = self._t
        plan.events.append(event)
        return event

    def _step(self, name: str, kind: str, tool: str | None = None, model: bool = False) -> _Step:
        return _Step(self, name, kind, tool, self.rng.choice(MODELS) if model else None)

    def _touch(
        self, system: str, obj: str, record_id: str | None, action: str, **fields: Any
    ) -> None:
        extra = {k: v for k, v in fields.items() if v is not None}
        if record_id is not None:
            extra = {"record_id": record_id, **extra}
        self._emit(
            "data.touched", step_id=self._current, system=system, object=obj, action=action, **extra
        )

    def _fail(self, step: str, kind: str, error: str) -> tuple[str, str]:
        """A step that starts and fails; the run fails with it."""
        self._steps += 1
        step_id = f"s{self._steps}"
        self._emit("step.started", step_id=step_id, name=step, kind=kind)
        self._advance(1, 30)
        self._emit("step.finished", step_id=step_id, name=step, status="error", error=error)
        return ("failed", error)

    def _approval(self, action: str, risk: str, role: str, hours: int) -> str | None:
        """Ask for approval; returns the decision, or None while it is still pending."""
        wf, plan = self._plan.workflow, self._plan
        approval_id = f"apr-{plan.run_id.removeprefix('r-')}"
        requested = self._t
        expires = requested + timedelta(hours=hours)
        self._emit(
            "approval.requested",
            step_id=f"s{self._steps + 1}",
            approval_id=approval_id,
            action=action,
            risk=risk,
            required_role=role,
            requested_by=wf.identity,
            expires_at=expires.astimezone(UTC).isoformat(timespec="seconds"),
        )
        wait = timedelta(minutes=self.rng.expovariate(1 / 25))
        backlog = requested > self.now - timedelta(hours=6) and self.rng.random() < 0.6
        if backlog or requested + wait > self.now:  # approvers have not got to it yet
            self._t = self.now + timedelta(days=365)  # still waiting: nothing more is written
            return None
        decision = "rejected" if self.rng.random() < 0.12 else "approved"
        by = self.rng.choice(APPROVERS[role])
        reason = (
            "amounts match the purchase orders"
            if decision == "approved"
            else "vendor bank details changed last week; verify first"
        )
        self._t = requested + wait
        # Half of the decisions reach Quarterdeck only through the approval system's export.
        if self.rng.random() < 0.5:
            self._emit(
                "approval.decided",
                approval_id=approval_id,
                decision=decision,
                decided_by=by,
                reason=reason,
                actor=by,
            )
        else:
            plan.approvals.append(
                {
                    "approval_id": approval_id,
                    "run_id": plan.run_id,
                    "action": action,
                    "risk": risk,
                    "required_role": role,
                    "requested_by": wf.identity,
                    "requested_at": _utc(requested),
                    "expires_at": _utc(expires),
                    "status": decision,
                    "decided_by": by,
                    "decided_at": _utc(self._t),
                    "reason": reason,
                }
            )
        return decision


class _Step:
    def __init__(
        self, sim: RunSimulator, name: str, kind: str, tool: str | None, model: str | None
    ) -> None:
        self.sim, self.name, self.kind, self.tool, self.model = sim, name, kind, tool, model

    def __enter__(self) -> None:
        sim = self.sim
        sim._steps += 1
        sim._current = f"s{sim._steps}"
        fields = {"name": self.name, "kind": self.kind}
        if self.tool:
            fields["tool"] = self.tool
        if self.model:
            fields["model"] = self.model
        sim._emit("step.started", step_id=sim._current, **fields)

    def __exit__(self, *exc: object) -> None:
        sim = self.sim
        sim._advance(0.2, 8 if self.kind != "llm" else 25)
        fields: dict[str, Any] = {"status": "ok"}
        if self.model:
            tokens_in = sim.rng.randint(400, 6000)
            tokens_out = sim.rng.randint(50, 900)
            fields.update(
                model=self.model,
                tokens_in=tokens_in,
                tokens_out=tokens_out,
                cost_usd=round((tokens_in * 0.4 + tokens_out * 1.6) / 1e6, 6),
            )
        sim._emit("step.finished", step_id=sim._current, name=self.name, **fields)


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


BAD_LINES: tuple[bytes, ...] = (
    b'{"event_id":"bad-1","type":"step.started","ts":"2026-11-20T08:00:02Z","run_id":"r-x",',
    b'{"event_id":"bad-2","type":"run.finished","ts":"2026-11-20T08:00:00","run_id":"r-x",'
    b'"status":"succeeded"}',
    b'{"event_id":"bad-3","type":"run.paused","ts":"2026-11-20T08:00:00Z","run_id":"r-x"}',
    b'{"event_id":"bad-4","type":"data.touched","ts":"2026-11-20T08:00:00Z","system":"crm",'
    b'"object":"Contact","action":"read"}',
    b'{"event_id":"bad-5","type":"step.finished","ts":"2026-11-20T08:00:00Z","run_id":"r-x",'
    b'"step_id":"s1","tokens_in":"812"}',
    b'{"event_id":"bad-6","type":"approval.requested","ts":"2026-11-20T08:00:00Z",'
    b'"run_id":"r-x","approval_id":"apr-x","risk":"extreme"}',
    b'["not", "an", "object"]',
    b'{"event_id":"bad-8","type":"data.touched","ts":"2026-11-20T08:00:00Z","run_id":"r-x",'
    b'"system":"crm","object":"Contact","action":"read","fields":["caf\xe9"]}',
)


@dataclass
class FleetSummary:
    runs: int = 0
    events: int = 0
    files: int = 0
    approval_records: int = 0
    bad_lines: int = 0


def generate(
    out: Path,
    *,
    runs: int = 300,
    seed: int = 7,
    days: float = 5,
    end: datetime | None = None,
    bad_lines: bool = True,
    gzip_oldest: bool = True,
) -> FleetSummary:
    """Write a fleet's logs under `out`: `runs` runs spread over the `days` before `end`, one
    folder per workflow, one JSONL file per day, and the approval system's CSV export.
    Deterministic for a given seed and end."""
    rng = random.Random(seed)
    end = (end or datetime.now(UTC)).astimezone(UTC)
    summary = FleetSummary()
    weights = [1 / wf.every.total_seconds() for wf in WORKFLOWS]
    share = [w / sum(weights) for w in weights]
    counts = [max(1, round(runs * s)) for s in share]
    counts[0] += runs - sum(counts)
    out.mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    writers = _DayFiles(out)
    for wf, count in zip(WORKFLOWS, counts, strict=True):
        sim = RunSimulator(random.Random(rng.getrandbits(64)), end)
        every = timedelta(days=days) / count
        start = end - timedelta(days=days)
        heap: list[tuple[datetime, int, bytes]] = []
        order = 0
        for i in range(count):
            run_start = start + every * i + timedelta(seconds=sim.rng.uniform(0, 60))
            run_id = f"r-{wf.name.split('-')[0][:3]}-{run_start:%m%d%H%M}-{i % 1000:03d}"
            plan = sim.run(wf, run_id, run_start)
            summary.runs += 1
            records.extend(plan.approvals)
            while heap and heap[0][0] <= run_start:
                at, _, line = heapq.heappop(heap)
                writers.write(wf.name, at, line)
            for event in plan.events:
                at = event.pop("_at")
                order += 1
                heapq.heappush(heap, (at, order, _dumps(event)))
                summary.events += 1
        while heap:
            at, _, line = heapq.heappop(heap)
            writers.write(wf.name, at, line)
    if bad_lines:
        summary.bad_lines = writers.inject(rng, BAD_LINES)
        dup = writers.first_line("invoice-posting")
        if dup:
            writers.append_raw("invoice-posting", dup)  # a runner that retried a write
    summary.files = writers.close(gzip_oldest=gzip_oldest)
    if records:
        summary.approval_records = _write_approvals(out / "approvals", records, bad_lines)
        summary.files += 1
        summary.bad_lines += 1 if bad_lines else 0  # the export's broken row
    return summary


def _dumps(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


class _DayFiles:
    """One open JSONL file per workflow and (UTC) day."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.handles: dict[tuple[str, str], Any] = {}

    def path(self, workflow: str, day: str) -> Path:
        return self.root / workflow / f"runs-{day}.jsonl"

    def write(self, workflow: str, at: datetime, line: bytes) -> None:
        key = (workflow, f"{at:%Y-%m-%d}")
        handle = self.handles.get(key)
        if handle is None:
            path = self.path(*key)
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.handles[key] = path.open("wb")
        handle.write(line)

    def first_line(self, workflow: str) -> bytes | None:
        keys = sorted(k for k in self.handles if k[0] == workflow)
        if not keys:
            return None
        self.handles[keys[0]].flush()
        with self.path(*keys[0]).open("rb") as handle:
            return handle.readline()

    def append_raw(self, workflow: str, line: bytes) -> None:
        key = max(k for k in self.handles if k[0] == workflow)
        self.handles[key].write(line)

    def inject(self, rng: random.Random, lines: tuple[bytes, ...]) -> int:
        keys = sorted(self.handles)
        for line in lines:
            self.handles[rng.choice(keys)].write(line + b"\n")
        return len(lines)

    def close(self, gzip_oldest: bool) -> int:
        for handle in self.handles.values():
            handle.close()
        if gzip_oldest:
            for workflow in {k[0] for k in self.handles}:
                oldest = min(k for k in self.handles if k[0] == workflow)
                if sum(1 for k in self.handles if k[0] == workflow) > 1:
                    path = self.path(*oldest)
                    with path.open("rb") as src, gzip.open(f"{path}.gz", "wb") as dst:
                        shutil.copyfileobj(src, dst)
                    path.unlink()
        return len(self.handles)


def _write_approvals(folder: Path, records: list[dict[str, Any]], bad: bool) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    names = [
        "approval_id",
        "run_id",
        "action",
        "risk",
        "required_role",
        "requested_by",
        "requested_at",
        "expires_at",
        "status",
        "decided_by",
        "decided_at",
        "reason",
    ]
    with (folder / "approval-system-export.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=names)
        writer.writeheader()
        for record in records:
            # the approval system exports each request twice: requested, then decided
            writer.writerow(
                {**record, "status": "pending", "decided_by": "", "decided_at": "", "reason": ""}
            )
            writer.writerow(record)
        if bad:
            writer.writerow(
                {
                    "approval_id": "apr-broken",
                    "run_id": "r-x",
                    "status": "maybe",
                    "requested_at": "2026-11-20T08:00:00Z",
                }
            )
    return len(records) * 2
