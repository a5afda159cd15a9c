"""Docker events against the real engine: what the watcher sees, the light refresh they
trigger, and a (throwaway) engine stopped and started while a source polls it."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve
from adapters.docker.events import EventWatcher
from adapters.docker.models import DockerEvent, DockerSnapshot
from adapters.errors import Unreachable
from console.config_docker import DockerConfig, DockerHostConfig
from console.docker_source import DockerSource
from console.scheduler import Poller
from console.state import SourceState
from tests.docker_situations import APP_V2, BASE_IMAGE, Containers, Engine, wait_until

pytest_plugins = ("tests.docker_situations",)

LOCAL = "unix:///var/run/docker.sock"


class Seen:
    """Events collected from the watcher's thread."""

    def __init__(self) -> None:
        self.events: list[DockerEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: DockerEvent) -> None:
        with self.lock:
            self.events.append(event)

    def actions(self, container_id: str) -> list[str]:
        with self.lock:
            return [e.action for e in self.events if e.container_id == container_id]


@pytest.mark.timeout(60)
def test_watcher_sees_start_die_oom_and_health(containers: Containers) -> None:
    seen = Seen()
    watcher = EventWatcher(DockerHost(resolve("local", LOCAL)), seen)
    watcher.start()
    try:
        wait_until(lambda: watcher.connected, what="the event stream")
        quitter = containers.run(command=["sh", "-c", "exit 2"], name="quit")
        hog = containers.run(
            command=["sh", "-c", "head -c 200m /dev/zero | tail"],
            name="hog",
            mem_limit="32m",
            memswap_limit="32m",
        )
        sick = containers.run(APP_V2, name="sick")
        wait_until(lambda: "die" in seen.actions(quitter.id), what="die")
        assert "start" in seen.actions(quitter.id)
        die = next(e for e in seen.events if e.container_id == quitter.id and e.action == "die")
        assert die.exit_code == 2 and die.name == quitter.name and die.host == "local"
        assert die.labels.get("opsc-test") == "1" and die.image == "opsc-test/base:1"
        assert die.time > time.time() - 60
        wait_until(lambda: "oom" in seen.actions(hog.id), what="oom")
        wait_until(
            lambda: "health_status: unhealthy" in seen.actions(sick.id),
            timeout=20,
            what="unhealthy",
        )
    finally:
        started = time.monotonic()
        watcher.close()
        assert watcher.join(2.0), "the watcher thread did not stop"
        assert time.monotonic() - started < 2.0


@pytest.mark.timeout(30)
def test_quiet_watcher_stops_at_once() -> None:
    watcher = EventWatcher(DockerHost(resolve("local", LOCAL)), lambda e: None, backoff=(0.1, 0.2))
    watcher.start()
    wait_until(lambda: watcher.connected, what="the event stream")
    started = time.monotonic()
    watcher.close()
    assert watcher.join(1.0)
    assert time.monotonic() - started < 1.0


@pytest.mark.timeout(30)
def test_watcher_on_a_missing_engine_retries_and_stops(tmp_path: Path) -> None:
    errors: list[str] = []
    watcher = EventWatcher(
        DockerHost(resolve("gone", f"unix://{tmp_path}/nope.sock")),
        lambda e: None,
        on_error=errors.append,
        backoff=(0.05, 0.1),
    )
    watcher.start()
    wait_until(lambda: len(errors) >= 3, what="retries")
    assert "socket does not exist" in errors[0]
    watcher.close()
    assert watcher.join(1.0)


# -- the source reacting to events ------------------------------------------------------


