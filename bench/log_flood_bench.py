"""Log flood: the console's log view following a container that prints ~20,000 lines/s.

Each phase starts a busybox container (`opsc-test/base:1`, labelled `opsc-test=1`,
1 CPU) printing numbered lines at `rate` lines/s (paced on the clock, see
`start_flood`), then `ops-console` in a detached tmux window (200x50, a real
terminal) with a config that sees only that container, opens `4` -> `l` (the log
view, following), and for the window:

- samples the console's utime+stime (per thread) and RSS from /proc,
- once a second presses `t` (timestamps on/off; `--key w`: wrap, in the status line)
  and times how long until the screen shows it (capture-pane polled every 5 ms): the stall,
- reads the newest line number on screen each second: lines shown per second,
- reads the container's actual output rate from its own line numbers (`docker logs --tail 1`),
- records the machine's load average (the machines are shared: read figures against it).

A control phase (2 lines/s, same measurements) runs first, so what the machine's load
alone costs in key latency is visible next to the flood's figures. Only the flood phase
is checked against the targets: stall <= 150 ms, CPU <= 30 %, RSS growth <= 50 MB, the
view still (close to) the newest line printed.

    .venv/bin/python bench/log_flood_bench.py [--seconds 60] [--control-seconds 30]
        [--rate 20000] [--pause 0.05]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
_NUMBER = re.compile(r"flood (\d+) ")
_STAMPED = re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  flood")


@dataclass
class Result:
    label: str
    elapsed: float
    produced_rate: float
    shown_rate: float
    cpu: float
    ui_cpu: float
    stalls: list[float]
    rss_start: float
    rss_end: float
    last_shown: int
    latest: int
    load: tuple[float, float]  # 1-minute load average at the start and the end


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU seconds per thread (tid) of `pid`: the UI thread is the one whose tid is pid."""
    out: dict[int, float] = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the thread ended meanwhile
        out[int(task.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    return out


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def load1() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def newest_shown(text: str) -> int | None:
    numbers = [int(n) for n in _NUMBER.findall(text)]
    return max(numbers) if numbers else None


def shows(text: str, key: str, on: bool) -> bool:
    """Whether the screen shows the effect of `key` turned `on` (or off)."""
    if key == "w":
        return (" · wrap · " if on else " · no wrap · ") in text
    return bool(_STAMPED.search(text)) == on and "flood" in text


def wait_for(session: str, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = screen(session)
        if re.search(pattern, text):
            return text
        time.sleep(0.05)
    raise SystemExit(f"timed out waiting for {pattern!r}; screen:\n{screen(session)}")


def start_flood(name: str, rate: int, pause: float) -> None:
    """Print `rate` numbered lines per second. Paced on the clock (/proc/uptime, in
    hundredths): each wake-up prints every line due by now, so the time spent printing
    does not lower the rate (fixed batches with a sleep reached only ~18-19k/s)."""
    script = (
        "read u _ < /proc/uptime; start=${u%.*}${u#*.}; n=0; while :; do "
        "read u _ < /proc/uptime; now=${u%.*}${u#*.}; "
        f"want=$(( (now-start)*{rate}/100 )); "
        "if [ $want -gt $n ]; then seq $n $((want-1)) | "
        "sed 's/.*/flood & lorem ipsum dolor sit amet, consectetur adipiscing elit/'; "
        f"n=$want; fi; usleep {int(pause * 1e6)}; done"
    )
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            name,
            "--label",
            "opsc-test=1",
            "--cpus",
            "1",
            "--network",
            "none",
            "opsc-test/base:1",
            "sh",
            "-c",
            script,
        ],
        check=True,
        capture_output=True,
    )


def latest_printed(name: str) -> int:
    """The number of the container's newest line (cheap: `docker logs --tail 1`)."""
    out = subprocess.run(
        ["docker", "logs", "--tail", "1", name], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[1])


def run_phase(
    label: str, rate: int, pause: float, seconds: float, warmup: float, key: str
) -> Result:
    """One container, one console in tmux, one measured window; everything removed after."""
    name = f"opsc-test-flood-{os.getpid()}-{label}"
    work = Path(tempfile.mkdtemp(prefix="ops-flood-bench-"))
    config = work / "config.yaml"
    config.write_text(
        f"refresh: 2\naudit_log: {work}/audit.jsonl\nlog_file: {work}/console.log\n"
        f"targets:\n  bench:\n    docker:\n      name_patterns: ['{name}']\n"
    )
    session = f"ops-flood-bench-{os.getpid()}-{label}"
    start_flood(name, rate, pause)
    env = f"cd {ROOT} && XDG_STATE_HOME={work} exec {sys.executable} -m console"
    tmux(
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        "200",
        "-y",
        "50",
        f"{env} --config {config} --no-mouse",
    )
    try:
        pid = int(tmux("display-message", "-p", "-t", session, "#{pane_pid}"))
        wait_for(session, "Containers", 20)
        tmux("send-keys", "-t", session, "4")
        wait_for(session, name, 20)
        tmux("send-keys", "-t", session, "l")
        wait_for(session, r"following", 20)
        time.sleep(warmup)

        load_start = load1()
        threads_start = thread_cpu(pid)
        rss_start, cpu_start, t0 = rss_mb(pid), cpu_seconds(pid), time.monotonic()
        printed_start = latest_printed(name)
        shown: list[tuple[float, int]] = []
        stalls: list[float] = []
        on = False
        while time.monotonic() - t0 < seconds:
            tick = time.monotonic()
            number = newest_shown(screen(session))
            if number is not None:
                shown.append((tick, number))
            on = not on
            pressed = time.monotonic()
            tmux("send-keys", "-t", session, key)
            while not shows(screen(session), key, on):
                if time.monotonic() - pressed > 10:
                    break
                time.sleep(0.005)
            stalls.append(time.monotonic() - pressed)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        elapsed = time.monotonic() - t0
        cpu = 100 * (cpu_seconds(pid) - cpu_start) / elapsed
        threads_end = thread_cpu(pid)
        ui = 100 * (threads_end.get(pid, 0) - threads_start.get(pid, 0)) / elapsed
        rss_end = rss_mb(pid)
        # The view is checked after the last key press settled: it must show the newest.
        time.sleep(0.6)
        last_shown = newest_shown(screen(session)) or -1
        latest = latest_printed(name)
        load_end = load1()
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        subprocess.run(["docker", "rm", "-f", name], check=False, capture_output=True)

    span = shown[-1][0] - shown[0][0] if len(shown) > 1 else 0
    rate = (shown[-1][1] - shown[0][1]) / span if span else 0.0
    return Result(
        label,
        elapsed,
        (latest - printed_start) / elapsed,
        rate,
        cpu,
        ui,
        stalls,
        rss_start,
        rss_end,
        last_shown,
        latest,
        (load_start, load_end),
    )


def report(r: Result, key: str) -> None:
    stalls = sorted(r.stalls)
    print(
        f"== {r.label}: {r.elapsed:.1f} s, load average (1 min) {r.load[0]:.2f} -> {r.load[1]:.2f}"
    )
    print(f"  container output: {r.produced_rate:,.0f} lines/s (its own line numbers)")
    print(f"  view advanced: {r.shown_rate:,.0f} lines/s (newest line number on screen)")
    print(
        f"  console CPU: {r.cpu:.1f} % of one core (UI thread {r.ui_cpu:.1f} %, "
        f"other threads — log reader, pollers — {r.cpu - r.ui_cpu:.1f} %)"
    )
    print(
        f"  key -> screen change ({key}): max {1000 * stalls[-1]:.0f} ms, "
        f"median {1000 * statistics.median(stalls):.0f} ms, "
        f"p90 {1000 * stalls[int(0.9 * (len(stalls) - 1))]:.0f} ms, n={len(stalls)}, "
        f"over 150 ms: {sum(s > 0.150 for s in stalls)}"
    )
    print(
        f"  RSS: {r.rss_start:.1f} MB at start, {r.rss_end:.1f} MB at end "
        f"({r.rss_end - r.rss_start:+.1f} MB)"
    )
    print(
        f"  newest line on screen at the end: {r.last_shown:,}; newest printed: "
        f"{r.latest:,} ({r.latest - r.last_shown:,} behind)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--control-seconds", type=float, default=30, help="0: no control")
    parser.add_argument("--rate", type=int, default=20_000, help="lines/s of the flood")
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument(
        "--key", choices=("w", "t"), default="t", help="key timed: t timestamps, w wrap"
    )
    args = parser.parse_args()

    print(f"tmux 200x50 (real terminal), Textual {textual_version()}, {os.cpu_count()} cores")
    if args.control_seconds > 0:
        control = run_phase("control", 2, 0.5, args.control_seconds, args.warmup, args.key)
        report(control, args.key)
    r = run_phase("flood", args.rate, args.pause, args.seconds, args.warmup, args.key)
    report(r, args.key)
    ok = (
        max(r.stalls) <= 0.150
        and r.cpu <= 30
        and r.rss_end - r.rss_start <= 50
        and 0 <= r.latest - r.last_shown <= args.rate * 1.0
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def textual_version() -> str:
    from importlib.metadata import version

    return version("textual")


if __name__ == "__main__":
    raise SystemExit(main())
