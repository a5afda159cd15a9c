"""Steady CPU of the console showing one Redis instance at a 1 s refresh.

Starts `ops-console` in a detached tmux session (200x50) with a config holding only a
Redis instance (default: the machine's, read-only polling), shows the dashboard (`1`) or
the Redis screen (`3`), and samples the process's utime+stime from /proc for the window.

    .venv/bin/python bench/redis_pane_cpu.py [--url redis://127.0.0.1:6379/0] [--seconds 60]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def measure(url: str, key: str, seconds: float, warmup: float) -> tuple[float, float]:
    work = Path(tempfile.mkdtemp(prefix="ops-redis-bench-"))
    config = work / "config.yaml"
    config.write_text(
        f"refresh: 1\naudit_log: {work}/audit.jsonl\nlog_file: {work}/console.log\n"
        f"targets:\n  bench:\n    redis:\n      - name: cache\n        url: {url}\n"
    )
    session = f"ops-redis-bench-{os.getpid()}"
    console = ROOT / ".venv" / "bin" / "ops-console"
    subprocess.run(
        [
            "tmux",
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "200",
            "-y",
            "50",
            f"exec {console} --config {config} --no-mouse",
        ],
        check=True,
    )
    try:
        pane_pid = int(
            subprocess.run(
                ["tmux", "display-message", "-p", "-t", session, "#{pane_pid}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        )
        time.sleep(2)
        subprocess.run(["tmux", "send-keys", "-t", session, key], check=True)
        time.sleep(warmup)
        start_cpu, start = cpu_seconds(pane_pid), time.monotonic()
        rss = 0.0
        deadline = start + seconds
        while time.monotonic() < deadline:
            time.sleep(1)
            rss = max(rss, rss_mb(pane_pid))
        used = cpu_seconds(pane_pid) - start_cpu
        return 100 * used / (time.monotonic() - start), rss
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--warmup", type=float, default=5)
    args = parser.parse_args()
    for key, label in (("1", "dashboard pane"), ("3", "Redis screen")):
        cpu, rss = measure(args.url, key, args.seconds, args.warmup)
        print(f"{label}: {cpu:.2f} % of one core over {args.seconds:.0f} s, RSS max {rss:.1f} MB")


if __name__ == "__main__":
    main()
