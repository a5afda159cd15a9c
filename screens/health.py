"""`5`: Health — every HTTP(S) and TCP check of the target, and the selected one in detail.

The table above (state, latency, p95, status, version, certificate days), the selected
check below: latency sparkline, state changes with their times (flapping called so),
the certificate's subject, issuer and expiry, and the last response's headers and body,
bounded and inert. The selection is the check's name and survives every refresh.
Nothing here acts on a service: the screen has no destructive keys.
"""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.widgets import Static

from adapters.health.models import HealthSnapshot
from console.bindings import bindings
from console.guard import survive
from console.health_source import SOURCE_NAME
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.freshness import Freshness
from widgets.health_detail import HealthDetail
from widgets.health_table import HealthTable
from widgets.safe_text import safe_text


class HealthScreen(ConsoleScreen):
    """Health checks of the target: table and detail."""

    BINDINGS = bindings("health.problems", "health.body", "health.runbook")

    DEFAULT_CSS = """
    HealthScreen #health-status { height: 1; color: $text-muted; }
    HealthScreen HealthTable { height: auto; max-height: 45%; min-height: 5; }
    HealthScreen HealthDetail { height: 1fr; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._snapshot: HealthSnapshot | None = None

    def body(self) -> ComposeResult:
        yield Freshness(clock=self.console().clock, id="health-freshness")
        yield Static(id="health-status", markup=False)
        yield HealthTable(id="health-table")
        yield HealthDetail(clock=self.console().clock, id="health-detail")

    def on_mount(self) -> None:
        self._show_status()
        self.query_one(HealthTable).focus()

    @property
    def table(self) -> HealthTable:
        return self.query_one(HealthTable)

    @property
    def detail(self) -> HealthDetail:
        return self.query_one(HealthDetail)

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        if state.name != SOURCE_NAME:
            return
        self.query_one(Freshness).update_state(state)
        snapshot = state.snapshot
        if snapshot is None or snapshot is self._snapshot:
            return
        self._snapshot = snapshot
        self.table.update_checks(snapshot.checks, self.console().clock())
        self._show_selected()
        self._show_status()

    def _show_status(self) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            text = (
                "Health: starting…"
                if self.console().target.health
                else ("No health checks configured for this target (add `health:` to it).")
            )
        else:
            counts = snapshot.counts()
            text = " · ".join(f"{counts[s]} {s}" for s in ("down", "degraded", "unknown", "up"))
            flapping = sum(1 for c in snapshot.checks if c.flapping)
            text += f" · {flapping} flapping" if flapping else ""
            if self.table.problems_only:
                text += " · problems only (p: all)"
        self.query_one("#health-status", Static).update(safe_text(text), layout=False)

    def _show_selected(self) -> None:
        name = self.table.selected
        check = self._snapshot.get(name) if self._snapshot is not None and name else None
        self.detail.show_check(check)

    @on(HealthTable.Selected)
    def _selected(self, _message: HealthTable.Selected) -> None:
        self._show_selected()
        self._show_status()

    def runbook_selection(self) -> dict[str, str]:
        """What the selection gives a runbook action: the check's name as `{service}`."""
        name = self.table.selected
        return {"service": name} if name else {}

    def action_runbook(self) -> None:
        """`!`: a runbook action on the selected check's service (`{service}`)."""
        from console.runbook_flows import pick_and_run

        pick_and_run(self.console(), self.runbook_selection())

    def action_toggle_body(self) -> None:
        self.detail.toggle_body()

    def action_toggle_problems(self) -> None:
        self.table.action_toggle_problems()
        self._show_status()
