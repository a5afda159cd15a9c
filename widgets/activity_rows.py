"""How a PostgreSQL backend becomes a line of the activity table: the columns and their
widths at a terminal width, and each row's cells, sort values, filter text and style."""

from __future__ import annotations

from collections.abc import Mapping

from adapters.postgres.models import Backend
from widgets.formatting import age_of, duration
from widgets.keyed_table import Row
from widgets.safe_text import sanitize
from widgets.table_columns import Column

COLUMNS: tuple[Column, ...] = (
    Column("pid", "pid", 7, max_width=7, right=True),
    Column("user", "user", 10, max_width=16, drop_rank=4),
    Column("database", "database", 10, max_width=16, drop_rank=3),
    Column("application", "application", 12, max_width=24, drop_rank=2),
    Column("client", "client", 15, max_width=24, drop_rank=1),
    Column("state", "state", 12, max_width=12),
    Column("wait", "wait", 10, max_width=20, drop_rank=5),
    Column("xact_age", "xact", 6, max_width=6, right=True),
    Column("query_age", "qtime", 6, max_width=6, right=True),
    Column("query", "query", 20, max_width=10_000),
)
QUERY_MIN = 20  # below this the query column is useless: drop other columns first
SORT_KEYS: tuple[str, ...] = ("activity", *(c.key for c in COLUMNS))
_TEXT_MAX = 64  # cap per text cell (the widest column is 24)
_QUERY_MAX = 1_000  # one line of query text: more than any terminal is wide
_HAYSTACK_QUERY_MAX = 10_000  # the filter looks this far into a query
_STATE_LABELS = {
    "idle in transaction": "idle in xact",
    "idle in transaction (aborted)": "xact aborted",
}
_TEXTS = ("user", "database", "application", "client")  # the first four of a row's source
_RANK = {"active": 0, "idle in transaction": 1, "idle in transaction (aborted)": 1, "idle": 3}
IDLE_RANK = _RANK["idle"]


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
        grow = max(0, min(spare, (column.max_width or column.width) - column.width))
        widths[column.key] += grow
        spare -= grow
    query_width = max(0, width - sum(w + 1 for w in widths.values()))
    return (*((c, widths[c.key]) for c in shown), (COLUMNS[-1], query_width))


CONTAINER_MARK = "⬢ "
"""Prefix of a client shown by its container's name instead of its address."""


def reused(old: Backend, new: Backend) -> bool:
    """Whether a pid now belongs to another session (pids are reused, start times not)."""
    return None not in (old.backend_start, new.backend_start) and (
        old.backend_start != new.backend_start
    )


class ActivityRow(Row[int]):
    """One backend's row; its text is re-sanitised only when it changed."""

    __slots__ = ("rank", "src")

    def __init__(self, pid: int) -> None:
        super().__init__(pid)
        self.src: tuple[str | None, ...] = ()  # never equal to real data: first fill sets
        self.rank = _RANK["active"]

    def fill(
        self, backend: Backend, blocker: bool, now: float | None, names: Mapping[str, str]
    ) -> None:
        """`now` (wall clock) derives ages from the start timestamps when the snapshot
        carries no server-side ages; None: it never does."""
        b = backend
        # A client on a watched Docker host shows as its container ("which service holds
        # the lock?"); the address stays in the detail view.
        client = b.client_addr
        if client is not None and client in names:
            client = CONTAINER_MARK + names[client]
        src = (b.user, b.database, b.application, client, b.state)
        src += (b.wait_event_type, b.wait_event, b.query)
        if src != self.src:
            self.src = src
            texts = {
                k: sanitize(v, max_len=_TEXT_MAX) for k, v in zip(_TEXTS, src[:4], strict=True)
            }
            state = _STATE_LABELS.get(b.state or "") or sanitize(b.state, max_len=_TEXT_MAX)
            wait = ":".join(sanitize(v, max_len=_TEXT_MAX) for v in src[5:7] if v)
            query = sanitize(b.query, max_len=_QUERY_MAX)
            self.haystack = "\0".join(
                [*(v or "" for v in src[:4]), b.state or "", (b.query or "")[:_HAYSTACK_QUERY_MAX]]
            ).casefold()
            self.cells = {"pid": str(b.pid), **texts, "state": state, "wait": wait, "query": query}
            self.sort = {
                "pid": b.pid,
                **{k: t.casefold() or None for k, t in texts.items()},
                "state": (b.state or "").casefold() or None,
                "wait": wait.casefold() or None,
                "query": query.casefold() or None,
            }
        xact = b.xact_age if b.xact_age is not None or now is None else age_of(b.xact_start, now)
        qage = b.query_age if b.query_age is not None or now is None else age_of(b.query_start, now)
        self.sort["xact_age"], self.sort["query_age"] = xact, qage
        self.cells["xact_age"] = duration(xact) if xact is not None else ""
        self.cells["query_age"] = duration(qage) if qage is not None else ""
        self.rank = _RANK.get(b.state or "", 2)
        if blocker:
            self.kind = "blocker"
        elif b.is_waiting_on_lock:
            self.kind = "waiting"
        elif b.state in ("idle in transaction", "idle in transaction (aborted)"):
            self.kind = "idle-in-transaction"
        else:
            self.kind = "idle" if b.state == "idle" else "active"

    def mark_gone(self) -> None:
        """The session left pg_stat_activity: struck through, its state says so."""
        self.kind = "gone"
        self.cells["state"] = "gone"


__all__ = ["COLUMNS", "CONTAINER_MARK", "SORT_KEYS", "ActivityRow", "Column", "layout", "reused"]
