"""The bottom line: the keys in force on the current screen, in one widget.

Textual's `Footer` recomposes one child widget per key on every screen switch and focus
change; with a dozen keys that was most of the cost of switching screens (≈ 200 nodes
built per switch). This draws the same information as a single line of text.
"""

from __future__ import annotations

from rich.text import Text
from textual.screen import Screen
from textual.widget import Widget


class KeyBar(Widget):
    """Shows `key Description` for every shown, enabled binding of the screen."""

    COMPONENT_CLASSES = {"key-bar--key", "key-bar--description"}

    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    KeyBar > .key-bar--key { color: $accent; text-style: bold; }
    KeyBar > .key-bar--description { color: $foreground; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._line: Text | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self._line = None
        self.refresh()

    def build_line(self) -> Text:
        """The key line for the bindings in force now."""
        key_style = self.get_component_rich_style("key-bar--key")
        text_style = self.get_component_rich_style("key-bar--description")
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        seen: set[str] = set()
        # The screen's own keys (its actions) first, then the focused widget's, then the
        # app's: on a narrow terminal the line is cut from the right.
        ranked = sorted(
            self.screen.active_bindings.values(),
            key=lambda a: 0 if a.node is self.screen else 2 if a.node is self.app else 1,
        )
        for active in ranked:
            binding = active.binding
            if not binding.show or not active.enabled or binding.action in seen:
                continue
            seen.add(binding.action)
            line.append(f" {self.app.get_key_display(binding)}", key_style)
            line.append(f" {binding.description} ", text_style)
        return line

    def render(self) -> Text:
        if self._line is None:
            self._line = self.build_line()
        return self._line
