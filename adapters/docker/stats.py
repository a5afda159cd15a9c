"""`docker stats` arithmetic on one-shot samples, with our own deltas.

A one-shot stats call (`stream=False, one_shot=True`) answers at once with ONE sample
and an empty `precpu_stats`; rates therefore come from the previous sample of the same
container that we kept, exactly like the docker CLI keeps the previous sample of its
stream:

- CPU % = container usage delta / host (system) usage delta * online CPUs * 100, so 100
  means one core busy (the CLI's convention). None on the first sample.
- Memory used = the CLI's rule (docker/cli `calculateMemUsageUnixNoCache`): cgroup v1
  `usage - total_inactive_file`, cgroup v2 `usage - inactive_file`, each only when it is
  smaller than usage. Checked on this machine (cgroup v1, engine 20.10): `docker stats`
  prints usage - total_inactive_file, NOT usage - cache as older docs say.
- Network and block I/O: totals summed over interfaces / devices, rates per second from
  the engine's own sample times (`read`), so pool scheduling jitter does not skew them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from adapters.docker.discovery import ResolvedDocker
from adapters.docker.models import ContainerStats

__all__ = [
    "Sample",
    "StatsStreamer",
    "compute",
    "ignore_late_wakeups",
    "memory_used",
    "parse_sample",
    "parse_time",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """The counters of one stats answer."""

    read_at: float  # the engine's sample time, unix seconds (its clock: for deltas only)
    cpu_total: int
    system_total: int | None
    online_cpus: int
    mem_used: int | None
    mem_limit: int | None
    net_rx: int
    net_tx: int
    blk_read: int
    blk_write: int
    pids: int | None
    #: when WE received it (time.monotonic()): how fresh a streamed sample is, whatever
    #: the engine's clock says (a remote host's clock may be minutes off ours).
    received_at: float = 0.0


def parse_time(text: str | None) -> float | None:
    """The engine's RFC 3339 time with nanoseconds ("...:17.531261413Z") in unix
    seconds; None for an empty or zero time ("0001-01-01T00:00:00Z")."""
    if not text or text.startswith("0001-"):
        return None
    head, dot, frac = text.partition(".")
    if dot:
        digits = frac.rstrip("Z")
        zone = frac[len(digits) :]
        tz_at = next((i for i, ch in enumerate(digits) if ch in "+-"), len(digits))
        zone = digits[tz_at:] + zone
        text = f"{head}.{digits[:tz_at][:6]}{zone}"
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def memory_used(mem: Mapping[str, Any]) -> int | None:
    """Memory in use as `docker stats` shows it (see the module docstring)."""
    usage = mem.get("usage")
    if usage is None:
        return None
    stats = mem.get("stats") or {}
    inactive = stats.get("total_inactive_file")  # cgroup v1
    if inactive is not None and inactive < usage:
        return int(usage - inactive)
    inactive = stats.get("inactive_file")  # cgroup v2
    if inactive is not None and inactive < usage:
        return int(usage - inactive)
    return int(usage)


def parse_sample(raw: Mapping[str, Any], now: float) -> Sample:
    """The counters of one stats answer (`now` stands in for a missing sample time)."""
    cpu = raw.get("cpu_stats") or {}
    usage = cpu.get("cpu_usage") or {}
    online = cpu.get("online_cpus") or len(usage.get("percpu_usage") or ()) or 1
    mem = raw.get("memory_stats") or {}
    rx = tx = 0
    for net in (raw.get("networks") or {}).values():
        rx += int(net.get("rx_bytes") or 0)
        tx += int(net.get("tx_bytes") or 0)
    read = write = 0
    for entry in (raw.get("blkio_stats") or {}).get("io_service_bytes_recursive") or ():
        op = str(entry.get("op", "")).lower()
        if op == "read":
            read += int(entry.get("value") or 0)
        elif op == "write":
            write += int(entry.get("value") or 0)
    limit = mem.get("limit")
    return Sample(
        read_at=parse_time(raw.get("read")) or now,
        cpu_total=int(usage.get("total_usage") or 0),
        system_total=cpu.get("system_cpu_usage"),
        online_cpus=int(online),
        mem_used=memory_used(mem),
        mem_limit=int(limit) if limit else None,
        net_rx=rx,
        net_tx=tx,
        blk_read=read,
        blk_write=write,
        pids=(raw.get("pids_stats") or {}).get("current"),
        received_at=time.monotonic(),
    )


def _rate(now: int, before: int, seconds: float) -> float | None:
    if seconds <= 0 or now < before:  # a counter reset (restart) gives no rate
        return None
    return (now - before) / seconds


def compute(previous: Sample | None, current: Sample) -> ContainerStats:
    """ContainerStats from the current sample and the previous one of the same
    container (None on the first sample: no CPU % and no rates)."""
    cpu_percent: float | None = None
    seconds = 0.0
    if previous is not None:
        seconds = current.read_at - previous.read_at
        cpu_delta = current.cpu_total - previous.cpu_total
        if (
            current.system_total is not None
            and previous.system_total is not None
            and cpu_delta >= 0
        ):
            system_delta = current.system_total - previous.system_total
            if system_delta > 0:
                cpu_percent = cpu_delta / system_delta * current.online_cpus * 100.0
    rates = previous is not None and seconds > 0
    return ContainerStats(
        cpu_percent=cpu_percent,
        online_cpus=current.online_cpus,
        mem_used=current.mem_used,
        mem_limit=current.mem_limit,
        net_rx_rate=_rate(current.net_rx, previous.net_rx, seconds) if rates else None,
        net_tx_rate=_rate(current.net_tx, previous.net_tx, seconds) if rates else None,
        blk_read_rate=_rate(current.blk_read, previous.blk_read, seconds) if rates else None,
        blk_write_rate=_rate(current.blk_write, previous.blk_write, seconds) if rates else None,
        net_rx_total=current.net_rx,
        net_tx_total=current.net_tx,
        blk_read_total=current.blk_read,
        blk_write_total=current.blk_write,
        pids=current.pids,
        sampled_at=current.read_at,
    )


# -- streamed stats ---------------------------------------------------------------------


def ignore_late_wakeups(loop: Any, context: dict[str, Any]) -> None:
    """The loop's exception handler: anyio's UNIX socket streams wait for data with
    `loop.add_reader(sock, future.set_result, None)`; a stream cancelled (`watch`,
    `close`) in the loop iteration in which its socket became readable leaves that call
    queued after the future was cancelled, and it raises InvalidStateError ("Exception in
    callback Future.set_result(None)"). Harmless: the read was abandoned on purpose.
    Anything else goes to the default handler (the `asyncio` logger)."""
    import asyncio

    callback = getattr(context.get("handle"), "_callback", None)
    future = getattr(callback, "__self__", None)
    if (
        isinstance(context.get("exception"), asyncio.InvalidStateError)
        and getattr(callback, "__name__", "") == "set_result"
        and isinstance(future, asyncio.Future)
        and future.cancelled()
    ):
        return
    loop.default_exception_handler(context)


class StatsStreamer:
    """Keeps one streamed stats request open per running container of one engine, all in
    ONE dedicated thread running its own asyncio loop (httpx), and remembers the latest
    sample of each: a refresh then reads them at once instead of waiting.

    Why: this engine (20.10, like every engine whose stats come from its periodic
    collector) answers even a one-shot stats call only at the collector's next tick,
    ~1 s later plus the time to collect every subscribed container. Holding a pool thread
    per container for that second would need a thread per container; one streaming loop
    needs one thread per host. The engine pushes a sample per container per tick (~1 s).

    Works for unix:// and tcp:// (TLS) engines; ssh:// engines use one-shot calls
    through the host's pool instead (see `supported`).
    """

    def __init__(
        self,
        *,
        base_url: str,
        uds: str | None,
        api_version: str,
        tls: Any = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        name: str = "docker",
    ) -> None:
        import asyncio
        import threading

        self._base_url = base_url
        self._uds = uds
        self._prefix = f"/v{api_version}"
        self._tls = tls
        self._timeouts = (connect_timeout, read_timeout)
        self._latest: dict[str, Sample] = {}
        self._gone: set[str] = set()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._loop = asyncio.new_event_loop()
        self._client: Any = None
        self._closed = False
        self.frames = 0
        self.errors = 0
        self._thread = threading.Thread(target=self._run, name=f"docker-stats-{name}", daemon=True)
        self._thread.start()

    @classmethod
    def for_engine(
        cls, resolved: ResolvedDocker, *, api_version: str, connect_timeout: float = 5.0
    ) -> StatsStreamer:
        """A streamer for a unix:// or tcp:// engine (TLS as the engine is configured)."""
        tls = None
        if resolved.tls:
            import ssl

            tls = ssl.create_default_context(cafile=resolved.tls_ca)
            if resolved.tls_cert and resolved.tls_key:
                tls.load_cert_chain(resolved.tls_cert, resolved.tls_key)
            if not resolved.tls_verify:
                tls.check_hostname = False
                tls.verify_mode = ssl.CERT_NONE
        if resolved.scheme == "unix":
            base, uds = "http://docker", resolved.socket_path
        else:
            netloc = urlsplit(resolved.url).netloc.rsplit("@", 1)[-1]
            base, uds = f"{'https' if resolved.tls else 'http'}://{netloc}", None
        return cls(
            base_url=base,
            uds=uds,
            api_version=api_version,
            tls=tls,
            connect_timeout=connect_timeout,
            name=resolved.name,
        )

    @staticmethod
    def supported(scheme: str) -> bool:
        """Whether the engine's URL scheme can be streamed by this class."""
        return scheme in ("unix", "tcp")

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)
        self._loop.set_exception_handler(ignore_late_wakeups)
        self._loop.run_forever()
        # closing: end every stream and the client inside the loop, then stop
        self._loop.run_until_complete(self._shutdown())
        self._loop.close()

    async def _shutdown(self) -> None:
        import asyncio

        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()

    def _http(self) -> Any:
        if self._client is None:
            import httpx

            connect, read = self._timeouts
            transport = httpx.AsyncHTTPTransport(
                uds=self._uds, verify=self._tls if self._tls is not None else True
            )
            self._client = httpx.AsyncClient(
                transport=transport,
                base_url=self._base_url,
                timeout=httpx.Timeout(connect, read=read),
                limits=httpx.Limits(max_connections=None, max_keepalive_connections=8),
            )
        return self._client

    def watch(self, container_ids: set[str]) -> None:
        """Stream exactly these containers from now on (thread-safe; returns at once)."""
        if not self._closed:
            self._loop.call_soon_threadsafe(self._reconcile, frozenset(container_ids))

    def _reconcile(self, wanted: frozenset[str]) -> None:
        for cid in [c for c in self._tasks if c not in wanted]:
            self._tasks.pop(cid).cancel()
            self._latest.pop(cid, None)
        self._gone &= wanted
        for cid in wanted:
            task = self._tasks.get(cid)
            if task is None or task.done():
                # A finished stream (the container stopped, then ran again) must not
                # serve its old run's last sample as this run's.
                self._latest.pop(cid, None)
                self._tasks[cid] = self._loop.create_task(self._follow(cid))

    async def _follow(self, cid: str) -> None:
        import asyncio
        import json

        url = f"{self._prefix}/containers/{cid}/stats"
        try:
            async with self._http().stream("GET", url, params={"stream": "1"}) as resp:
                if resp.status_code == 404:
                    self._gone.add(cid)
                    return
                if resp.status_code != 200:
                    self.errors += 1
                    return
                async for line in resp.aiter_lines():
                    if not line.strip():
                        continue
                    raw = json.loads(line)
                    if str(raw.get("read") or "").startswith("0001-"):
                        continue  # the container stopped: no counters in this frame
                    self._latest[cid] = parse_sample(raw, time.time())
                    self.frames += 1
        except asyncio.CancelledError:
            raise
        except Exception:  # engine away, container gone, bad frame: the next watch retries
            self.errors += 1
            await asyncio.sleep(1.0)  # no reconnect storm against a dead engine

    def latest(self, container_id: str) -> Sample | None:
        """The newest sample of a watched container (None before its first frame)."""
        return self._latest.get(container_id)

    def gone(self, container_id: str) -> bool:
        """Whether the engine said the container does not exist (removed)."""
        return container_id in self._gone

    def close(self) -> None:
        """Stop every stream and the thread; returns at once."""
        if self._closed:
            return
        self._closed = True
        self._loop.call_soon_threadsafe(self._loop.stop)
