"""The dashboard's Health pane: one line per service, the worst first.

Each line: state (up, degraded, down, unknown, and "flapping"), last latency, p95 over
the window, HTTP status, the version from the body, and days until the certificate
expires. Up to `MAX_LINES` lines; the rest (all up) are counted. A stale source keeps
its last snapshot on screen and the freshness line says why.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from adapters.health.models import HealthSnapshot
from console.state import SourceState
from widgets.freshness import Freshness
from widgets.health_table import STATE_ORDER, fit, row_cells

MAX_LINES = 20
NAME_WIDTH = 18


def summary_text(
    snapshot: HealthSnapshot | None,
    now: float,
    styles: dict[str, Any] | None = None,
    max_lines: int = MAX_LINES,
) -> Text:
    """The pane's body: a count line, then one line per check, the worst first."""
    styles = styles or {}
    if snapshot is None:
        return Text("Waiting for the first checks…", end="")
    counts = snapshot.counts()
    out = Text(no_wrap=True, overflow="ellipsis", end="")
    for state in ("down", "degraded", "unknown", "up"):
        out.append(f"{state} {counts[state]}", styles.get(state, "") if counts[state] else "")
        out.append("  ")
    flapping = sum(1 for c in snapshot.checks if c.flapping)
    if flapping:
        out.append(f"flapping {flapping}", styles.get("degraded", ""))
    ranked = sorted(
        enumerate(snapshot.checks), key=lambda item: (STATE_ORDER[_shown(item[1])], item[0])
    )
    for _, check in ranked[:max_lines]:
        cells = row_cells(check, now)
        state, name, latency, p95, status, version, cert, _target = cells
        line = (
            f"{fit(state, 19)} {fit(name, NAME_WIDTH)} {fit(latency, 9, True)} "
            f"p95 {fit(p95, 9, True)}  {fit(status, 11)} {fit(version, 12)} cert {cert}"
        )
        if check.insecure:
            line += "  INSECURE"
        out.append("\n")
        out.append(line, styles.get(_shown(check), ""))
    hidden = len(ranked) - max_lines
    if hidden > 0:
        out.append(f"\n… {hidden} more (all up); 5 for the Health screen", styles.get("muted", ""))
    return out


def _shown(check: Any) -> str:
    """The state a check is shown (and ranked) as: as on the Health screen, a flapping
    check is not "fine" even at a moment it answers."""
    return "degraded" if check.flapping and check.state == "up" else check.state


class HealthSummaryPane(Widget):
    """Health at a glance; `update_state` is called with the `health` source's state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "health-summary--up",
        "health-summary--degraded",
        "health-summary--down",
        "health-summary--unknown",
        "health-summary--muted",
    }

    DEFAULT_CSS = """
    HealthSummaryPane {
        height: auto;
        border: round $border;
        border-title-color: $text-primary;
        padding: 0 1;
        & > .health-summary--up { color: $text-success; }
        & > .health-summary--degraded { color: $text-warning; text-style: bold; }
        & > .health-summary--down { color: $text-error; text-style: bold; }
        & > .health-summary--unknown { color: $text-muted; }
        & > .health-summary--muted { color: $text-muted; }
        &.-stale { border: round $error; }
        &.-stale > .health-summary-body { text-opacity: 60%; }
        .health-summary-body { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Health"
        self.clock = clock
        self._state: SourceState[HealthSnapshot] | None = None
        self._snapshot: HealthSnapshot | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text("Health: waiting for the first poll…"), classes="health-summary-body")
        yield Freshness(self._state, clock=self.clock)

    def on_mount(self) -> None:
        self._show()

    def update_state(self, state: SourceState[Any]) -> None:
        """Show the source's latest state (the body is redrawn only for a new snapshot)."""
        if state is self._state:
            return
        self._state = state
        if self.is_mounted:
            self.query_one(Freshness).update_state(state)
            self.set_class(state.stale, "-stale")
            if state.snapshot is not self._snapshot:
                self._show()

    def body_text(self) -> Text:
        """The pane's text lines (what its body shows)."""
        snapshot = self._state.snapshot if self._state is not None else None
        styles = (
            {
                k: self.get_component_rich_style(f"health-summary--{k}")
                for k in ("up", "degraded", "down", "unknown", "muted")
            }
            if self.is_mounted
            else None
        )
        return summary_text(snapshot, self.clock(), styles)

    def _show(self) -> None:
        self._snapshot = self._state.snapshot if self._state is not None else None
        self.query_one(".health-summary-body", Static).update(self.body_text())