class Running:
    """A DockerSource polled by a real Poller, with its event watchers started."""

    def __init__(self, source: DockerSource, interval: float) -> None:
        self.source = source
        self.states: list[SourceState[DockerSnapshot]] = []
        self.poller: Poller[DockerSnapshot] = Poller(
            "docker", source.fetch, interval=interval, on_state=self.states.append
        )
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Running:
        self.task = asyncio.create_task(self.poller.run())
        self.source.start_events(self.poller.poke)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.task is not None
        # Cancel until it ends: console.scheduler.Poller uses asyncio.wait_for, which on
        # Python 3.11 swallows a cancel that lands as a poke wakes it (reported).
        while not self.task.done():
            self.task.cancel()
            await asyncio.wait({self.task}, timeout=0.5)
        await self.source.close()

    @property
    def state(self) -> SourceState[DockerSnapshot]:
        return self.poller.state

    async def until(
        self, check: Callable[[SourceState[DockerSnapshot]], bool], timeout: float, what: str
    ) -> float:
        """Seconds until `check(state)` holds."""
        started = time.monotonic()
        while not check(self.poller.state):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"timed out waiting for {what}: {self.poller.state}")
            await asyncio.sleep(0.01)
        return time.monotonic() - started


def row(state: SourceState[DockerSnapshot], container: Any) -> Any:
    snap = state.snapshot
    return None if snap is None else snap.container(f"local/{container.id}")


@pytest.mark.timeout(90)
async def test_events_show_death_and_health_at_once(containers: Containers) -> None:
    crowd = [containers.run(command="sleep 120", name="crowd") for _ in range(10)]
    victim = containers.run(command="sleep 120", name="victim")
    sick = containers.run(APP_V2, name="sick")
    config = DockerConfig(
        hosts=(DockerHostConfig(url=LOCAL),), name_patterns=(containers.prefix + "*",)
    )
    # A long refresh: only the event-driven light refresh can show changes in time.
    async with Running(DockerSource(config, 10.0), interval=10.0) as run:
        await run.until(
            lambda s: s.snapshot is not None and len(s.snapshot.containers) == 12, 20, "a poll"
        )
        deadline = time.monotonic() + 15
        while not all((r := row(run.state, c)) is not None and r.stats for c in crowd):
            assert time.monotonic() < deadline, "no stats for the crowd"
            run.poller.poke()  # the first streamed frames come within about a second
            await asyncio.sleep(0.3)
        before = run.source.light_polls
        await asyncio.to_thread(victim.kill)
        took = await run.until(
            lambda s: (r := row(s, victim)) is not None and r.state == "exited", 5, "the death"
        )
        assert took < 1.0, f"death showed after {took:.2f} s"
        dead = row(run.state, victim)
        assert dead.exit_code == 137 and dead.exited_nonzero
        assert run.source.light_polls > before
        # the stats of the others were reused, not refetched
        alive = [row(run.state, c) for c in crowd]
        assert all(r is not None and r.stats is not None for r in alive)
        took = await run.until(
            lambda s: (r := row(s, sick)) is not None and r.health == "unhealthy",
            20,
            "the health change",
        )
        events = [e.action for e in run.source.recent_events() if e.container_id == sick.id]
        assert "health_status: unhealthy" in events
        await asyncio.to_thread(sick.restart, timeout=1)
        await run.until(
            lambda s: (r := row(s, sick)) is not None and r.health == "starting", 5, "restart"
        )


# -- a throwaway engine stopped and started mid-run ------------------------------------


@pytest.fixture
def engine(docker_client: Any) -> Iterator[Engine]:
    if shutil.which("dockerd") is None or shutil.which("ip") is None:
        pytest.skip("no dockerd or ip binary")
    e = Engine()
    try:
        e.start()
        yield e
    finally:
        e.remove()


