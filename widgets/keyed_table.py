"""`KeyedTable`: the Line-API table under the containers, swarm services, PostgreSQL
activity and health checks tables.

DataTable costs 8-30 % of a core at 1,000-2,000 rows refreshed every second and parses
`str` cells as markup; this widget renders only the visible lines, takes each row's
cells sanitised once per update, and builds `Strip`s lazily in `render_line`, cached per
(key, width, cursor) until the next update.

Rows are keyed by a stable identity (`ContainerSummary.key`, a pid, a check's name) and
the cursor is an identity, so a refresh re-sorts and re-filters the rows but never moves
the cursor to another item, and the cursor row keeps its place on screen. A row that
leaves the snapshot is dropped unless the subclass keeps it a while (`keep_missing`); if
the cursor was on a dropped row, it takes the row that stands for the same thing
(`successor`) or else the row now at the same place. Subclasses say how an item becomes
a row (`fill_row`) and may say how the columns share the width (`column_layout`).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from rich.cells import set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from widgets.safe_text import sanitize
from widgets.table_columns import Column, ColumnLayout, fit, layout

K = TypeVar("K", bound=Hashable)


class Row(Generic[K]):
    """One item's precomputed cells, sort values, filter text and style kind."""

    __slots__ = ("cells", "haystack", "item", "key", "kind", "missing", "sort")

    def __init__(self, key: K) -> None:
        self.key = key
        self.item: Any = None
        self.cells: dict[str, str] = {}
        self.sort: dict[str, Any] = {}
        self.haystack = ""
        self.kind = "normal"
        self.missing = 0  # consecutive updates without this item (see keep_missing)


