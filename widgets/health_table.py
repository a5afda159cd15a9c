"""The health checks table: one line per check, on `KeyedTable` (widgets/keyed_table.py).

Columns: state (with "flapping"), name, last latency, p95, HTTP status, version from the
body, days until the certificate expires, and the target (marked INSECURE when TLS
verification is off). Selection is the check's name: a refresh never moves the cursor
to another check. `p` shows only the checks that are not up (the selected one stays).

Also holds the small formatting helpers the health widgets share.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, cast

from rich.segment import Segment
from textual.strip import Strip

from adapters.health.models import CheckStatus
from widgets.formatting import NA
from widgets.keyed_table import KeyedTable, Row
from widgets.safe_text import sanitize
from widgets.table_columns import Column, ColumnLayout, fit

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


TARGET_MIN = 12
COLUMNS: tuple[Column, ...] = (
    Column("state", "state", 19),
    Column("check", "check", 18),
    Column("latency", "latency", 9, right=True),
    Column("p95", "p95", 9, right=True),
    Column("status", "status", 11),
    Column("version", "version", 12),
    Column("cert", "cert", 7, right=True),
    Column("target", "target", TARGET_MIN),  # takes what the others leave
)


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


class HealthTable(KeyedTable[str]):
    """Every health check of the target; the cursor is a check name."""

    COLUMNS = COLUMNS
    COMPONENT_PREFIX = "health-table"

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

    class Selected(KeyedTable.Selected):
        """The cursor moved to another check (None: no check to select)."""

        @property
        def name(self) -> str | None:
            return cast(str | None, self.key)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.problems_only = False
        self._place: dict[str, int] = {}  # each check's place in the last snapshot

    @property
    def selected(self) -> str | None:
        return self.selected_key

    @property
    def shown(self) -> Sequence[str]:
        return tuple(self.keys_in_order)

    def update_checks(self, checks: Sequence[CheckStatus], now: float) -> None:
        """Take the statuses of a new snapshot; lines whose status did not change are kept."""
        self._place = {}
        for place, check in enumerate(checks):
            self._place.setdefault(check.name, place)
        self.update_items(checks, now, _name)

    def select(self, name: str) -> bool:
        if name not in self._rows:
            return False
        if name not in self._index:
            self.problems_only = False
            self._rebuild(pin=self._cursor)
        self._set_cursor(name)
        return True

    def action_toggle_problems(self) -> None:
        self.problems_only = not self.problems_only
        self._rebuild(pin=self._cursor)  # the selected check stays

    # -- KeyedTable hooks -----------------------------------------------------------------

    def fill_row(self, row: Row[str], item: Any, now: float) -> None:
        check: CheckStatus = item
        if row.item is check:
            return
        row.cells = dict(zip((c.key for c in COLUMNS), row_cells(check, now), strict=True))
        # a flapping check is not "fine" even at a moment it answers
        row.kind = "degraded" if check.flapping and check.state == "up" else check.state

    def hidden(self, row: Row[str]) -> bool:
        return self.problems_only and row.item.state == "up"

    def default_order(self, row: Row[str]) -> Any:
        return self._place[row.key]

    def column_layout(self, width: int) -> ColumnLayout:
        fixed = COLUMNS[:-1]
        if width - sum(c.width + 1 for c in fixed) < TARGET_MIN:
            fixed = fixed[:5]  # narrow: the version and cert columns go first
        used = sum(c.width + 1 for c in fixed)
        return [*((c, c.width) for c in fixed), (COLUMNS[-1], max(0, width - used))]

    def empty_text(self) -> str:
        return "All checks are up (p: show all)" if self._rows else "No checks."

    def _line(self, text: str, kind: str, width: int, cursor: bool = False) -> Strip:
        # Not KeyedTable's line, to look as this table always did: the cursor's full style
        # (a translucent blurred cursor blended over the surface, not laid on raw) and an
        # ellipsis where a narrow line is cut.
        style = self.get_component_rich_style(f"health-table--{kind}")
        if cursor:
            style += self.get_component_rich_style("health-table--cursor")
        return Strip([Segment(fit(text, width), style)], width)


def _name(check: CheckStatus) -> str:
    return check.name
