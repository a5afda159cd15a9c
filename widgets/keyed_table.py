"""`KeyedTable`: the Line-API table shared by the containers and swarm services tables.

Rows keyed by a stable identity (`ContainerSummary.key`, `ServiceSummary.key`), cells
sanitised once per update, only the visible rows rendered, sort/filter/reverse, and a
cursor that is an identity, so a refresh never moves it to another item. A row that
leaves the snapshot is dropped; if the cursor was on it, the cursor takes the row now at
the same place. Subclasses say how an item becomes a row (`fill_row`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from widgets.safe_text import ELLIPSIS, sanitize


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    drop_rank: int = 0  # 0: never dropped; 1 goes first on a narrow terminal
    right: bool = False
    grow: bool = False  # takes the spare width


def fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size <= width:
        pad = " " * (width - size)
        return pad + text if right else text + pad
    return set_cell_size(text, width - 1) + ELLIPSIS


def layout(columns: Sequence[Column], width: int) -> list[tuple[Column, int]]:
    """The columns shown at `width` cells and their widths (drop ranks first)."""
    shown = list(columns)
    for rank in sorted({c.drop_rank for c in columns if c.drop_rank}):
        if sum(c.width + 1 for c in shown) <= width:
            break
        shown = [c for c in shown if c.drop_rank != rank]
    spare = max(0, width - sum(c.width + 1 for c in shown))
    growers = [c for c in shown if c.grow] or shown[:1]
    out = []
    for c in shown:
        extra = spare // len(growers) if c in growers else 0
        out.append((c, c.width + extra))
    return out


class Row:
    """One item's precomputed cells, sort values, filter text and style kind."""

    __slots__ = ("cells", "haystack", "item", "key", "kind", "sort")

    def __init__(self, key: str) -> None:
        self.key = key
        self.item: Any = None
        self.cells: dict[str, str] = {}
        self.sort: dict[str, Any] = {}
        self.haystack = ""
        self.kind = "normal"


