"""`:`: a one-line command prompt at the bottom of the screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import ModalScreen
from textual.widgets import Input

from console.commands import HELP_TEXT
from widgets.ordered_input import OrderedInput


class CommandLineScreen(ModalScreen[str | None]):
    """Returns the typed command, or None when dismissed with Esc."""

    BINDINGS = [Binding("escape", "cancel", "Close", show=False)]

    DEFAULT_CSS = """
    CommandLineScreen { align: left bottom; background: $background 0%; }
    CommandLineScreen > Input { dock: bottom; width: 100%; border: none; height: 1;
        background: $panel; padding: 0 0; }
    """

    def compose(self) -> ComposeResult:
        yield OrderedInput(placeholder=HELP_TEXT, id="command")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
