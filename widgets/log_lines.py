"""The log view's lines without Textual (widgets/log_view.py draws and scrolls): what one
line is (level, sanitised text, rows when wrapped, its drawn segments), the plain-text
helpers for timestamps and saved files, and `LineBuffer`, the bounded buffer of lines with
its level filter, wrapped row counts and search. Everything per line is computed when
first needed, so a flood that scrolls past unseen costs one small object per line."""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from itertools import accumulate
from typing import Literal

from rich.cells import cell_len, chop_cells, set_cell_size
from rich.segment import Segment
from rich.style import Style

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
RANK = {"info": 0, "warn": 1, "error": 2, "notice": 3}
MIN_RANK = {"all": 0, "warn": 1, "error": 2}
# Escape sequences (CSI, OSC up to BEL/ST, other two-byte ESC) and then any control
# character: what a saved file must never contain.
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]?")
_CONTROLS = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u200e\u200f]")


def level_of(text: str) -> str:
    """ "error", "warn" or "info": what a line looks like by its first words, read without
    escape sequences (a coloured `\x1b[31mWARN` is a warning: the `m` would hide it)."""
    head = text[:_LEVEL_SCAN]
    if not head.isprintable():  # escapes, controls (tabs too: cheap to strip anyway)
        head = strip_controls(text[: _LEVEL_SCAN * 4])[:_LEVEL_SCAN]
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


class LogEntry:
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


def prefix_width(timestamps: bool) -> int:
    """Cells before a line's text: the timestamp column (when shown) and the stream mark."""
    return (19 if timestamps else 0) + 1


def export_line(line: LogLine) -> str:
    """A line as plain text for a file: timestamp, stream, text, with escape sequences
    and control characters removed."""
    head = f"{line.timestamp} " if line.timestamp else ""
    tail = TRUNCATED_MARK if line.truncated else ""
    return f"{head}{line.stream} {strip_controls(line.text)}{tail}"


def entry_segments(
    entry: LogEntry,
    row: int,
    width: int,
    style_of: Callable[[str], Style],
    timestamps: bool,
    wrap: bool,
    search: re.Pattern[str] | None,
    current: bool,
) -> list[Segment]:
    """Row `row` of `entry` drawn `width` cells wide: timestamp and stream mark on the
    first row, search matches and the cut marker highlighted; `style_of` names the
    view's component styles ("+name": the component alone, laid over a line's style)."""
    line = entry.line
    if entry.notice:
        text_style = style_of("notice")
    elif entry.level in ("warn", "error"):
        text_style = style_of(entry.level)
    else:
        text_style = style_of("stderr" if line.stream == "stderr" else "stdout")
    segments: list[Segment] = []
    if row == 0:
        if timestamps:
            segments.append(Segment(short_timestamp(line.timestamp) + " ", style_of("timestamp")))
        segments.append(Segment("▍" if line.stream == "stderr" else " ", style_of("stderr-mark")))
    else:
        segments.append(Segment(" " * prefix_width(timestamps), style_of("base")))
    text = entry.text
    spans: list[tuple[int, int, Style]] = []
    if search is not None:
        style = style_of("+current-match" if current else "+match")
        spans = [(m.start(), m.end(), style) for m in search.finditer(text) if m.end()]
    if line.truncated:
        spans.append((len(text), len(text) + len(TRUNCATED_MARK), style_of("+truncated")))
        text += TRUNCATED_MARK
    room = max(1, width - prefix_width(timestamps))
    if wrap:
        chunks = (
            [text[i : i + room] for i in range(0, len(text), room)]
            if text.isascii()
            else chop_cells(text, room)
        )
        start = sum(len(c) for c in chunks[:row])
        chunk = chunks[row] if row < len(chunks) else ""
    else:
        start, chunk = 0, text
        if cell_len(text) > room:
            if line.truncated and room > len(TRUNCATED_MARK) + 1:
                # A cut line is always wider than the screen: keep the marker in view
                # (the plain ellipsis would hide that the reader cut it).
                keep = set_cell_size(entry.text, room - len(TRUNCATED_MARK))
                chunk = keep + TRUNCATED_MARK
                spans = [s for s in spans if s[0] < len(keep)]
                spans.append((len(keep), len(chunk), style_of("+truncated")))
            else:
                chunk = set_cell_size(text, room - 1) + ELLIPSIS
    segments.extend(styled_segments(chunk, start, text_style, spans))
    return segments


