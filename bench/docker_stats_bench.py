"""Docker stats for 100 running containers: the adapter against `docker stats --no-stream`.

Starts N running containers (default 100; busybox `sleep` loops under a 0.01-core limit,
labelled `opsc-test=1`), then measures in the same run:

1. the wall time of one FULL refresh of the Docker source (list + inspects + the latest
   sample of each container's streamed stats, kept open by the host's stats thread):
   median and max over `--refreshes` refreshes spaced `--refresh` s apart, and how old
   the oldest sample shown was; for comparison, the same with one one-shot stats call
   per container, concurrently through the host's own pool (`stats_mode="one-shot"`);
2. the wall time of `docker stats --no-stream` printing the same containers (median of 3);
3. the adapter's steady CPU over `--seconds` s with the real `Poller` at `--refresh` s and
   the event watcher running: process CPU time delta / wall time, in % of one core;
4. how long a container's death takes to show through the event-driven light refresh.

Everything it created is removed at the end (also on ctrl+c).

    .venv/bin/python bench/docker_stats_bench.py [--containers 100] [--seconds 60]

Targets: full refresh <= 1.5 s; steady CPU <= 10 % of one core.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import faulthandler
import statistics
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.config_docker import DockerConfig, DockerHostConfig  # noqa: E402
from console.docker_source import DockerSource  # noqa: E402
from console.scheduler import Poller  # noqa: E402

IMAGE = "opsc-test/base:1"


def start_containers(client: Any, prefix: str, count: int) -> list[Any]:
    def one(i: int) -> Any:
        return client.containers.run(
            IMAGE,
            ["sh", "-c", "while :; do sleep 1; done"],
            name=f"{prefix}{i:03d}",
            labels={"opsc-test": "1"},
            nano_cpus=10_000_000,  # 0.01 core: the smallest limit the engine takes
            detach=True,
        )

    with ThreadPoolExecutor(8) as pool:
        return list(pool.map(one, range(count)))


def remove_containers(client: Any, prefix: str) -> None:
    found = client.containers.list(all=True, filters={"name": prefix, "label": "opsc-test=1"})

    def rm(c: Any) -> None:
        with contextlib.suppress(Exception):
            c.remove(force=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(rm, found))


def cli_stats_seconds(ids: list[str]) -> tuple[float, int]:
    started = time.monotonic()
    out = subprocess.run(
        ["docker", "stats", "--no-stream", "--format", "{{.ID}}", *ids],
        capture_output=True,
        text=True,
        check=True,
    )
    return time.monotonic() - started, len(out.stdout.splitlines())


async def full_refreshes(
    source: DockerSource, count: int, every: float
) -> tuple[list[float], list[float]]:
    """Wall times of `count` full refreshes, and the age of the oldest stats in each."""
    times: list[float] = []
    ages: list[float] = []
    for _ in range(count):
        started = time.monotonic()
        snap = await source.fetch()
        times.append(time.monotonic() - started)
        sampled = [c.stats.sampled_at for c in snap.containers if c.stats is not None]
        ages.append(snap.taken_at - min(sampled) if sampled else float("nan"))
        if snap.stats_failed:
            print(f"  {snap.stats_failed} containers without fresh stats", flush=True)
        await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
    return times, ages


async def one_shot_refreshes(url: str, prefix: str, count: int, every: float) -> list[float]:
    """The same refresh with one-shot stats calls through the host's 16-thread pool."""
    from adapters.docker.client import DockerHost
    from adapters.docker.discovery import resolve
    from adapters.docker.monitor import DockerMonitor

    host = DockerHost(resolve("local", url), timeout=10, workers=16)
    monitor = DockerMonitor(host, name_patterns=[prefix + "*"], stats_mode="one-shot")
    times: list[float] = []
    try:
        await monitor.refresh()
        for _ in range(count):
            started = time.monotonic()
            await monitor.refresh()
            times.append(time.monotonic() - started)
            await asyncio.sleep(max(0.0, every - (time.monotonic() - started)))
    finally:
        host.close()
    return times


async def steady_cpu(source: DockerSource, seconds: float, refresh: float) -> tuple[float, int]:
    polls = 0

    def on_state(state: Any) -> None:
        nonlocal polls
        polls += 1

    poller: Poller[Any] = Poller("docker", source.fetch, interval=refresh, on_state=on_state)
    task = asyncio.create_task(poller.run())
    source.start_events(poller.poke)
    await asyncio.sleep(refresh * 2)  # warm-up: first samples, event stream connected
    polls = 0
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    await stop(task)
    return 100.0 * cpu / wall, polls


