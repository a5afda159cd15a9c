"""The whole console on the Containers screen with 100 running containers: steady CPU.

`bench/docker_stats_bench.py` measures the adapter alone; this measures what an operator
pays: the real console in a detached tmux window (200x50, a real terminal), its target
watching only the bench's containers, the Containers screen showing them, refreshed every
`--refresh` s. It reports the console's CPU in % of one core (process CPU time / wall time
over `--seconds`), per thread (the UI thread is the one whose tid is the pid), its RSS, and
the 1-minute load average at the start and the end, since the machine may be shared. Then
the same with the dashboard showing (the containers pane only redraws its summary).

    .venv/bin/python bench/containers_console_bench.py [--containers 100] [--seconds 60]

Target (issue): steady CPU <= 10 % of one core at a 2 s refresh.
Everything it created is removed at the end (also on ctrl+c).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.docker_stats_bench import remove_containers, start_containers  # noqa: E402
from bench.log_flood_bench import (  # noqa: E402
    cpu_seconds,
    load1,
    rss_mb,
    thread_cpu,
    tmux,
    wait_for,
)


def measure(pid: int, seconds: float) -> tuple[float, float, float, tuple[float, float]]:
    """(CPU %, UI thread CPU %, RSS MB at the end, load at start and end) over `seconds`."""
    load_start = load1()
    threads = thread_cpu(pid)
    cpu, t0 = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    elapsed = time.monotonic() - t0
    total = 100 * (cpu_seconds(pid) - cpu) / elapsed
    ui = 100 * (thread_cpu(pid).get(pid, 0) - threads.get(pid, 0)) / elapsed
    return total, ui, rss_mb(pid), (load_start, load1())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--refresh", type=float, default=2.0)
    args = parser.parse_args()

    import docker

    client = docker.from_env(timeout=60)
    prefix = f"opsc-test-cbench-{uuid.uuid4().hex[:6]}-"
    work = Path(tempfile.mkdtemp(prefix="ops-containers-bench-"))
    config = work / "config.yaml"
    config.write_text(
        f"refresh: {args.refresh}\naudit_log: {work}/audit.jsonl\nlog_file: {work}/console.log\n"
        f"targets:\n  bench:\n    docker:\n      name_patterns: ['{prefix}*']\n"
    )
    session = f"ops-containers-bench-{os.getpid()}"
    print(f"{args.containers} containers, refresh {args.refresh:g} s, window {args.seconds:g} s")
    try:
        start_containers(client, prefix, args.containers)
        env = f"cd {ROOT} && XDG_STATE_HOME={work} exec {sys.executable} -m console"
        tmux("new-session", "-d", "-s", session, "-x", "200", "-y", "50")
        tmux("send-keys", "-t", session, f"{env} --config {config} --no-mouse", "Enter")
        time.sleep(1.0)
        pid = int(
            subprocess.run(
                ["pgrep", "-n", "-f", f"console --config {config}"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.split()[0]
        )
        wait_for(session, "Containers", 20)
        tmux("send-keys", "-t", session, "4")
        wait_for(session, f"{prefix}0", 30)
        time.sleep(args.warmup)
        for label, key in (("Containers screen", None), ("Dashboard", "1")):
            if key:
                tmux("send-keys", "-t", session, key)
                time.sleep(args.warmup)
            cpu, ui, rss, (l0, l1) = measure(pid, args.seconds)
            print(
                f"{label}: CPU {cpu:.1f} % of one core (UI thread {ui:.1f} %), "
                f"RSS {rss:.1f} MB, load {l0:.2f} -> {l1:.2f}"
            )
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], check=False)
        remove_containers(client, prefix)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
