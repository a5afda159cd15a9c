"""`enter` on a container: its inspect summary, fetched once off the UI (the source's
own pool), with CPU/memory sparklines from the source's history, refreshed every second."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from adapters.docker.models import ContainerSummary
from console.guard import survive
from widgets.container_detail import ContainerDetailView
from widgets.safe_text import safe_text, sanitize

if TYPE_CHECKING:
    from console.app import OpsConsoleApp


class ContainerDetailScreen(ModalScreen[None]):
    """One container in detail; Esc closes."""

    BINDINGS = [Binding("escape,q,enter", "cancel", "Close")]

    DEFAULT_CSS = """
    ContainerDetailScreen { align: center middle; }
    ContainerDetailScreen > VerticalScroll {
        width: 95%; height: 90%; border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, container: ContainerSummary) -> None:
        super().__init__()
        self.container = container
        self.key = container.key

    def compose(self) -> ComposeResult:
        name = sanitize(self.container.name, max_len=80)
        with VerticalScroll():
            yield Static(Text(f"{name}: loading…"), id="detail-status")
            yield ContainerDetailView(id="detail-view")

    def on_mount(self) -> None:
        self.show_history()
        self.set_interval(1.0, self.show_history)
        self.load()

    @survive
    def show_history(self) -> None:
        app: OpsConsoleApp = self.app  # type: ignore[assignment]
        if app.docker is None:
            return
        cpu, memory = app.docker.history(self.key)
        self.query_one(ContainerDetailView).show_history(cpu, memory)

    @work(exclusive=True, exit_on_error=False)
    async def load(self) -> None:
        app: OpsConsoleApp = self.app  # type: ignore[assignment]
        status = self.query_one("#detail-status", Static)
        name = sanitize(self.container.name, max_len=80)
        if app.docker is None:
            status.update(Text("Docker is not configured for this target."))
            return
        try:
            detail = await app.docker.detail(self.key)
        except Exception as exc:  # a typed SourceError (gone, unreachable) or a bug: say it
            status.update(safe_text(f"Could not load {name}: {exc}"))
            return
        status.update(Text(f"{name}  (Esc closes)", style="bold"))
        self.query_one(ContainerDetailView).show(detail)

    def action_cancel(self) -> None:
        self.dismiss(None)
