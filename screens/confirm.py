"""The one confirmation dialog for every remediation: default Cancel, exact operation shown.

LOW risk: `y` confirms; Enter (on the focused Cancel), Esc, `n` and `q` cancel.
HIGH risk: the operator types the confirm token (a pid, the target name); the Confirm
button stays disabled until the text matches exactly, and Enter in the field only
confirms a match. Enter alone never confirms, because Cancel holds the focus when the
dialog opens. A printable key pressed while the field is not focused is typed into
it (so `K 4242 Enter` works without a Tab), except `q`, which closes the dialog.
`ctrl+c` closes the dialog in both cases.

Everything shown that came from outside (query text, user and application names) goes
through `widgets.safe_text`: never parsed as markup, escape sequences made visible.
"""

from __future__ import annotations

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from console.actions import ActionPlan, Risk
from widgets.ordered_input import OrderedInput
from widgets.safe_text import safe_text, sanitize

#: Longest value shown per detail; the dialog is for deciding, not for reading 1 MB queries.
DETAIL_MAX = 600
PREVIEW_MAX = 2000
#: lines of details shown at least, and the lines the rest of the dialog may take
#: lines of details kept however short the terminal (the rest scrolls with Tab)
DETAILS_MIN = 3


class ConfirmScreen(ModalScreen[bool]):
    """Shows an `ActionPlan` and returns True only on an explicit confirmation."""

    AUTO_FOCUS = "#cancel"

    BINDINGS = [
        Binding("y", "confirm_low", "Confirm", show=False),
        Binding("n", "cancel_low", "Cancel", show=False),
        Binding("escape,q", "cancel", "Cancel", show=False),
        # priority: an Input binds ctrl+c to copy; here it must close the dialog.
        Binding("ctrl+c", "cancel", "Cancel", show=False, priority=True),
    ]

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > #dialog {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $primary; border-title-color: $text; background: $surface;
        padding: 0 1;
    }
    ConfirmScreen.-high > #dialog { border: heavy $error; }
    ConfirmScreen #title { text-style: bold; }
    ConfirmScreen #risk { color: $text-muted; }
    ConfirmScreen.-high #risk { color: $error; text-style: bold; }
    ConfirmScreen #preview {
        background: $panel; color: $text; padding: 0 1; margin: 1 0 0 0;
        max-height: 6; overflow-y: auto;
    }
    ConfirmScreen #details { height: auto; max-height: 7; margin: 1 0 0 0; }  /* fitted */
    ConfirmScreen #prompt { margin: 1 0 0 0; }
    ConfirmScreen #match { color: $text-muted; height: 1; }
    ConfirmScreen #match.-ok { color: $success; }
    ConfirmScreen #buttons { height: auto; margin: 1 0 0 0; }
    ConfirmScreen.-high #buttons { margin: 0; }  /* the match line already spaces it */
    ConfirmScreen #buttons Button { margin: 0 1 0 0; }
    ConfirmScreen #buttons Button:focus { text-style: bold reverse; }
    ConfirmScreen #keys { color: $text-muted; }
    """

    def __init__(self, plan: ActionPlan) -> None:
        super().__init__(classes="-high" if plan.risk is Risk.HIGH else "-low")
        self.plan = plan
        self._answered = False

    @property
    def high(self) -> bool:
        """Whether the operator must type the confirm token."""
        return self.plan.risk is Risk.HIGH

    def compose(self) -> ComposeResult:
        plan = self.plan
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Confirm action"  # a constant: titles parse markup
            yield Static(safe_text(plan.title), id="title")
            yield Static(self._risk_text(), id="risk")
            yield Static(safe_text(plan.preview, one_line=False, max_len=PREVIEW_MAX), id="preview")
            if plan.details:
                # Focusable (Tab) so a long query can be scrolled with the keys.
                with VerticalScroll(id="details"):
                    yield Static(self._details_text(), id="details-text")
            if self.high:
                token = sanitize(plan.confirm_token)
                yield Static(
                    Text.assemble("Type ", (token, "bold"), " and press Enter to confirm:"),
                    id="prompt",
                )
                yield OrderedInput(
                    placeholder="type it here", id="token", compact=True, select_on_focus=False
                )
                yield Static("", id="match")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(
                    "Confirm",
                    id="confirm",
                    variant="error" if self.high else "primary",
                    disabled=self.high,
                )
            yield Static(self._keys_text(), id="keys")

    def _risk_text(self) -> Text:
        level = "HIGH RISK" if self.high else "low risk"
        return Text.assemble(level, " · target ", safe_text(self.plan.target))

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self._fit_details)

    def _fit_details(self) -> None:
        """Give the details what the terminal has left once everything else of the
        dialog is laid out: what will happen is readable without scrolling where the
        height allows, and the buttons always show (a fixed share cut them off on some
        sizes: a long title or token prompt, a 6-line preview)."""
        details = self.query("#details")
        if not details:
            return
        box = details.first()
        dialog = self.query_one("#dialog")
        others = sum(
            child.outer_size.height + child.styles.margin.top + child.styles.margin.bottom
            for child in dialog.children
            if child is not box and child.display
        )
        frame = dialog.styles.border.spacing.height + dialog.styles.padding.height
        margins = box.styles.margin.top + box.styles.margin.bottom
        room = self.size.height - others - frame - margins
        wanted = max(DETAILS_MIN, room)
        if box.styles.max_height is None or box.styles.max_height.value != wanted:
            box.styles.max_height = wanted

    def _details_text(self) -> Text:
        text = Text(end="")
        for index, (label, value) in enumerate(self.plan.details):
            if index:
                text.append("\n")
            text.append(sanitize(label, max_len=40), style="bold")
            text.append(": ")
            text.append(sanitize(value, max_len=DETAIL_MAX))
        return text

    def _keys_text(self) -> str:
        if self.high:
            return "Enter on Cancel cancels · Esc / ctrl+c cancel"
        return "y confirm · Enter (Cancel) / n / Esc cancel"

    # ---------------------------------------------------------------- keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`y` and `n` are only keys on LOW risk (on HIGH they may be part of the token)."""
        if action in ("confirm_low", "cancel_low"):
            return not self.high
        return True

    def on_key(self, event: events.Key) -> None:
        """HIGH risk: type printable keys into the token field wherever the focus is."""
        if not self.high or event.key == "q" or not event.is_printable:
            return
        field = self.query_one("#token", Input)
        if field.has_focus:
            return
        event.stop()
        event.prevent_default()
        field.focus()
        field.insert_text_at_cursor(event.character or "")

    def action_confirm_low(self) -> None:
        """`y` on a LOW risk action."""
        if not self.high:
            self._close(True)

    def action_cancel_low(self) -> None:
        """`n` on a LOW risk action."""
        self._close(False)

    def action_cancel(self) -> None:
        """Esc, `q`, ctrl+c (also called by the app's ctrl+c handler)."""
        self._close(False)

    # ---------------------------------------------------------------- widgets

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self._close(False)

    @on(Button.Pressed, "#confirm")
    def _confirm_pressed(self) -> None:
        # Checked again here: a disabled button cannot be pressed, but do not rely on it.
        if not self.high or self._token_matches():
            self._close(True)

    @on(Input.Changed, "#token")
    def _token_changed(self) -> None:
        matches = self._token_matches()
        self.query_one("#confirm", Button).disabled = not matches
        match = self.query_one("#match", Static)
        match.set_class(matches, "-ok")
        if matches:
            match.update("✓ matches: Enter or Confirm to go ahead")
        elif self.query_one("#token", Input).value:
            match.update("✗ does not match")
        else:
            match.update("")

    @on(Input.Submitted, "#token")
    def _token_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self._token_matches():
            self._close(True)
        else:
            self.app.bell()

    def _token_matches(self) -> bool:
        if not self.high:
            return False
        return self.query_one("#token", Input).value == self.plan.confirm_token

    def _close(self, result: bool) -> None:
        # A second key press while the dismissal is in flight must not dismiss twice.
        if self._answered:
            return
        self._answered = True
        self.dismiss(result)