class KeyedTable(ScrollView, can_focus=True):
    """Rows keyed by identity; subclasses say how an item becomes a row."""

    COLUMNS: ClassVar[tuple[Column, ...]] = ()
    SORT_KEYS: ClassVar[tuple[str, ...]] = ()
    DESC_BY_DEFAULT: ClassVar[frozenset[str]] = frozenset()
    NOUN = "rows"

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

    class Selected(Message):
        """The cursor moved to another row (`key` None: nothing left to select)."""

        def __init__(self, table: KeyedTable, key: str | None) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    class Activated(Message):
        """Enter (or a double click) on a row."""

        def __init__(self, table: KeyedTable, key: str) -> None:
            super().__init__()
            self.table = table
            self.key = key

        @property
        def control(self) -> KeyedTable:
            return self.table

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._rows: dict[str, Row] = {}
        self._order: list[Row] = []
        self._index: dict[str, int] = {}
        self._cursor: str | None = None
        self._successor: str | None = None  # see `successor`
        self._filter = ""
        self._sort_key = self.SORT_KEYS[0] if self.SORT_KEYS else ""
        self._sort_desc = self._sort_key in self.DESC_BY_DEFAULT
        self._strips: dict[tuple[str, int, bool], Strip] = {}

    # -- subclass hooks -------------------------------------------------------------------

    def fill_row(self, row: Row, item: Any, now: float) -> None:
        raise NotImplementedError

    def hidden(self, row: Row) -> bool:
        """Whether a row is hidden by a toggle (never the cursor's row on refresh)."""
        return False

    def default_order(self, row: Row) -> Any:
        return row.key

    # -- public API -----------------------------------------------------------------------

    @property
    def selected_key(self) -> str | None:
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
        return len(self._rows)

    @property
    def sort_key(self) -> str:
        return self._sort_key

    @property
    def sort_descending(self) -> bool:
        return self._sort_desc

    @property
    def keys_in_order(self) -> list[str]:
        return [row.key for row in self._order]

    def row_text(self, key: str) -> str:
        """The row's cells joined by single spaces (for tests and logs)."""
        row = self._rows[key]
        return " ".join(row.cells.get(c.key, "") for c in self.COLUMNS)

    def update_items(self, items: Sequence[Any], now: float, key: Callable[[Any], str]) -> None:
        """Take a refresh's items; rows are updated in place by key."""
        seen: set[str] = set()
        for item in items:
            k = key(item)
            seen.add(k)
            row = self._rows.get(k)
            if row is None:
                row = self._rows[k] = Row(k)
            row.item = item
            self.fill_row(row, item, now)
        gone = [k for k in self._rows if k not in seen]
        self._successor = None
        if self._cursor in gone:
            self._successor = self.successor(self._rows[self._cursor].item)
        for k in gone:
            del self._rows[k]
        self._rebuild(pin=self._cursor)

    def successor(self, item: Any) -> str | None:
        """The key of the row that now stands for the selected `item`, which left (a
        container recreated under the same name gets a new id); None: no such row."""
        return None

    def set_filter(self, text: str) -> None:
        self._filter = text
        self._rebuild(pin=None)

    def select_key(self, key: str) -> bool:
        if key not in self._rows:
            return False
        self._rebuild(pin=key)
        self._set_cursor(key)
        return True

    def action_cycle_sort(self) -> None:
        keys = self.SORT_KEYS
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

    def _sorted(self, rows: list[Row]) -> list[Row]:
        key, desc = self._sort_key, self._sort_desc
        if key == self.SORT_KEYS[0]:
            rows.sort(key=self.default_order, reverse=desc)
            return rows
        known = [r for r in rows if r.sort.get(key) is not None]
        known.sort(key=lambda r: (r.sort[key], r.key), reverse=desc)
        return known + sorted((r for r in rows if r.sort.get(key) is None), key=lambda r: r.key)

    def _rebuild(self, pin: str | None) -> None:
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
        if self.is_mounted:
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

    def _set_cursor(self, key: str) -> None:
        changed = key != self._cursor
        self._cursor = key
        self._show_cursor()
        self._strips.clear()
        self.refresh()
        if changed:
            self.post_message(self.Selected(self, key))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        self._show_cursor()

    def on_focus(self, event: events.Focus) -> None:
        self._strips.clear()

    def on_blur(self, event: events.Blur) -> None:
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        columns = layout(self.COLUMNS, width)
        if y == 0:
            return self._line(self._header(columns), "header", width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._order):
            if index == 0:
                return self._line(self._empty_text(), "empty", width)
            return Strip.blank(width, self.rich_style)
        row = self._order[index]
        key = (row.key, width, row.key == self._cursor)
        strip = self._strips.get(key)
        if strip is None:
            text = " ".join(fit(row.cells.get(c.key, ""), w, c.right) for c, w in columns)
            strip = self._line(text, row.kind, width, cursor=key[2])
            self._strips[key] = strip
        return strip

    def _line(self, text: str, kind: str, width: int, cursor: bool = False) -> Strip:
        style = self.rich_style + self.get_component_rich_style(f"keyed-table--{kind}")
        if cursor:
            style += self.get_component_rich_style("keyed-table--cursor", partial=True)
        return Strip([Segment(set_cell_size(text, width), style)], width)

    def _header(self, columns: list[tuple[Column, int]]) -> str:
        arrow = "▼" if self._sort_desc else "▲"
        return " ".join(
            fit(c.label + (arrow if c.key == self._sort_key else ""), w, c.right)
            for c, w in columns
        )

    def _empty_text(self) -> str:
        if self._filter:
            return f"No {self.NOUN} match “{sanitize(self._filter, max_len=40)}”"
        return f"No {self.NOUN}" if not self._rows else f"No {self.NOUN} shown (hidden: a)"

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._order):
            self._set_cursor(self._order[index].key)
            if event.chain >= 2:
                self.action_details()
