"""`?`: every binding in force on the screen underneath, after keymap remapping."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from console.bindings import BY_ID


class HelpScreen(ModalScreen[None]):
    """Lists key, action and binding id (the id is what `keymap:` remaps)."""

    BINDINGS = [
        Binding("escape,q,question_mark", "cancel", "Close", show=False),
    ]

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 80; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def __init__(self, underneath: Screen) -> None:
        super().__init__()
        self._underneath = underneath

    def compose(self) -> ComposeResult:
        table = Table(box=None, expand=True, show_header=True, header_style="bold")
        table.add_column("key", no_wrap=True)
        table.add_column("does")
        table.add_column("id", style="dim", no_wrap=True)
        seen: set[tuple[str, str]] = set()
        for key, active in self._underneath.active_bindings.items():
            binding = active.binding
            if binding.system or (key, binding.action) in seen:
                continue
            seen.add((key, binding.action))
            description = binding.description
            if not description and binding.id in BY_ID:
                description = BY_ID[binding.id].description
            if not description:
                continue
            label = self.app.get_key_display(binding)
            state = "" if active.enabled else " (not available here)"
            table.add_row(Text(label), Text(description + state), Text(binding.id or ""))
        with VerticalScroll():
            yield Static(Text("Keys on this screen  (Esc closes)", style="bold"))
            yield Static(table)

    def action_cancel(self) -> None:
        self.dismiss(None)
