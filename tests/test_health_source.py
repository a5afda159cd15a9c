"""The Health source's scheduling against real servers: one poller, independent checks."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence

import pytest

from console.config_health import HealthCheckConfig
from console.health_source import HealthSource
from tests.health_servers import HangingServer, HttpServer

pytest_plugins = ("tests.health_servers",)
pytestmark = pytest.mark.timeout(60)


async def run_ticks(source: HealthSource, seconds: float) -> None:
    """What the app's Poller does: one fetch per tick."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        await source.fetch()
        await asyncio.sleep(source.tick)


def checks(server: HttpServer, count: int, **kw: object) -> list[HealthCheckConfig]:
    return [
        HealthCheckConfig(name=f"svc{i}", url=server.url(f"/healthy?i={i}"), interval=1.0, **kw)  # type: ignore[arg-type]
        for i in range(count)
    ]


def lateness(timings: Sequence[tuple[str, float, float, float]], name: str) -> list[float]:
    return [started - due for check, due, started, _ in timings if check == name]


async def test_hanging_check_delays_no_other_and_never_runs_twice(
    http_server: HttpServer, hanging_server: HangingServer
) -> None:
    hang = HealthCheckConfig(name="hang", url=hanging_server.url(), interval=1.0, timeout=2.0)
    source = HealthSource([hang, *checks(http_server, 20, timeout=2.0)], tick=0.5)
    try:
        await run_ticks(source, 5.2)
        snapshot = source.snapshot()
        quick = [t for t in source.timings if t[0] != "hang"]
        assert len(quick) >= 20 * 4, len(quick)
        # every quick check started on time and took far less than the hang's timeout
        assert max(started - due for _, due, started, _ in quick) < 0.25
        assert max(finished - due for _, due, _, finished in quick) < 1.0
        assert all(c.state == "up" for c in snapshot.checks if c.name != "hang")
        hung = snapshot.get("hang")
        assert hung is not None and hung.last is not None
        assert hung.last.error_kind == "timeout" and hung.state == "degraded"
        # 5.2 s at a 2 s timeout: at most 3 attempts, one connection each, never two at once
        assert 2 <= len(hanging_server.accepted) <= 3, len(hanging_server.accepted)
        assert all(f - s >= 1.9 for n, _, s, f in source.timings if n == "hang")
    finally:
        started = time.monotonic()
        await source.close()
        assert time.monotonic() - started < 1.0  # a running check does not hold up closing


async def test_flapping_endpoint_is_called_flapping(http_server: HttpServer) -> None:
    flap = HealthCheckConfig(name="flap", url=http_server.url("/flap"), interval=1.0)
    source = HealthSource([flap], tick=0.5)
    try:
        await run_ticks(source, 5.5)
        status = source.snapshot().get("flap")
        assert status is not None and status.results >= 5
        assert status.flapping, status.changes
        assert {c.state for c in status.changes} == {"up", "degraded"}
    finally:
        await source.close()


async def test_snapshot_object_is_reused_while_nothing_changed(http_server: HttpServer) -> None:
    source = HealthSource(checks(http_server, 2), tick=0.5)
    try:
        await run_ticks(source, 1.0)
        source._due = dict.fromkeys(source._due, time.monotonic() + 3600)  # nothing due
        await asyncio.sleep(0.3)
        first = await source.fetch()
        await asyncio.sleep(0.5)
        assert await source.fetch() is first
    finally:
        await source.close()


async def test_poke_runs_every_idle_check_now(http_server: HttpServer) -> None:
    source = HealthSource(checks(http_server, 3), tick=1.0)
    try:
        await source.fetch()
        await asyncio.sleep(0.5)
        source._due = dict.fromkeys(source._due, time.monotonic() + 3600)
        hits = http_server.hits
        await asyncio.sleep(0.6)
        await source.fetch()  # a normal tick: nothing is due
        await asyncio.sleep(0.3)
        assert http_server.hits == hits
        await source.fetch()  # within half a tick of the last one: ctrl+r
        await asyncio.sleep(0.5)
        assert http_server.hits == hits + 3
    finally:
        await source.close()


def test_checks_are_spread_in_slots_that_share_wake_ups(http_server: HttpServer) -> None:
    source = HealthSource(
        [HealthCheckConfig(name=f"svc{i}", url=http_server.url(), interval=5.0) for i in range(200)]
    )
    phases = list(source._phase.values())
    groups = Counter(phases)
    # ten slots of 0.5 s over the 5 s interval, twenty checks in each
    assert sorted(groups) == [i * 0.5 for i in range(10)], sorted(groups)
    assert set(groups.values()) == {20}
    one = HealthSource([HealthCheckConfig(name="a", url=http_server.url(), interval=30.0)])
    assert list(one._phase.values()) == [0.0]
