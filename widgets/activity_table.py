"""The PostgreSQL activity table: one line per backend, on Textual's Line API.

DataTable costs 8-30 % of a core at 1,000-2,000 rows refreshed every second and parses
`str` cells as markup; this widget renders only the visible lines (1-2 %), precomputes
each row's sanitised cell text once per update, and builds `Strip`s lazily in
`render_line`, cached per (pid, width, cursor) until the next update.

Selection is an identity: the cursor is a pid, not an index. Refreshes re-sort and
re-filter the rows but never move the cursor to another pid, and the cursor row keeps
its place on screen. A pid that leaves the snapshot stays in the table marked "gone"
(struck through) for one more update and is dropped at the next-but-one update; if the
cursor is on it, it stays until the cursor leaves it (then it goes at the next update).
The row under the cursor is also never hidden by a refresh (say it turned idle while
idle rows are hidden); only the operator's own filter or idle toggle can hide it. When
the pid under the cursor is reused by a new session (another backend_start), the cursor
stays and `Selected` is posted again so the screen re-reads the selection.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adapters.postgres.models import Backend
from console.bindings import bindings
from widgets.formatting import age_of, duration
from widgets.safe_text import ELLIPSIS, sanitize


@dataclass(frozen=True, slots=True)
class Column:
    """A column: preferred and maximum width, and when it is dropped at narrow widths."""

    key: str
    label: str
    width: int
    max_width: int
    drop_rank: int = 0  # 0: never dropped; 1 is dropped first when the terminal is narrow
    right: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("pid", "pid", 7, 7, right=True),
    Column("user", "user", 10, 16, drop_rank=4),
    Column("database", "database", 10, 16, drop_rank=3),
    Column("application", "application", 12, 24, drop_rank=2),
    Column("client", "client", 15, 24, drop_rank=1),
    Column("state", "state", 12, 12),
    Column("wait", "wait", 10, 20, drop_rank=5),
    Column("xact_age", "xact", 6, 6, right=True),
    Column("query_age", "qtime", 6, 6, right=True),
    Column("query", "query", 20, 10_000),
)
QUERY_MIN = 20  # below this the query column is useless: drop other columns first
SORT_KEYS: tuple[str, ...] = ("activity", *(c.key for c in COLUMNS))
_COL_INDEX = {c.key: i for i, c in enumerate(COLUMNS)}
_DESC_BY_DEFAULT = frozenset({"activity", "xact_age", "query_age"})
_TEXT_MAX = 64  # cap per text cell (the widest column is 24)
_QUERY_MAX = 1_000  # one line of query text: more than any terminal is wide
_HAYSTACK_QUERY_MAX = 10_000  # the filter looks this far into a query
_STATE_LABELS = {
    "idle in transaction": "idle in xact",
    "idle in transaction (aborted)": "xact aborted",
}
_RANK = {"active": 0, "idle in transaction": 1, "idle in transaction (aborted)": 1, "idle": 3}


def layout(width: int) -> tuple[tuple[Column, int], ...]:
    """Columns shown at `width` cells with their widths: low-priority columns go first."""
    shown = [c for c in COLUMNS if c.key != "query"]

    def used() -> int:
        return sum(c.width + 1 for c in shown)

    for rank in sorted({c.drop_rank for c in shown if c.drop_rank}):
        if width - used() >= QUERY_MIN:
            break
        shown = [c for c in shown if c.drop_rank != rank]
    widths = {c.key: c.width for c in shown}
    # A third of the room beyond the minimum widens wait/user/db/app/client; the query
    # text, what the operator reads most, keeps the rest.
    spare = (width - used() - QUERY_MIN) // 3
    for column in sorted((c for c in shown if c.drop_rank), key=lambda c: -c.drop_rank):
        grow = max(0, min(spare, column.max_width - column.width))
        widths[column.key] += grow
        spare -= grow
    query_width = max(0, width - sum(w + 1 for w in widths.values()))
    return (*((c, widths[c.key]) for c in shown), (COLUMNS[-1], query_width))


CONTAINER_MARK = "⬢ "
"""Prefix of a client shown by its container's name instead of its address."""