def styled_segments(
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


class RowIndex:
    """Cumulative wrapped-row counts of a view that grows at the end and loses entries at
    the front: O(new lines) per batch and amortised O(1) per dropped line, so a drain
    never walks the whole buffer. `cum[skip + i]` - `base` is the end row of entry i."""

    __slots__ = ("base", "cum", "skip", "width")

    def __init__(self, width: int, rows: Iterable[int]) -> None:
        self.width = width
        self.cum: list[int] = list(accumulate(rows))
        self.skip = 0
        self.base = 0

    def __len__(self) -> int:
        return len(self.cum) - self.skip

    def extend(self, rows: Iterable[int]) -> None:
        sums = accumulate(rows, initial=self.cum[-1] if self.cum else 0)
        next(sums)  # the initial value itself
        self.cum.extend(sums)

    def drop(self, count: int) -> None:
        """`count` entries left the front of the view."""
        if count <= 0:
            return
        self.skip += count
        self.base = self.cum[self.skip - 1]
        if self.skip > len(self.cum) // 2:  # compact now and then: amortised O(1)
            base = self.base
            self.cum = [c - base for c in self.cum[self.skip :]]
            self.skip = self.base = 0

    def total(self) -> int:
        return self.cum[-1] - self.base if len(self) else 0

    def start_of(self, index: int) -> int:
        """The first row of view entry `index`."""
        return self.cum[self.skip + index - 1] - self.base if index else 0

    def locate(self, y: int) -> tuple[int, int] | None:
        """(view index, row within the entry) of row `y`, None past the end."""
        index = bisect_right(self.cum, y + self.base, lo=self.skip) - self.skip
        if index >= len(self):
            return None
        return index, y - self.start_of(index)


class LineBuffer:
    """The lines a log view holds, without Textual: the bounded buffer (`entries`), the
    level filter's subset of it (`view`: the buffer itself when unfiltered, so the common
    case costs no copy), the view's rows and the search through it.

    Rows are asked for with `wrap_width`: the text width lines wrap at, or None when they
    do not (one row each). Wrapped row counts live in a `RowIndex` kept per width and
    updated per batch, so a batch costs O(its own lines) even with the buffer full."""

    def __init__(self, max_lines: int) -> None:
        self.max_lines = max_lines
        self.entries: deque[LogEntry] = deque(maxlen=max_lines)
        self.view: deque[LogEntry] = self.entries
        self.level: Level = "all"
        self.seq = 0
        self.index: RowIndex | None = None  # rows per view entry when wrapped

    def new_entries(self, lines: Sequence[LogLine]) -> list[LogEntry]:
        """`lines` as entries numbered on from the last one (not added yet)."""
        seq = self.seq
        self.seq += len(lines)
        return [LogEntry(seq + i, line) for i, line in enumerate(lines, 1)]

    def notice(self, text: str) -> LogEntry:
        """A line of the view's own, numbered like the others (not added yet)."""
        self.seq += 1
        return LogEntry(self.seq, LogLine("notice", text), notice=True)

    def add(self, new: list[LogEntry], width: int) -> None:
        """Append `new` (oldest first) to the buffer and, those the level filter lets
        through, to the view; the row index follows in O(len(new)) when it is for
        `width`, else it is dropped and rebuilt when next needed."""
        first_kept = new[-1].seq - self.max_lines + 1  # the oldest seq still buffered after
        view = self.view
        before = len(view)
        self.entries.extend(new)
        added = new
        if view is not self.entries:
            floor = MIN_RANK[self.level]
            added = [e for e in new if RANK[e.level] >= floor]
            view.extend(added)
            while view and view[0].seq < first_kept:
                view.popleft()
        index = self.index
        if index is not None:  # wrapped: keep the row index up to date, O(new lines)
            dropped = before + len(added) - len(view)
            if index.width == width and dropped < before:
                index.drop(dropped)
                index.extend(e.rows(index.width) for e in added)
            else:
                self.index = None

    def clear(self) -> None:
        self.entries.clear()
        self.view = self.entries if self.level == "all" else deque(maxlen=self.max_lines)
        self.index = None

    def set_level(self, level: Level) -> None:
        """Show all lines, or only lines that look like warnings+ or errors."""
        self.level = level
        if level == "all":
            self.view = self.entries
        else:
            floor = MIN_RANK[level]
            self.view = deque(
                (e for e in self.entries if RANK[e.level] >= floor), maxlen=self.max_lines
            )
        self.index = None

    def relayout(self) -> None:
        """The text width or the wrapping changed: rows are counted again when needed."""
        self.index = None

    def rows_index(self, width: int) -> RowIndex:
        # The width also changes without a Resize, when the scrollbar comes or goes.
        if self.index is None or self.index.width != width:
            self.index = RowIndex(width, (e.rows(width) for e in self.view))
        return self.index

    def total_rows(self, wrap_width: int | None) -> int:
        return self.rows_index(wrap_width).total() if wrap_width is not None else len(self.view)

    def first_row(self, index: int, wrap_width: int | None) -> int:
        """The first row of view entry `index`."""
        return self.rows_index(wrap_width).start_of(index) if wrap_width is not None else index

    def locate(self, y: int, wrap_width: int | None) -> tuple[int, int] | None:
        """(view index, row within the entry) of virtual row `y`."""
        if y < 0:
            return None
        if wrap_width is None:
            return (y, 0) if y < len(self.view) else None
        return self.rows_index(wrap_width).locate(y)

    def rows_before(self, seq: int, wrap_width: int | None) -> int:
        """Rows (in the current layout) of the view's entries older than `seq`."""
        rows = 0
        for entry in self.view:
            if entry.seq >= seq:
                break
            rows += entry.rows(wrap_width) if wrap_width is not None else 1
        return rows

    def index_of(self, seq: int | None) -> int | None:
        """The view index of entry `seq`; None when it is not (or no longer) shown."""
        view = self.view
        if seq is None or not view or seq < view[0].seq:
            return None
        for i, entry in enumerate(view):
            if entry.seq >= seq:
                return i if entry.seq == seq else None
        return None

    def find_match(self, search: re.Pattern[str], start: int, backwards: bool) -> int | None:
        """The nearest view index after `start` (before it when `backwards`) whose text
        holds a match; None when there is none."""
        entries = list(self.view)
        order = range(start - 1, -1, -1) if backwards else range(start + 1, len(entries))
        found = search.search
        for i in order:
            if found(entries[i].text):
                return i
        return None
