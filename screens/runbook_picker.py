"""`!` on the Containers and Health screens: pick a runbook action to run on the selection.

The selection fills the action's `{container}`, `{service}` and `{target}` argv elements;
the run itself then goes through the action life cycle like any other (preview with the
exact argv, confirmation, audit), its output shown on the runbook screen.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

from console.config_runbook import RunbookActionConfig
from screens.runbook import runbook_row
from widgets.runbook_list import RunbookList
from widgets.safe_text import sanitize


class RunbookPicker(ModalScreen[str | None]):
    """A list of the target's runbook actions; Enter picks one, Esc closes."""

    BINDINGS = [
        Binding("escape,q", "close", "Close"),
        Binding("enter", "pick", "Run"),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("up,k", "move(-1)", "Up", show=False),
    ]

    DEFAULT_CSS = """
    RunbookPicker { align: center middle; }
    RunbookPicker > Vertical {
        width: 90%; max-width: 140; height: auto; max-height: 80%;
        border: thick $primary; background: $surface; padding: 0 1;
    }
    RunbookPicker #picker-title { text-style: bold; color: $primary; }
    RunbookPicker #picker-hint { color: $text-muted; }
    """

    def __init__(
        self, actions: tuple[RunbookActionConfig, ...], selection: Mapping[str, str]
    ) -> None:
        super().__init__()
        self.actions = actions
        self.selection = dict(selection)

    def compose(self) -> ComposeResult:
        what = ", ".join(
            f"{k} {sanitize(v, max_len=60)}" for k, v in self.selection.items() if k != "target"
        )
        with Vertical():
            yield Static(
                Text(f"Run a runbook action on {what or 'this target'}"), id="picker-title"
            )
            yield RunbookList(rows=[runbook_row(a) for a in self.actions], id="picker-list")
            yield Static(
                Text(
                    "enter: preview and confirm · esc: close · an action needing a value "
                    "the selection does not give is refused with a notice"
                ),
                id="picker-hint",
            )

    def on_mount(self) -> None:
        self.query_one(RunbookList).focus()

    def action_move(self, delta: int) -> None:
        self.query_one(RunbookList).move(delta)

    def action_pick(self) -> None:
        row = self.query_one(RunbookList).selected
        self.dismiss(row.name if row is not None else None)

    def action_close(self) -> None:
        self.dismiss(None)

    def action_cancel(self) -> None:
        """ctrl+c closes it (the app's interrupt calls this on a modal)."""
        self.dismiss(None)
