"""What the app knows about one polled source: its last good snapshot and its health."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Generic, TypeVar

from adapters.errors import SourceError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class SourceState(Generic[T]):
    """The latest known state of a source, as shown by every pane that displays it.

    Times are `time.time()` wall-clock seconds so panes can say "updated 2 s ago".
    The last good snapshot is kept when a poll fails: the pane shows it marked stale.
    """

    name: str
    snapshot: T | None = None
    updated_at: float | None = None  # when `snapshot` was taken (wall clock)
    error: SourceError | None = None  # the last poll's failure, None when it succeeded
    failed_since: float | None = None  # first failure of the current run of failures
    next_retry_at: float | None = None  # when the next poll is due after a failure
    behind: bool = False  # the last poll took longer than the refresh interval
    last_duration: float | None = None  # seconds the last poll took
    polls: int = 0

    @property
    def stale(self) -> bool:
        return self.error is not None

    def succeeded(
        self, snapshot: T, now: float, duration: float, interval: float
    ) -> SourceState[T]:
        return replace(
            self,
            snapshot=snapshot,
            updated_at=now,
            error=None,
            failed_since=None,
            next_retry_at=None,
            behind=duration > interval,
            last_duration=duration,
            polls=self.polls + 1,
        )

    def failed(
        self, error: SourceError, now: float, retry_in: float, duration: float
    ) -> SourceState[T]:
        return replace(
            self,
            error=error,
            failed_since=self.failed_since or now,
            next_retry_at=now + retry_in,
            last_duration=duration,
            polls=self.polls + 1,
        )
