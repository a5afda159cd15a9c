"""A container's log lines on Textual's Line API, over the widget's own bounded buffer.

Measured with Textual 8.2.8: `RichLog` cannot keep up with 10,000 lines/s, and
`Log(max_lines=N)` stops repainting once full. This widget keeps `max_lines` entries in a
deque, sanitises a line only when it is drawn, searched or (wrapped) measured (a flood
of 20,000 lines/s draws a few dozen of them per frame), and renders only the visible
rows. A batch costs O(its own lines): drawn rows stay cached by (line, row, width), and
wrapped row counts live in a `RowIndex` updated per batch, never rebuilt per drain.

Rows: an optional timestamp, a one-cell stream marker (stderr: a bar, stdout: blank, so
the two are told apart without colour), then the text. A cut line ends with a visible
marker. Lines that look like warnings or errors are coloured, and the level filter hides
the others. Search highlights every match on screen; `next_match`/`previous_match` move
to the next line holding one. With follow on, each batch scrolls to the newest line; with
follow off the view stays on the lines it shows while new ones arrive (scrolled up as
old ones fall out of the buffer).

What one line is (level, text, drawing, export) and the buffer of them (level filter,
wrapped rows, search) are in widgets/log_lines.py: this module is the Textual side.
"""

from __future__ import annotations

import re
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
    TRUNCATED_MARK,
    Level,
    LineBuffer,
    LogEntry,
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
        self._lines = LineBuffer(self.max_lines)
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self._search: re.Pattern[str] | None = None
        self._search_text = ""
        self._match_seq: int | None = None
        self._strips: dict[tuple[int, int, int], Strip] = {}
        self._styles: dict[str, Style] = {}
        self.received = 0  # lines given to the widget
        self.skipped = 0  # lines that fell out of the buffer before being shown

    # -- public API ---------------------------------------------------------------------

    @property
    def level(self) -> Level:
        return self._lines.level

    @property
    def line_count(self) -> int:
        return len(self._lines.entries)

    @property
    def shown_count(self) -> int:
        return len(self._lines.view)

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
        self._add(self._lines.new_entries(lines))

    def add_notice(self, text: str) -> None:
        """A line of our own (the stream ended, lines dropped, the follower restarted)."""
        self._add([self._lines.notice(text)])

    def clear(self) -> None:
        self._lines.clear()
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
        self._lines.set_level(level)
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
        if self._search is None or not self._lines.view:
            return False
        start = self._lines.index_of(self._match_seq) if self._match_seq is not None else None
        if start is None:  # from the screen's edge: a match already on screen counts
            start = self._bottom_index() + 1 if backwards else self._top_index() - 1
        found = self._lines.find_match(self._search, start, backwards)
        if found is None:
            return False
        self._match_seq = self._lines.view[found].seq
        self.set_follow(False)
        self._scroll_to_index(found)
        self._strips.clear()
        self.refresh()
        return True

    def visible_lines(self) -> list[str]:
        """The plain text of the rows on screen (what the operator sees), top to bottom."""
        height = self.scrollable_content_region.height
        return [self.render_line(y).text for y in range(height)]

    def export_lines(self) -> list[str]:
        """Every buffered line as plain text for a file: timestamp, stream, text, with
        escape sequences and control characters removed."""
        return [export_line(entry.line) for entry in self._lines.entries]

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

    def _add(self, entries: Iterable[LogEntry]) -> None:
        new = list(entries)
        if not new:
            return
        first_kept = new[-1].seq - self.max_lines + 1  # the oldest seq still buffered after
        removed_rows = 0
        if not self.follow:
            removed_rows = self._lines.rows_before(first_kept, self._wrap_width())
        self._lines.add(new, self._text_width())
        # Drawn rows stay valid (cached by line, row and width): only the size changes.
        self.virtual_size = Size(self.scrollable_content_region.width, self._total_rows())
        if self.follow:
            self._scroll_end()
        elif self.is_mounted:
            y = max(0, round(self.scroll_y) - removed_rows)
            self.scroll_to(y=y, animate=False, force=True)
            self.refresh()

    def _changed(self, scroll_to: int | None = None) -> None:
        self._lines.relayout()
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

    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width - prefix_width(self.timestamps))

    def _wrap_width(self) -> int | None:
        """The text width lines wrap at; None when they do not (one row each)."""
        return self._text_width() if self.wrap else None

    def _total_rows(self) -> int:
        return self._lines.total_rows(self._wrap_width())

    def _first_row(self, index: int) -> int:
        return self._lines.first_row(index, self._wrap_width())

    def _locate(self, y: int) -> tuple[int, int] | None:
        return self._lines.locate(y, self._wrap_width())

    def _top_index(self) -> int:
        where = self._locate(round(self.scroll_y))
        return where[0] if where else max(0, len(self._lines.view) - 1)

    def _bottom_index(self) -> int:
        bottom = round(self.scroll_y) + self.scrollable_content_region.height - 1
        where = self._locate(bottom)
        return where[0] if where else len(self._lines.view) - 1

    def _top_entry(self) -> int | None:
        view = self._lines.view
        return view[self._top_index()].seq if view and not self.follow else None

    def _scroll_to_index(self, index: int) -> None:
        y = self._first_row(index)
        self.scroll_to(y=max(0, y - self._page() // 2), animate=False, force=True)

    def _keep_top(self, seq: int | None) -> None:
        if self.follow:
            self._scroll_end()
            return
        index = self._lines.index_of(seq) if seq is not None else None
        if index is None and seq is not None:  # filtered out: the next line still shown
            index = next((i for i, e in enumerate(self._lines.view) if e.seq > seq), None)
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
        entry = self._lines.view[index]
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