def _reused(old: Backend, new: Backend) -> bool:
    """Whether a pid now belongs to another session (pids are reused, start times not)."""
    return None not in (old.backend_start, new.backend_start) and (
        old.backend_start != new.backend_start
    )


def _fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size <= width:
        pad = " " * (width - size)
        return pad + text if right else text + pad
    return set_cell_size(text, width - 1) + ELLIPSIS


class _Row:
    """One backend's precomputed cells; text is re-sanitised only when it changed."""

    __slots__ = ("backend", "cells", "gone_at", "haystack", "kind", "pid", "rank", "sort", "src")

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.src: tuple[str | None, ...] = ()  # never equal to real data: first set() fills
        self.gone_at: int | None = None

    def set(
        self, backend: Backend, blocker: bool, now: float | None, names: Mapping[str, str]
    ) -> None:
        self.backend = b = backend
        # A client on a watched Docker host shows as its container ("which service holds
        # the lock?"); the address stays in the detail view.
        client = b.client_addr
        if client is not None and client in names:
            client = CONTAINER_MARK + names[client]
        src = (b.user, b.database, b.application, client, b.state)
        src += (b.wait_event_type, b.wait_event, b.query)
        if src != self.src:
            self.src = src
            texts = [sanitize(v, max_len=_TEXT_MAX) for v in src[:4]]
            state = _STATE_LABELS.get(b.state or "") or sanitize(b.state, max_len=_TEXT_MAX)
            wait = ":".join(sanitize(v, max_len=_TEXT_MAX) for v in src[5:7] if v)
            query = sanitize(b.query, max_len=_QUERY_MAX)
            self.haystack = "\0".join(
                [*(v or "" for v in src[:4]), b.state or "", (b.query or "")[:_HAYSTACK_QUERY_MAX]]
            ).casefold()
            self.cells = [str(b.pid), *texts, state, wait, "", "", query]
            self.sort = {
                "pid": b.pid,
                **{c.key: t.casefold() or None for c, t in zip(COLUMNS[1:5], texts, strict=True)},
                "state": (b.state or "").casefold() or None,
                "wait": wait.casefold() or None,
                "query": query.casefold() or None,
            }
        xact = b.xact_age if b.xact_age is not None or now is None else age_of(b.xact_start, now)
        qage = b.query_age if b.query_age is not None or now is None else age_of(b.query_start, now)
        self.sort["xact_age"], self.sort["query_age"] = xact, qage
        self.cells[7] = duration(xact) if xact is not None else ""
        self.cells[8] = duration(qage) if qage is not None else ""
        self.rank = _RANK.get(b.state or "", 2)
        if blocker:
            self.kind = "blocker"
        elif b.is_waiting_on_lock:
            self.kind = "waiting"
        elif b.state in ("idle in transaction", "idle in transaction (aborted)"):
            self.kind = "idle-in-transaction"
        else:
            self.kind = "idle" if b.state == "idle" else "active"

    def mark_gone(self, generation: int) -> None:
        self.gone_at = generation
        self.kind = "gone"
        self.cells[5] = "gone"


