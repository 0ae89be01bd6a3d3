"""What every pane shares: a title, a `/` filter (`!` inverts), and a table loaded in a worker,
a page at a time.

A pane describes what it shows with a frozen `view` (a dataclass with at least `text`); a new
view is applied by `apply(view)`, which reloads. Subclasses say how to fetch a page of a view's
rows (in a worker thread, through the reader) and how a row looks.

Marks: a row that arrived since the rows shown before is marked `+`, one that changed `~`, for
one refresh; a pane's first rows on screen mark nothing (those it loaded at start-up, out of
sight, were never seen to compare with).

Paging: a pane loads PAGE rows; when the cursor reaches the last loaded row and the last page
was full, it fetches the next page and adds it below, the cursor staying where it was. At
MAX_ROWS it stops (memory stays bounded whatever the store holds) and says so. A reload (a
refresh, or coming back to the pane) fetches the pages up to the cursor again, so the cursor
keeps its row and what scrolled far out of sight is let go.

A decision key names the row the operator saw when pressing it (`record_pressed`) and pins the
cursor to it (see `TableView`); Home (or `g`) goes back to the top, following the newest. A
pinned row that leaves the view (a run that finishes under `/running`) is said, in the title
and a notification, and no other row is pinned in its place.

Rows shown again: a pane that comes back on screen (switched to, or a screen over it closed)
shows the rows of its last answer at once, since a blank pane tells less, but those rows may
be minutes old and a fleet moves. Rows asked for more than STALE_S before are marked as what
they are until the fresh answer comes: dimmed, and the title says `refreshing… (rows as of
HH:MM:SS UTC)` (k9s shows its cached list at once too, but a watch keeps that list current;
here nothing does while the pane is out of sight).

A load that fails (its worker raises) changes no row: the pane keeps the rows it had and its
title says it could not load, until a load succeeds; the next refresh simply loads again. The
error itself goes to the app as `WorkFailed`, which shows it.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

import pyarrow as pa
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState
from textual_fastdatatable import DataTable

from quarterdeck.console import cells
from quarterdeck.console.data import StoreReader
from quarterdeck.console.messages import DecisionWanted, WorkFailed, want_decision
from quarterdeck.console.pressed import MOVES_ON, SEEN_S, typed_into
from quarterdeck.console.widgets.table import TableView
from quarterdeck.queries.decisions import Plan

#: Rows fetched at once. At most 5,000 keeps every page a top-N in DuckDB: above that (and
#: above 0.7% of the rows it expects) it sorts the whole table instead.
PAGE = 5000
#: The most rows a pane keeps loaded; past them, narrow with `/`.
MAX_ROWS = 50_000
#: Fields that change only because time passes (not a change to mark).
VOLATILE = frozenset({"duration_s", "age_s", "seconds_left"})
NEW_MARK = "[b green]+[/]"
CHANGED_MARK = "[b yellow]~[/]"
#: Seconds after which rows shown again (a pane back on screen) are marked stale until the
#: fresh ones come: longer than a refresh under a live fleet takes, so a pane left for a moment
#: (a dialog cancelled) does not flash.
STALE_S = 1.0


@dataclass(frozen=True)
class Page:
    """Which rows to fetch: `limit` rows after the `offset` rows loaded so far, whose last
    row is `last` (None for the first page). A subclass pages by offset, or by the sort key
    of `last` (keyset: cheaper on large tables)."""

    limit: int
    offset: int = 0
    last: dict[str, Any] | None = None


class Pane(Vertical, can_focus=False):
    LABELS: ClassVar[tuple[str, ...]] = ()
    TITLE: ClassVar[str] = ""
    KEY: ClassVar[str] = ""
    FILTER_HINT: ClassVar[str] = "filter"
    EMPTY: ClassVar[str] = "Nothing to show."
    #: (action, argument) of the keys whose state depends on the row under the cursor.
    ROW_KEYS: ClassVar[tuple[tuple[str, str], ...]] = ()

    BINDINGS = [
        # priority: see `pressed` (the keys typed after it go to the box it opens)
        Binding("slash", "filter", "Filter", id="pane.filter", priority=True),
        Binding(  # priority too: the keys typed after Esc are not the box's
            "escape",
            "clear_filter",
            "Clear filter",
            show=False,
            id="pane.clear_filter",
            priority=True,
        ),
        # priority: before the table's own Home, which only moves the cursor
        Binding(
            "home,g", "follow", "Top, following newest", show=False, priority=True, id="pane.follow"
        ),
    ]

    class Shown(Message):
        """The pane shows the rows a load fetched (the app tells a dialog open over it)."""

    class Loaded(Message):
        """Rows fetched (and already formatted) by a worker: the whole table, or with
        `append` the next page."""

        def __init__(
            self,
            view: Any,
            generation: int,
            records: pa.Table,
            rows: list[list[str]],
            keys: list[str],
            signatures: list[int],
            *,
            append: bool,
            more: bool,
            asked: tuple[float, datetime] | None = None,
        ) -> None:
            super().__init__()
            self.asked = asked  # when the rows were asked for: (monotonic, the reader's clock)
            self.view = view
            self.generation = generation
            self.records = records
            self.rows = rows
            self.keys = keys
            self.signatures = signatures  # of each row's data, to mark what changed
            self.append = append
            self.more = more

    def __init__(self, reader: StoreReader, view: Any, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.reader = reader
        self.view = view
        self._shown_view: Any = None
        self._debounce: Timer | None = None
        self.records: pa.Table | None = None  # the rows loaded, as fetched
        #: When the operator switched to this pane (monotonic): what it showed at that moment
        #: is what it showed when last looked at, maybe minutes ago (`record_pressed`).
        self.switched_at = -math.inf
        self.more = False  # the last page was full: there may be more rows
        self._generation = 0  # a reload starts a new one; older results are dropped
        self._loading = False
        self._worker: Worker[None] | None = None  # the latest load; an older one is stale
        self._failed = False  # the latest load raised: the rows shown are from before
        self._seen: dict[str, int] = {}  # key -> signature, as last shown
        self._key_states: tuple[bool | None, ...] = ()
        #: when the rows shown were asked for (monotonic, the reader's clock)
        self._asked: tuple[float, datetime] | None = None
        self._stale = False  # the rows shown are an old answer, a fresh one on its way
        #: rows of this pane have been on screen: marks (+, ~) compare with what was seen. A
        #: pane loads at start-up out of sight; its first look marks nothing new.
        self._looked = False

    # --- what subclasses say --------------------------------------------------------------

    def fetch(self, view: Any, page: Page) -> pa.Table:
        """Runs in a worker thread: one page of the view's rows."""
        raise NotImplementedError

    def row(self, record: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def key(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def title_parts(self, view: Any) -> list[str]:
        """What the title says of `view` beyond its filter (its order, a toggle)."""
        return []

    def deciding(self, plan: Plan) -> None:
        """The operator confirmed `plan` in its dialog (it is being recorded)."""

    def keep_after(self, message: Loaded) -> str | None:
        """The key the cursor goes back to when a refresh's rows are shown (None: the row it
        is on, see `TableView.show`)."""
        return None

    def key_states(self) -> tuple[bool | None, ...]:
        """What the keys in ROW_KEYS are for the row under the cursor (see `check_action`);
        the footer is refreshed when this changes."""
        return tuple(self.check_action(action, (arg,)) for action, arg in self.ROW_KEYS)

    # --- the pane -------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(self.TITLE, classes="pane-title")
        box = Input(
            placeholder=f"{self.FILTER_HINT}  (! inverts, Enter keeps, Esc clears)",
            classes=f"pane-filter {MOVES_ON}",
        )
        box.display = False  # shown by `/`
        yield box
        yield TableView(empty=self.EMPTY)  # (says it is loading until the first answer)

    def on_mount(self) -> None:
        self.reload()

    @property
    def loaded(self) -> int:
        return self.records.num_rows if self.records is not None else 0

    def reload(self) -> None:
        """Fetch again the pages up to the cursor's row (the first page for a new view).
        Before the pane has built its table there is nothing to fetch again: mounting loads it."""
        views = self.query(TableView)
        if not views:
            return
        until = PAGE
        table = views.first().table
        if table is not None and self.view == self._shown_view:
            until = PAGE * math.ceil((table.cursor_row + 1) / PAGE)
        until = min(until, MAX_ROWS)
        self._generation += 1
        self._loading = True
        self._worker = self._load(self.view, self._generation, Page(limit=min(PAGE, until)), until)

    def apply(self, view: Any) -> None:
        self.view = view
        self._retitle()
        self.reload()

    def load_more(self) -> None:
        """Fetch the page after the rows loaded, unless a load is under way or the pane holds
        all it may."""
        if self._loading or not self.more or self.records is None or self.loaded >= MAX_ROWS:
            return
        self._loading = True
        last = self.records.slice(self.loaded - 1).to_pylist()[0]
        until = min(self.loaded + PAGE, MAX_ROWS)
        self._worker = self._load(
            self._shown_view,
            self._generation,
            Page(limit=until - self.loaded, offset=self.loaded, last=last),
            until,
        )

    @work(thread=True, exclusive=True, group="pane", exit_on_error=False)
    def _load(self, view: Any, generation: int, page: Page, until: int) -> None:
        """Fetch pages from `page` on until `until` rows are loaded (counting the ones before
        `page`) or a page comes back short; format them here, off the UI thread."""
        start = page.offset
        asked = (time.monotonic(), self.reader.clock())
        pages: list[pa.Table] = []
        while True:
            batch = self.fetch(view, page)
            pages.append(batch)
            more = batch.num_rows == page.limit
            loaded = page.offset + batch.num_rows
            if not more or loaded >= until:
                break
            last = batch.slice(batch.num_rows - 1).to_pylist()[0]
            page = Page(limit=min(PAGE, until - loaded), offset=loaded, last=last)
        records = pa.concat_tables(pages)
        as_dicts = records.to_pylist()
        self.post_message(
            self.Loaded(
                view,
                generation,
                records,
                [self.row(r) for r in as_dicts],
                [self.key(r) for r in as_dicts],
                [hash(repr([v for k, v in r.items() if k not in VOLATILE])) for r in as_dicts],
                append=start > 0,
                more=more,
                asked=asked,
            )
        )

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        message.stop()
        if message.generation != self._generation:
            return  # a reload has started since: its rows will come
        self._loading = False
        self._failed = False
        self.more = message.more
        table = self.query_one(TableView)
        if not message.append:  # the rows shown are now this answer's
            self._asked = message.asked
            self._stale = False
            table.remove_class("-stale")
        if message.append:
            self._append(table, message)
        else:
            view = message.view
            table.empty = (
                f"Nothing matches the filter {cells.text(view.text.strip())!r}. Esc clears it."
                if view.text.strip()
                else self.EMPTY
            )
            # a new filter or order starts at the top; a refresh keeps the cursor on its row
            changed = self._shown_view is not None and view != self._shown_view
            first = self._shown_view is None or changed or not self._looked
            self._looked = self._looked or self.display
            self._shown_view = view
            if changed:  # the operator's own new view, from its top: nothing pinned there
                table.pinned, table.left = False, None
            left = table.left
            table.show(
                ("", *self.LABELS),
                self._marked(message, first=first),
                message.keys,
                keep="" if changed else self.keep_after(message),
            )
            if table.left is not None and table.left != left:
                self.app.notify(
                    f"{table.left}, the row pinned in {self.TITLE}, left the view "
                    f"({self._why_gone()}): no other row is pinned in its place",
                    severity="warning",
                    timeout=8,
                )
            self.records = message.records
            # rows swapped under a cursor on the last row: it will not move, so ask here
            if table.table is not None and table.table.cursor_row >= len(table.keys) - 1:
                self.load_more()
        self._retitle()
        if self.screen.focused is None and self.display:
            self.focus_table()
        self.post_message(self.Shown())

    @on(Worker.StateChanged)
    def _load_failed(self, event: Worker.StateChanged) -> None:
        worker = event.worker
        if event.state != WorkerState.ERROR or worker.error is None:
            return
        self.post_message(WorkFailed(f"loading {self.TITLE}", worker.error))
        if worker is self._worker:  # the latest load: a reload may start another
            self._loading = False
            self._failed = True
            self._retitle()

    def _marked(self, message: Loaded, *, first: bool) -> list[list[str]]:
        """The rows with a first cell marking what is new (+) or changed (~) since the last
        refresh of the same view. Marks last one refresh; a first load marks nothing."""
        seen, self._seen = self._seen, dict(zip(message.keys, message.signatures, strict=True))
        rows = []
        for key, signature, row in zip(message.keys, message.signatures, message.rows, strict=True):
            before = signature if first else seen.get(key)
            mark = NEW_MARK if before is None else CHANGED_MARK if before != signature else ""
            rows.append([mark, *row])
        return rows

    def _append(self, table: TableView, message: Loaded) -> None:
        """Add a page below. Rows that moved up since the last page (the store or the clock
        changed) and are already shown are left out."""
        shown = set(table.keys)
        fresh = [key not in shown for key in message.keys]
        records = message.records
        if not all(fresh):
            records = records.filter(pa.array(fresh))
        table.append(
            [["", *r] for r, ok in zip(message.rows, fresh, strict=True) if ok],
            [k for k, ok in zip(message.keys, fresh, strict=True) if ok],
        )
        self._seen.update(
            (k, sig)
            for k, sig, ok in zip(message.keys, message.signatures, fresh, strict=True)
            if ok
        )
        self.records = pa.concat_tables([self.records, records]) if self.records else records

    @on(DataTable.RowHighlighted)
    def _cursor_moved(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(TableView)
        if event.data_table is table.table:
            states = self.key_states()
            if states != self._key_states:  # the footer rebuilds itself: only on a change
                self._key_states = states
                self.screen.refresh_bindings()
            if event.cursor_row >= len(table.keys) - 1:
                self.load_more()

    def mark_if_stale(self) -> bool:
        """The pane is on screen again: if its rows were asked for more than STALE_S ago,
        they are marked stale (dimmed, and said in the title) until a load replaces them.
        True if they were: the caller asks again."""
        if self.records is None or self._asked is None:
            return False  # nothing shown yet: the first answer is on its way
        if time.monotonic() - self._asked[0] <= STALE_S:
            return False
        self._stale = True
        self.query_one(TableView).add_class("-stale")
        self._retitle()
        return True

    def _retitle(self) -> None:
        parts = [f"[b]{self.TITLE}[/] [dim][{self.KEY}][/] "]
        if not self.more:
            parts.append(f"{self.loaded:,} shown")
        elif self.loaded < MAX_ROWS:
            parts.append(f"{self.loaded:,} loaded [dim]· more load as you scroll[/]")
        else:
            parts.append(
                f"{self.loaded:,} loaded [yellow](the most kept at once; there are "
                "more: narrow with /)[/]"
            )
        if self._stale and self._asked is not None:
            parts.append(
                f"· [b yellow]refreshing…[/] [dim](rows as of {self._asked[1]:%H:%M:%S} UTC)[/]"
            )
        if self._failed:
            parts.append(
                "· [b red]could not load[/] [dim](the rows from before; tried again at "
                "the next refresh)[/]"
            )
        # the view the rows shown are of: a new one (a key just pressed) is said as loading
        # until its rows come, never claimed by rows of the one before
        shown = self.view if self._shown_view is None else self._shown_view
        parts.extend(self.title_parts(shown))
        table = self.query_one(TableView)
        if table.pinned:
            parts.append("· [b]pinned[/] [dim](Home follows newest)[/]")
        elif table.left is not None:
            parts.append(
                f"· [b yellow]pinned {cells.text(table.left)} left this view[/] "
                f"[dim]({self._why_gone()}; Home follows newest)[/]"
            )
        if shown.text.strip():
            parts.append(f"· filter [b]{cells.text(shown.text)}[/]")
        if self.view != shown:
            parts.append(f"· [yellow]loading {self._change(shown, self.view)}…[/]")
        self.query_one(".pane-title", Static).update(cells.content(" ".join(parts)))

    def _change(self, shown: Any, wanted: Any) -> str:
        """What the view `wanted` changes of the view `shown`, as the title says it."""
        before = self.title_parts(shown)
        said = [p.removeprefix("· ") for p in self.title_parts(wanted) if p not in before]
        if wanted.text != shown.text:
            text = wanted.text.strip()
            said.append(f"filter [b]{cells.text(wanted.text)}[/]" if text else "without a filter")
        return " · ".join(said) or "again"

    def _why_gone(self) -> str:
        text = self.view.text.strip()
        return f"it no longer matches the filter {text}" if text else "it is gone"

    def current_key(self) -> str | None:
        return self.query_one(TableView).current_key()

    def ask_decision(
        self, action: str, target: Callable[[dict[str, Any]], dict[str, str] | None]
    ) -> None:
        """A decision key: `action` on what `target` makes of the row the operator saw
        (`record_pressed`), asked of the app (`want_decision`). The keys typed after it are
        held for its dialog from the moment it is read, whatever comes of it: when nothing is
        decided (the row has gone, or names nothing), the rest of the burst is held `SEEN_S`
        more, then let go, and said, never given to the table."""
        app: Any = self.app
        app.hold_keys(action)
        record = self.record_pressed()
        wanted = target(record) if record is not None else None
        if wanted:
            want_decision(self, DecisionWanted(action, **wanted))
        else:
            app.hold_keys(action, seconds=SEEN_S, why="nothing was decided")

    def record_pressed(self) -> dict[str, Any] | None:
        """The row a decision key was pressed on, as the operator saw it then (`seen_at`), and
        the cursor pinned to it: what the dialog names is the row under the cursor, however
        many rows arrive meanwhile. None (and said) if that row has left the table."""
        table = self.query_one(TableView)
        pressed = getattr(self.app, "pressed_at", None)
        if pressed is not None and pressed < self.switched_at + SEEN_S:
            # the pane had only just come up, with the rows of its last visit under the cursor
            self.app.notify(
                f"pressed as {self.TITLE} came on screen, before its rows could be read: "
                "nothing decided",
                severity="warning",
                timeout=5,
            )
            return None
        key = table.seen_at(pressed) if pressed is not None else table.current_key()
        if key is None or self.records is None:
            return None
        if key not in table.keys:
            self.app.notify(f"{key} is no longer in {self.TITLE}: nothing decided", timeout=5)
            return None
        table.pin(key)
        self._retitle()
        return self.records.slice(table.keys.index(key), 1).to_pylist()[0]

    def action_follow(self) -> None:
        self.query_one(TableView).follow()
        self._retitle()

    def current_record(self) -> dict[str, Any] | None:
        """The row under the cursor, as fetched."""
        table = self.query_one(TableView)
        if self.records is None or table.table is None or not table.keys:
            return None
        return self.records.slice(table.table.cursor_row, 1).to_pylist()[0]

    def focus_table(self) -> None:
        self.query_one(TableView).focus_table()

    # --- filtering ------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("filter", "follow"):  # priority keys: in a box, they are the box's
            return not typed_into(self.screen.focused)
        return True

    def action_filter(self) -> None:
        box = self.query_one(".pane-filter", Input)
        box.display = True
        # Focus now, not after the next refresh: keys typed right after `/` belong to it.
        self.screen.set_focus(box)

    def action_clear_filter(self) -> None:
        box = self.query_one(".pane-filter", Input)
        had = bool(box.value) or box.display
        box.value = ""
        box.display = False
        if self.view.text:
            self.apply(dataclasses.replace(self.view, text=""))
        if had:
            self.focus_table()

    @on(Input.Changed, ".pane-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        event.stop()
        if self._debounce is not None:
            self._debounce.stop()
        value = event.value
        self._debounce = self.set_timer(
            0.15, lambda: self.apply(dataclasses.replace(self.view, text=value))
        )

    @on(Input.Submitted, ".pane-filter")
    async def _filter_kept(self, event: Input.Submitted) -> None:
        event.stop()
        if not event.value.strip():
            event.input.display = False
        self.focus_table()
        app: Any = self.app
        await app.read_held_keys()  # the keys typed after Enter: the table's now

    @on(DataTable.RowSelected)
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        key = self.current_key()
        if key:
            self.open(key)

    def open(self, key: str) -> None:
        """Enter on a row."""
