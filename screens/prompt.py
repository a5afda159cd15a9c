"""A small form in a modal: a few labelled text fields, Enter submits, Esc cancels."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from widgets.ordered_input import OrderedInput


class PromptScreen(ModalScreen[list[str] | None]):
    """Asks for `fields` (label, default); returns the values, or None when cancelled.

    Enter in the last field submits; Enter in another moves to the next field. This
    only gathers input: whatever it leads to still goes through its own confirmation.
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel", show=False)]

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical {
        width: 70; max-width: 100%; height: auto;
        border: round $primary; background: $surface; padding: 0 1;
    }
    PromptScreen Label { margin-top: 1; }
    PromptScreen #prompt-hint { color: $foreground 60%; margin-top: 1; }
    """

    def __init__(self, title: str, fields: list[tuple[str, str]], hint: str = "") -> None:
        super().__init__()
        self._title = title
        self._fields = fields
        self._hint = hint

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self._title, style="bold"))
            for index, (label, default) in enumerate(self._fields):
                yield Label(Text(label))
                yield OrderedInput(value=default, id=f"prompt-{index}")
            yield Static(Text(self._hint or "Enter: next / submit · Esc: cancel"), id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-0", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        index = int((event.input.id or "prompt-0").split("-")[1])
        if index + 1 < len(self._fields):
            self.query_one(f"#prompt-{index + 1}", Input).focus()
            return
        self.dismiss(
            [self.query_one(f"#prompt-{i}", Input).value for i in range(len(self._fields))]
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
