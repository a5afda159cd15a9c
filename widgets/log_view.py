"""A container's log lines on Textual's Line API, over the widget's own bounded buffer.

Measured with Textual 8.2.8: `RichLog` cannot keep up with 10,000 lines/s, and
`Log(max_lines=N)` stops repainting once full. This widget keeps `max_lines` entries in a
deque, sanitises a line only when it is drawn, searched or (wrapped) measured (a flood
of 20,000 lines/s draws a few dozen of them per frame), and renders only the visible
rows. A batch costs O(its own lines): drawn rows stay cached by (line, row, width), and
wrapped row counts live in a `RowIndex` updated per batch, never rebuilt per drain. What
one line is (level, text, drawing, export) is in widgets/log_lines.py.

Rows: an optional timestamp, a one-cell stream marker (stderr: a bar, stdout: blank, so
the two are told apart without colour), then the text. A cut line ends with a visible
marker. Lines that look like warnings or errors are coloured, and the level filter hides
the others. Search highlights every match on screen; `next_match`/`previous_match` move
to the next line holding one. With follow on, each batch scrolls to the newest line; with
follow off the view stays on the lines it shows while new ones arrive (scrolled up as
old ones fall out of the buffer).
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adapters.docker.models import LogLine
from widgets.log_lines import (
    LEVELS,
    MIN_RANK,
    RANK,
    TRUNCATED_MARK,
    Level,
    LogEntry,
    RowIndex,
    entry_segments,
    export_line,
    level_of,
    prefix_width,
    short_timestamp,
    strip_controls,
)


class LogView(ScrollView, can_focus=True):
    """Bounded, followable, searchable log lines; only the visible rows are drawn."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "line_up", "Up", show=False),
        Binding("down", "line_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home", "first", "First", show=False),
        Binding("end", "last", "Last (follow)", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "log-view--timestamp",
        "log-view--stdout",
        "log-view--stderr",
        "log-view--stderr-mark",
        "log-view--warn",
        "log-view--error",
        "log-view--notice",
        "log-view--truncated",
        "log-view--match",
        "log-view--current-match",
    }

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .log-view--timestamp { color: $text-muted; }
        & > .log-view--stdout { color: $foreground; }
        & > .log-view--stderr { color: $text-secondary; }
        & > .log-view--stderr-mark { color: $text-error; }
        & > .log-view--warn { color: $text-warning; }
        & > .log-view--error { color: $text-error; text-style: bold; }
        & > .log-view--notice { color: $text-muted; text-style: italic; }
        & > .log-view--truncated { color: $text-warning; text-style: reverse; }
        & > .log-view--match { background: $warning-muted; text-style: bold; }
        & > .log-view--current-match { background: $accent; color: $background; }
        &:ansi > .log-view--match { background: ansi_yellow; color: ansi_black; }
    }
    """

    class FollowChanged(Message):
        """Follow was turned on or off (by a key, or by scrolling up)."""

        def __init__(self, follow: bool) -> None:
            super().__init__()
            self.follow = follow

    def __init__(
        self,
        *,
        max_lines: int = 10_000,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max(1, max_lines)
        self._buffer: deque[LogEntry] = deque(maxlen=self.max_lines)
        self._view: deque[LogEntry] = self._buffer  # the level filter's subset (or the buffer)
        self._seq = 0
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self.level: Level = "all"
        self._search: re.Pattern[str] | None = None
        self._search_text = ""
        self._match_seq: int | None = None
        self._prefix: RowIndex | None = None  # rows per view entry when wrapped
        self._strips: dict[tuple[int, int, int], Strip] = {}
        self._styles: dict[str, Style] = {}
        self.received = 0  # lines given to the widget
        self.skipped = 0  # lines that fell out of the buffer before being shown

    # -- public API ---------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        return len(self._buffer)

    @property
    def shown_count(self) -> int:
        return len(self._view)

    @property
    def search_text(self) -> str:
        return self._search_text

    def append_lines(self, lines: Sequence[LogLine], dropped: int = 0) -> None:
        """Add a batch (oldest first); `dropped` lines were lost before it (one notice)."""
        if dropped:
            self.add_notice(f"… {dropped:,} lines dropped before they could be shown")
        if not lines:
            return
        self.received += len(lines)
        if len(lines) > self.max_lines:  # only the newest max_lines can stay anyway
            self.skipped += len(lines) - self.max_lines
            lines = lines[-self.max_lines :]
        seq = self._seq
        self._seq += len(lines)
        self._add([LogEntry(seq + i, line) for i, line in enumerate(lines, 1)])

    def add_notice(self, text: str) -> None:
        """A line of our own (the stream ended, lines dropped, the follower restarted)."""
        self._add([LogEntry(self._next_seq(), LogLine("notice", text), notice=True)])

    def clear(self) -> None:
        self._buffer.clear()
        self._view = self._buffer if self.level == "all" else deque(maxlen=self.max_lines)
        self._match_seq = None
        self._changed(scroll_to=0)

    def set_follow(self, follow: bool) -> None:
        if follow == self.follow:
            return
        self.follow = follow
        if follow:
            self._scroll_end()
        self.post_message(self.FollowChanged(follow))

    def set_wrap(self, wrap: bool) -> None:
        top = self._top_entry()
        self.wrap = wrap
        self._changed()
        self._keep_top(top)

    def set_timestamps(self, on: bool) -> None:
        top = self._top_entry()
        self.timestamps = on
        self._changed()
        self._keep_top(top)

    def set_level(self, level: Level) -> None:
        """Show all lines, or only lines that look like warnings+ or errors."""
        top = self._top_entry()
        self.level = level
        if level == "all":
            self._view = self._buffer
        else:
            floor = MIN_RANK[level]
            self._view = deque(
                (e for e in self._buffer if RANK[e.level] >= floor), maxlen=self.max_lines
            )
        self._changed()
        self._keep_top(top)

    def set_search(self, text: str) -> None:
        """Highlight `text` (case-insensitive, literal); empty clears."""
        self._search_text = text
        self._search = re.compile(re.escape(text), re.I) if text else None
        self._match_seq = None
        self._strips.clear()
        self.refresh()

    def next_match(self, backwards: bool = False) -> bool:
        """Move to the next (or previous) line holding the search text; turns follow off."""
        if self._search is None or not self._view:
            return False
        entries = list(self._view)
        start = self._index_of(self._match_seq) if self._match_seq is not None else None
        if start is None:  # from the screen's edge: a match already on screen counts
            start = self._bottom_index() + 1 if backwards else self._top_index() - 1
        order = range(start - 1, -1, -1) if backwards else range(start + 1, len(entries))
        search = self._search.search
        for i in order:
            if search(entries[i].text):
                self._match_seq = entries[i].seq
                self.set_follow(False)
                self._scroll_to_index(i)
                self._strips.clear()
                self.refresh()
                return True
        return False

    def visible_lines(self) -> list[str]:
        """The plain text of the rows on screen (what the operator sees), top to bottom."""
        height = self.scrollable_content_region.height
        return [self.render_line(y).text for y in range(height)]

    def export_lines(self) -> list[str]:
        """Every buffered line as plain text for a file: timestamp, stream, text, with
        escape sequences and control characters removed."""
        return [export_line(entry.line) for entry in self._buffer]

    # -- key actions ----------------------------------------------------------------------

    def action_line_up(self) -> None:
        self.set_follow(False)
        self.scroll_to(y=self.scroll_y - 1, animate=False, force=True)

    def action_line_down(self) -> None:
        self.scroll_to(y=self.scroll_y + 1, animate=False, force=True)

    def action_page_up(self) -> None:
        self.set_follow(False)
        self.scroll_to(y=self.scroll_y - self._page(), animate=False, force=True)

    def action_page_down(self) -> None:
        self.scroll_to(y=self.scroll_y + self._page(), animate=False, force=True)

    def action_first(self) -> None:
        self.set_follow(False)
        self.scroll_to(y=0, animate=False, force=True)

    def action_last(self) -> None:
        self.set_follow(True)
        self._scroll_end()

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self.set_follow(False)

    # -- internals ------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _add(self, entries: Iterable[LogEntry]) -> None:
        new = list(entries)
        if not new:
            return
        first_kept = new[-1].seq - self.max_lines + 1  # the oldest seq still buffered after
        removed_rows = 0
        if not self.follow:
            removed_rows = self._rows_before(first_kept)
        view = self._view
        before = len(view)
        self._buffer.extend(new)
        added = new
        if view is not self._buffer:
            floor = MIN_RANK[self.level]
            added = [e for e in new if RANK[e.level] >= floor]
            view.extend(added)
            while view and view[0].seq < first_kept:
                view.popleft()
        index = self._prefix
        if index is not None:  # wrapped: keep the row index up to date, O(new lines)
            dropped = before + len(added) - len(view)
            if index.width == self._text_width() and dropped < before:
                index.drop(dropped)
                index.extend(e.rows(index.width) for e in added)
            else:
                self._prefix = None
        # Drawn rows stay valid (cached by line, row and width): only the size changes.
        self.virtual_size = Size(self.scrollable_content_region.width, self._total_rows())
        if self.follow:
            self._scroll_end()
        elif self.is_mounted:
            y = max(0, round(self.scroll_y) - removed_rows)
            self.scroll_to(y=y, animate=False, force=True)
            self.refresh()

    def _rows_before(self, seq: int) -> int:
        """Rows (in the current layout) of the view's entries older than `seq`."""
        rows = 0
        width = self._text_width()
        for entry in self._view:
            if entry.seq >= seq:
                break
            rows += entry.rows(width) if self.wrap else 1
        return rows

    def _changed(self, scroll_to: int | None = None) -> None:
        self._prefix = None
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, self._total_rows())
        if scroll_to is not None and self.is_mounted:
            self.scroll_to(y=scroll_to, animate=False, force=True)
        self.refresh()

    def _scroll_end(self) -> None:
        if self.is_mounted:
            end = max(0, self._total_rows() - self.scrollable_content_region.height)
            self.scroll_to(y=end, animate=False, force=True)
        self.refresh()

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - 1)

    def _prefix_width(self) -> int:
        return prefix_width(self.timestamps)

    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width - self._prefix_width())

    def _rows_index(self) -> RowIndex:
        width = self._text_width()
        # The width also changes without a Resize, when the scrollbar comes or goes.
        if self._prefix is None or self._prefix.width != width:
            self._prefix = RowIndex(width, (e.rows(width) for e in self._view))
        return self._prefix

    def _total_rows(self) -> int:
        return self._rows_index().total() if self.wrap else len(self._view)

    def _first_row(self, index: int) -> int:
        """The first row of view entry `index`."""
        return self._rows_index().start_of(index) if self.wrap else index

    def _locate(self, y: int) -> tuple[int, int] | None:
        """(view index, row within the entry) of virtual row `y`."""
        if y < 0:
            return None
        if not self.wrap:
            return (y, 0) if y < len(self._view) else None
        return self._rows_index().locate(y)

    def _top_index(self) -> int:
        where = self._locate(round(self.scroll_y))
        return where[0] if where else max(0, len(self._view) - 1)

    def _bottom_index(self) -> int:
        bottom = round(self.scroll_y) + self.scrollable_content_region.height - 1
        where = self._locate(bottom)
        return where[0] if where else len(self._view) - 1

    def _top_entry(self) -> int | None:
        return self._view[self._top_index()].seq if self._view and not self.follow else None

    def _index_of(self, seq: int | None) -> int | None:
        if seq is None or not self._view or seq < self._view[0].seq:
            return None
        for i, entry in enumerate(self._view):
            if entry.seq >= seq:
                return i if entry.seq == seq else None
        return None

    def _scroll_to_index(self, index: int) -> None:
        y = self._first_row(index)
        self.scroll_to(y=max(0, y - self._page() // 2), animate=False, force=True)

    def _keep_top(self, seq: int | None) -> None:
        if self.follow:
            self._scroll_end()
            return
        index = self._index_of(seq) if seq is not None else None
        if index is None and seq is not None:  # filtered out: the next line still shown
            index = next((i for i, e in enumerate(self._view) if e.seq > seq), None)
        if index is not None and self.is_mounted:
            self.scroll_to(y=self._first_row(index), animate=False, force=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()

    def watch_show_vertical_scrollbar(self) -> None:
        # The scrollbar coming or going changes the text width (no Resize is sent):
        # wrapped rows, the virtual size and the end of the view all move.
        if self.wrap and self.is_mounted:
            self._changed()
            if self.follow:
                self._scroll_end()

    def on_resize(self, event: events.Resize) -> None:
        self._changed()
        if self.follow:
            self._scroll_end()

    # -- drawing --------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        """The widget's base style plus a component's (cached: `rich_style` and component
        lookups cost more than drawing a line; cleared when styles change)."""
        style = self._styles.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            elif name.startswith("+"):  # a component alone, laid over a line's style
                style = self.get_component_rich_style(f"log-view--{name[1:]}", partial=True)
            else:
                component = self.get_component_rich_style(f"log-view--{name}", partial=True)
                style = self._style("base") + component
            self._styles[name] = style
        return style

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        where = self._locate(round(self.scroll_y) + y)
        if where is None:
            return Strip.blank(width, self._style("base"))
        index, row = where
        entry = self._view[index]
        key = (entry.seq, row, width)
        strip = self._strips.get(key)
        if strip is None:
            if len(self._strips) > 4_000:
                self._strips.clear()
            strip = self._draw(entry, row, width)
            self._strips[key] = strip
        return strip

    def _draw(self, entry: LogEntry, row: int, width: int) -> Strip:
        current = entry.seq == self._match_seq
        segments = entry_segments(
            entry, row, width, self._style, self.timestamps, self.wrap, self._search, current
        )
        return Strip(segments).adjust_cell_length(width, self._style("base"))


__all__ = [
    "LEVELS",
    "TRUNCATED_MARK",
    "Level",
    "LogView",
    "level_of",
    "short_timestamp",
    "strip_controls",
]
