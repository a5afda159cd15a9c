"""What every full screen shares: the header, the footer and the data subscription."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.screen import Screen

from console.bindings import hide_destructive
from console.messages import SourceUpdated
from console.state import SourceState
from widgets.header_bar import HeaderBar
from widgets.key_bar import KeyBar

if TYPE_CHECKING:
    from console.app import OpsConsoleApp


class ConsoleScreen(Screen[None]):
    """A full screen of the console. Subclasses compose `body()` and implement
    `show_state()`; the app's states are pulled whenever the screen becomes current."""

    def __init__(self) -> None:
        super().__init__()
        self.reset_for_target()

    def console(self) -> OpsConsoleApp:
        return self.app  # type: ignore[return-value]

    def reset_for_target(self) -> None:
        """Offer the keys the current target allows (read-only: no action keys)."""
        # Textual keeps a per-node copy of the class bindings; start again from it.
        self._bindings = self._merged_bindings.copy() if self._merged_bindings else self._bindings
        if self.console().read_only:
            hide_destructive(self)

    def compose(self) -> ComposeResult:
        yield HeaderBar(clock=self.console().clock)
        yield from self.body()
        yield KeyBar()

    def body(self) -> ComposeResult:
        yield from ()

    def on_screen_resume(self) -> None:
        app = self.console()
        self.query_one(HeaderBar).show(app.header_info)
        for state in list(app.states.values()):
            self.show_state(state)
        self.ensure_focus()

    def ensure_focus(self) -> None:
        """Focus the screen's first shown focusable widget when nothing shown has focus.

        Textual's auto-focus picks hidden widgets too (`display: none` is not checked):
        after a `:target` switch the Containers screen came back with its hidden filter
        box focused, and the keys typed next went into it instead of working.
        """
        focused = self.focused
        if focused is not None and focused.display and focused in self.focus_chain:
            return
        chain = self.focus_chain
        if chain:
            chain[0].focus()
        elif focused is not None:
            self.set_focus(None)

    @on(SourceUpdated)
    def _source_updated(self, message: SourceUpdated) -> None:
        self.show_state(message.state)

    def show_state(self, state: SourceState[Any]) -> None:
        """Render a source's state; screens override this for the sources they show."""