class KeyedTable(ScrollView, Generic[K], can_focus=True):
    """Rows keyed by identity; subclasses say how an item becomes a row."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    SORT_KEYS: ClassVar[tuple[str, ...]] = ()  # the first: `default_order`; none: no sorting
    DESC_BY_DEFAULT: ClassVar[frozenset[str]] = frozenset()
    # The column whose header shows the sort arrow, for a sort key that is not a column.
    HEADER_MARKS: ClassVar[Mapping[str, str]] = {}
    NOUN = "rows"
    # Component classes are f"{COMPONENT_PREFIX}--{kind}": header, empty, cursor and the
    # rows' kinds; a subclass with kinds of its own declares and styles its own set.
    COMPONENT_PREFIX: ClassVar[str] = "keyed-table"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "keyed-table--header",
        "keyed-table--normal",
        "keyed-table--muted",
        "keyed-table--warning",
        "keyed-table--error",
        "keyed-table--cursor",
        "keyed-table--empty",
    }

    DEFAULT_CSS = """
    KeyedTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .keyed-table--header { background: $panel; color: $foreground; text-style: bold; }
        & > .keyed-table--normal { color: $foreground; }
        & > .keyed-table--muted { color: $text-muted; }
        & > .keyed-table--warning { color: $text-warning; }
        & > .keyed-table--error { color: $text-error; text-style: bold; }
        & > .keyed-table--empty { color: $text-muted; text-style: italic; }
        & > .keyed-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .keyed-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        &:ansi > .keyed-table--header { background: ansi_blue; color: ansi_bright_white; }
    }
    """

    # The messages' `key` is a K; typed Any because a nested class cannot name the
    # table's type parameter.

    class Selected(Message):
        """The cursor moved to another row (`key` None: nothing left to select)."""

        def __init__(self, table: KeyedTable[Any], key: Any) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable[Any]:
            return self.table

    class Activated(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: KeyedTable[Any], key: Any) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable[Any]:
            return self.table

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._rows: dict[K, Row[K]] = {}
        self._order: list[Row[K]] = []
        self._index: dict[K, int] = {}
        self._cursor: K | None = None
        self._successor: K | None = None  # see `successor`
        self._live = 0  # rows of the last update (rows kept by keep_missing not counted)
        self._now = 0.0  # the last update's clock, for `refill`
        self._filter = ""
        self._sort_key = self.SORT_KEYS[0] if self.SORT_KEYS else ""
        self._sort_desc = self._sort_key in self.DESC_BY_DEFAULT
        self._strips: dict[tuple[K, int, bool], Strip] = {}
        self._layouts: dict[int, ColumnLayout] = {}

    # -- subclass hooks -------------------------------------------------------------------

    def fill_row(self, row: Row[K], item: Any, now: float) -> None:
        """Set the row's cells, sort values, haystack and kind from `item`. While this
        runs, `row.item` and `row.missing` still describe the previous update (None and
        0 for a new row): a subclass can tell a changed item or a returning row."""
        raise NotImplementedError

    def new_row(self, key: K) -> Row[K]:
        """A row for a new key (a subclass may keep more per row in a `Row` subclass)."""
        return Row(key)

    def hidden(self, row: Row[K]) -> bool:
        """Whether a row is hidden by a toggle (never the cursor's row on refresh)."""
        return False

    def default_order(self, row: Row[K]) -> Any:
        return row.key

    def successor(self, item: Any) -> K | None:
        """The key of the row that now stands for the selected `item`, which left (a
        container recreated under the same name gets a new id); None: no such row."""
        return None

    def keep_missing(self, row: Row[K]) -> bool:
        """Whether a row whose item the last `row.missing` updates lacked stays, with its
        last cells (the subclass may restyle it); False (the default) drops it."""
        return False

    def column_layout(self, width: int) -> ColumnLayout:
        """The columns shown at `width` cells and their widths (cached per width)."""
        return layout(self.COLUMNS, width)

    def empty_text(self) -> str:
        """The line shown when no row is."""
        if self._filter:
            return f"No {self.NOUN} match “{sanitize(self._filter, max_len=40)}”"
        return f"No {self.NOUN}" if not self._rows else f"No {self.NOUN} shown (hidden: a)"

    # -- public API -----------------------------------------------------------------------

    @property
    def selected_key(self) -> K | None:
        return self._cursor

    @property
    def selected_item(self) -> Any:
        row = self._rows.get(self._cursor) if self._cursor is not None else None
        return row.item if row else None

    @property
    def visible_count(self) -> int:
        return len(self._order)

    @property
    def total_count(self) -> int:
        """Items in the last update (rows kept by `keep_missing` not counted)."""
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

    @property
    def keys_in_order(self) -> list[K]:
        return [row.key for row in self._order]

    def row_text(self, key: K) -> str:
        """The row's cells joined by single spaces (for tests and logs)."""
        row = self._rows[key]
        return " ".join(row.cells.get(c.key, "") for c in self.COLUMNS)

    def update_items(self, items: Sequence[Any], now: float, key: Callable[[Any], K]) -> None:
        """Take a refresh's items; rows are updated in place by key."""
        seen: set[K] = set()
        for item in items:
            k = key(item)
            seen.add(k)
            row = self._rows.get(k)
            if row is None:
                row = self._rows[k] = self.new_row(k)
            self.fill_row(row, item, now)
            row.item, row.missing = item, 0
        self._live, self._now = len(seen), now
        gone = []
        for k, row in self._rows.items():
            if k not in seen:
                row.missing += 1
                if not self.keep_missing(row):
                    gone.append(k)
        lost = self._rows[self._cursor].item if self._cursor in gone else None
        for k in gone:
            del self._rows[k]
        # Looked up once the vanished rows are out: else the successor found is the
        # vanished row itself (same host, same name) and the cursor does not follow.
        self._successor = None if lost is None else self.successor(lost)
        self._rebuild(pin=self._cursor)

    def refill(self) -> None:
        """Redo the last update's rows from their items: a setting that shapes the cells
        changed (the activity table's client names). Rows kept missing stay as they are."""
        for row in self._rows.values():
            if not row.missing:
                self.fill_row(row, row.item, self._now)
        self._rebuild(pin=self._cursor)

    def set_filter(self, text: str) -> None:
        self._filter = text
        self._rebuild(pin=None)

    def select_key(self, key: K) -> bool:
        """Move the cursor to `key` (shown even if filtered out) and scroll to it."""
        if key not in self._rows:
            return False
        self._rebuild(pin=key)
        self._set_cursor(key)
        return True

    def action_cycle_sort(self) -> None:
        keys = self.SORT_KEYS
        if not keys:
            return
        self._sort_key = keys[(keys.index(self._sort_key) + 1) % len(keys)]
        self._sort_desc = self._sort_key in self.DESC_BY_DEFAULT
        self._rebuild(pin=self._cursor)

    def action_reverse_sort(self) -> None:
        self._sort_desc = not self._sort_desc
        self._rebuild(pin=self._cursor)

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

    def _sorted(self, rows: list[Row[K]]) -> list[Row[K]]:
        key, desc = self._sort_key, self._sort_desc
        if not self.SORT_KEYS or key == self.SORT_KEYS[0]:
            rows.sort(key=self.default_order, reverse=desc)
            return rows
        # Unknown values sort last in either direction; the key breaks ties so rows hold
        # still.
        known = [r for r in rows if r.sort.get(key) is not None]
        known.sort(key=lambda r: (r.sort[key], r.key), reverse=desc)
        return known + sorted((r for r in rows if r.sort.get(key) is None), key=lambda r: r.key)

    def _rebuild(self, pin: K | None) -> None:
        """Filter and sort; keep the cursor on its key and at the same place on screen."""
        old_index = self._index.get(self._cursor) if self._cursor is not None else None
        top = round(self.scroll_y)
        needle = self._filter.casefold()
        rows = [
            r
            for r in self._rows.values()
            if r.key == pin or (not self.hidden(r) and (not needle or needle in r.haystack))
        ]
        self._order = self._sorted(rows)
        self._index = {row.key: i for i, row in enumerate(self._order)}
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        if self._cursor in self._index:
            if old_index is not None and 0 <= old_index - top < self._page():
                self._scroll_top(self._index[self._cursor] - (old_index - top))
        elif self._successor in self._index:
            self._set_cursor(self._successor)
        elif self._order:
            self._set_cursor(self._order[min(old_index or 0, len(self._order) - 1)].key)
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
        self._set_cursor(self._order[max(0, min(len(self._order) - 1, index + delta))].key)

    def _set_cursor(self, key: K) -> None:
        changed = key != self._cursor
        self._cursor = key
        self._show_cursor()
        self._strips.clear()
        self.refresh()
        if changed:
            self.post_message(self.Selected(self, key))

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

    def _columns(self, width: int) -> ColumnLayout:
        columns = self._layouts.get(width)
        if columns is None:
            columns = self._layouts[width] = self.column_layout(width)
        return columns

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:  # the header never scrolls away
            return self._line(self._header(width), "header", width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._order):
            if index == 0:
                return self._line(self.empty_text(), "empty", width)
            return Strip.blank(width, self.rich_style)
        row = self._order[index]
        key = (row.key, width, row.key == self._cursor)
        strip = self._strips.get(key)
        if strip is None:
            cells = row.cells
            text = " ".join(fit(cells.get(c.key, ""), w, c.right) for c, w in self._columns(width))
            strip = self._line(text, row.kind, width, cursor=key[2])
            self._strips[key] = strip
        return strip

    def _line(self, text: str, kind: str, width: int, cursor: bool = False) -> Strip:
        """One line of `width` cells in the style of `kind` (header, empty, a row's kind)."""
        prefix = self.COMPONENT_PREFIX
        style = self.rich_style + self.get_component_rich_style(f"{prefix}--{kind}")
        if cursor:
            style += self.get_component_rich_style(f"{prefix}--cursor", partial=True)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _header(self, width: int) -> str:
        arrow = "▼" if self._sort_desc else "▲"
        marked = self.HEADER_MARKS.get(self._sort_key, self._sort_key)
        return " ".join(
            fit(c.label + (arrow if c.key == marked else ""), w, c.right)
            for c, w in self._columns(width)
        )

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._order):
            self._set_cursor(self._order[index].key)
            if event.chain >= 2:
                self.action_details()


__all__ = ["Column", "ColumnLayout", "KeyedTable", "Row", "fit", "layout"]
