"""The Health source of one target, owned by the app (one poller, whatever screens show it).

One `Poller` ticks once a second. Each tick starts, as independent tasks, the checks
that fall due before the next tick (each task sleeps until its exact due time; checks
are spread over their interval in slots of `SLOT` seconds after the first run), and
returns a `HealthSnapshot` of what is known. A check still running is never started
again, so an endpoint that hangs costs its own timeout and delays no other check.
A `ctrl+r` (the poller poked between two ticks) re-runs every idle check at once.

httpx is imported with the checker, on the first tick, after the first frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from adapters.health.models import CheckResult, CheckSpec, HealthSnapshot
from adapters.health.status import CheckTracker, Thresholds
from console.config_health import HealthCheckConfig

if TYPE_CHECKING:
    from adapters.health.checker import HealthChecker
    from console.app import OpsConsoleApp

SOURCE_NAME = "health"
TICK = 1.0
SLOT = 0.5  # checks due within the same slot start together
TIMINGS_KEPT = 20_000
log = logging.getLogger(__name__)


def spec_of(check: HealthCheckConfig) -> CheckSpec:
    """The adapter's view of a configured check."""
    return CheckSpec(
        name=check.name,
        url=check.url,
        method=check.method,
        headers=check.headers,
        expect_status=check.expect_status,
        expect_json=check.expect_json,
        body_contains=check.body_contains,
        version_path=check.version_path,
        timeout=check.timeout,
        interval=check.interval,
        verify=check.verify,
        ca_bundle=str(check.ca_bundle) if check.ca_bundle is not None else None,
        follow_redirects=check.follow_redirects,
        host=check.host,
        port=check.port,
    )


def _slot_phase(interval: float, index: int, count: int) -> float:
    """Check `index` of `count`'s offset in its interval: the start of its slot of
    about `SLOT` seconds, the checks spread evenly over the slots."""
    slots = max(1, round(interval / SLOT))
    return interval * (index * slots // count) / slots


def thresholds_of(check: HealthCheckConfig) -> Thresholds:
    return Thresholds(
        latency_warn_ms=check.latency_warn_ms,
        critical_after=check.critical_after,
        cert_warn_days=check.cert_warn_days,
        cert_critical_days=check.cert_critical_days,
    )


class HealthSource:
    """Schedules every check of a target and folds their results into snapshots."""

    name = SOURCE_NAME

    def __init__(
        self,
        checks: Sequence[HealthCheckConfig],
        *,
        clock: Callable[[], float] = time.time,
        tick: float = TICK,
    ) -> None:
        self.tick = tick
        self._clock = clock
        self._configs = {c.name: c for c in checks}
        self._trackers = {
            c.name: CheckTracker(spec_of(c), c.interval, thresholds_of(c)) for c in checks
        }
        start = time.monotonic()
        self._due: dict[str, float] = dict.fromkeys(self._configs, start)
        # Every check runs at once on start (the operator wants a picture now); after
        # that each keeps its own phase in the interval, so 200 checks every 5 s run in
        # ten groups of 20 instead of 200 in one burst that makes each of them late. In
        # groups, not one by one: checks due together share the event loop's wake-ups,
        # which measured half the CPU of a check run when each had its own.
        count = max(1, len(checks))
        self._phase = {c.name: _slot_phase(c.interval, i, count) for i, c in enumerate(checks)}
        self._first = set(self._configs)
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._checker: HealthChecker | None = None
        self._version = 0
        self._snapshot: HealthSnapshot | None = None
        self._snapshot_version = -1
        self._last_fetch: float | None = None
        #: (check, due, started, finished) in monotonic seconds, for the scheduling figures.
        self.timings: deque[tuple[str, float, float, float]] = deque(maxlen=TIMINGS_KEPT)

    def checker(self) -> HealthChecker:
        if self._checker is None:
            from adapters.health.checker import HealthChecker

            self._checker = HealthChecker(wall_clock=self._clock)
        return self._checker

    async def fetch(self) -> HealthSnapshot:
        """One tick: start what is due before the next tick; the snapshot as it stands."""
        now = time.monotonic()
        poked = self._last_fetch is not None and now - self._last_fetch < self.tick * 0.5
        self._last_fetch = now
        horizon = now + self.tick
        for name, due in self._due.items():
            if name in self._tasks:
                continue  # still running (or waiting for its due time): never twice
            if poked:
                due = self._due[name] = now
            if due <= horizon:
                task = asyncio.create_task(self._run(name, due), name=f"health:{name}")
                self._tasks[name] = task
        return self.snapshot()

    def snapshot(self) -> HealthSnapshot:
        """The current statuses; the same object while nothing changed (panes skip it)."""
        if self._snapshot is None or self._snapshot_version != self._version:
            self._snapshot = HealthSnapshot(
                tuple(t.status for t in self._trackers.values()), self._clock()
            )
            self._snapshot_version = self._version
        return self._snapshot

    async def _run(self, name: str, due: float) -> None:
        tracker = self._trackers[name]
        try:
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            started = time.monotonic()
            tracker.set_running(True)
            self._version += 1
            try:
                result = await self.checker().run(tracker.spec)
            except Exception as exc:  # a bug in the checker must not stop the schedule
                log.exception("health check %s failed unexpectedly", name)
                result = CheckResult(
                    name,
                    self._clock(),
                    False,
                    None,
                    error_kind="error",
                    error=f"internal error: {type(exc).__name__}: {exc}",
                )
            finished = time.monotonic()
            tracker.add(result)
            self.timings.append((name, due, started, finished))
            interval = self._configs[name].interval
            following = due + interval
            if name in self._first:
                self._first.discard(name)
                following += self._phase[name]
            # Missed slots (a check slower than its interval) are skipped, not caught up.
            self._due[name] = following if following > finished else finished + interval
        finally:
            self._version += 1
            self._tasks.pop(name, None)

    async def close(self) -> None:
        """Stop every running check and close the connections."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._checker is not None:
            await self._checker.close()
            self._checker = None


def start(app: OpsConsoleApp) -> None:
    """Create the target's Health source, set `app.health` and add its poller."""
    checks = app.target.health
    if not checks:
        return
    from console.scheduler import Poller

    source = HealthSource(checks, clock=app.clock)
    app.health = source
    app.add_poller(
        Poller(
            SOURCE_NAME, source.fetch, interval=source.tick, on_state=app.publish, clock=app.clock
        )
    )
