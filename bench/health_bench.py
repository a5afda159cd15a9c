"""Health checks at scale: 200 HTTP checks every 5 s against local servers, one hanging.

Prints, for the console's side only (the servers run in another process):

1. the adapter + source loop in-process (what the app's Poller does: one fetch a tick):
   steady CPU as % of one core and in ms per check run, and how late each check starts
   and completes against its scheduled time — the delay the hanging check inflicts on
   the others;
2. the whole app headless (`App.run_test`), on the Health screen and on the dashboard:
   steady CPU as % of one core and in ms per check run.

CPU is the process's CPU time (user + system), so other load on a shared machine
counts only as far as it slows this process; the 1-minute load average is printed
with each figure, as it still matters.

    .venv/bin/python bench/health_bench.py [--checks 200] [--interval 5] [--seconds 60]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from console.config_health import HealthCheckConfig  # noqa: E402
from console.health_source import HealthSource  # noqa: E402

WARMUP = 10.0
HANG_TIMEOUT = 2.0


def start_servers() -> tuple[subprocess.Popen[str], int, int]:
    """One threaded HTTP server and one hanging server, in their own process."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.health_servers"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    http_port, hang_port = (int(p) for p in proc.stdout.readline().split())
    return proc, http_port, hang_port


def make_checks(
    count: int, interval: float, http_port: int, hang_port: int
) -> list[dict[str, Any]]:
    checks = [
        {
            "name": f"svc{i:03d}",
            "url": f"http://127.0.0.1:{http_port}/healthy?i={i}",
            "interval": interval,
            "timeout": 2.0,
            "expect_json": {"status": "healthy"},
        }
        for i in range(count - 1)
    ]
    checks.insert(
        count // 2,
        {
            "name": "hanging",
            "url": f"http://127.0.0.1:{hang_port}/healthy",
            "interval": interval,
            "timeout": HANG_TIMEOUT,
        },
    )
    return checks


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


async def bench_source(checks: list[dict[str, Any]], seconds: float) -> None:
    configs = [
        HealthCheckConfig(
            name=c["name"],
            url=c["url"],
            interval=c["interval"],
            timeout=c["timeout"],
            expect_json=tuple(c.get("expect_json", {}).items()),
        )
        for c in checks
    ]
    source = HealthSource(configs)
    started = time.monotonic()
    cpu0 = wall0 = None
    runs0 = 0
    try:
        while time.monotonic() - started < WARMUP + seconds:
            if cpu0 is None and time.monotonic() - started >= WARMUP:
                cpu0, wall0, runs0 = time.process_time(), time.monotonic(), len(source.timings)
            await source.fetch()
            await asyncio.sleep(source.tick)
        assert cpu0 is not None and wall0 is not None
        used = time.process_time() - cpu0
        cpu = used / (time.monotonic() - wall0) * 100
        per_run = used / max(1, len(source.timings) - runs0) * 1000
    finally:
        await source.close()
    timings = [t for t in source.timings if t[1] >= started + WARMUP]
    quick = [t for t in timings if t[0] != "hanging"]
    hang = [t for t in timings if t[0] == "hanging"]
    late = [(s - d) * 1000 for _, d, s, _ in quick]
    done = [(f - d) * 1000 for _, d, _, f in quick]
    own = [(f - s) * 1000 for _, _, s, f in quick]
    snapshot = source.snapshot()
    counts = snapshot.counts()
    print(f"source loop: {len(configs)} checks, interval {configs[0].interval:g} s, {seconds:g} s")
    print(
        f"  CPU: {cpu:.1f} % of one core, {per_run:.2f} ms per check run "
        f"(steady, after {WARMUP:g} s warm-up; load average {os.getloadavg()[0]:.2f})"
    )
    print(f"  checks completed: {len(quick)} quick, {len(hang)} hanging")
    print(
        f"  start lateness vs schedule (ms): p50 {statistics.median(late):.1f}  "
        f"p99 {pct(late, 99):.1f}  max {max(late):.1f}"
    )
    print(
        f"  completion vs schedule (ms): p50 {statistics.median(done):.1f}  "
        f"p99 {pct(done, 99):.1f}  max {max(done):.1f}"
    )
    print(
        f"  own duration of a quick check (ms): p50 {statistics.median(own):.1f}  "
        f"p99 {pct(own, 99):.1f}"
    )
    if hang:
        durations = [f - s for _, _, s, f in hang]
        print(
            f"  hanging check: each run {min(durations):.2f}-{max(durations):.2f} s "
            f"(its timeout {HANG_TIMEOUT:g} s)"
        )
    print(f"  final states: {counts}")
    reasons = {c.reason[:60] for c in snapshot.checks if c.state != "up"}
    print(f"  reasons: {sorted(reasons)[:5]}")


async def bench_app(checks: list[dict[str, Any]], seconds: float, screen: str) -> None:
    import yaml

    from console.app import OpsConsoleApp
    from console.config import load_config

    tmp = Path(tempfile.mkdtemp(prefix="health-bench-"))
    cfg = tmp / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp / "audit.jsonl"),
                "log_file": str(tmp / "console.log"),
                "targets": {"t": {"health": checks}},
            }
        )
    )
    app = OpsConsoleApp(load_config(cfg), "t")
    async with app.run_test(size=(200, 50)) as pilot:
        if screen != "dashboard":
            await pilot.press("5")
        await asyncio.sleep(WARMUP)
        source = app.health
        assert source is not None
        cpu0, wall0, runs0 = time.process_time(), time.monotonic(), len(source.timings)
        await asyncio.sleep(seconds)
        used = time.process_time() - cpu0
        cpu = used / (time.monotonic() - wall0) * 100
        per_run = used / max(1, len(source.timings) - runs0) * 1000
        state = app.states.get("health")
        counts = state.snapshot.counts() if state and state.snapshot else {}
        errors = list(app.internal_errors)
    print(
        f"whole app headless on the {screen} screen, {seconds:g} s: CPU {cpu:.1f} % of one "
        f"core, {per_run:.2f} ms per check run (load average {os.getloadavg()[0]:.2f})"
    )
    print(f"  final states: {counts}; internal errors: {len(errors)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=200)
    parser.add_argument("--interval", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--skip-app", action="store_true")
    args = parser.parse_args()
    proc, http_port, hang_port = start_servers()
    try:
        checks = make_checks(args.checks, args.interval, http_port, hang_port)
        asyncio.run(bench_source(checks, args.seconds))
        if not args.skip_app:
            for screen in ("health", "dashboard"):
                asyncio.run(bench_app(checks, args.seconds, screen))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