@pytest.mark.timeout(120)
async def test_engine_stopped_and_started_while_polled(engine: Engine) -> None:
    # One container so there is something to keep while the engine is away.
    subprocess.run(
        f"docker save {BASE_IMAGE} | docker -H {engine.url} load",
        shell=True,
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *("docker", "-H", engine.url, "create", "--network=none", "--label=opsc-test=1"),
            *("--name=opsc-test-engine", BASE_IMAGE, "true"),
        ],
        check=True,
        capture_output=True,
    )
    config = DockerConfig(hosts=(DockerHostConfig(name="local", url=engine.url),), timeout=2)
    async with Running(DockerSource(config, 0.5), interval=0.5) as run:
        await run.until(lambda s: s.snapshot is not None, 20, "the first poll")
        kept = run.state.snapshot
        assert kept is not None and [c.name for c in kept.containers] == ["opsc-test-engine"]
        watcher = run.source._watchers[0]
        await asyncio.to_thread(wait_until, lambda: watcher.connected, 10, "events")

        await asyncio.to_thread(engine.stop)
        await run.until(lambda s: s.error is not None, 10, "the source to go stale")
        assert isinstance(run.state.error, Unreachable)
        stale = run.state
        # the last data is kept, marked stale, with a message that says where and why
        assert stale.stale and stale.snapshot is not None
        assert [c.name for c in stale.snapshot.containers] == ["opsc-test-engine"]
        assert stale.updated_at is not None and stale.failed_since is not None
        assert stale.updated_at <= stale.failed_since
        assert str(engine.socket) in str(stale.error), str(stale.error)
        kept = stale.snapshot

        await asyncio.to_thread(engine.start)
        took = await run.until(lambda s: s.error is None, 30, "recovery")
        assert run.state.snapshot is not kept
        assert [c.name for c in run.state.snapshot.containers] == ["opsc-test-engine"]
        assert took < 10  # retried at the refresh interval, not after a long backoff
        await asyncio.to_thread(
            wait_until, lambda: watcher.connects >= 2, 20, "the events to reconnect"
        )


# -- the app wiring -----------------------------------------------------------------------


@pytest.mark.timeout(60)
async def test_app_starts_the_source_and_events_refresh_it(
    containers: Containers, tmp_path: Path
) -> None:
    import yaml

    from console.app import OpsConsoleApp
    from console.config import load_config

    c = containers.run(command="sleep 60", name="app")
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "refresh": 30,  # only events can refresh in time
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "t": {"docker": {"hosts": [{"url": LOCAL}], "name_patterns": [c.name]}}
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(path, env={}), "t")
    async with app.run_test(size=(160, 50)) as pilot:

        async def state_of_c() -> str | None:
            state = app.states.get("docker")
            snap = None if state is None else state.snapshot
            found = None if snap is None else snap.container(f"local/{c.id}")
            return None if found is None else found.state

        deadline = time.monotonic() + 20
        while await state_of_c() != "running":
            assert time.monotonic() < deadline, "no docker snapshot in the app"
            await pilot.pause(0.05)
        assert isinstance(app.docker, DockerSource) and "docker" in app.pollers
        await asyncio.to_thread(c.kill)
        started = time.monotonic()
        while await state_of_c() != "exited":
            # At once in practice (0.03-0.12 s measured); the bound allows a loaded machine.
            assert time.monotonic() - started < 5, "the death did not show"
            await pilot.pause(0.02)
        assert app.internal_errors == []
        source = app.docker
        watchers = list(source._watchers)
        await app.stop_sources()  # what a target switch does
        assert app.docker is None
        assert all(w.join(2.0) for w in watchers)


@pytest.mark.timeout(60)
async def test_other_containers_events_cost_no_refresh(containers: Containers) -> None:
    mine = containers.run(command="sleep 60", name="mine")
    config = DockerConfig(hosts=(DockerHostConfig(url=LOCAL),), name_patterns=(mine.name,))
    async with Running(DockerSource(config, 30.0), interval=30.0) as run:
        await run.until(lambda s: s.snapshot is not None, 20, "a poll")
        watcher = run.source._watchers[0]
        await asyncio.to_thread(wait_until, lambda: watcher.connected, 10, "events")
        await asyncio.sleep(0.5)  # the refresh a (re)connection asks for is over
        polls = run.state.polls
        seen = watcher.events_seen
        other = await asyncio.to_thread(containers.run, command="true", name="other")
        await asyncio.to_thread(
            wait_until, lambda: watcher.events_seen >= seen + 2, 10, "the other's events"
        )
        await asyncio.sleep(0.3)
        assert run.state.polls == polls  # filtered out: no refresh
        await asyncio.to_thread(mine.kill)
        await run.until(lambda s: s.polls > polls, 5, "a refresh for our container")
        assert other.id not in {e.container_id for e in run.source.recent_events()}
