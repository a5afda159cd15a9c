"""One polling loop per source: never overlapping, never storming, never fatal.

A poll that is slower than the refresh interval is not cancelled and restarted by the
next tick (that starves the view: an exclusive worker restarted by a timer never
completes). The loop simply starts the next poll when the last one ends, and the state
says it is behind. Every failure becomes a typed `SourceError` in the state; nothing
raised by a fetch can end the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from adapters.errors import SourceError, SourceTimeout
from console.state import SourceState

T = TypeVar("T")
log = logging.getLogger(__name__)

#: How long to wait before retrying a failure that polling again cannot fix
#: (wrong password, missing database): no retry storm, ctrl+r retries at once.
NON_RETRYABLE_DELAY = 60.0


class Poller(Generic[T]):
    """Polls `fetch` every `interval` seconds and reports each result to `on_state`."""

    def __init__(
        self,
        name: str,
        fetch: Callable[[], Awaitable[T]],
        *,
        interval: float,
        on_state: Callable[[SourceState[T]], None],
        guard_timeout: float | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.interval = interval
        self._fetch = fetch
        self._on_state = on_state
        # The adapters time their own calls; this outer guard only catches a fetch that
        # forgot to, so the loop itself can never hang.
        self._guard_timeout = guard_timeout or max(interval * 3, 10.0)
        self._clock = clock
        self._wake = asyncio.Event()
        self.state: SourceState[T] = SourceState(name)

    def poke(self) -> None:
        """Poll now instead of waiting for the rest of the interval (ctrl+r)."""
        self._wake.set()

    async def poll_once(self) -> SourceState[T]:
        """Run one poll and fold its result into the state (also used by tests)."""
        started = time.monotonic()
        try:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancel that
            # arrives as the inner task finishes, and the poller outlives stop_sources.
            async with asyncio.timeout(self._guard_timeout):
                snapshot = await self._fetch()
        except asyncio.CancelledError:
            raise
        except SourceError as err:
            self._record_failure(err, time.monotonic() - started)
        except TimeoutError:
            self._record_failure(
                SourceTimeout(f"no answer within {self._guard_timeout:.0f} s"),
                time.monotonic() - started,
            )
        except Exception as exc:  # a bug in an adapter must not end the console
            log.exception("poll of %s failed unexpectedly", self.name)
            self._record_failure(
                SourceError(f"internal error: {type(exc).__name__}: {exc}"),
                time.monotonic() - started,
            )
        else:
            duration = time.monotonic() - started
            self.state = self.state.succeeded(snapshot, self._clock(), duration, self.interval)
        self._on_state(self.state)
        return self.state

    def _record_failure(self, err: SourceError, duration: float) -> None:
        self.state = self.state.failed(err, self._clock(), self._retry_delay(err), duration)

    def _retry_delay(self, err: SourceError) -> float:
        # Retryable failures retry at the refresh interval: one connection attempt per
        # interval is no storm, and it is what lets a pane recover within two intervals.
        return self.interval if err.retryable else max(NON_RETRYABLE_DELAY, self.interval)

    async def run(self) -> None:
        """Poll until cancelled."""
        while True:
            self._wake.clear()
            started = time.monotonic()
            state = await self.poll_once()
            if state.error is not None:
                delay = self._retry_delay(state.error)
            else:
                delay = self.interval - (time.monotonic() - started)
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._wake.wait()
