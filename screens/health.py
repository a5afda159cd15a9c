"""Health screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from screens.base import ConsoleScreen


class HealthScreen(ConsoleScreen):
    """Health."""

    def body(self) -> ComposeResult:
        yield Static(Text("Health: starting…"))
