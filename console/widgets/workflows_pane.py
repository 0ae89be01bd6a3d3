"""The Workflows pane: each workflow's versions — who published and approved each, when, from
what source — with its weight now and how its runs went over the window, the canary beside
the stable version."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual.message import Message

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, filter_rows
from quarterdeck.console.widgets.pane import Page, Pane
from quarterdeck.queries.columns import WORKFLOWS

#: The runs a version's figures count: those started in the last day.
WINDOW_S = 24 * 3600


@dataclass(frozen=True)
class WorkflowsView:
    text: str = ""


def weight_bar(weight: int | None, width: int = 10) -> str:
    """`███░░░░░░░ 30 %`; a version never published has no weight."""
    if weight is None:
        return "[dim]unpublished[/]"
    full = round(weight * width / 100)
    return f"{'█' * full}[dim]{'░' * (width - full)}[/] {weight:>3} %"


def ratio(value: float | None) -> str:
    if value is None:
        return "[dim]–[/]"
    shown = f"{value:.0%}"
    return f"[bold red]{shown}[/]" if value >= 0.2 else shown


def role(value: str | None) -> str:
    if value == "canary":
        return "[bold yellow]canary[/]"
    if value == "stable":
        return "[green]stable[/]"
    return ""


def findings_cell(value: int | None) -> str:
    return f"[bold red]⚑ {value}[/]" if value else "[dim]0[/]"


class WorkflowsPane(Pane):
    """Every workflow's versions, newest publish first; Enter opens a version."""

    LABELS = tuple(c.header for c in WORKFLOWS)
    TITLE = "Workflows"
    KEY = "5"
    FILTER_HINT = "filter: workflow, version, publisher, role"
    EMPTY = (
        "No workflow version has been published: runners log `workflow.published` events "
        "(README: Publish authority)."
    )
    HELP = (
        "Each workflow's versions: who published each and who approved it, when, from which "
        "source; its weight now (its share of new runs) and its role (the canary, the most "
        "recently published version between 0 and 100 %, beside the stable version, the one "
        "with the largest weight); over the last day, its runs, the share that failed, "
        "out-of-scope touches and the 95th percentile of their duration. ⚑ counts findings: "
        "what breaks the publish rules ([workflows] in quarterdeck.toml). Enter opens a "
        "version: its published scope against the scopes its runs used, its findings, its runs."
    )

    class OpenVersion(Message):
        def __init__(self, workflow: str, version: str) -> None:
            super().__init__()
            self.workflow = workflow
            self.version = version

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, WorkflowsView(), id=id)

    def fetch(self, view: WorkflowsView, page: Page) -> pa.Table:
        table = self.reader.workflows(window_s=WINDOW_S)
        rows = filter_rows(
            table.to_pylist()[page.offset :],
            view.text,
            ("workflow", "version", "publisher", "role"),
        )
        return pa.Table.from_pylist(rows[: page.limit], schema=table.schema)

    def key(self, record: dict[str, Any]) -> str:
        return f"{record['workflow']}\t{record['version']}"

    def row(self, v: dict[str, Any]) -> list[str]:
        cell = {
            "workflow": f"[b]{cells.text(v['workflow'])}[/]",
            "version": cells.text(v["version"]),
            "role": role(v["role"]),
            "weight": weight_bar(v["weight"]),
            "runs": cells.count(v["runs"]) if v["runs"] is not None else "[dim]0[/]",
            "failed_ratio": ratio(v["failed_ratio"]),
            "out_of_scope": cells.count(v["out_of_scope"], alarm=True),
            "p95_duration_s": cells.seconds(v["p95_duration_s"]),
            "findings": findings_cell(v["findings"]),
            "publisher": cells.text(v["publisher"]),
            "approved_by": cells.text(", ".join(v["approved_by"] or [])),
            "published_at": cells.when(v["published_at"]),
            "source_ref": cells.text(v["source_ref"]),
        }
        return [cell[c.key] for c in WORKFLOWS]

    def open(self, key: str) -> None:
        workflow, version = key.split("\t", 1)
        self.post_message(self.OpenVersion(workflow, version))
