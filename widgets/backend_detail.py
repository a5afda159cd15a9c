"""One backend in full: every column, the whole query text, the locks it holds and awaits.

The query is shown multi-line (sanitised with `one_line=False`) and capped at
`QUERY_CAP` characters with a note, so a 100 KB (or 100 MB) statement cannot stall the
UI. Every cell is a `Text`, never a markup string: a Rich `Table` parses `str` cells.
"""

from __future__ import annotations

from datetime import datetime

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from adapters.postgres.models import BackendDetail, LockRow
from widgets.formatting import NA, duration
from widgets.safe_text import safe_text

QUERY_CAP = 200_000  # characters of query text shown; the rest is summarised in a note
_FIELD_MAX = 500


def _when(moment: datetime | None) -> str:
    return moment.isoformat(sep=" ", timespec="seconds") if moment is not None else NA


def _value(value: object) -> Text:
    if value is None or value == "" or value == ():
        return Text(NA, style="dim", end="")
    return safe_text(value, max_len=_FIELD_MAX)


def fields(detail: BackendDetail) -> list[tuple[str, Text]]:
    """(label, value) for every column of the backend, values sanitised."""
    b = detail.backend
    wait = ":".join(v for v in (b.wait_event_type, b.wait_event) if v) or None
    lock = None
    if b.waiting_lock_mode or b.waiting_relation or b.waiting_locktype:
        lock = " ".join(
            v for v in (b.waiting_lock_mode, b.waiting_locktype, b.waiting_relation) if v
        )
    client = b.client_addr
    if client and detail.client_port is not None:
        client = f"{client}:{detail.client_port}"
    rows: list[tuple[str, object]] = [
        ("pid", b.pid),
        ("backend type", detail.backend_type),
        ("user", b.user),
        ("database", b.database),
        ("application", b.application),
        ("client", client),
        ("client hostname", detail.client_hostname),
        ("state", b.state),
        ("wait event", wait),
        ("waiting for lock", lock),
        ("lock wait", duration(b.wait_age) if b.wait_age is not None else None),
        ("blocked by", ", ".join(map(str, b.blocked_by)) or None),
        ("backend start", _when(b.backend_start)),
        ("transaction start", _when(b.xact_start)),
        ("transaction age", duration(b.xact_age) if b.xact_age is not None else None),
        ("query start", _when(b.query_start)),
        ("query age", duration(b.query_age) if b.query_age is not None else None),
        ("state change", _when(b.state_change)),
        ("backend xid", detail.backend_xid),
        ("backend xmin", detail.backend_xmin),
    ]
    return [(label, _value(value)) for label, value in rows]


def query_text(query: str | None) -> Text:
    """The full query, multi-line, sanitised and capped at `QUERY_CAP` characters."""
    if not query:
        return Text("(no query text)", style="dim", end="")
    # CRLF line ends (Windows clients) are plain line breaks here; a lone CR stays visible
    # as ␍ (it is what could overwrite a line on a terminal).
    text = safe_text(query.replace("\r\n", "\n"), one_line=False, max_len=QUERY_CAP)
    if len(query) > QUERY_CAP:
        text.append(
            f"\n[query truncated: {len(query):,} characters, showing the first {QUERY_CAP:,}]",
            style="italic",
        )
    return text


def locks_table(locks: tuple[LockRow, ...]) -> RenderableType:
    """Awaited locks first (what this backend is stuck on), then the ones it holds."""
    if not locks:
        return Text("No locks.", style="dim", end="")
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False)
    for header in ("", "lock type", "mode", "relation", "detail"):
        table.add_column(Text(header, style="bold"), overflow="fold")
    for lock in sorted(locks, key=lambda lk: lk.granted):
        status = Text("held", end="") if lock.granted else Text("AWAITED", style="bold", end="")
        table.add_row(
            status,
            safe_text(lock.locktype, max_len=40),
            safe_text(lock.mode, max_len=40),
            _value(lock.relation),
            _value(lock.detail),
        )
    return table


def detail_renderable(detail: BackendDetail) -> RenderableType:
    """Everything the detail view shows, as one Rich renderable."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in fields(detail):
        grid.add_row(Text(label, end=""), value)
    held = sum(1 for lock in detail.locks if lock.granted)
    awaited = len(detail.locks) - held
    query = query_text(detail.backend.query)
    query.end = "\n"  # safe_text ends without a newline; the heading below needs one
    return Group(
        grid,
        Text(""),
        Text("Query", style="bold underline"),
        query,
        Text(""),
        Text(f"Locks: {held} held, {awaited} awaited", style="bold underline"),
        locks_table(detail.locks),
    )


class BackendDetailView(Static):
    """The detail of one backend; put it in a scrolling container (it is `height: auto`)."""

    DEFAULT_CSS = """
    BackendDetailView {
        height: auto;
        color: $foreground;
    }
    """

    def __init__(
        self,
        detail: BackendDetail | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes, markup=False)
        self._detail: BackendDetail | None = None
        if detail is not None:
            self.show(detail)

    @property
    def detail(self) -> BackendDetail | None:
        return self._detail

    def show(self, detail: BackendDetail) -> None:
        """Render `detail` (replacing what was shown)."""
        self._detail = detail
        self.update(detail_renderable(detail))
