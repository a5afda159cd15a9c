"""Polling one Docker engine into `HostSnapshot`s.

A full refresh is: `info` (cached for `info_every` s), ONE low-level list call
(`client.api.containers(all=True)`), targeted inspects, and the stats of every running
container. There is no all-containers stats endpoint, a plain stats call waits for two
samples (~1-2 s per container), and even a one-shot call (`stream=False, one_shot=True`)
waits for the engine collector's next tick (~1 s plus collecting every subscriber, on
engine 20.10), so stats come, by default, from streams kept open for every running
container in ONE thread per host (`StatsStreamer`), and a refresh reads their latest
samples at once. ssh:// engines (or `stats_mode="one-shot"`) use concurrent one-shot
calls through the host's pool instead. CPU % always comes from our own deltas between the
sample used at the previous refresh and the current one (see `adapters.docker.stats`).

Inspect results are cached per container id and refreshed only when the list's
state/status changes (state, health, exit code), when an event marks the container dirty
(`invalidate`), or when the cached answer is older than `inspect_max_age` (a few per
refresh, so a missed event is corrected without inspecting 100 containers at once).

A light refresh (after an event) is list + the inspects that changed, reusing the last
stats: a death, restart, OOM kill or health change shows within a fraction of a second
even with 100 containers.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.docker.client import DockerHost
from adapters.docker.detail import InspectFields, inspect_fields
from adapters.docker.models import ContainerStats, ContainerSummary, HostSnapshot, ServiceSummary
from adapters.docker.stats import Sample, StatsStreamer, compute, parse_sample
from adapters.errors import NotFound, SourceError

__all__ = ["DockerMonitor"]

log = logging.getLogger(__name__)

#: A streamed sample older than this (s) counts as a failed stats read.
_STREAM_STALE = 10.0
#: Seconds a new stream may take to deliver its first frame before it counts as failed.
_STREAM_GRACE = 3.0
_HEALTH = re.compile(r"\((healthy|unhealthy|health: starting)\)")
_EXIT = re.compile(r"^(?:Exited|Restarting) \((-?\d+)\)")
_COMPOSE = "com.docker.compose.project"
#: States whose health status is current: a stopped container keeps its last one in
#: inspect (an exited `unhealthy` is not a problem now, only a memory of one).
_HEALTH_STATES = frozenset({"running", "restarting"})


@dataclass(frozen=True, slots=True)
class _Inspected:
    key: tuple[str, str | None, str | None]  # (state, health, exit code) from the list
    at: float  # monotonic
    fields: InspectFields


def _status_key(item: Mapping[str, Any]) -> tuple[str, str | None, str | None]:
    status = str(item.get("Status") or "")
    health = _HEALTH.search(status)
    exit_code = _EXIT.match(status)
    return (
        str(item.get("State") or ""),
        health.group(1) if health else None,
        exit_code.group(1) if exit_code else None,
    )


def _name(item: Mapping[str, Any]) -> str:
    names = [str(n).lstrip("/") for n in item.get("Names") or ()]
    # Legacy links add "other/alias" names; the container's own name has no slash.
    return next((n for n in names if "/" not in n), names[0] if names else "")


def _health_of(text: str | None) -> str | None:
    return "starting" if text == "health: starting" else text


class DockerMonitor:
    """Polls one engine. Not for concurrent use: the poller runs one refresh at a time."""

    def __init__(
        self,
        host: DockerHost,
        *,
        name_patterns: Sequence[str] = (),
        compose_projects: Sequence[str] = (),
        info_every: float = 30.0,
        inspect_max_age: float = 30.0,
        aged_per_refresh: int = 8,
        stats_mode: str = "auto",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host = host
        self.name_patterns = tuple(name_patterns)
        self.compose_projects = frozenset(compose_projects)
        self.info_every = info_every
        self.inspect_max_age = inspect_max_age
        self.aged_per_refresh = aged_per_refresh
        self._clock = clock
        self._info: Mapping[str, Any] | None = None
        self._info_at = 0.0
        self._inspected: dict[str, _Inspected] = {}
        self._dirty: set[str] = set()
        self._samples: dict[str, Sample] = {}
        self._sample_run: dict[str, float | None] = {}  # started_at of the sample's run
        self._stats: dict[str, ContainerStats] = {}
        self._services: tuple[ServiceSummary, ...] = ()
        self.stats_failed = 0
        streamable = StatsStreamer.supported(host.resolved.scheme)
        #: "stream" or "one-shot" (see the module docstring)
        wants_stream = stats_mode == "stream" or (stats_mode == "auto" and streamable)
        self.stats_mode = "stream" if wants_stream else "one-shot"
        if stats_mode == "stream" and not streamable:
            raise ValueError(f"stats of {host.endpoint} cannot be streamed")
        self._streamer: StatsStreamer | None = None
        self._watched_since: dict[str, float] = {}

    def close(self) -> None:
        """End the stats streams (returns at once)."""
        if self._streamer is not None:
            self._streamer.close()
            self._streamer = None

    def invalidate(self, container_id: str | None = None) -> None:
        """Re-inspect this container (every container when None) on the next refresh.

        Call from the event loop's thread (events arrive via `call_soon_threadsafe`).
        """
        if container_id is None:
            self._inspected.clear()
            self._info = None
        else:
            self._dirty.add(container_id)

    def wanted(self, item: Mapping[str, Any]) -> bool:
        """Whether a listed container passes the target's filters."""
        return self.wanted_name(_name(item), item.get("Labels") or {})

    def wanted_name(self, name: str, labels: Mapping[str, str]) -> bool:
        """Whether a container with this name and these labels passes the filters
        (also used on events, so other containers' events cost no refresh)."""
        if self.compose_projects and labels.get(_COMPOSE) not in self.compose_projects:
            return False
        if self.name_patterns:
            return any(fnmatch.fnmatchcase(name, p) for p in self.name_patterns)
        return True

    async def refresh(self, *, light: bool = False) -> HostSnapshot:
        """One poll of the engine; `light` skips stats (reusing the last ones) and services.

        Raises the typed `SourceError` when the engine cannot be listed.
        """
        timeout = self.host.timeout
        info_due = self._info is None or time.monotonic() - self._info_at > self.info_every
        if info_due:
            info, listed = await asyncio.gather(
                self.host.call(lambda c: c.api.info(), timeout=timeout),
                self.host.call(lambda c: c.api.containers(all=True), timeout=timeout),
            )
            self._info, self._info_at = info, time.monotonic()
        else:
            listed = await self.host.call(lambda c: c.api.containers(all=True), timeout=timeout)
        items = [item for item in listed if self.wanted(item)]
        items = await self._inspect_changed(items)
        running = [str(i["Id"]) for i in items if i.get("State") == "running"]
        gone: set[str] = set()
        if self.stats_mode == "stream":
            gone = self._read_streams(running)  # free: also on a light refresh
        elif not light:
            gone = await self._sample_stats(running)
        items = [i for i in items if str(i["Id"]) not in gone]
        if not light:
            await self._refresh_services()
        running_set = set(running)
        self._prune({str(i["Id"]) for i in items}, running_set)
        containers = tuple(
            sorted(
                (self._summary(i, running_set) for i in items),
                key=lambda c: (c.name, c.id),
            )
        )
        info = self._info or {}
        swarm = info.get("Swarm") or {}
        cgroup = info.get("CgroupVersion")
        return HostSnapshot(
            host=self.host.name,
            endpoint=self.host.endpoint,
            taken_at=self._clock(),
            engine_version=str(info.get("ServerVersion") or ""),
            api_version=self.host.api_version or "",
            cgroup_version=int(cgroup) if str(cgroup or "").isdigit() else None,
            host_cpus=info.get("NCPU"),
            host_memory=info.get("MemTotal"),
            swarm_manager=bool(swarm.get("ControlAvailable")),
            containers=containers,
            services=self._services,
        )

    # -- inspect -------------------------------------------------------------------------

    async def _inspect_changed(self, items: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """Inspect what changed; returns `items` without containers removed meanwhile."""
        now = time.monotonic()
        wanted: list[str] = []
        aged: list[tuple[float, str]] = []
        for item in items:
            cid = str(item["Id"])
            cached = self._inspected.get(cid)
            if cached is None or cid in self._dirty or cached.key != _status_key(item):
                wanted.append(cid)
            elif now - cached.at > self.inspect_max_age:
                aged.append((cached.at, cid))
        wanted.extend(cid for _, cid in sorted(aged)[: self.aged_per_refresh])
        keys = {str(i["Id"]): _status_key(i) for i in items}
        results = await asyncio.gather(*(self._inspect(cid) for cid in wanted))
        gone: set[str] = set()
        for cid, fields in zip(wanted, results, strict=True):
            if fields is None:
                gone.add(cid)
            elif not isinstance(fields, SourceError):
                self._dirty.discard(cid)
                self._inspected[cid] = _Inspected(keys[cid], now, fields)
            # on a failure the old answer (if any) stays and the next refresh retries
        return [i for i in items if str(i["Id"]) not in gone]

    async def _inspect(self, cid: str) -> InspectFields | SourceError | None:
        try:
            raw = await self.host.call(
                lambda c: c.api.inspect_container(cid), timeout=self.host.timeout
            )
        except NotFound:
            return None  # removed between the list and the inspect
        except SourceError as err:
            # One slow inspect must not fail the host: the row shows what was known.
            log.debug("inspect %s on %s failed: %s", cid[:12], self.host.name, err)
            self._dirty.add(cid)
            return err
        return inspect_fields(raw)

    # -- stats ---------------------------------------------------------------------------

    async def _sample_stats(self, running: list[str]) -> set[str]:
        """One one-shot stats call per running container, concurrently; returns the ids
        found removed meanwhile."""
        results = await asyncio.gather(*(self._one_stats(cid) for cid in running))
        gone: set[str] = set()
        failed = 0
        now = self._clock()
        for cid, raw in zip(running, results, strict=True):
            if raw is None:
                gone.add(cid)
            elif isinstance(raw, SourceError):
                failed += 1  # keep the last stats (shown as they were)
            else:
                sample = parse_sample(raw, now)
                self._stats[cid] = compute(self._previous(cid), sample)
                self._samples[cid] = sample
        self.stats_failed = failed
        return gone

    def _read_streams(self, running: list[str]) -> set[str]:
        """Take the latest streamed sample of each running container; returns the ids
        the engine said were removed."""
        streamer = self._streamer or self._start_streamer()
        streamer.watch(set(running))
        now_mono = time.monotonic()
        for cid in running:
            self._watched_since.setdefault(cid, now_mono)
        alive = set(running)
        for cid in [c for c in self._watched_since if c not in alive]:
            del self._watched_since[cid]
        gone: set[str] = set()
        failed = 0
        for cid in running:
            if streamer.gone(cid):
                gone.add(cid)
                continue
            sample = streamer.latest(cid)
            if sample is None or now_mono - sample.received_at > _STREAM_STALE:
                # a stream just opened has no frame yet: only count it after a while
                failed += now_mono - self._watched_since[cid] > _STREAM_GRACE
                if sample is None:
                    continue
            previous = self._previous(cid)
            if previous is not None and previous.read_at >= sample.read_at:
                continue  # no new frame since the last refresh: keep the last stats
            self._stats[cid] = compute(previous, sample)
            self._samples[cid] = sample
        self.stats_failed = failed
        return gone

    def _start_streamer(self) -> StatsStreamer:
        self._streamer = StatsStreamer.for_engine(
            self.host.resolved,
            api_version=self.host.api_version or "1.41",
            connect_timeout=self.host.timeout,
        )
        return self._streamer

    async def _one_stats(self, cid: str) -> Mapping[str, Any] | SourceError | None:
        try:
            return await self.host.call(
                lambda c: c.api.stats(cid, stream=False, one_shot=True),
                timeout=self.host.timeout,
            )
        except NotFound:
            return None
        except SourceError as err:
            return err

    # -- services ------------------------------------------------------------------------

    async def _refresh_services(self) -> None:
        swarm = (self._info or {}).get("Swarm") or {}
        if not swarm.get("ControlAvailable"):
            self._services = ()
            return
        try:
            from adapters.docker.swarm import list_services
        except ImportError:  # the swarm module is optional
            self._services = ()
            return
        name = self.host.name
        try:
            self._services = await self.host.call(
                lambda c: list_services(c, name), timeout=self.host.timeout
            )
        except SourceError as err:  # keep the last services; containers still show
            log.warning("listing services on %s failed: %s", name, err)

    # -- assembling ----------------------------------------------------------------------

    def _prune(self, alive: set[str], running: set[str]) -> None:
        for cache in (self._inspected, self._samples, self._stats, self._watched_since):
            for cid in [c for c in cache if c not in alive]:
                del cache[cid]
        # A stopped container's last sample belongs to its old run: a delta from it to
        # the next run's first sample would be meaningless (CPU, rates).
        for cache in (self._samples, self._stats, self._sample_run):
            for cid in [c for c in cache if c not in running]:
                del cache[cid]
        self._dirty &= alive  # ids of destroyed containers are never inspected again

    def _previous(self, cid: str) -> Sample | None:
        """The last sample of `cid` if it is of the same run (same start time)."""
        cached = self._inspected.get(cid)
        run = cached.fields.started_at if cached is not None else None
        if self._sample_run.get(cid, run) != run:
            self._samples.pop(cid, None)
        self._sample_run[cid] = run
        return self._samples.get(cid)

    def _summary(self, item: Mapping[str, Any], running: set[str]) -> ContainerSummary:
        cid = str(item["Id"])
        cached = self._inspected.get(cid)
        fields = cached.fields if cached else _UNKNOWN
        state, health_text, _ = _status_key(item)
        created = item.get("Created")
        return ContainerSummary(
            host=self.host.name,
            id=cid,
            name=_name(item),
            image=str(item.get("Image") or ""),
            image_id=str(item.get("ImageID") or ""),
            state=state,
            # the list's status text is fresher than a cached inspect
            health=(_health_of(health_text) or fields.health) if state in _HEALTH_STATES else None,
            created_at=float(created) if created else None,
            started_at=fields.started_at,
            finished_at=fields.finished_at,
            exit_code=fields.exit_code if state in ("exited", "dead", "restarting") else None,
            oom_killed=fields.oom_killed,
            restart_count=fields.restart_count,
            labels=dict(item.get("Labels") or {}),
            ip_addresses=fields.ip_addresses,
            command=str(item.get("Command") or ""),
            stats=self._stats.get(cid) if cid in running else None,
        )


_UNKNOWN = InspectFields(
    health=None,
    started_at=None,
    finished_at=None,
    exit_code=None,
    oom_killed=False,
    restart_count=0,
    ip_addresses=(),
    state="",
)
