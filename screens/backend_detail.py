"""`enter` on a session: every column, the full query, the locks held and awaited."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from widgets.backend_detail import BackendDetailView
from widgets.safe_text import safe_text

if TYPE_CHECKING:
    from console.app import OpsConsoleApp


class BackendDetailScreen(ModalScreen[None]):
    """Fetched once when opened (on the monitor connection, off the UI thread)."""

    BINDINGS = [Binding("escape,q,enter", "cancel", "Close")]

    DEFAULT_CSS = """
    BackendDetailScreen { align: center middle; }
    BackendDetailScreen > VerticalScroll {
        width: 95%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, pid: int) -> None:
        super().__init__()
        self.pid = pid

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(Text(f"pid {self.pid}: loading…"), id="detail-status")
            yield BackendDetailView(id="detail-view")

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        app: OpsConsoleApp = self.app  # type: ignore[assignment]
        status = self.query_one("#detail-status", Static)
        if app.pg is None:
            status.update(Text("PostgreSQL is not configured for this target."))
            return
        try:
            detail = await app.pg.detail(self.pid)
        except Exception as exc:  # typed SourceError or a bug: say it, keep the console
            status.update(safe_text(f"Could not load pid {self.pid}: {exc}"))
            return
        if detail is None:
            status.update(Text(f"pid {self.pid} has ended."))
            return
        status.update(Text(f"pid {self.pid}  (Esc closes)", style="bold"))
        self.query_one(BackendDetailView).show(detail)

    def action_cancel(self) -> None:
        self.dismiss(None)