class ActivityTable(ScrollView, can_focus=True):
    """Sessions from pg_stat_activity: sortable, filterable, cursor kept on its pid."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        *bindings("table.details", "table.sort", "table.reverse", "pg.toggle_idle"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "activity-table--header",
        "activity-table--active",
        "activity-table--idle",
        "activity-table--idle-in-transaction",
        "activity-table--waiting",
        "activity-table--blocker",
        "activity-table--gone",
        "activity-table--cursor",
        "activity-table--empty",
    }

    DEFAULT_CSS = """
    ActivityTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .activity-table--header { background: $panel; color: $foreground; text-style: bold; }
        & > .activity-table--active { color: $foreground; }
        & > .activity-table--idle { color: $text-muted; }
        & > .activity-table--idle-in-transaction { color: $text-warning; }
        & > .activity-table--waiting { color: $text-warning; text-style: italic; }
        & > .activity-table--blocker { color: $text-error; text-style: bold; }
        & > .activity-table--gone { color: $text-disabled; text-style: strike; }
        & > .activity-table--empty { color: $text-muted; text-style: italic; }
        & > .activity-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .activity-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        &:ansi > .activity-table--header { background: ansi_blue; color: ansi_bright_white; }
    }
    """

    show_idle: reactive[bool] = reactive(False, init=False)
    """Whether sessions in state `idle` are listed (they are usually most of them)."""

    class Selected(Message):
        """The cursor moved to another session (`pid` None: nothing left to select)."""

        def __init__(self, table: ActivityTable, pid: int | None) -> None:
            super().__init__()
            self.table = table
            self.pid = pid

        @property
        def control(self) -> ActivityTable:
            return self.table

    class Activated(Message):
        """Enter was pressed on a session: the screen shows its details."""

        def __init__(self, table: ActivityTable, pid: int) -> None:
            super().__init__()
            self.table = table
            self.pid = pid

        @property
        def control(self) -> ActivityTable:
            return self.table

    def __init__(
        self,
        *,
        show_idle: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(ActivityTable.show_idle, show_idle)
        self._rows: dict[int, _Row] = {}
        self._order: list[_Row] = []
        self._index: dict[int, int] = {}
        self._cursor: int | None = None  # the selected pid
        self._live = 0
        self._generation = 0
        self._filter = ""
        self._sort_key = "activity"
        self._sort_desc = True
        self._strips: dict[tuple[int, int, bool], Strip] = {}
        self._layouts: dict[int, tuple[tuple[Column, int], ...]] = {}
        self._client_names: Mapping[str, str] = {}
        self._backends: Sequence[Backend] = ()
        self._now: float | None = None

    # -- public API ---------------------------------------------------------------------

    @property
    def selected_pid(self) -> int | None:
        return self._cursor

    @property
    def selected_backend(self) -> Backend | None:
        row = self._rows.get(self._cursor) if self._cursor is not None else None
        return row.backend if row else None

    @property
    def selected_gone(self) -> bool:
        """Whether the selected session has left pg_stat_activity (actions must refuse)."""
        row = self._rows.get(self._cursor) if self._cursor is not None else None
        return bool(row and row.gone_at is not None)

    @property
    def visible_count(self) -> int:
        return len(self._order)

    @property
    def total_count(self) -> int:
        """Sessions in the last snapshot (gone rows not counted)."""
        return self._live

    @property
    def filter_text(self) -> str:
        return self._filter

    @property
    def sort_key(self) -> str:
        return self._sort_key

    @property
    def sort_descending(self) -> bool:
        return self._sort_desc

    def status_text(self) -> str:
        """E.g. "1,100 sessions, 100 shown (filter: app1)", for the screen's status line."""
        text = f"{self._live:,} sessions, {len(self._order):,} shown"
        if self._filter:
            text += f" (filter: {sanitize(self._filter, max_len=40)})"
        return text if self.show_idle else text + ", idle hidden"

    def update_snapshot(self, backends: Sequence[Backend], now: float | None = None) -> None:
        """Take a new poll's backends; rows are updated in place keyed by pid.

        `now` (wall clock) is only used to derive ages from the start timestamps when the
        snapshot carries no server-side ages.
        """
        self._generation += 1
        blockers = {pid for b in backends for pid in b.blocked_by}
        seen: set[int] = set()
        for backend in backends:
            seen.add(backend.pid)
            row = self._rows.get(backend.pid)
            if row is None:
                row = self._rows[backend.pid] = _Row(backend.pid)
            elif row.gone_at is not None:
                row.gone_at, row.src = None, ()  # back (or the pid was reused): redo its cells
            elif _reused(row.backend, backend) and backend.pid == self._cursor:
                # Same pid, new session: the selection is kept (it is keyed by pid) but the
                # screen is told, so it can re-read what the cursor now points at.
                self.post_message(self.Selected(self, backend.pid))
            row.set(backend, backend.pid in blockers, now, self._client_names)
        self._backends, self._now = backends, now
        self._live = len(seen)
        for pid in [pid for pid in self._rows if pid not in seen]:
            row = self._rows[pid]
            if row.gone_at is None:
                row.mark_gone(self._generation)
            elif self._generation - row.gone_at >= 2 and pid != self._cursor:
                del self._rows[pid]
        self._rebuild(pin=self._cursor)

    def set_client_names(self, names: Mapping[str, str]) -> None:
        """Name clients by container: `names` maps an IP address to a container name."""
        if dict(names) == dict(self._client_names):
            return
        self._client_names = dict(names)
        blockers = {pid for b in self._backends for pid in b.blocked_by}
        for backend in self._backends:
            row = self._rows.get(backend.pid)
            if row is not None and row.gone_at is None:
                row.set(backend, backend.pid in blockers, self._now, self._client_names)
        self._rebuild(pin=self._cursor)

    def client_name(self, address: str | None) -> str | None:
        """The container name shown for a client address, if any."""
        return self._client_names.get(address) if address else None

    def set_filter(self, text: str) -> None:
        """Show only sessions whose user, database, application, client (address or
        container), state or query contain `text` (case-insensitive); an empty string
        clears the filter."""
        self._filter = text
        self._rebuild(pin=None)

    def select_pid(self, pid: int) -> bool:
        """Move the cursor to `pid` (shown even if filtered out) and scroll to it."""
        if pid not in self._rows:
            return False
        self._rebuild(pin=pid)
        self._set_cursor(pid)
        return True

    # -- actions --------------------------------------------------------------------------

    def action_cycle_sort(self) -> None:
        self._sort_key = SORT_KEYS[(SORT_KEYS.index(self._sort_key) + 1) % len(SORT_KEYS)]
        self._sort_desc = self._sort_key in _DESC_BY_DEFAULT
        self._rebuild(pin=self._cursor)

    def action_reverse_sort(self) -> None:
        self._sort_desc = not self._sort_desc
        self._rebuild(pin=self._cursor)

    def action_toggle_idle(self) -> None:
        self.show_idle = not self.show_idle

    def watch_show_idle(self) -> None:
        self._rebuild(pin=None)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_page_up(self) -> None:
        self._move(-self._page())

    def action_cursor_page_down(self) -> None:
        self._move(self._page())

    def action_cursor_first(self) -> None:
        self._move(-len(self._order))

    def action_cursor_last(self) -> None:
        self._move(len(self._order))

    def action_details(self) -> None:
        if self._cursor is not None:
            self.post_message(self.Activated(self, self._cursor))

    # -- internals ------------------------------------------------------------------------

    def _sorted(self, rows: list[_Row]) -> list[_Row]:
        key, desc = self._sort_key, self._sort_desc
        if key == "activity":
            rows.sort(key=lambda r: (r.rank, -(r.sort["query_age"] or 0.0), r.pid))
            return rows[::-1] if not desc else rows
        # Unknown values sort last in either direction; pid breaks ties so rows hold still.
        known = [r for r in rows if r.sort[key] is not None]
        known.sort(key=lambda r: (r.sort[key], r.pid), reverse=desc)
        return known + sorted((r for r in rows if r.sort[key] is None), key=lambda r: r.pid)

    def _rebuild(self, pin: int | None) -> None:
        """Filter and sort; keep the cursor on its pid and at the same place on screen."""
        old_index = self._index.get(self._cursor) if self._cursor is not None else None
        top = round(self.scroll_y)
        needle = self._filter.casefold()
        rows = [
            r
            for r in self._rows.values()
            if r.pid == pin
            or ((self.show_idle or r.rank != 3) and (not needle or needle in r.haystack))
        ]
        self._order = self._sorted(rows)
        self._index = {row.pid: i for i, row in enumerate(self._order)}
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        if self._cursor in self._index:
            if old_index is not None and 0 <= old_index - top < self._page():
                self._scroll_top(self._index[self._cursor] - (old_index - top))
        elif self._order:
            self._set_cursor(self._order[min(old_index or 0, len(self._order) - 1)].pid)
        elif self._cursor is not None:
            self._cursor = None
            self.post_message(self.Selected(self, None))
        self.refresh()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _scroll_top(self, y: int) -> None:
        # Before mount there is nothing to scroll: the first resize shows the cursor.
        if self.is_mounted:
            # force: right after a rebuild the scrollbar may not be shown yet, and an
            # unforced scroll_to is ignored while the widget thinks it cannot scroll.
            self.scroll_to(y=y, animate=False, force=True)

    def _show_cursor(self) -> None:
        index = self._index.get(self._cursor) if self._cursor is not None else None
        if index is None:
            return
        top, page = round(self.scroll_y), self._page()
        if index < top:
            self._scroll_top(index)
        elif index >= top + page:
            self._scroll_top(index - page + 1)

    def _move(self, delta: int) -> None:
        if not self._order:
            return
        index = self._index.get(self._cursor, 0) if self._cursor is not None else 0
        self._set_cursor(self._order[max(0, min(len(self._order) - 1, index + delta))].pid)

    def _set_cursor(self, pid: int) -> None:
        changed = pid != self._cursor
        self._cursor = pid
        self._show_cursor()
        self.refresh()
        if changed:
            self.post_message(self.Selected(self, pid))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()  # component styles (themes, :focus) are baked into strips

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        self._show_cursor()

    def on_focus(self, event: events.Focus) -> None:
        self._strips.clear()

    def on_blur(self, event: events.Blur) -> None:
        self._strips.clear()

    def _layout(self, width: int) -> tuple[tuple[Column, int], ...]:
        if width not in self._layouts:
            self._layouts[width] = layout(width)
        return self._layouts[width]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:  # the header never scrolls away
            return self._line(self._header(width), "activity-table--header", width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._order):
            if index == 0 and not self._order:
                return self._line(self._empty_text(), "activity-table--empty", width)
            return Strip.blank(width, self.rich_style)
        row = self._order[index]
        key = (row.pid, width, row.pid == self._cursor)
        strip = self._strips.get(key)
        if strip is None:
            cells = row.cells
            text = " ".join(
                _fit(cells[_COL_INDEX[c.key]], w, c.right) for c, w in self._layout(width)
            )
            strip = self._line(text, f"activity-table--{row.kind}", width, cursor=key[2])
            self._strips[key] = strip
        return strip

    def _line(self, text: str, component: str, width: int, cursor: bool = False) -> Strip:
        style = self.get_component_rich_style(component)
        if cursor:
            style += self.get_component_rich_style("activity-table--cursor", partial=True)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _header(self, width: int) -> str:
        arrow = "▼" if self._sort_desc else "▲"
        marked = "query_age" if self._sort_key == "activity" else self._sort_key
        labels = []
        for column, w in self._layout(width):
            label = column.label + (arrow if column.key == marked else "")
            labels.append(_fit(label, w, column.right))
        return " ".join(labels)

    def _empty_text(self) -> str:
        if self._filter:
            return f"No sessions match “{sanitize(self._filter, max_len=40)}”"
        return "No sessions" if self.show_idle or not self._rows else "No non-idle sessions"

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._order):
            self._set_cursor(self._order[index].pid)
            if event.chain >= 2:
                self.action_details()


__all__ = ["COLUMNS", "SORT_KEYS", "ActivityTable", "Column", "layout"]
