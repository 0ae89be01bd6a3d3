"""A live runner: the simulated fleet, writing its v1 events as they happen.

This is the shape of a real runner's logging, kept small enough to read in one sitting:

- each run's events are appended, one JSON object per line, to its workflow's log for the
  day (`<out>/<workflow>/live-YYYY-MM-DD.jsonl`), with `ts` the moment the event happened in
  the runner's own UTC offset;
- a line is written whole and flushed; a reader may still see half a line for a moment, and
  must wait for its newline (Quarterdeck does);
- a risky step asks for approval (`approval.requested`) and the run waits: sometimes an
  approver answers after a few seconds (`approval.decided`), sometimes nobody has yet, and the
  request stays pending for an operator to decide;
- every `burst_every` seconds the model provider rate-limits ticket triage for a while, and
  its runs fail (what a rollback trigger is for);
- it reads Quarterdeck's control outbox (`runner.outbox`) and really pauses, resumes and
  rolls back its runs (a rollback writes compensating touches that restore the `before`
  values), answers approvals an operator decided, and acknowledges each decision with a
  `control.applied` event;
- it publishes each workflow's version when it starts (`workflow.published`), and, after
  `canary_after` seconds, a new version of invoice-posting as a canary at 10 % that fails
  more often (`CANARY`): what a per-version trigger is for;
- it acknowledges a workflow decision for the workflow itself too (no run): a pause or a
  rollback holds the runs of it that start later, a resume lets them start again;
- it applies rollout decisions (promote, rollback-version, pause-rollout) to the weights it
  starts new runs of each version with, and acknowledges each with `control.applied` (no run),
  then a `rollout.changed` for each version whose weight it changed;
- the runner stops on SIGTERM or SIGINT, or when the process that started it has gone;
- its memory is bounded however long it runs: a finished run is kept `KEEP_FINISHED_S`
  seconds (a rollback decided in that window still finds what it changed), then forgotten;
  at most `KEEP_WAITING` requests wait for an operator, the oldest given up first (its run
  stays waiting in the log, as an abandoned one would, and a later decision on it is not
  acknowledged); a day's log is closed once the next day's is opened.

Several runs are in flight at once, so their lines interleave. `rate` sets events per second
across the fleet; `seed` makes the sequence of runs reproducible.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from quarterdeck.runner.fleet import WORKFLOWS, RunSimulator, Workflow
from quarterdeck.runner.outbox import OutboxReader

#: The workflow a failure burst hits, and how long its hung model call takes to fail.
BURST_WORKFLOW = "ticket-triage"
TIMEOUT = (2.0, 5.0)
#: The workflow whose steps take a while (a batch of payouts, each step a long call), and how
#: long: its runs last a minute or so, long enough for an operator to pause one while it runs.
SLOW_WORKFLOW = "payout-batch"
SLOW_STEP = (4.0, 12.0)
#: Share of approval requests nobody answers while the demo runs (an operator can).
UNANSWERED = 0.4
#: Seconds an approver takes to answer, when one does.
ANSWER_DELAY = (3.0, 15.0)
#: How long a finished run is kept to be rolled back, in seconds of the runner's clock: a
#: trigger decides within seconds, an operator looking at a run that just finished within
#: minutes. At 100 events/s the runs finished in this window take ~5 MiB (the runner levels off
#: at ~25 MiB once the first ones are forgotten, measured by `make soak`).
KEEP_FINISHED_S = 300.0
#: What a finished run keeps of each change it made, for a rollback to write back.
_UNDO_FIELDS = ("system", "object", "record_id", "fields", "before", "after")
#: The most approval requests waiting for an operator at once (each run keeps the events it
#: has still to write).
KEEP_WAITING = 100


@dataclass(frozen=True)
class Canary:
    """The version the runner rolls out as a canary, and how much more often it fails."""

    workflow: str = "invoice-posting"
    version: str = "1.6.0"
    weight: int = 10
    steps: tuple[int, ...] = (10, 50, 100)
    fails: float = 0.7  # the share of its runs that fail (the stable version's: a few %)
    error: str = "ledger.post: 422 schema mismatch (1.6.0 sends posting_date as text)"
    publisher: str = "alice"
    approved_by: tuple[str, ...] = ("bob",)


CANARY = Canary()
#: Who published each workflow's running version, as the runner says when it starts.
PUBLISHED_BY = ("carol", ("dana",))


@dataclass
class LiveRun:
    """One run in flight: the events still to write, and until when it is waiting."""

    workflow: Workflow
    run_id: str
    events: list[dict[str, Any]]
    wait_until: float = 0.0
    waiting_for_human: bool = False
    paused: bool = False
    finished: bool = False
    finished_at: float = 0.0  # the runner's clock when its run.finished was written
    failing: bool = False  # started in a failure burst: its model call will time out
    written: int = field(default=0)
    changes: list[dict[str, Any]] = field(default_factory=list)  # touches with before/after
    last_request: dict[str, Any] = field(default_factory=dict)  # its latest approval request


class LiveFleet:
    """Keeps a handful of runs in flight and writes their next events at `rate` events/s."""

    def __init__(
        self,
        out: Path,
        *,
        seed: int = 7,
        rate: float = 20.0,
        clock: Callable[[], float] = time.time,
        outbox: Path | None = None,
        burst_every: float = 90.0,
        burst_length: float = 25.0,
        unanswered: float = UNANSWERED,
        canary_after: float | None = None,
    ) -> None:
        self.out = out
        self.canary_after = canary_after
        self.canary_published = False
        self.unanswered = unanswered
        self.burst_every = burst_every
        self.burst_length = min(burst_length, burst_every)
        self._started = clock()
        self.outbox = OutboxReader(outbox) if outbox is not None else None
        self.runs: dict[str, LiveRun] = {}
        self.paused_workflows: set[str] = set()
        # each workflow's versions and their share of new runs (%), once a rollout is known
        self.weights: dict[str, dict[str, int]] = {}
        self.rollout_paused: set[str] = set()
        self.rate = rate
        self.rng = random.Random(seed)
        self.clock = clock
        self.active: list[LiveRun] = []
        self.waiting: list[LiveRun] = []  # approvals nobody has answered, oldest first
        self._finished: deque[LiveRun] = deque()  # kept for a rollback, in order of finishing
        self.in_flight = max(3, min(60, round(rate / 4)))
        self.runs_started = 0
        self.events_written = 0
        self._files: dict[tuple[str, date], TextIO] = {}

    # --- planning -------------------------------------------------------------------------

    def bursting(self) -> bool:
        """Inside a failure burst: the model provider rate-limits triage for a while."""
        if not self.burst_every:
            return False
        into = (self.clock() - self._started) % self.burst_every
        return into >= self.burst_every - self.burst_length

    def _start_run(self) -> LiveRun:
        allowed = [wf for wf in WORKFLOWS if wf.name not in self.paused_workflows] or [
            wf for wf in WORKFLOWS
        ]
        weights = [1 / wf.every.total_seconds() for wf in allowed]
        burst = self.bursting()
        triage = [w for w in allowed if w.name == BURST_WORKFLOW]
        if burst and triage and self.rng.random() < 0.6:
            wf = triage[0]
        else:
            wf = self.rng.choices(allowed, weights=weights)[0]
        shares = self.weights.get(wf.name)
        if shares:  # a rollout under way: each version gets its share of new runs
            live = [(v, w) for v, w in shares.items() if w > 0] or [(wf.version, 1)]
            if len(live) > 1:
                picked = self.rng.choices([v for v, _ in live], weights=[w for _, w in live])
                wf = replace(wf, version=picked[0])
            else:
                wf = replace(wf, version=live[0][0])
        now = datetime.now(UTC)
        self.runs_started += 1
        run_id = f"r-{wf.name.split('-')[0][:3]}-{now:%m%d%H%M%S}-{self.runs_started % 10000:04d}"
        # Plan the whole run (the simulator's own clock is only used for ordering here).
        sim = RunSimulator(random.Random(self.rng.getrandbits(64)), now + timedelta(days=30))
        plan = sim.run(wf, run_id, now)
        events = plan.events
        for record in plan.approvals:  # decided in the approval system: say so in the log
            at = next(
                i for i, e in enumerate(events) if e.get("approval_id") == record["approval_id"]
            )
            events.insert(
                at + 1,
                {
                    "type": "approval.decided",
                    "run_id": run_id,
                    "approval_id": record["approval_id"],
                    "decision": record["status"],
                    "decided_by": record["decided_by"],
                    "reason": record["reason"],
                    "actor": record["decided_by"],
                    **({"event_id": f"{run_id}-d{at}"} if wf.with_event_ids else {}),
                },
            )
        failing = burst and wf.name == BURST_WORKFLOW
        canary = wf.name == CANARY.workflow and wf.version == CANARY.version
        if canary and self.rng.random() < CANARY.fails:
            failing = True
            events = _failing(
                events, run_id, wf.with_event_ids, name="post invoices", error=CANARY.error
            )
        elif failing:
            events = _failing(events, run_id, wf.with_event_ids)
        run = self.runs[run_id] = LiveRun(wf, run_id, events, failing=failing)
        return run

    # --- writing --------------------------------------------------------------------------

    def _log(self, wf: Workflow, now: datetime) -> TextIO:
        key = (wf.name, now.date())
        handle = self._files.get(key)
        if handle is None:  # a new day: a new file (yesterday's stays as it is, closed)
            for old in [k for k in self._files if k[0] == wf.name]:
                self._files.pop(old).close()
            path = self.out / wf.name / f"live-{now:%Y-%m-%d}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = self._files[key] = path.open("a", encoding="utf-8")
        return handle

    def _emit(self, wf: Workflow, event: dict[str, Any]) -> datetime:
        """Append one event to the workflow's log, stamped now; returns the moment."""
        now = datetime.now(UTC)
        event["ts"] = now.astimezone(wf.tz).isoformat(timespec="milliseconds")
        handle = self._log(wf, now)
        handle.write(json.dumps(event, separators=(",", ":"), ensure_ascii=False) + "\n")
        handle.flush()
        return now

    def _write(self, run: LiveRun, event: dict[str, Any]) -> None:
        event = {k: v for k, v in event.items() if k != "_at"}
        if event["type"] == "approval.requested":
            hours = 1 if run.workflow.name == "ticket-triage" else 8
            now = datetime.now(UTC)
            event["expires_at"] = (now + timedelta(hours=hours)).isoformat(timespec="seconds")
        self._emit(run.workflow, event)
        run.written += 1
        self.events_written += 1
        if event["type"] == "data.touched" and "before" in event and "after" in event:
            # what a rollback writes back, and nothing else of the event: kept minutes
            run.changes.append({k: event.get(k) for k in _UNDO_FIELDS})
        if event["type"] == "run.finished" and not run.finished:
            run.finished, run.finished_at = True, self.clock()
            run.last_request = {}  # a finished run waits for no approval
            self._finished.append(run)

    def step(self) -> None:
        """Write the next event of one run that is ready."""
        while len(self.active) < self.in_flight:
            self.active.append(self._start_run())
        now = self.clock()
        ready = [r for r in self.active if r.wait_until <= now and not r.paused]
        if not ready:  # every run in flight waits (approver, pause): start another
            ready = [self._start_run()]
            self.active.append(ready[0])
        run = self.rng.choice(ready)
        event = run.events.pop(0)
        self._write(run, event)
        if run.failing and event["type"] == "step.started":
            run.wait_until = now + self.rng.uniform(*TIMEOUT)  # hangs, then fails
        elif run.workflow.name == SLOW_WORKFLOW and event["type"] == "step.started":
            run.wait_until = now + self.rng.uniform(*SLOW_STEP)
        if event["type"] == "approval.requested":
            run.last_request = event
            answered = run.events and run.events[0]["type"] == "approval.decided"
            if not answered or self.rng.random() < self.unanswered:
                run.waiting_for_human = True
            else:
                run.wait_until = now + self.rng.uniform(*ANSWER_DELAY)
        if run.waiting_for_human or not run.events:
            self.active.remove(run)
            if run.waiting_for_human:
                self.waiting.append(run)
                if len(self.waiting) > KEEP_WAITING:
                    self._forget(self.waiting.pop(0))

    # --- decisions from Quarterdeck --------------------------------------------------------

    def take_decisions(self) -> None:
        """Act on each new decision in the outbox and acknowledge it in the run's log."""
        if self.outbox is None:
            return
        for decision in self.outbox.new_decisions():
            if decision.get("action") in ("approve", "reject"):
                self._answer(decision)
                continue
            if decision.get("rollout") is not None:
                self._roll_out(decision)
                continue
            run_ids = list(decision.get("runs") or [])
            if decision.get("target_kind") == "workflow":  # no new runs while it is paused
                workflow = decision["target"]
                if decision["action"] == "resume":
                    self.paused_workflows.discard(workflow)
                else:
                    self.paused_workflows.add(workflow)
                self._hold(decision)
                # runs of the workflow that started after Quarterdeck listed them too
                run_ids += [
                    r.run_id
                    for r in [*self.active, *self.waiting]
                    if r.workflow.name == workflow and r.run_id not in run_ids
                ]
            for run_id in run_ids:
                self._control(decision, run_id)

    def _hold(self, decision: dict[str, Any]) -> None:
        """Acknowledge a workflow decision for the workflow itself (no run): it holds, or
        lets go, the runs of it that start later, even when none of its runs is active."""
        wf = next((w for w in WORKFLOWS if w.name == decision["target"]), None)
        if wf is None:
            return  # not a workflow of this runner: another runner will answer for it
        detail = (
            f"runs of {wf.name} start again"
            if decision["action"] == "resume"
            else f"runs of {wf.name} that start later are held until a resume"
        )
        self._applied_to_workflow(wf, decision, detail, f"hold-{decision['decision_id']}")

    def _applied_to_workflow(
        self, wf: Workflow, decision: dict[str, Any], detail: str, event_id: str
    ) -> None:
        """The workflow's own acknowledgement of `decision`: `control.applied`, no run."""
        self._emit(
            wf,
            {
                "type": "control.applied",
                "actor": wf.identity,
                "decision_id": decision["decision_id"],
                "action": decision["action"],
                "result": "applied",
                "detail": detail,
                **({"event_id": event_id} if wf.with_event_ids else {}),
            },
        )

    def _ack(self, run: LiveRun, decision: dict[str, Any], result: str, detail: str) -> None:
        self._write(
            run,
            {
                "type": "control.applied",
                "run_id": run.run_id,
                "actor": run.workflow.identity,
                "decision_id": decision["decision_id"],
                "action": decision["action"],
                "result": result,
                "detail": detail,
                **self._event_id(run, f"c{decision['seq']}"),
            },
        )

    def publish(self, wf: Workflow, canary: Canary | None = None) -> None:
        """Say a version of `wf` is live: its own at 100 %, or `canary` at its first weight
        (the running version keeping the rest)."""
        version = canary.version if canary else wf.version
        publisher, approved = (canary.publisher, canary.approved_by) if canary else PUBLISHED_BY
        ids = wf.with_event_ids
        stamp = f"{self.runs_started}-{self.events_written}"
        self._emit(
            wf,
            {
                "type": "workflow.published",
                "workflow": wf.name,
                "version": version,
                "publisher": publisher,
                "approved_by": list(approved),
                "identity": wf.identity,
                "scope": list(wf.scope),
                "source_ref": f"git:{wf.name}@{version}",
                **({"rollout": {"steps": list(canary.steps)}} if canary else {}),
                **({"event_id": f"pub-{wf.name}-{version}-{stamp}"} if ids else {}),
            },
        )
        if canary is None:
            self.weights[wf.name] = {wf.version: 100}
            return
        rest = 100 - canary.weight
        self.weights[wf.name] = {wf.version: rest, version: canary.weight}
        self._emit(
            wf,
            {
                "type": "rollout.changed",
                "workflow": wf.name,
                "version": wf.version,
                "weight": rest,
                "by": f"release:{publisher}",
                "reason": f"{version} goes out as a canary at {canary.weight} %",
                **({"event_id": f"rc-{wf.name}-{wf.version}-{stamp}"} if ids else {}),
            },
        )

    def _maybe_canary(self) -> None:
        if self.canary_published or self.canary_after is None:
            return
        if self.clock() - self._started < self.canary_after:
            return
        self.canary_published = True
        wf = next(w for w in WORKFLOWS if w.name == CANARY.workflow)
        self.publish(wf, CANARY)

    def _roll_out(self, decision: dict[str, Any]) -> None:
        """Apply a rollout decision to the weights new runs are started with; acknowledge it,
        then say which weights changed."""
        wf = next((w for w in WORKFLOWS if w.name == decision["target"]), None)
        if wf is None:
            return  # not a workflow of this runner: another runner will answer for it
        weights = self.weights.setdefault(wf.name, {wf.version: 100})
        action = decision["action"]
        if action == "pause-rollout":
            self.rollout_paused.add(wf.name)
        else:
            self.rollout_paused.discard(wf.name)
        changed = {
            version: int(weight)
            for version, weight in decision["rollout"]["weights"].items()
            if weights.get(version) != weight
        }
        detail = (
            ", ".join(f"{v} {weights.get(v, 0)} → {w} %" for v, w in sorted(changed.items()))
            or "weights held where they are"
        )
        self._applied_to_workflow(wf, decision, detail, f"rollout-{decision['decision_id']}")
        ids = wf.with_event_ids
        weights.update(changed)
        for version, weight in sorted(changed.items()):
            self._emit(
                wf,
                {
                    "type": "rollout.changed",
                    "workflow": wf.name,
                    "version": version,
                    "weight": weight,
                    "by": decision["operator"],
                    "reason": decision["reason"],
                    **({"event_id": f"rollout-{decision['decision_id']}-{version}"} if ids else {}),
                },
            )

    def _event_id(self, run: LiveRun, suffix: str) -> dict[str, str]:
        return {"event_id": f"{run.run_id}-{suffix}"} if run.workflow.with_event_ids else {}

    def _control(self, decision: dict[str, Any], run_id: str) -> None:
        run = self.runs.get(run_id)
        if run is None:
            return  # not a run of this runner: another runner will answer for it
        action = decision["action"]
        if run.finished and action != "rollback":
            self._ack(run, decision, "refused", "the run had already finished")
        elif action == "pause":
            run.paused = True
            self._ack(run, decision, "applied", "paused before its next step")
        elif action == "resume":
            run.paused = False
            self._ack(run, decision, "applied", "resumed")
        elif action == "rollback":
            self._roll_back(run, decision)

    def _roll_back(self, run: LiveRun, decision: dict[str, Any]) -> None:
        """Undo what the run changed (newest first), then end it as rolled back."""
        step = {
            "step_id": "rollback",
            "name": "restore the before values",
            "kind": "tool",
            "tool": "compensate",
        }
        self._write(
            run,
            {
                "type": "step.started",
                "run_id": run.run_id,
                **step,
                **self._event_id(run, "rb-start"),
            },
        )
        for n, change in enumerate(reversed(run.changes)):
            self._write(
                run,
                {
                    "type": "data.touched",
                    "run_id": run.run_id,
                    "step_id": "rollback",
                    "system": change["system"],
                    "object": change["object"],
                    "record_id": change.get("record_id"),
                    "action": "update",
                    "fields": change.get("fields"),
                    "before": change["after"],
                    "after": change["before"],
                    **self._event_id(run, f"rb-{n}"),
                },
            )
        self._write(
            run,
            {
                "type": "step.finished",
                "run_id": run.run_id,
                **step,
                "status": "ok",
                **self._event_id(run, "rb-end"),
            },
        )
        self._ack(
            run,
            decision,
            "applied",
            f"restored {len(run.changes)} record(s) to their before values",
        )
        if not run.finished:
            self._write(
                run,
                {
                    "type": "run.finished",
                    "run_id": run.run_id,
                    "status": "rolled_back",
                    "error": decision.get("reason"),
                    **self._event_id(run, "rb-fin"),
                },
            )
        self._retire(run)

    def _answer(self, decision: dict[str, Any]) -> None:
        """An operator decided an approval this runner is waiting on."""
        run = next(
            (
                r
                for r in self.waiting
                if r.last_request.get("approval_id") == decision["approval_id"]
            ),
            None,
        )
        if run is None:
            return
        approved = decision["action"] == "approve"
        if run.events and run.events[0]["type"] == "approval.decided":
            run.events.pop(0)  # the simulated approver's answer, now not needed
        self._write(
            run,
            {
                "type": "approval.decided",
                "run_id": run.run_id,
                "approval_id": decision["approval_id"],
                "decision": "approved" if approved else "rejected",
                "decided_by": decision["operator"],
                "reason": decision["reason"],
                "actor": decision["operator"],
                **self._event_id(run, f"a{decision['seq']}"),
            },
        )
        self.waiting.remove(run)
        run.waiting_for_human = False
        if approved and run.events:
            self.active.append(run)
        elif not approved:
            self._write(
                run,
                {
                    "type": "run.finished",
                    "run_id": run.run_id,
                    "status": "cancelled",
                    "error": "approval rejected",
                    **self._event_id(run, "rej"),
                },
            )

    def _retire(self, run: LiveRun) -> None:
        for pool in (self.active, self.waiting):
            if run in pool:
                pool.remove(run)

    def forget_finished(self) -> None:
        """Forget the runs that finished more than `KEEP_FINISHED_S` ago."""
        until = self.clock() - KEEP_FINISHED_S
        while self._finished and self._finished[0].finished_at <= until:
            self._forget(self._finished.popleft())

    def _forget(self, run: LiveRun) -> None:
        if self.runs.get(run.run_id) is run:
            del self.runs[run.run_id]

    def run(
        self, stop: threading.Event, *, seconds: float | None = None, parent: int | None = None
    ) -> None:
        """Write at `rate` events/s until `stop` is set, `seconds` pass or `parent` exits."""
        started = self.clock()
        next_check = started
        written = 0
        for wf in WORKFLOWS:  # the versions running now, as their publisher said
            self.publish(wf)
        while not stop.is_set():
            now = self.clock()
            if seconds is not None and now - started >= seconds:
                break
            if parent is not None and now >= next_check:
                next_check = now + 1.0
                if os.getppid() != parent:
                    break  # the console that started us has gone
            self.take_decisions()
            self._maybe_canary()
            self.forget_finished()
            due = int((now - started) * self.rate) - written
            for _ in range(max(0, min(due, 1000))):
                self.step()
                written += 1
            stop.wait(min(0.05, 1 / self.rate))
        self.close()

    def close(self) -> None:
        for handle in self._files.values():
            handle.close()
        self._files.clear()


