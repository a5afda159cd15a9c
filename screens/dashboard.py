"""`1`: the dashboard — one pane per source of the target."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.bindings import bindings
from console.guard import survive
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.pg_summary import PgSummaryPane


class DashboardScreen(ConsoleScreen):
    """What every runbook checks first, on one screen."""

    BINDINGS = bindings()

    DEFAULT_CSS = """
    DashboardScreen #no-sources { padding: 1 2; color: $foreground 60%; }
    """

    def body(self) -> ComposeResult:
        with VerticalScroll(id="dashboard"):
            if self.console().target.postgres is None:
                yield Static(Text("No PostgreSQL configured for this target."), id="no-sources")
            else:
                yield PgSummaryPane(clock=self.console().clock, id="pg-summary")

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        if state.name == "postgres":
            pg = self.console().pg
            history = pg.history if pg is not None else None
            for pane in self.query(PgSummaryPane):
                pane.update_state(state, history)
