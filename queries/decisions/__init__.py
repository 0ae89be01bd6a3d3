"""Operator decisions: who may take which, and recording them so they can be defended later.

A decision is planned (`plan`: authority checked, what it covers worked out, or `Refused`),
then recorded (`record`: journal → store → control outbox), repaired after a crash
(`reconcile`), proved (`verify`: the journal's hash chain, and the journal against the store)
and listed with its lifecycle (`decisions`). One module for each:

    authority.py     operators, roles, `Plan`, `Refused`: what each action may target
    journal.py       the hash-chained, append-only decisions journal (the source of truth)
    recording.py     `record` and `reconcile`: journal → store → outbox, in that order
    verification.py  `verify`: the chain recomputed, the journal compared with the store
    outstanding.py   decisions not answered yet by their runners: what the same
                     decision again would repeat
    listing.py       the decisions list, each decision with its lifecycle, and
                     one decision's outcome per run

This module is the package's surface: callers write `decisions.plan(...)`,
`decisions.record(...)` and import names from `quarterdeck.queries.decisions`, not from the
modules, so the modules can be rearranged as the control plane grows without touching them.
"""

from quarterdeck.queries.decisions.authority import (
    CONTROL_ROLE,
    Operator,
    Plan,
    Refused,
    as_confirmed,
    plan,
    workflow_scope,
)
from quarterdeck.queries.decisions.journal import JournalError
from quarterdeck.queries.decisions.listing import decisions, outcomes
from quarterdeck.queries.decisions.recording import (
    MAX_REASON,
    BadReason,
    JournalChanged,
    Paths,
    Reconciled,
    checked_reason,
    ready,
    reconcile,
    record,
    uuid7,
)
from quarterdeck.queries.decisions.verification import Verified, verify

__all__ = [
    "MAX_REASON",
    "BadReason",
    "CONTROL_ROLE",
    "JournalChanged",
    "JournalError",
    "Operator",
    "Paths",
    "Plan",
    "Reconciled",
    "Refused",
    "Verified",
    "as_confirmed",
    "checked_reason",
    "decisions",
    "outcomes",
    "plan",
    "ready",
    "reconcile",
    "record",
    "uuid7",
    "verify",
    "workflow_scope",
]
