"""The dashboard's Health pane."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual.widgets import Static

from console.state import SourceState


class HealthSummaryPane(Static):
    """Health at a glance; `update_state` is called with the `health` source's state."""

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(Text("Health: waiting for the first poll…"), id=id)
        self.clock = clock

    def update_state(self, state: SourceState[Any]) -> None:
        """Show the source's latest state."""
