"""The Touched data pane: every record any run touched, newest first."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from textual.binding import Binding
from textual.message import Message

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader, split_filter
from quarterdeck.console.widgets.pane import Page, Pane
from quarterdeck.queries.columns import TOUCHES, without
from quarterdeck.queries.touches import TouchFilter

#: NEEDED GRANT says the scope too (a grant only when out of scope), so IN SCOPE is left to the
#: touch (Enter) and the grant fits at 120 columns; only a run's own touches show the step,
#: fields and class.
SHOWN = without(TOUCHES, "in_scope", "step_id", "fields", "classification")


@dataclass(frozen=True)
class TouchView:
    text: str = ""
    out_of_scope: bool = False

    def where(self) -> TouchFilter:
        text, invert = split_filter(self.text)
        return TouchFilter(text=text, invert=invert, out_of_scope=self.out_of_scope)


class TouchedPane(Pane):
    """Touches across runs. Enter shows the change; `t` the record's lineage."""

    LABELS = tuple(c.header for c in SHOWN)
    TITLE = "Touched"
    KEY = "2"
    FILTER_HINT = "filter: system, object, record, run, workflow, action"
    EMPTY = "No run has touched a record yet."
    HELP = (
        "Every record any run read, created, updated, deleted or exported, newest first. "
        "Deletes, exports and touches outside the run's scope stand out: NEEDED GRANT names "
        "the grant that would have covered a touch out of scope (blank: in scope). Enter shows the "
        "change (before → after) and the grant that covered it; t shows every run that ever "
        "touched the record."
    )

    BINDINGS = [
        Binding("o", "toggle_out_of_scope", "Out of scope only", id="touched.out_of_scope"),
        Binding("t", "lineage", "Record lineage", id="touched.lineage"),
    ]

    class OpenTouch(Message):
        def __init__(self, event_id: str) -> None:
            super().__init__()
            self.event_id = event_id

    class OpenLineage(Message):
        def __init__(self, system: str, obj: str, record_id: str) -> None:
            super().__init__()
            self.record = (system, obj, record_id)

    def __init__(self, reader: StoreReader, *, id: str | None = None) -> None:
        super().__init__(reader, TouchView(), id=id)

    def fetch(self, view: TouchView, page: Page) -> pa.Table:
        # keyset: the page after the last touch loaded, by the order (ts, event_id)
        after = (page.last["ts"], page.last["event_id"]) if page.last else None
        return self.reader.touches(view.where(), limit=page.limit, after=after)

    def key(self, record: dict[str, Any]) -> str:
        return record["event_id"]

    def row(self, t: dict[str, Any]) -> list[str]:
        return cells.touch_row(t, SHOWN)

    def title_parts(self, view: TouchView) -> list[str]:
        if view.out_of_scope:
            return ["· [bold red]out of scope only[/] [dim](o shows all)[/]"]
        return ["· [dim]o: out of scope only[/]"]

    def open(self, key: str) -> None:
        self.post_message(self.OpenTouch(key))

    def action_toggle_out_of_scope(self) -> None:
        self.apply(TouchView(self.view.text, not self.view.out_of_scope))

    def action_lineage(self) -> None:
        touch = self.current_record()
        if touch is None:
            return
        if touch["record_id"] is None:
            self.notify("a bulk touch names no single record", severity="warning")
            return
        self.post_message(self.OpenLineage(touch["system"], touch["object"], touch["record_id"]))
