"""An `Input` whose editing keys take effect in the order they were typed.

Textual 8.2.8's `Input` runs its editing keys (backspace, delete, arrows, home, end,
ctrl+a/e/k/u/w, enter …) as binding actions, which are dispatched after the key events
already queued, while it inserts a printable key at once. Keys arriving in one terminal
read (fast typing, a slow SSH link batching keystrokes, a paste) are then applied out of
order: "4381", backspace, backspace, "9" became "438", not "439". In a dialog where a
typed pid or name is the confirmation, that is a different answer than the one typed.
Here a key bound by the field itself runs its action when its key event is handled, in
sequence with the others. Screen and app bindings are untouched (priority ones never
reach the field; the others still apply when the field does not use the key).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

__all__ = ["OrderedInput"]


class OrderedInput(Input):
    """`Input`, its own key bindings applied in typing order (see the module docstring)."""

    async def _on_key(self, event: events.Key) -> None:
        bound = self._bindings.key_to_bindings.get(event.key)
        if not bound:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()  # the binding must not apply it a second time
        self._restart_blink()
        await self.run_action(bound[0].action)
