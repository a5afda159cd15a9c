"""`W`: arm write actions on a production target, for a limited time, with a reason.

Focus starts in the reason field, not on Cancel: arming changes nothing on the target by
itself (every action still has its own confirmation), it is time-limited and audited,
and typing the reason is the whole point of the dialog. A stray Enter still cannot arm:
an empty (or blank) reason is refused, so the operator has to type something first.

Returns the reason (stripped), or None when cancelled (Esc, ctrl+c, the Cancel button).
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from widgets.ordered_input import OrderedInput
from widgets.safe_text import safe_text

#: The reason lands in every audit line of the arming; a sentence is enough.
REASON_MAX = 200


class ArmScreen(ModalScreen[str | None]):
    """Asks why write actions are being armed on `target`, for `minutes`."""

    AUTO_FOCUS = "#reason"

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", show=False),
        # q only reaches here when the focus is on a button (the field types it).
        Binding("q", "cancel", "Cancel", show=False),
        # priority: the Input binds ctrl+c to copy; here it must close the dialog.
        Binding("ctrl+c", "cancel", "Cancel", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    ArmScreen { align: center middle; }
    ArmScreen > #dialog {
        width: 72; max-width: 100%; height: auto; max-height: 100%;
        border: heavy $warning; background: $surface; padding: 0 1;
    }
    ArmScreen #what { text-style: bold; }
    ArmScreen #explain { color: $text-muted; margin: 0 0 1 0; }
    ArmScreen #error { color: $error; height: 1; }
    ArmScreen #buttons { height: auto; margin: 1 0 0 0; }
    ArmScreen #buttons Button { margin: 0 1 0 0; }
    ArmScreen #buttons Button:focus { text-style: bold reverse; }
    """

    def __init__(self, target: str, minutes: float) -> None:
        super().__init__()
        self.target = target
        self.minutes = minutes
        self._answered = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Arm write actions"  # a constant: titles parse markup
            yield Static(
                Text.assemble(
                    "Arm write actions on ",
                    safe_text(self.target, style="bold"),
                    f" for {self.minutes:g} minutes",
                ),
                id="what",
            )
            yield Static(
                "Each action still asks for its own confirmation. "
                "The reason is written to the audit log.",
                id="explain",
            )
            yield Static("Reason (required):", id="label")
            yield OrderedInput(
                placeholder="incident, ticket, what you are doing",
                id="reason",
                max_length=REASON_MAX,
            )
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Arm", id="arm", variant="warning", disabled=True)

    def _reason(self) -> str:
        return self.query_one("#reason", Input).value.strip()[:REASON_MAX]

    @on(Input.Changed, "#reason")
    def _reason_changed(self) -> None:
        self.query_one("#arm", Button).disabled = not self._reason()
        self.query_one("#error", Static).update("")

    @on(Input.Submitted, "#reason")
    def _reason_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._try_arm()

    @on(Button.Pressed, "#arm")
    def _arm_pressed(self) -> None:
        self._try_arm()

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.action_cancel()

    def _try_arm(self) -> None:
        reason = self._reason()
        if not reason:
            self.query_one("#error", Static).update("A reason is required to arm.")
            self.app.bell()
            return
        self._close(reason)

    def action_cancel(self) -> None:
        """Esc, ctrl+c, `q` on a button (also called by the app's ctrl+c handler)."""
        self._close(None)

    def _close(self, result: str | None) -> None:
        if self._answered:
            return
        self._answered = True
        self.dismiss(result)
