"""The health checks table: one line per check, on Textual's Line API.

Columns: state (with "flapping"), name, last latency, p95, HTTP status, version from the
body, days until the certificate expires, and the target (marked INSECURE when TLS
verification is off). Selection is the check's name: a refresh never moves the cursor
to another check. `p` shows only the checks that are not up (the selected one stays).

Also holds the small formatting helpers the health widgets share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adapters.health.models import CheckStatus
from widgets.formatting import NA
from widgets.safe_text import ELLIPSIS, sanitize

STATE_MARKS = {"up": "●", "degraded": "▲", "down": "✖", "unknown": "?"}
STATE_ORDER = {"down": 0, "degraded": 1, "unknown": 2, "up": 3}


def state_label(check: CheckStatus) -> str:
    """ "▲ degraded", "✖ down flapping"."""
    text = f"{STATE_MARKS[check.state]} {check.state}"
    return text + " flapping" if check.flapping else text


def millis(seconds: float | None) -> str:
    """Latency for a column: "12 ms", "2,345 ms"."""
    return NA if seconds is None else f"{seconds * 1000:,.0f} ms"


def cert_days(days: float | None) -> str:
    """ "23d", "EXPIRED", or the em dash when there is no certificate (or it is unknown)."""
    if days is None:
        return NA
    if days < 0:
        return "EXPIRED"
    if days >= 10_000:
        return ">27y"
    return f"{int(days)}d"


def status_code(check: CheckStatus) -> str:
    last = check.last
    if last is None:
        return NA
    if last.status_code is not None:
        return str(last.status_code)
    if check.kind == "tcp" and last.ok:
        return "open"
    return last.error_kind or NA


def fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size <= width:
        pad = " " * (width - size)
        return pad + text if right else text + pad
    return set_cell_size(text, width - 1) + ELLIPSIS


# (label, width, right-aligned); the target takes what is left
COLUMNS: tuple[tuple[str, int, bool], ...] = (
    ("state", 19, False),
    ("check", 18, False),
    ("latency", 9, True),
    ("p95", 9, True),
    ("status", 11, False),
    ("version", 12, False),
    ("cert", 7, True),
)
TARGET_MIN = 12


def row_cells(check: CheckStatus, now: float) -> list[str]:
    """The sanitised cells of one check's line (the target last)."""
    last = check.last
    version = sanitize(last.version, max_len=40) if last is not None and last.version else NA
    target = sanitize(check.target, max_len=200)
    if check.insecure:
        target = "INSECURE " + target
    return [
        state_label(check),
        sanitize(check.name, max_len=64),
        millis(last.latency if last is not None and last.answered else None),
        millis(check.p95),
        status_code(check),
        version,
        cert_days(check.cert_days(now)),
        target,
    ]


