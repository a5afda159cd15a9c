"""An `Input` whose editing keys take effect in the order they were typed.

Textual 8.2.8's `Input` runs editing keys (backspace, delete, arrows, home, end, enter) as
binding actions, which are dispatched after the key events already queued, while it
inserts a printable key at once. Keys arriving in one terminal read (fast typing, a
slow SSH link batching keystrokes, a paste) are then applied out of order: "4381",
backspace, backspace, "9" became "438", not "439". In a dialog where a typed pid or
name is the confirmation, that is a different answer than the one typed. Here those
keys are applied when their key event is handled, in sequence with the others.
"""

from __future__ import annotations

import inspect

from textual import events
from textual.widgets import Input

__all__ = ["OrderedInput"]

_EDITING_KEYS = {
    "backspace": "action_delete_left",
    "delete": "action_delete_right",
    "left": "action_cursor_left",
    "right": "action_cursor_right",
    "home": "action_home",
    "end": "action_end",
    "ctrl+u": "action_delete_left_all",
    "enter": "action_submit",  # after the keys typed before it, never before them
}


class OrderedInput(Input):
    """`Input`, its editing keys applied in typing order (see the module docstring)."""

    async def _on_key(self, event: events.Key) -> None:
        action = _EDITING_KEYS.get(event.key)
        if action is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()  # the binding must not apply it a second time
        self._restart_blink()
        result = getattr(self, action)()
        if inspect.isawaitable(result):
            await result
