"""Runbook screen."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.widgets import Static

from screens.base import ConsoleScreen


class RunbookScreen(ConsoleScreen):
    """Runbook."""

    def body(self) -> ComposeResult:
        yield Static(Text("Runbook: starting…"))