class HealthTable(ScrollView, can_focus=True):
    """Every health check of the target; the cursor is a check name."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page(-1)", "Page up", show=False),
        Binding("pagedown", "cursor_page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "First", show=False),
        Binding("end", "cursor_to(-1)", "Last", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "health-table--header",
        "health-table--up",
        "health-table--degraded",
        "health-table--down",
        "health-table--unknown",
        "health-table--cursor",
        "health-table--empty",
    }

    DEFAULT_CSS = """
    HealthTable {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .health-table--header { background: $panel; text-style: bold; }
        & > .health-table--up { color: $text-success; }
        & > .health-table--degraded { color: $text-warning; text-style: bold; }
        & > .health-table--down { color: $text-error; text-style: bold; }
        & > .health-table--unknown { color: $text-muted; }
        & > .health-table--empty { color: $text-muted; text-style: italic; }
        & > .health-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .health-table--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
        &:ansi > .health-table--header { background: ansi_blue; color: ansi_bright_white; }
    }
    """

    class Selected(Message):
        """The cursor moved to another check (None: no check to select)."""

        def __init__(self, table: HealthTable, name: str | None) -> None:
            super().__init__()
            self.table = table
            self.name = name

        @property
        def control(self) -> HealthTable:
            return self.table

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._checks: dict[str, CheckStatus] = {}
        self._cells: dict[str, list[str]] = {}
        self._order: list[str] = []
        self._cursor: str | None = None
        self.problems_only = False
        self._strips: dict[tuple[str, int, bool], Strip] = {}

    @property
    def selected(self) -> str | None:
        return self._cursor

    @property
    def shown(self) -> Sequence[str]:
        return tuple(self._order)

    def update_checks(self, checks: Sequence[CheckStatus], now: float) -> None:
        """Take the statuses of a new snapshot; lines whose status did not change are kept."""
        fresh: dict[str, CheckStatus] = {}
        for check in checks:
            fresh[check.name] = check
            if self._checks.get(check.name) is not check:
                self._cells[check.name] = row_cells(check, now)
        for gone in set(self._cells) - set(fresh):
            del self._cells[gone]
        self._checks = fresh
        self._rebuild()

    def select(self, name: str) -> bool:
        if name not in self._checks:
            return False
        if name not in self._order:
            self.problems_only = False
            self._rebuild()
        self._set_cursor(name)
        return True

    def action_toggle_problems(self) -> None:
        self.problems_only = not self.problems_only
        self._rebuild()

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_page(self, direction: int) -> None:
        self._move(direction * max(1, self.scrollable_content_region.height - 1))

    def action_cursor_to(self, index: int) -> None:
        if self._order:
            self._set_cursor(self._order[index])

    # -- internals -------------------------------------------------------------------------

    def _rebuild(self) -> None:
        old = self._order.index(self._cursor) if self._cursor in self._order else 0
        self._order = [
            name
            for name, check in self._checks.items()
            if not self.problems_only or check.state != "up" or name == self._cursor
        ]
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)
        if self._cursor not in self._order:
            if self._order:
                self._set_cursor(self._order[min(old, len(self._order) - 1)])
            elif self._cursor is not None:
                self._cursor = None
                self.post_message(self.Selected(self, None))
        self.refresh()

    def _move(self, delta: int) -> None:
        if not self._order:
            return
        index = self._order.index(self._cursor) if self._cursor in self._order else 0
        self._set_cursor(self._order[max(0, min(len(self._order) - 1, index + delta))])

    def _set_cursor(self, name: str) -> None:
        changed = name != self._cursor
        self._cursor = name
        if self.is_mounted:
            index, top = self._order.index(name), round(self.scroll_y)
            page = max(1, self.scrollable_content_region.height - 1)
            if index < top:
                self.scroll_to(y=index, animate=False, force=True)
            elif index >= top + page:
                self.scroll_to(y=index - page + 1, animate=False, force=True)
        self.refresh()
        if changed:
            self.post_message(self.Selected(self, name))

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, len(self._order) + 1)

    def on_focus(self, event: events.Focus) -> None:
        self._strips.clear()

    def on_blur(self, event: events.Blur) -> None:
        self._strips.clear()

    def _join(self, cells: Sequence[str], width: int) -> str:
        fixed = [fit(cells[i], w, right) for i, (_, w, right) in enumerate(COLUMNS)]
        used = sum(w + 1 for _, w, _ in COLUMNS)
        if width - used < TARGET_MIN:  # narrow: the version and cert columns go first
            fixed = fixed[:5]
            used = sum(w + 1 for _, w, _ in COLUMNS[:5])
        return " ".join([*fixed, fit(cells[-1], max(0, width - used))])

    def _line(self, text: str, component: str, width: int, cursor: bool = False) -> Strip:
        style = self.get_component_rich_style(component)
        if cursor:
            style += self.get_component_rich_style("health-table--cursor")
        return Strip([Segment(fit(text, width), style)], width)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        if y == 0:  # the header never scrolls away
            header = [label for label, _, _ in COLUMNS] + ["target"]
            return self._line(self._join(header, width), "health-table--header", width)
        index = round(self.scroll_y) + y - 1
        if index >= len(self._order):
            if index == 0:
                text = "All checks are up (p: show all)" if self._checks else "No checks."
                return self._line(text, "health-table--empty", width)
            return Strip.blank(width, self.rich_style)
        name = self._order[index]
        key = (name, width, name == self._cursor)
        strip = self._strips.get(key)
        if strip is None:
            check = self._checks[name]
            # a flapping check is not "fine" even at a moment it answers
            state = "degraded" if check.flapping and check.state == "up" else check.state
            component = f"health-table--{state}"
            strip = self._line(self._join(self._cells[name], width), component, width, key[2])
            self._strips[key] = strip
        return strip
