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
from textual.css.scalar import Scalar
from textual.screen import ModalScreen
from textual.widgets import Static

from console.config_runbook import RunbookActionConfig
from screens.runbook import runbook_row
from widgets.runbook_list import RunbookList
from widgets.safe_text import sanitize

#: The box's largest share of the screen's height (its CSS `max-height: 80%`).
BOX_SHARE = 0.8


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
        width: 90%; max-width: 140; height: auto; max-height: 80%;  /* BOX_SHARE */
        border: thick $primary; background: $surface; padding: 0 1;
    }
    RunbookPicker #picker-title { text-style: bold; color: $primary; }
    RunbookPicker RunbookList { max-height: 100%; }
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
        with Vertical(id="picker-box"):
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
        self.call_after_refresh(self._fit_list)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit_list)

    def _fit_list(self) -> None:
        """Give the list every line the box can have (80% of the screen) besides the
        title and the hint: all the actions when they fit; else the list scrolls to the
        cursor, and the hint stays in the box."""
        box = self.query_one("#picker-box")
        chrome = box.outer_size.height - box.content_size.height  # the border
        used = sum(
            self.query_one(f"#picker-{part}").outer_size.height for part in ("title", "hint")
        )
        room = max(2, int(self.size.height * BOX_SHARE) - chrome - used)
        listing = self.query_one(RunbookList)
        if listing.styles.max_height != Scalar.parse(str(room)):
            listing.styles.max_height = room

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
