"""Log flood: the console's log view following a container that prints ~20,000 lines/s.

Starts a busybox container (`opsc-test/base:1`, labelled `opsc-test=1`, 1 CPU) printing
numbered lines in batches of 2,000 every 0.1 s, then `ops-console` in a detached tmux
window (200x50, a real terminal) with a config that sees only that container, opens
`4` -> `l` (the log view, following), and for the window:

- samples the console's utime+stime and RSS from /proc,
- once a second presses `t` (timestamps on/off; `--key w`: wrap, in the status line)
  and times how long until the screen shows it (capture-pane polled every 5 ms): the stall,
- reads the newest line number on screen each second: lines shown per second,
- reads the container's actual output rate from its own line numbers (`docker logs --tail 1`).

At the end it checks that the view still shows (close to) the newest line printed.

    .venv/bin/python bench/log_flood_bench.py [--seconds 60] [--batch 2000] [--pause 0.1]
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
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")
NAME = f"opsc-test-flood-{os.getpid()}"
_NUMBER = re.compile(r"flood (\d+) ")


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


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], capture_output=True, text=True, check=True).stdout


def screen(session: str) -> str:
    return tmux("capture-pane", "-p", "-t", session)


def newest_shown(text: str) -> int | None:
    numbers = [int(n) for n in _NUMBER.findall(text)]
    return max(numbers) if numbers else None


_STAMPED = re.compile(r"\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}  flood")


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


def start_flood(batch: int, pause: float) -> None:
    script = (
        f"n=0; while :; do seq $n $((n+{batch - 1})) | "
        "sed 's/.*/flood & lorem ipsum dolor sit amet, consectetur adipiscing elit/'; "
        f"n=$((n+{batch})); usleep {int(pause * 1e6)}; done"
    )
    subprocess.run(
        [
            "docker",
            "run",
            "-d",
            "--name",
            NAME,
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


def latest_printed() -> int:
    """The number of the container's newest line (cheap: `docker logs --tail 1`)."""
    out = subprocess.run(
        ["docker", "logs", "--tail", "1", NAME], capture_output=True, text=True, check=True
    )
    return int(out.stdout.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--pause", type=float, default=0.1)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument(
        "--key", choices=("w", "t"), default="t", help="key timed: t timestamps, w wrap"
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ops-flood-bench-"))
    config = work / "config.yaml"
    config.write_text(
        f"refresh: 2\naudit_log: {work}/audit.jsonl\nlog_file: {work}/console.log\n"
        f"targets:\n  bench:\n    docker:\n      name_patterns: ['{NAME}']\n"
    )
    session = f"ops-flood-bench-{os.getpid()}"
    start_flood(args.batch, args.pause)
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
        wait_for(session, NAME, 20)
        tmux("send-keys", "-t", session, "l")
        wait_for(session, r"following", 20)
        time.sleep(args.warmup)

        threads_start = thread_cpu(pid)
        rss_start, cpu_start, t0 = rss_mb(pid), cpu_seconds(pid), time.monotonic()
        printed_start = latest_printed()
        shown: list[tuple[float, int]] = []
        stalls: list[float] = []
        on = False
        while time.monotonic() - t0 < args.seconds:
            tick = time.monotonic()
            number = newest_shown(screen(session))
            if number is not None:
                shown.append((tick, number))
            on = not on
            pressed = time.monotonic()
            tmux("send-keys", "-t", session, args.key)
            while not shows(screen(session), args.key, on):
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
        final_screen = screen(session)
        last_shown = newest_shown(final_screen) or -1
        latest = latest_printed()
        produced = latest - printed_start
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        subprocess.run(["docker", "rm", "-f", NAME], check=False, capture_output=True)

    rate = (shown[-1][1] - shown[0][1]) / (shown[-1][0] - shown[0][0]) if len(shown) > 1 else 0
    print(f"window: {elapsed:.1f} s in tmux 200x50 (real terminal), Textual {textual_version()}")
    print(f"container output: {produced / elapsed:,.0f} lines/s (its own line numbers)")
    print(f"view advanced: {rate:,.0f} lines/s (newest line number on screen)")
    print(
        f"console CPU: {cpu:.1f} % of one core (UI thread {ui:.1f} %, "
        f"other threads — log reader, pollers — {cpu - ui:.1f} %)"
    )
    print(
        f"key -> screen change ({args.key}): max {1000 * max(stalls):.0f} ms, "
        f"median {1000 * statistics.median(stalls):.0f} ms, "
        f"p90 {1000 * sorted(stalls)[int(0.9 * (len(stalls) - 1))]:.0f} ms, n={len(stalls)}"
    )
    print(
        f"RSS: {rss_start:.1f} MB at start, {rss_end:.1f} MB at end ({rss_end - rss_start:+.1f} MB)"
    )
    print(
        f"newest line on screen at the end: {last_shown:,}; newest printed: {latest:,} "
        f"({latest - last_shown:,} behind)"
    )
    ok = (
        max(stalls) <= 0.150
        and cpu <= 30
        and rss_end - rss_start <= 50
        and 0 <= latest - last_shown <= 20_000 * 1.0
    )
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


def textual_version() -> str:
    from importlib.metadata import version

    return version("textual")


if __name__ == "__main__":
    raise SystemExit(main())
