"""The PostgreSQL activity table: one line per backend, on `KeyedTable`
(widgets/keyed_table.py), which renders only the visible lines; how a backend becomes a
line is in widgets/activity_rows.py.

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
from typing import Any, ClassVar, cast

from textual.binding import BindingType
from textual.reactive import reactive

from adapters.postgres.models import Backend
from console.bindings import bindings
from widgets.activity_rows import (
    COLUMNS,
    CONTAINER_MARK,
    IDLE_RANK,
    SORT_KEYS,
    ActivityRow,
    layout,
    reused,
)
from widgets.keyed_table import KeyedTable, Row
from widgets.safe_text import sanitize
from widgets.table_columns import Column, ColumnLayout

_GONE_UPDATES = 2  # a gone row stays for the update that missed it and one more


def _pid(backend: Backend) -> int:
    return backend.pid


class ActivityTable(KeyedTable[int]):
    """Sessions from pg_stat_activity: sortable, filterable, cursor kept on its pid."""

    COLUMNS = COLUMNS
    SORT_KEYS = SORT_KEYS
    DESC_BY_DEFAULT = frozenset({"activity", "xact_age", "query_age"})
    HEADER_MARKS = {"activity": "query_age"}  # the default order is longest query first
    NOUN = "sessions"
    COMPONENT_PREFIX = "activity-table"

    BINDINGS: ClassVar[list[BindingType]] = [
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

    class Selected(KeyedTable.Selected):
        """The cursor moved to another session (`pid` None: nothing left to select)."""

        @property
        def pid(self) -> int | None:
            return cast(int | None, self.key)

    class Activated(KeyedTable.Activated):
        """Enter was pressed on a session: the screen shows its details."""

        @property
        def pid(self) -> int:
            return cast(int, self.key)

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
        self._client_names: Mapping[str, str] = {}
        self._blockers: frozenset[int] = frozenset()
        # The poll's wall clock, not KeyedTable's float `now`: None (no clock given) means
        # ages come only from the server.
        self._wall: float | None = None

    # -- public API ---------------------------------------------------------------------

    @property
    def selected_pid(self) -> int | None:
        return self.selected_key

    @property
    def selected_backend(self) -> Backend | None:
        return cast(Backend | None, self.selected_item)

    @property
    def selected_gone(self) -> bool:
        """Whether the selected session has left pg_stat_activity (actions must refuse)."""
        row = self._rows.get(self._cursor) if self._cursor is not None else None
        return bool(row and row.missing)

    @property
    def ended_count(self) -> int:
        """Rows shown of sessions that have ended (struck through, "gone")."""
        return sum(1 for row in self._order if row.missing)

    def counts_text(self) -> str:
        """E.g. "12 sessions, 10 shown" or "1 session, 1 shown, +1 ended": the sessions of
        the last poll, how many of them are listed, and the rows of ended ones kept."""
        total, ended = self.total_count, self.ended_count
        text = f"{total:,} session{'' if total == 1 else 's'}, {self.visible_count - ended:,} shown"
        return text + (f", +{ended:,} ended" if ended else "")

    def status_text(self) -> str:
        """E.g. "1,100 sessions, 100 shown (filter: app1)", for the screen's status line."""
        text = self.counts_text()
        if self._filter:
            text += f" (filter: {sanitize(self._filter, max_len=40)})"
        return text if self.show_idle else text + ", idle hidden"

    def update_snapshot(self, backends: Sequence[Backend], now: float | None = None) -> None:
        """Take a new poll's backends; rows are updated in place keyed by pid.

        `now` (wall clock) is only used to derive ages from the start timestamps when the
        snapshot carries no server-side ages.
        """
        self._blockers = frozenset(pid for b in backends for pid in b.blocked_by)
        self._wall = now
        self.update_items(backends, 0.0 if now is None else now, _pid)  # fill_row: _wall

    def set_client_names(self, names: Mapping[str, str]) -> None:
        """Name clients by container: `names` maps an IP address to a container name."""
        if dict(names) == dict(self._client_names):
            return
        self._client_names = dict(names)
        self.refill()

    def client_name(self, address: str | None) -> str | None:
        """The container name shown for a client address, if any."""
        return self._client_names.get(address) if address else None

    def set_filter(self, text: str) -> None:
        """Show only sessions whose user, database, application, client (address or
        container), state or query contain `text` (case-insensitive); an empty string
        clears the filter."""
        super().set_filter(text)

    def select_pid(self, pid: int) -> bool:
        """Move the cursor to `pid` (shown even if filtered out) and scroll to it."""
        return self.select_key(pid)

    def action_toggle_idle(self) -> None:
        self.show_idle = not self.show_idle

    def watch_show_idle(self) -> None:
        self._rebuild(pin=None)

    # -- KeyedTable hooks -----------------------------------------------------------------

    def new_row(self, key: int) -> Row[int]:
        return ActivityRow(key)

    def fill_row(self, row: Row[int], item: Any, now: float) -> None:
        backend: Backend = item
        if row.missing:
            cast(ActivityRow, row).src = ()  # back (or the pid was reused): redo its cells
        elif row.item is not None and row.key == self._cursor and reused(row.item, backend):
            # Same pid, new session: the selection is kept (it is keyed by pid) but the
            # screen is told, so it can re-read what the cursor now points at.
            self.post_message(self.Selected(self, row.key))
        blocker = backend.pid in self._blockers
        cast(ActivityRow, row).fill(backend, blocker, self._wall, self._client_names)

    def keep_missing(self, row: Row[int]) -> bool:
        if row.missing == 1:
            cast(ActivityRow, row).mark_gone()
        return row.missing <= _GONE_UPDATES or row.key == self._cursor

    def hidden(self, row: Row[int]) -> bool:
        return not self.show_idle and cast(ActivityRow, row).rank == IDLE_RANK

    def default_order(self, row: Row[int]) -> Any:
        # Active sessions first, then longest query first. Sorted descending (▼) by
        # default, so this is that order's key negated.
        qage = row.sort["query_age"] or 0.0
        return (-cast(ActivityRow, row).rank, qage, -row.key)

    def column_layout(self, width: int) -> ColumnLayout:
        return layout(width)

    def empty_text(self) -> str:
        if self._filter:
            return super().empty_text()
        return "No sessions" if self.show_idle or not self._rows else "No non-idle sessions"


__all__ = ["COLUMNS", "CONTAINER_MARK", "SORT_KEYS", "ActivityTable", "Column", "layout"]
