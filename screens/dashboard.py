"""`1`: the dashboard — one pane per source of the target."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from console.bindings import bindings
from console.guard import survive
from console.redis_source import SOURCE_PREFIX, source_name
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.containers_summary import ContainersSummaryPane
from widgets.health_summary import HealthSummaryPane
from widgets.pg_summary import PgSummaryPane
from widgets.redis_summary import RedisSummaryPane


class DashboardScreen(ConsoleScreen):
    """What every runbook checks first, on one screen."""

    BINDINGS = bindings()

    DEFAULT_CSS = """
    DashboardScreen #no-sources { padding: 1 2; color: $foreground 60%; }
    """

    def body(self) -> ComposeResult:
        target = self.console().target
        clock = self.console().clock
        with VerticalScroll(id="dashboard"):
            if target.postgres is None:
                yield Static(Text("No PostgreSQL configured for this target."), id="no-sources")
            else:
                yield PgSummaryPane(clock=clock, id="pg-summary")
            for index, instance in enumerate(target.redis):
                yield RedisSummaryPane(
                    instance.name,
                    clock=clock,
                    source_name=source_name(instance.name),
                    id=f"redis-summary-{index}",
                )
            if target.docker is not None:
                yield ContainersSummaryPane(clock=clock, id="containers-summary")
            if target.health:
                yield HealthSummaryPane(clock=clock, id="health-summary")

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        if state.name.startswith(SOURCE_PREFIX):
            for redis_pane in self.query(RedisSummaryPane):
                if redis_pane.source_name == state.name:
                    redis_pane.update_state(state)
        elif state.name == "docker":
            for containers_pane in self.query(ContainersSummaryPane):
                containers_pane.update_state(state)
        elif state.name == "health":
            for health_pane in self.query(HealthSummaryPane):
                health_pane.update_state(state)
        elif state.name == "postgres":
            pg = self.console().pg
            history = pg.history if pg is not None else None
            for pane in self.query(PgSummaryPane):
                pane.update_state(state, history)
