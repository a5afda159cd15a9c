"""A container's log lines on Textual's Line API, over the widget's own bounded buffer.

Measured with Textual 8.2.8: `RichLog` cannot keep up with 10,000 lines/s, and
`Log(max_lines=N)` stops repainting once full. This widget keeps `max_lines` entries in a
deque, sanitises a line only when it is drawn or searched (a flood of 20,000 lines/s
draws a few dozen of them per frame), and renders only the visible rows.

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
from bisect import bisect_right
from collections import deque
from collections.abc import Iterable, Sequence
from itertools import accumulate
from typing import ClassVar, Literal

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adapters.docker.models import LogLine
from widgets.safe_text import ELLIPSIS, sanitize

Level = Literal["all", "warn", "error"]
LEVELS: tuple[Level, ...] = ("all", "warn", "error")
TRUNCATED_MARK = " …[cut]"
DISPLAY_MAX = 20_000  # characters of one line drawn (the follower cuts at 16 KiB)
_LEVEL_SCAN = 300  # the level word is near the start of a line
_ERROR_RE = re.compile(
    r"\b(?:error|err|fatal|critical|crit|panic|emerg|alert|severe|exception)\b", re.I
)
_WARN_RE = re.compile(r"\b(?:warn|warning)\b", re.I)
_RANK = {"info": 0, "warn": 1, "error": 2, "notice": 3}
_MIN_RANK = {"all": 0, "warn": 1, "error": 2}
# Escape sequences (CSI, OSC up to BEL/ST, other two-byte ESC) and then any control
# character: what a saved file must never contain.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def level_of(text: str) -> str:
    """ "error", "warn" or "info": what a line looks like by its first words."""
    head = text[:_LEVEL_SCAN]
    if _ERROR_RE.search(head):
        return "error"
    if _WARN_RE.search(head):
        return "warn"
    return "info"


def strip_controls(text: str) -> str:
    """`text` without escape sequences and control characters (tabs kept): for files."""
    return _CONTROLS.sub("", _ESCAPES.sub("", text))


def short_timestamp(ts: str | None) -> str:
    """RFC 3339 "2024-05-01T12:34:56.123456789Z" as "05-01 12:34:56.123"."""
    if not ts or len(ts) < 19:
        return sanitize(ts or "", max_len=18).ljust(18)
    return f"{ts[5:10]} {ts[11:23]}".ljust(18)


class _Entry:
    """One buffered line; sanitised text, level and row counts computed when needed."""

    __slots__ = ("_level", "_rows", "_text", "line", "notice", "seq")

    def __init__(self, seq: int, line: LogLine, notice: bool = False) -> None:
        self.seq = seq
        self.line = line
        self.notice = notice
        self._text: str | None = None
        self._level: str | None = None
        self._rows: tuple[int, int] = (0, 0)  # (width, rows) when wrapped at width

    @property
    def text(self) -> str:
        if self._text is None:
            raw = self.line.text
            if raw.endswith("\r"):  # CRLF endings: the CR is noise, not content
                raw = raw[:-1]
            self._text = sanitize(raw, max_len=DISPLAY_MAX)
        return self._text

    @property
    def level(self) -> str:
        if self._level is None:
            self._level = "notice" if self.notice else level_of(self.line.text)
        return self._level

    def rows(self, width: int) -> int:
        if self._rows[0] != width:
            text = self.text + (TRUNCATED_MARK if self.line.truncated else "")
            if text.isascii():
                n = max(1, -(-len(text) // width))
            else:
                n = max(1, len(chop_cells(text, width)))
            self._rows = (width, n)
        return self._rows[1]


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
        self._buffer: deque[_Entry] = deque(maxlen=self.max_lines)
        self._view: deque[_Entry] = self._buffer  # the level filter's subset (or the buffer)
        self._seq = 0
        self.follow = True
        self.wrap = False
        self.timestamps = False
        self.level: Level = "all"
        self._search: re.Pattern[str] | None = None
        self._search_text = ""
        self._match_seq: int | None = None
        self._prefix: list[int] | None = None  # cumulative rows per view entry (wrap)
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
        self._add(_Entry(self._next_seq(), line) for line in lines)

    def add_notice(self, text: str) -> None:
        """A line of our own (the stream ended, lines dropped, the follower restarted)."""
        self._add([_Entry(self._next_seq(), LogLine("notice", text), notice=True)])

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
            floor = _MIN_RANK[level]
            self._view = deque(
                (e for e in self._buffer if _RANK[e.level] >= floor), maxlen=self.max_lines
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
        out: list[str] = []
        for entry in self._buffer:
            line = entry.line
            head = f"{line.timestamp} " if line.timestamp else ""
            tail = TRUNCATED_MARK if line.truncated else ""
            out.append(f"{head}{line.stream} {strip_controls(line.text)}{tail}")
        return out

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

    def _add(self, entries: Iterable[_Entry]) -> None:
        new = list(entries)
        if not new:
            return
        first_kept = new[-1].seq - self.max_lines + 1  # the oldest seq still buffered after
        removed_rows = 0
        if not self.follow:
            removed_rows = self._rows_before(first_kept)
        self._buffer.extend(new)
        if self._view is not self._buffer:
            floor = _MIN_RANK[self.level]
            self._view.extend(e for e in new if _RANK[e.level] >= floor)
            while self._view and self._view[0].seq < first_kept:
                self._view.popleft()
        if self.follow:
            self._changed()
            self._scroll_end()
        else:
            self._changed(scroll_to=max(0, round(self.scroll_y) - removed_rows))

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
        return (19 if self.timestamps else 0) + 1

    def _text_width(self) -> int:
        return max(1, self.scrollable_content_region.width - self._prefix_width())

    def _rows_prefix(self) -> list[int]:
        if self._prefix is None:
            width = self._text_width()
            self._prefix = list(accumulate(e.rows(width) for e in self._view))
        return self._prefix

    def _total_rows(self) -> int:
        if not self.wrap:
            return len(self._view)
        prefix = self._rows_prefix()
        return prefix[-1] if prefix else 0

    def _locate(self, y: int) -> tuple[int, int] | None:
        """(view index, row within the entry) of virtual row `y`."""
        if y < 0:
            return None
        if not self.wrap:
            return (y, 0) if y < len(self._view) else None
        prefix = self._rows_prefix()
        index = bisect_right(prefix, y)
        if index >= len(prefix):
            return None
        return index, y - (prefix[index - 1] if index else 0)

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
        y = index if not self.wrap else (self._rows_prefix()[index - 1] if index else 0)
        self.scroll_to(y=max(0, y - self._page() // 2), animate=False, force=True)

    def _keep_top(self, seq: int | None) -> None:
        if self.follow:
            self._scroll_end()
            return
        index = self._index_of(seq) if seq is not None else None
        if index is None and seq is not None:  # filtered out: the next line still shown
            index = next((i for i, e in enumerate(self._view) if e.seq > seq), None)
        if index is not None and self.is_mounted:
            y = index if not self.wrap else (self._rows_prefix()[index - 1] if index else 0)
            self.scroll_to(y=y, animate=False, force=True)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
        self._styles.clear()

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

    def _draw(self, entry: _Entry, row: int, width: int) -> Strip:
        base = self._style("base")
        line = entry.line
        if entry.notice:
            text_style = self._style("notice")
        elif entry.level in ("warn", "error"):
            text_style = self._style(entry.level)
        else:
            text_style = self._style("stderr" if line.stream == "stderr" else "stdout")
        segments: list[Segment] = []
        if row == 0:
            if self.timestamps:
                stamp = short_timestamp(line.timestamp) + " "
                segments.append(Segment(stamp, self._style("timestamp")))
            mark = "▍" if line.stream == "stderr" else " "
            segments.append(Segment(mark, self._style("stderr-mark")))
        else:
            segments.append(Segment(" " * self._prefix_width(), base))
        text = entry.text
        spans: list[tuple[int, int, Style]] = []
        if self._search is not None:
            style = self._style("+current-match" if entry.seq == self._match_seq else "+match")
            spans = [(m.start(), m.end(), style) for m in self._search.finditer(text) if m.end()]
        if line.truncated:
            spans.append((len(text), len(text) + len(TRUNCATED_MARK), self._style("+truncated")))
            text += TRUNCATED_MARK
        room = max(1, width - self._prefix_width())
        if self.wrap:
            chunks = (
                [text[i : i + room] for i in range(0, len(text), room)]
                if text.isascii()
                else (chop_cells(text, room))
            )
            start = sum(len(c) for c in chunks[:row])
            chunk = chunks[row] if row < len(chunks) else ""
        else:
            start, chunk = 0, text
            if cell_len(text) > room:
                chunk = set_cell_size(text, room - 1) + ELLIPSIS
        segments.extend(_styled(chunk, start, text_style, spans))
        return Strip(segments).adjust_cell_length(width, base)


def _styled(
    chunk: str, start: int, style: Style, spans: list[tuple[int, int, Style]]
) -> list[Segment]:
    """`chunk` (text[start:...]) split into segments where `spans` (text offsets) apply."""
    if not spans:
        return [Segment(chunk, style)]
    out: list[Segment] = []
    pos = 0
    end = len(chunk)
    for s, e, extra in spans:
        s, e = max(s - start, 0), min(e - start, end)
        if e <= pos or s >= end:
            continue
        if s > pos:
            out.append(Segment(chunk[pos:s], style))
        out.append(Segment(chunk[max(s, pos) : e], style + extra))
        pos = e
    if pos < end:
        out.append(Segment(chunk[pos:], style))
    return out


__all__ = [
    "LEVELS",
    "TRUNCATED_MARK",
    "Level",
    "LogView",
    "level_of",
    "short_timestamp",
    "strip_controls",
]
