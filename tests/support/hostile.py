"""Log text written to take over a terminal: ESC and CSI sequences, a title change, a one-byte
C1 CSI, bidi overrides, Rich and Textual markup. The tests put it in every field the console
and the command line show, and check that none of it acts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support.events import event, write_jsonl

#: Set the window title (OSC 0 … BEL), clear the screen (CSI 2J, and the one-byte C1 CSI
#: U+009B), reverse what follows (a bidi override and an isolate), Rich markup, DEL. (NUL is in
#: a few fields below only: a command line cannot pass it, so no id holds one.)
HOSTILE = "\x1b]0;PWNED-TITLE\x07\x1b[2J\x9b1m\u202e\u2066[red]x[/]\x7f"
#: Markup one of the two parsers would obey: a link, Textual's own tags, an emoji code.
MARKUP = "[link=https://e.x]y[/link][$accent]z[Foo]:warning:"
HOSTILE_RUN = "r-1" + HOSTILE
HOSTILE_WORKFLOW = "wf\x1b[31mRED" + MARKUP
#: The record id of the report: clears the screen and sets the title to PWNED-TITLE.
HOSTILE_RECORD = "C-1\x1b]0;PWNED-TITLE\x07\x1b[2J\x1b[HFAKE"
HOSTILE_APPROVAL = "apr" + HOSTILE


def hostile(label: str) -> str:
    return f"{label}{HOSTILE}"


def write_hostile_log(folder: Path) -> Path:
    """A log with such text in every field the console and the CLI show: ids, names, reasons,
    errors, before/after values, attrs; and lines the ingester quarantines for it."""
    run, other = HOSTILE_RUN, "r-2" + MARKUP
    common = {
        "workflow_version": hostile("1."),
        "environment": hostile("prod"),
        "identity": hostile("svc"),
        "trigger": {"kind": "manual", "by": hostile("by")},
    }
    lines: list[dict[str, Any] | bytes | str] = [
        event(
            "run.started",
            "2026-11-20T08:50:00Z",
            run,
            event_id="h1",
            workflow=HOSTILE_WORKFLOW,
            scope=["crm:write:Contact", hostile("ledger:read:")],
            attrs={hostile("k"): hostile("v")},
            **common,
        ),
        event(
            "step.started",
            "2026-11-20T08:50:01Z",
            run,
            event_id="h2",
            step_id=hostile("s"),
            name=hostile("step"),
            kind="tool",
            tool=hostile("tool"),
            actor=hostile("agent"),
        ),
        event(
            "step.finished",
            "2026-11-20T08:50:02Z",
            run,
            event_id="h3",
            step_id=hostile("s"),
            status="error",
            error=hostile("error"),
            model=hostile("model\x00"),
        ),
        event(
            "data.touched",
            "2026-11-20T08:50:03Z",
            run,
            event_id="h4",
            step_id=hostile("s"),
            system="crm",
            object="Contact",
            record_id=HOSTILE_RECORD,
            action="update",
            fields=[hostile("f")],
            before={hostile("k"): hostile("before")},
            after={hostile("k"): hostile("after")},
            classification=hostile("pii\x00"),
            identity=hostile("borrowed"),
        ),
        event(
            "data.touched",
            "2026-11-20T08:50:04Z",
            run,
            event_id="h5",
            step_id=hostile("s"),
            system=hostile("sys"),
            object=hostile("obj"),
            record_id=hostile("R-"),
            action="delete",
            before={"a": hostile("gone")},
        ),
        event(
            "approval.requested",
            "2026-11-20T08:50:05Z",
            run,
            event_id="h6",
            approval_id=HOSTILE_APPROVAL,
            action=hostile("post"),
            risk="high",
            required_role=hostile("role"),
            requested_by=hostile("asker"),
            expires_at="2030-01-01T00:00:00Z",
            context={hostile("c"): hostile("ctx\x00")},
        ),
        event(
            "run.started",
            "2026-11-20T08:40:00Z",
            other,
            event_id="h7",
            workflow=HOSTILE_WORKFLOW,
            scope=[],
            **common,
        ),
        event(
            "approval.requested",
            "2026-11-20T08:40:01Z",
            other,
            event_id="h8",
            approval_id=hostile("apr2"),
            action=hostile("pay"),
            risk="low",
            required_role="finance",
            requested_by=hostile("asker"),
        ),
        event(
            "approval.decided",
            "2026-11-20T08:40:02Z",
            other,
            event_id="h9",
            approval_id=hostile("apr2"),
            decision="rejected",
            decided_by=hostile("anna"),
            reason=hostile("because"),
        ),
        event(
            "run.finished",
            "2026-11-20T08:40:03Z",
            other,
            event_id="h10",
            status="failed",
            error=hostile("boom"),
        ),
        b"not json \x00" + HOSTILE.encode(),
        event(HOSTILE, "2026-11-20T08:40:04Z", other, event_id="h11"),
    ]
    return write_jsonl(folder / "hostile.jsonl", lines)
