"""One version of a workflow: who published and approved it, the scope it was published with
against the scopes its runs used, its findings, and its runs (Enter opens one)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.widgets import Footer, Static

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, VersionDetail
from quarterdeck.console.screens.base import DataScreen, crumbs
from quarterdeck.console.screens.trigger import run_rows
from quarterdeck.console.widgets.runs_pane import finding_mark
from quarterdeck.console.widgets.table import TableView
from quarterdeck.console.widgets.workflows_pane import weight_bar


def _grants(grants: list[str] | None) -> str:
    return ", ".join(cells.text(g) for g in grants or []) or "[dim]none[/]"


def version_facts(detail: dict[str, Any]) -> list[str]:
    """The lines above the runs: the publish record, the scopes, the findings."""
    record = detail["record"]
    head = f"[b]{cells.text(detail['workflow'])} {cells.text(detail['version'])}[/]"
    if record is None:
        lines = [f"{head}  [bold red]⚑ never published[/] (no workflow.published record)"]
    else:
        approved = ", ".join(record["approved_by"] or []) or "nobody"
        lines = [
            f"{head}  {weight_bar(record['weight'])}  published "
            f"{cells.when(record['published_at'])} by [b]{cells.text(record['publisher'])}[/], "
            f"approved by {cells.text(approved)}",
            f"source {cells.text(record['source_ref'] or 'not given')} · runs as "
            f"{cells.text(record['identity'] or 'not given')}",
            f"published scope: {_grants(record['scope'])}",
        ]
    for used in detail["scopes"] or []:
        beyond = used["beyond"] or []
        mark = f"  [bold red]⚠ beyond: {_grants(beyond)}[/]" if beyond else ""
        lines.append(f"  used by {used['runs']} run(s): {_grants(used['scope'])}{mark}")
    found = detail["findings"] or []
    lines.append(f"[b]Findings[/]: {len(found)}" if found else "[b]Findings[/]: none")
    for f in found[:8]:
        who = f" ({cells.text(f['run_id'])})" if f["run_id"] else ""
        lines.append(f"  [bold red]⚑ {cells.text(f['kind'])}[/]{who}: {cells.text(f['detail'])}")
    if len(found) > 8:
        lines.append(f"  [dim]… {len(found) - 8} more (quarterdeck findings)[/]")
    return lines


class VersionScreen(DataScreen):
    HELP_TITLE = "Version"
    HELP = (
        "One version of a workflow: who published it and who approved it, its weight now, the "
        "scope it was published with against the scopes its runs used (grants beyond it "
        "marked), its findings, and its runs, newest first. Enter opens a run."
    )

    def __init__(self, reader: StoreReader, workflow: str, version: str) -> None:
        super().__init__(reader)
        self.workflow = workflow
        self.version = version

    def compose(self) -> ComposeResult:
        yield crumbs("Workflows", self.workflow, self.version)
        yield Static("loading…", id="version-facts")
        yield Static("", id="runs-title", classes="pane-title")
        yield TableView(empty="No run of this version.", id="runs-table")
        yield Footer()

    def fetch(self) -> VersionDetail | None:
        return self.reader.version_detail(self.workflow, self.version)

    def show(self, found: VersionDetail | None) -> None:
        facts = self.query_one("#version-facts", Static)
        if found is None:
            facts.update(cells.content("[bold red]No such version.[/]"))
            return
        facts.update(cells.content("\n".join(version_facts(found.detail))))
        marks = {
            f["run_id"]: finding_mark([f["kind"]])
            for f in found.detail["findings"] or []
            if f["run_id"]
        }
        labels, rows, keys = run_rows(found.runs, marks)
        table = self.query_one("#runs-table", TableView)
        table.show(labels, rows, keys)
        self.query_one("#runs-title", Static).update(
            f"[b]Runs[/] of this version: {len(keys)} · [dim]Enter opens one[/]"
        )
        if self.focused is None:
            table.focus_table()
