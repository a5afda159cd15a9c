"""Messages the app sends to its screens."""

from __future__ import annotations

from textual.message import Message

from console.state import SourceState


class SourceUpdated(Message):
    """A source has a new state (a snapshot, or a failure keeping the last snapshot)."""

    def __init__(self, state: SourceState[object]) -> None:
        super().__init__()
        self.state = state

    def can_replace(self, message: Message) -> bool:
        # A burst of updates collapses: only the newest state of a source matters.
        return isinstance(message, SourceUpdated) and message.state.name == self.state.name


class AuditAppended(Message):
    """A record was written to the audit log (the Audit screen reloads)."""