def _failing(
    events: list[dict[str, Any]],
    run_id: str,
    ids: bool,
    *,
    name: str = "classify",
    error: str = "rate limited by model provider (429)",
) -> list[dict[str, Any]]:
    """The run as it goes in a burst (or a canary that fails): it starts, its first step
    hangs and fails, and the run fails with it."""
    start = events[0]
    step = {
        "type": "step.started",
        "run_id": run_id,
        "step_id": "s1",
        "name": name,
        "kind": "llm",
        "model": "gpt-4.1-mini",
    }
    tail = [
        {
            "type": "step.finished",
            "run_id": run_id,
            "step_id": "s1",
            "name": name,
            "status": "error",
            "error": error,
        },
        {"type": "run.finished", "run_id": run_id, "status": "failed", "error": error},
    ]
    if ids:
        for n, event in enumerate([step, *tail]):
            event["event_id"] = f"{run_id}-burst{n}"
    return [start, step, *tail]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m quarterdeck.runner.live",
        description="Append live v1 run events for a simulated fleet (stops on SIGTERM).",
    )
    parser.add_argument("--out", required=True, type=Path, help="folder to write logs into")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rate", type=float, default=20.0, help="events per second")
    parser.add_argument("--seconds", type=float, help="stop after this long")
    parser.add_argument("--parent", type=int, help="stop when this process is gone")
    parser.add_argument(
        "--outbox", type=Path, help="Quarterdeck's control outbox: act on its decisions"
    )
    parser.add_argument(
        "--burst-every",
        type=float,
        default=90.0,
        metavar="SECONDS",
        help="a failure burst of ticket-triage this often (0: never)",
    )
    parser.add_argument("--burst-length", type=float, default=25.0, metavar="SECONDS")
    parser.add_argument(
        "--canary-after",
        type=float,
        metavar="SECONDS",
        help=f"publish {CANARY.workflow} {CANARY.version} as a canary at {CANARY.weight} %% "
        "after this long (it fails more often)",
    )
    parser.add_argument(
        "--unanswered",
        type=float,
        default=UNANSWERED,
        metavar="SHARE",
        help="share of approval requests no simulated approver answers: the "
        "run waits for an operator (1: every request; a test's steady run)",
    )
    args = parser.parse_args(argv)
    if args.rate <= 0:
        parser.error("--rate must be above 0")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: stop.set())
    fleet = LiveFleet(
        args.out,
        seed=args.seed,
        rate=args.rate,
        outbox=args.outbox,
        burst_every=args.burst_every,
        burst_length=args.burst_length,
        unanswered=args.unanswered,
        canary_after=args.canary_after,
    )
    fleet.run(stop, seconds=args.seconds, parent=args.parent)
    print(f"wrote {fleet.events_written:,} events for {fleet.runs_started:,} runs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
