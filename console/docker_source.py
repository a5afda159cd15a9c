"""The Docker source of one target, owned by the app (one poller, whatever screens show it).

Each configured engine gets a `DockerHost` (its own bounded thread pool), a
`DockerMonitor` and an `EventWatcher`. A poll refreshes every host concurrently. One
failing host keeps its last containers, marked with the error, and never blanks the
others; only when every host fails does the poll raise, so the poller marks the whole
source stale and retries.

Events (die, oom, restart, start, stop, destroy, health_status...) poke the poller; the
poll that follows an event is LIGHT (list + changed inspects, last stats reused) unless a
full refresh is due anyway, so a state change shows within a fraction of a second.

The Docker SDK is imported on the first call, after the first frame is painted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from console.config_docker import DockerConfig

if TYPE_CHECKING:
    from adapters.docker.client import DockerHost
    from adapters.docker.events import EventWatcher
    from adapters.docker.models import (
        ContainerDetail,
        DockerEvent,
        DockerSnapshot,
        HostSnapshot,
    )
    from adapters.docker.monitor import DockerMonitor
    from adapters.errors import SourceError
    from console.app import OpsConsoleApp

SOURCE_NAME = "docker"
HISTORY = 120  # samples per container for sparklines (4 min at 2 s)
RECENT_EVENTS = 200
log = logging.getLogger(__name__)


class DockerSource:
    """Every Docker engine of one target."""

    name = SOURCE_NAME

    def __init__(
        self,
        config: DockerConfig,
        refresh: float,
        *,
        env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        history: int = HISTORY,
    ) -> None:
        from adapters.docker.client import DockerHost
        from adapters.docker.discovery import resolve
        from adapters.docker.monitor import DockerMonitor

        self.config = config
        self.refresh = refresh
        self._clock = clock
        self._history_len = history
        self._hosts: dict[str, DockerHost] = {}
        self._monitors: dict[str, DockerMonitor] = {}
        for h in config.hosts:
            resolved = resolve(
                h.name,
                h.url,
                tls_ca=h.tls_ca,
                tls_cert=h.tls_cert,
                tls_key=h.tls_key,
                tls_verify=h.tls_verify,
                env=env,
            )
            host = DockerHost(resolved, timeout=config.timeout, workers=config.stats_workers)
            self._hosts[h.name] = host
            self._monitors[h.name] = DockerMonitor(
                host,
                name_patterns=config.name_patterns,
                compose_projects=config.compose_projects,
                clock=clock,
            )
        self._last: DockerSnapshot | None = None
        self._host_last: dict[str, HostSnapshot] = {}
        self._history: dict[str, tuple[deque[float], deque[float]]] = {}
        self._sampled_at: dict[str, float] = {}
        self._watchers: list[EventWatcher] = []
        self._watcher_of: dict[str, EventWatcher] = {}
        # Per failing host: the watcher's connection count when its polls began failing.
        self._failing: dict[str, int] = {}
        self._events: deque[DockerEvent] = deque(maxlen=RECENT_EVENTS)
        self._event_pending = False
        self._last_full_at = 0.0
        self.light_polls = 0
        self.full_polls = 0

    # -- hosts ---------------------------------------------------------------------------

    def hosts(self) -> list[DockerHost]:
        """The target's engines, in config order."""
        return list(self._hosts.values())

    def host(self, name: str) -> DockerHost:
        """The engine called `name` (KeyError if the target has none)."""
        return self._hosts[name]

    def describe(self) -> str:
        """Where the engines are (never with a password)."""
        return "; ".join(h.describe() for h in self._hosts.values())

    # -- polling -------------------------------------------------------------------------

    async def fetch(self) -> DockerSnapshot:
        """One poll of every host (light after an event, unless a full one is due)."""
        from adapters.docker.models import DockerSnapshot
        from adapters.errors import SourceError

        started = time.monotonic()
        light = self._event_pending and started - self._last_full_at < self.refresh * 0.9
        self._event_pending = False
        names = list(self._monitors)
        results = await asyncio.gather(
            *(self._monitors[n].refresh(light=light) for n in names), return_exceptions=True
        )
        hosts: list[HostSnapshot] = []
        errors: list[tuple[str, SourceError]] = []
        for name, result in zip(names, results, strict=True):
            if isinstance(result, BaseException):
                if isinstance(result, asyncio.CancelledError):
                    raise result
                err = result if isinstance(result, SourceError) else _internal(result)
                errors.append((name, err))
                hosts.append(self._failed_host(name, err))
            else:
                self._recovered(name)
                self._host_last[name] = result
                hosts.append(result)
        if len(errors) == len(names):
            raise _all_failed(errors)
        if not light:
            self._last_full_at = started
        self.full_polls += not light
        self.light_polls += light
        snapshot = DockerSnapshot(
            hosts=tuple(hosts),
            taken_at=self._clock(),
            duration=time.monotonic() - started,
            stats_failed=sum(m.stats_failed for m in self._monitors.values()),
        )
        if not light:
            self._record_history(snapshot)
        self._last = snapshot
        return snapshot

    def _failed_host(self, name: str, err: SourceError) -> HostSnapshot:
        """The host's last good snapshot marked with `err` (or an empty one)."""
        from dataclasses import replace

        from adapters.docker.models import HostSnapshot
        from adapters.errors import SourceTimeout, Unreachable

        host = self._hosts[name]
        watcher = self._watcher_of.get(name)
        if watcher is not None and isinstance(err, Unreachable | SourceTimeout):
            # the link may be what failed: see `_recovered` (not for refusals, errors)
            self._failing.setdefault(name, watcher.connects)
        if isinstance(err, Unreachable):
            host.reset()  # the engine may come back another version
            self._monitors[name].invalidate(None)
        previous = self._host_last.get(name)
        if previous is None:
            previous = HostSnapshot(host=name, endpoint=host.endpoint, taken_at=self._clock())
        return replace(
            previous,
            error=err.message,
            error_kind=err.kind,
            stale_since=previous.stale_since or self._clock(),
        )

    def _recovered(self, name: str) -> None:
        """The host answers again after failing polls. If its event stream did not
        reconnect meanwhile, it may be a connection dropped silently on the way (the
        engine never closed it, so the read blocks forever and no event ever comes):
        make it connect again. Its reconnection re-inspects everything once."""
        connects = self._failing.pop(name, None)
        watcher = self._watcher_of.get(name)
        if connects is not None and watcher is not None and watcher.connects == connects:
            watcher.reconnect()

    def _record_history(self, snapshot: DockerSnapshot) -> None:
        """One point per NEW sample of each container (a reused sample adds none)."""
        seen: set[str] = set()
        for c in snapshot.containers:
            seen.add(c.key)
            stats = c.stats
            if stats is None or stats.cpu_percent is None:
                continue
            if self._sampled_at.get(c.key) == stats.sampled_at:
                continue
            self._sampled_at[c.key] = stats.sampled_at
            cpu, mem = self._history.setdefault(
                c.key, (deque(maxlen=self._history_len), deque(maxlen=self._history_len))
            )
            cpu.append(stats.cpu_percent)
            mem.append(float(stats.mem_used or 0))
        for key in [k for k in self._history if k not in seen]:
            del self._history[key]
            self._sampled_at.pop(key, None)

    def last(self) -> DockerSnapshot | None:
        """The last snapshot returned by `fetch` (None before the first success)."""
        return self._last

    def history(self, key: str) -> tuple[Sequence[float], Sequence[float]]:
        """CPU % (of one core) and memory bytes of a container, oldest first, bounded."""
        found = self._history.get(key)
        return (tuple(found[0]), tuple(found[1])) if found else ((), ())

    def recent_events(self) -> tuple[DockerEvent, ...]:
        """The last container events seen (all hosts, oldest first, bounded)."""
        return tuple(self._events)

    async def detail(self, key: str) -> ContainerDetail:
        """Inspect the container of row `key` ("host/id"); NotFound when it is gone."""
        from adapters.docker.detail import inspect
        from adapters.errors import NotFound

        name, _, cid = key.partition("/")
        host = self._hosts.get(name)
        if host is None or not cid:
            raise NotFound(f"no container {key!r} on this target")
        return await inspect(host, cid)

    # -- events --------------------------------------------------------------------------

    def start_events(self, poke: Callable[[], None]) -> None:
        """Follow every host's events; relevant ones poke the poller (from the loop).

        Must be called from the event loop's thread.
        """
        from adapters.docker.events import EventWatcher, relevant

        loop = asyncio.get_running_loop()

        def later(fn: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop closed while stopping
                loop.call_soon_threadsafe(fn)

        for name, host in self._hosts.items():
            monitor = self._monitors[name]

            def on_event(event: DockerEvent, monitor: DockerMonitor = monitor) -> None:
                # Other containers' events (filtered out of this target) cost nothing.
                if relevant(event) and monitor.wanted_name(event.name, event.labels):
                    later(lambda: self._event(monitor, event, poke))

            def on_connect(monitor: DockerMonitor = monitor) -> None:
                later(lambda: self._reconnected(monitor, poke))

            watcher = EventWatcher(host, on_event, on_connect=on_connect)
            self._watchers.append(watcher)
            self._watcher_of[name] = watcher
            watcher.start()

    def _event(self, monitor: DockerMonitor, event: DockerEvent, poke: Callable[[], None]) -> None:
        self._events.append(event)
        monitor.invalidate(event.container_id)
        self._event_pending = True
        poke()

    def _reconnected(self, monitor: DockerMonitor, poke: Callable[[], None]) -> None:
        # Events may have been missed while the stream was down: re-inspect everything.
        monitor.invalidate(None)
        poke()

    async def close(self) -> None:
        """Stop the event watchers and free every host's pool (never blocks)."""
        for watcher in self._watchers:
            watcher.close()
        self._watchers.clear()
        self._watcher_of.clear()
        for monitor in self._monitors.values():
            monitor.close()
        for host in self._hosts.values():
            host.close()


def _internal(exc: BaseException) -> SourceError:
    from adapters.errors import SourceError

    log.error("docker refresh failed unexpectedly", exc_info=exc)
    return SourceError(f"internal error: {type(exc).__name__}: {exc}")


def _all_failed(errors: list[tuple[str, SourceError]]) -> SourceError:
    """One host: its own error. Several: the first one's type, every host named."""
    if len(errors) == 1:
        return errors[0][1]
    first = errors[0][1]
    message = "; ".join(f"{name}: {err.message}" for name, err in errors)
    combined = type(first)(message)
    combined.retryable = any(err.retryable for _, err in errors)
    return combined


def start(app: OpsConsoleApp) -> None:
    """Create the target's Docker source, set `app.docker`, add its poller and start
    the event watchers (which poke the poller on die/oom/restart/health changes)."""
    from console.scheduler import Poller

    config = app.target.docker
    if config is None:
        return
    source = DockerSource(config, app.config.docker_refresh(app.target), clock=app.clock)
    app.docker = source
    poller = Poller(
        SOURCE_NAME, source.fetch, interval=source.refresh, on_state=app.publish, clock=app.clock
    )
    app.add_poller(poller)
    source.start_events(poller.poke)