async def death_latency(source: DockerSource, victim: Any, refresh: float) -> float:
    """Seconds from `kill` returning to a snapshot showing the container exited."""
    states: list[Any] = []
    poller: Poller[Any] = Poller("docker", source.fetch, interval=refresh, on_state=states.append)
    task = asyncio.create_task(poller.run())
    source.start_events(poller.poke)
    try:
        await asyncio.sleep(refresh + 1)
        await asyncio.to_thread(victim.kill)
        started = time.monotonic()
        key = f"local/{victim.id}"
        while True:
            snap = poller.state.snapshot
            row = snap.container(key) if snap is not None else None
            if row is not None and row.state == "exited":
                return time.monotonic() - started
            if time.monotonic() - started > 10:
                return float("nan")
            await asyncio.sleep(0.005)
    finally:
        await stop(task)


async def stop(task: asyncio.Task[None]) -> None:
    """Cancel until it ends: the Poller's asyncio.wait_for can swallow a cancel on 3.11."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=0.5)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--refreshes", type=int, default=10)
    parser.add_argument("--refresh", type=float, default=2.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--url", default="unix:///var/run/docker.sock")
    args = parser.parse_args()

    import docker

    client = docker.DockerClient(base_url=args.url, timeout=60)
    prefix = f"opsc-test-bench-{uuid.uuid4().hex[:6]}-"
    config = DockerConfig(hosts=(DockerHostConfig(url=args.url),), name_patterns=(prefix + "*",))
    try:
        started = time.monotonic()
        faulthandler.dump_traceback_later(900, exit=True)  # a hang must not hide
        made = start_containers(client, prefix, args.containers)
        print(f"started {len(made)} containers in {time.monotonic() - started:.1f} s", flush=True)
        ids = [c.id for c in made]

        source = DockerSource(config, args.refresh)
        first = await source.fetch()  # cold: info, every inspect, streams opened
        print(f"cold first refresh: {first.duration:.3f} s, {len(first.containers)} containers")
        await asyncio.sleep(args.refresh)
        await source.fetch()  # first samples (no CPU % yet)
        await asyncio.sleep(args.refresh)
        print("full refreshes...", flush=True)
        times, ages = await full_refreshes(source, args.refreshes, args.refresh)
        snap = source.last()
        assert snap is not None
        running = [c for c in snap.containers if c.state == "running"]
        with_cpu = sum(c.stats is not None and c.stats.cpu_percent is not None for c in running)
        await source.close()
        print("docker stats --no-stream...", flush=True)
        cli = [cli_stats_seconds(ids) for _ in range(3)]
        print("one-shot refreshes...", flush=True)
        one_shot = await one_shot_refreshes(args.url, prefix, 3, args.refresh)

        print(f"steady CPU over {args.seconds:g} s...", flush=True)
        source = DockerSource(config, args.refresh)
        cpu, polls = await steady_cpu(source, args.seconds, args.refresh)
        await source.close()

        print("death latency...", flush=True)
        source = DockerSource(config, args.refresh)
        latency = await death_latency(source, made[0], args.refresh)
        await source.close()

        print()
        print(f"containers running:                 {len(running)} ({with_cpu} with CPU %)")
        print(
            f"full refresh wall time:             median {statistics.median(times):.3f} s, "
            f"max {max(times):.3f} s over {len(times)} refreshes at {args.refresh:g} s"
            "  (target <= 1.5 s)"
        )
        print(
            f"age of the oldest stats shown:      median {statistics.median(ages):.3f} s, "
            f"max {max(ages):.3f} s (streamed samples, the engine's collector tick)"
        )
        print(
            f"one-shot mode (16 threads) refresh: median {statistics.median(one_shot):.3f} s, "
            f"max {max(one_shot):.3f} s over {len(one_shot)} refreshes (for comparison)"
        )
        print(
            f"docker stats --no-stream wall time: median "
            f"{statistics.median(t for t, _ in cli):.3f} s, max {max(t for t, _ in cli):.3f} s "
            f"(3 runs, {cli[0][1]} rows each)"
        )
        print(
            f"steady adapter CPU:                 {cpu:.1f} % of one core over "
            f"{args.seconds:g} s at {args.refresh:g} s refresh ({polls} polls)"
            "  (target <= 10 %)"
        )
        print(f"death shown after (event + light):  {latency:.3f} s")
        ok = max(times) <= 1.5 and cpu <= 10.0
        return 0 if ok else 1
    finally:
        remove_containers(client, prefix)
        client.close()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
