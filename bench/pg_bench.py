#!/usr/bin/env python3
"""PostgreSQL-screen benchmark: ops-console against pg_activity, same load, same window.

    bash bench/pg_cluster.sh && .venv/bin/python bench/pg_bench.py
    .venv/bin/python bench/pg_bench.py --tools pg_activity        # reference only
    .venv/bin/python bench/pg_bench.py --quick --no-results       # 1-minute smoke run

What it does (bench/README.md explains every figure):
  1. starts bench/pg_load.py (1,000 idle + 100 active sessions + a lock chain) on the
     bench cluster (127.0.0.1:55432, bench/pg_cluster.sh) and waits for READY;
  2. measures a bare `SELECT * FROM pg_stat_activity` (30 runs as bench_load) with
     pg_stat_statements, before and after the tools;
  3. for each tool, in a private tmux server, in a detached 200x50 session:
     - first frame: 1 discarded + --starts starts, time from launch until capture-pane
       shows the tool's first screen (polled every 10 ms);
     - one long run: open the activity screen, --warmup s, reset pg_stat_statements,
       sample /proc CPU and RSS every second for --duration s, then read the tool's own
       statements (its own role) from pg_stat_statements;
     - key latency in the same run: --presses screen-switching keys at random phases
       of the refresh, each timed until the screen changes (polled every 10 ms);
  4. prints a table and appends a dated section to bench/RESULTS.md; raw JSON goes to
     bench/out/.

Every process it starts (load, tmux server, tools) is stopped on exit, Ctrl-C included;
every wait is bounded.  Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import os
import platform
import random
import re
import select
import shutil
import signal
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
CLK_TCK = os.sysconf("SC_CLK_TCK")
WIDTH, HEIGHT = 200, 50
POLL = 0.010  # capture-pane polling period
BASELINE_SQL = "SELECT * FROM pg_stat_activity"
LOAD_ROWS = re.compile(r"bench_(load|active|idle|lock)")


class ToolUnavailable(Exception):
    """The tool cannot be benchmarked (not installed, does not start, ...)."""


# --------------------------------------------------------------------------- tmux


class Tmux:
    """A private tmux server (own socket, no user config) driven through one control-mode
    client, so polling capture-pane costs a pipe round trip instead of a fork+exec."""

    def __init__(self, env: dict[str, str], lifetime_s: int) -> None:
        self.sock = f"opsbench-{os.getpid()}"
        self.base = ["tmux", "-L", self.sock, "-f", "/dev/null"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.buf = b""
        # The keeper session keeps the server alive and hosts the control client; it
        # ends by itself after lifetime_s even if this script is SIGKILLed.
        keeper = ["new-session", "-d", "-s", "keeper", "-x", str(WIDTH), "-y", str(HEIGHT)]
        subprocess.run(
            [*self.base, *keeper, "sleep", str(lifetime_s)],
            env=env,
            check=True,
            timeout=15,
        )
        for opt in (
            ["set-option", "-g", "status", "off"],
            ["set-option", "-g", "default-terminal", "tmux-256color"],
            ["set-option", "-g", "history-limit", "0"],
            ["set-option", "-g", "exit-empty", "on"],
            ["set-window-option", "-g", "remain-on-exit", "on"],
            ["set-window-option", "-g", "aggressive-resize", "off"],
        ):
            subprocess.run(self.base + opt, check=True, timeout=15, env=env)
        self.proc = subprocess.Popen(
            [*self.base, "-C", "attach-session", "-t", "keeper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            bufsize=0,
            env=env,
        )
        if self.cmd("display-message -p opsbench-sync", timeout=10) != ["opsbench-sync"]:
            raise RuntimeError("tmux control client out of step")

    def _readline(self, deadline: float) -> str:
        assert self.proc and self.proc.stdout
        fd = self.proc.stdout.fileno()
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("tmux control client: no answer")
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise RuntimeError("tmux control client exited")
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode("utf-8", "replace")

    def cmd(self, command: str, timeout: float = 5.0) -> list[str]:
        """Run one tmux command; returns its output lines (raises on %error)."""
        assert self.proc and self.proc.stdin
        self.proc.stdin.write(command.encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            # Outside blocks: notifications.  A block whose flags field is 0 was not
            # started by this client (e.g. the attach itself): skip it too.
            if not line.startswith("%begin "):
                continue
            ours = line.split()[-1] != "0"
            out: list[str] = []
            while True:
                line = self._readline(deadline)
                if line.startswith(("%end ", "%error ")):
                    break
                out.append(line)
            if not ours:
                continue
            if line.startswith("%error "):
                raise RuntimeError(f"tmux {command.split()[0]}: {' '.join(out)}")
            return out

    @staticmethod
    def q(arg: str) -> str:
        if "'" in arg or "\n" in arg:
            raise ValueError(f"argument not supported by the tmux quoting here: {arg!r}")
        return "'" + arg + "'"

    def new_session(self, name: str, argv: list[str], env: dict[str, str]) -> None:
        envs = " ".join(f"-e {self.q(f'{k}={v}')}" for k, v in env.items())
        self.cmd(
            f"new-session -d -s {name} -x {WIDTH} -y {HEIGHT} {envs} "
            + " ".join(self.q(a) for a in argv)
        )

    def capture(self, name: str) -> str:
        return "\n".join(self.cmd(f"capture-pane -p -t {name}"))

    def send_key(self, name: str, key: str) -> None:
        self.cmd(f"send-keys -t {name} {self.q(key)}")

    def pane(self, name: str) -> dict[str, Any]:
        fmt = "#{pane_pid} #{pane_width} #{pane_height} #{pane_dead} #{pane_dead_status}"
        parts = self.cmd(f"display-message -p -t {name} '{fmt}'")[0].split()
        return {
            "pid": int(parts[0]),
            "width": int(parts[1]),
            "height": int(parts[2]),
            "dead": parts[3] == "1",
            "status": parts[4] if len(parts) > 4 else "",
        }

    def kill_session(self, name: str) -> None:
        try:
            pid = self.pane(name)["pid"]
        except (RuntimeError, IndexError, ValueError):
            pid = None
        with contextlib.suppress(RuntimeError):
            self.cmd(f"kill-session -t {name}")
        if pid:  # tmux sends SIGHUP; make sure the tool (our child) is really gone
            end = time.monotonic() + 5
            while time.monotonic() < end and _alive(pid):
                time.sleep(0.02)
            if _alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)

    def close(self) -> None:
        if self.proc:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # type: ignore[union-attr]
        subprocess.run([*self.base, "kill-server"], capture_output=True, timeout=15)
        tmpdir = os.environ.get("TMUX_TMPDIR") or "/tmp"
        with contextlib.suppress(OSError):  # tmux leaves the socket file behind
            os.unlink(f"{tmpdir}/tmux-{os.getuid()}/{self.sock}")
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
            self.proc = None


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


# --------------------------------------------------------------------------- /proc


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()  # [0] is field 3 (state)


def tree_pids(root: int) -> list[int]:
    pids, i = [root], 0
    while i < len(pids) and len(pids) < 1000:
        p = pids[i]
        i += 1
        try:
            for tid in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{tid}/children") as f:
                    pids.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return pids


def tree_ticks(root: int) -> int:
    """utime+stime of the process and its live descendants, plus reaped children."""
    total = 0
    for n, pid in enumerate(tree_pids(root)):
        try:
            f = _stat_fields(pid)
        except OSError:
            continue
        total += int(f[11]) + int(f[12])
        if n == 0:
            total += int(f[13]) + int(f[14])
    return total


def tree_rss_kb(root: int) -> int:
    total = 0
    for pid in tree_pids(root):
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


def pids_ticks(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            f = _stat_fields(pid)
            total += int(f[11]) + int(f[12])
        except OSError:
            continue
    return total


def machine_busy() -> tuple[int, int]:
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    return sum(v) - idle, sum(v)


# --------------------------------------------------------------------------- tools


@dataclass
class Tool:
    name: str
    label: str
    role: str
    argv: list[str]
    env: dict[str, str]
    ready: re.Pattern[str]  # the first painted frame
    setup_keys: list[str]  # pressed once to reach the activity screen
    key_cycle: list[tuple[str, re.Pattern[str] | None]]  # None: any (digit-masked) change
    preflight: list[list[str]] = field(default_factory=list)


def build_tools(a: argparse.Namespace) -> dict[str, Tool]:
    OUT.mkdir(parents=True, exist_ok=True)
    oc_cfg = OUT / "ops-console-bench.yaml"
    oc_cfg.write_text(
        "# Written by bench/pg_bench.py\n"
        f"refresh: {a.refresh}\n"
        f"audit_log: {OUT / 'ops-console-audit.jsonl'}\n"
        f"log_file: {OUT / 'ops-console.log'}\n"
        "targets:\n"
        "  bench:\n"
        "    postgres:\n"
        f"      host: {a.host}\n"
        f"      port: {a.port}\n"
        "      user: bench_opsconsole\n"
        "      database: postgres\n"
    )
    pg_env = {"PGHOST": a.host, "PGPORT": str(a.port), "PGDATABASE": "postgres"}
    oc_keys = [k.strip() for k in a.oc_keys.split(",") if k.strip()]
    oc_markers = dict(m.split("=", 1) for m in a.oc_key_re)
    pga = a.pga
    return {
        "ops-console": Tool(
            name="ops-console",
            label="ops-console",
            role="bench_opsconsole",
            argv=[
                a.ops_console,
                "--config",
                str(oc_cfg),
                "--target",
                "bench",
                "--refresh",
                f"{a.refresh:g}",
            ],
            env={**pg_env, "PGUSER": "bench_opsconsole"},
            ready=re.compile(a.oc_ready),
            setup_keys=["2"],
            key_cycle=[
                (k, re.compile(oc_markers[k]) if k in oc_markers else None) for k in oc_keys
            ],
            preflight=[
                [a.ops_console, "--version"],
                [a.ops_console, "config", "check", "--config", str(oc_cfg)],
            ],
        ),
        "pg_activity": Tool(
            name="pg_activity",
            label="pg_activity",
            role="bench_pgactivity",
            argv=[
                pga,
                "-h",
                a.host,
                "-p",
                str(a.port),
                "-U",
                "bench_pgactivity",
                "-d",
                "postgres",
                "--refresh",
                f"{a.refresh:g}",
                *a.pga_args.split(),
            ],
            env={**pg_env, "PGUSER": "bench_pgactivity"},
            ready=re.compile(r"RUNNING QUERIES"),
            setup_keys=[],
            key_cycle=[
                ("3", re.compile(r"BLOCKING QUERIES")),
                ("1", re.compile(r"RUNNING QUERIES")),
            ],
            preflight=[[pga, "--version"]],
        ),
    }


def ensure_ops_console(a: argparse.Namespace) -> None:
    if Path(a.ops_console).exists():
        return
    if a.ops_console != str(ROOT / ".venv/bin/ops-console"):
        raise ToolUnavailable(f"{a.ops_console} does not exist")
    print(f"ops-console not installed: {ROOT / '.venv/bin/pip'} install -e {ROOT}", flush=True)
    r = subprocess.run(
        [str(ROOT / ".venv/bin/pip"), "install", "-q", "-e", str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if r.returncode != 0 or not Path(a.ops_console).exists():
        raise ToolUnavailable("pip install -e failed: " + (r.stderr or r.stdout)[-600:])


def ensure_pg_activity(a: argparse.Namespace) -> None:
    """Create bench/.venv-ref from bench/requirements.txt when it is missing."""
    if Path(a.pga).exists() or a.pga != str(BENCH / ".venv-ref/bin/pg_activity"):
        return
    venv = BENCH / ".venv-ref"
    print(f"pg_bench: creating {venv} (bench/requirements.txt)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        r = subprocess.run(
            [str(venv / "bin/pip"), "install", "-q", "-r", str(BENCH / "requirements.txt")],
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise ToolUnavailable(f"creating {venv} failed: {e}") from None
    if r.returncode != 0:
        raise ToolUnavailable("pip install -r bench/requirements.txt failed: " + r.stderr[-600:])


def preflight(tool: Tool, env: dict[str, str]) -> str:
    version = ""
    for cmd in tool.preflight:
        if not Path(cmd[0]).exists():
            raise ToolUnavailable(f"{cmd[0]} does not exist")
        try:
            r = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                timeout=30,
                env={**env, **tool.env},
                stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired:
            raise ToolUnavailable(f"`{' '.join(cmd)}` did not finish in 30 s") from None
        if r.returncode != 0:
            raise ToolUnavailable(
                f"`{' '.join(cmd)}` exited {r.returncode}: {(r.stderr or r.stdout).strip()[-800:]}"
            )
        if cmd[-1] == "--version":
            version = (
                (r.stdout or r.stderr).strip().splitlines()[0] if (r.stdout or r.stderr) else ""
            )
    return version


# --------------------------------------------------------------------------- database


class Db:
    def __init__(self, a: argparse.Namespace) -> None:
        self.a = a
        self.admin: asyncpg.Connection | None = None

    async def connect(self, user: str) -> asyncpg.Connection:
        return await asyncpg.connect(
            host=self.a.host,
            port=self.a.port,
            user=user,
            database="postgres",
            timeout=10,
            server_settings={"application_name": "pg_bench"},
        )

    async def open(self) -> None:
        try:
            self.admin = await self.connect("postgres")
        except (OSError, asyncpg.PostgresError) as e:
            raise SystemExit(
                f"pg_bench: cannot reach the bench cluster at {self.a.host}:{self.a.port} "
                f"({e}); start it with: bash bench/pg_cluster.sh"
            ) from None
        missing = await self.admin.fetchval(
            "SELECT array_agg(r) FROM unnest($1::text[]) r "
            "WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r)",
            ["bench_opsconsole", "bench_pgactivity", "bench_load"],
        )
        ext = await self.admin.fetchval(
            "SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'"
        )
        if missing or not ext:
            raise SystemExit(
                "pg_bench: cluster not prepared (roles or pg_stat_statements "
                "missing); run: bash bench/pg_cluster.sh"
            )

    async def version(self) -> str:
        assert self.admin
        return await self.admin.fetchval("SHOW server_version")

    async def reset(self) -> None:
        assert self.admin
        await self.admin.execute("SELECT pg_stat_statements_reset()")

    async def statements(self, role: str) -> list[dict[str, Any]]:
        assert self.admin
        rows = await self.admin.fetch(
            "SELECT s.query, s.calls, s.total_exec_time, s.rows, s.toplevel "
            "FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
            "WHERE r.rolname = $1 ORDER BY s.calls DESC, s.total_exec_time DESC",
            role,
        )
        return [dict(r) for r in rows]

    async def backend_pids(self, role: str) -> list[int]:
        assert self.admin
        return [
            r["pid"]
            for r in await self.admin.fetch(
                "SELECT pid FROM pg_stat_activity WHERE usename = $1", role
            )
        ]

    async def activity_rows(self) -> int:
        assert self.admin
        return await self.admin.fetchval("SELECT count(*) FROM pg_stat_activity")

    async def baseline(self, runs: int) -> dict[str, Any]:
        """Mean server time of a bare SELECT * FROM pg_stat_activity, run as bench_load
        (pg_read_all_stats: it sees the rows and query texts the tools see)."""
        await self.reset()
        conn = await self.connect("bench_load")
        try:
            nrows = 0
            for _ in range(runs):
                nrows = len(await conn.fetch(BASELINE_SQL))
        finally:
            await conn.close(timeout=5)
        rows = [
            r
            for r in await self.statements("bench_load")
            if r["query"].strip().rstrip(";").lower() == BASELINE_SQL.lower()
        ]
        if not rows:
            raise RuntimeError("baseline query not found in pg_stat_statements")
        calls = sum(r["calls"] for r in rows)
        total = sum(r["total_exec_time"] for r in rows)
        return {"runs": calls, "mean_ms": total / calls, "rows": nrows}


# --------------------------------------------------------------------------- measuring


def norm(screen: str) -> str:
    """Screen text with numbers masked and spacing collapsed: a refresh that only moves
    durations, pids and clocks does not count as a change; a screen switch does."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", screen)).strip()


def wait_for(tmux: Tmux, name: str, pred, timeout: float) -> float | None:
    """Poll capture-pane every POLL s until pred(screen); seconds waited, or None."""
    t0 = time.monotonic()
    nxt = t0
    while True:
        screen = tmux.capture(name)
        if pred(screen):
            return time.monotonic() - t0
        now = time.monotonic()
        if now - t0 > timeout:
            return None
        nxt += POLL
        if nxt > now:
            time.sleep(nxt - now)
        else:
            nxt = now


def dead_message(tmux: Tmux, name: str, tool: Tool) -> str:
    try:
        info = tmux.pane(name)
        screen = tmux.capture(name)
    except RuntimeError:
        return f"{tool.name}: session vanished"
    tail = "\n".join(line for line in screen.splitlines() if line.strip())[-1200:]
    state = f"exited with status {info['status']}" if info["dead"] else "still running"
    return f"{tool.name} {state}; screen:\n{tail}"


def wait_quiet(a: argparse.Namespace, what: str) -> dict[str, float]:
    """Other people's jobs share these 2 cores: wait (at most --quiet-wait s) until the
    whole machine is below --quiet-below % busy over 2 s.  Returns what was seen."""
    t0 = time.monotonic()
    busy = 100.0
    while True:
        b0, a0 = machine_busy()
        time.sleep(2)
        b1, a1 = machine_busy()
        busy = (b1 - b0) / max(1, a1 - a0) * 100
        waited = time.monotonic() - t0
        if busy <= a.quiet_below or waited >= a.quiet_wait:
            break
        if waited < 2.5:
            print(
                f"pg_bench: machine {busy:.0f}% busy before {what}; waiting up to "
                f"{a.quiet_wait:.0f} s for <= {a.quiet_below:.0f}%",
                flush=True,
            )
    return {"busy_pct": round(busy, 1), "waited_s": round(waited, 1)}


def first_frames(tmux: Tmux, tool: Tool, starts: int) -> dict[str, Any]:
    times: list[float] = []
    for i in range(starts + 1):  # start 0 is discarded: disk cache and bytecode warm-up
        name = f"ff-{tool.name.replace('_', '-')}-{i}"
        t0 = time.monotonic()
        tmux.new_session(name, tool.argv, tool.env)
        try:
            waited = wait_for(tmux, name, lambda s: bool(tool.ready.search(s)), 15)
            if waited is None:
                raise ToolUnavailable(
                    f"no first frame within 15 s ({tool.ready.pattern!r}); "
                    + dead_message(tmux, name, tool)
                )
            if i:
                times.append(time.monotonic() - t0)
        finally:
            tmux.kill_session(name)
        time.sleep(0.5)
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "all_s": [round(t, 4) for t in times],
    }


def harness_floor(tmux: Tmux, starts: int) -> float:
    """First 'frame' of a shell that prints one word: what tmux and polling add."""
    times = []
    for i in range(starts):
        name = f"ff-floor-{i}"
        t0 = time.monotonic()
        tmux.new_session(name, ["/bin/sh", "-c", "echo FLOOR-READY; sleep 30"], {})
        try:
            if wait_for(tmux, name, lambda s: "FLOOR-READY" in s, 5) is not None:
                times.append(time.monotonic() - t0)
        finally:
            tmux.kill_session(name)
    return statistics.median(times) if times else float("nan")


async def long_run(tmux: Tmux, db: Db, tool: Tool, a: argparse.Namespace) -> dict[str, Any]:
    name = f"run-{tool.name.replace('_', '-')}"
    tmux.new_session(name, tool.argv, tool.env)
    try:
        pane = tmux.pane(name)
        pid = pane["pid"]
        if (pane["width"], pane["height"]) != (WIDTH, HEIGHT):
            raise ToolUnavailable(f"pane is {pane['width']}x{pane['height']}, not {WIDTH}x{HEIGHT}")
        if wait_for(tmux, name, lambda s: bool(tool.ready.search(s)), 15) is None:
            raise ToolUnavailable("did not start; " + dead_message(tmux, name, tool))
        for key in tool.setup_keys:
            tmux.send_key(name, key)
        if wait_for(tmux, name, lambda s: bool(LOAD_ROWS.search(s)), 30) is None:
            raise ToolUnavailable(
                "the load's sessions never appeared on screen; " + dead_message(tmux, name, tool)
            )
        await asyncio.sleep(a.warmup)
        quiet = wait_quiet(a, f"{tool.name}'s window")
        if tmux.pane(name)["dead"]:
            raise ToolUnavailable("died during warm-up; " + dead_message(tmux, name, tool))
        backends = await db.backend_pids(tool.role)
        await db.reset()
        # ---- sampling window
        t_start = time.monotonic()
        ticks0, be0, (busy0, all0) = tree_ticks(pid), pids_ticks(backends), machine_busy()
        cpu_samples, rss_samples = [], []
        last_t, last_ticks = t_start, ticks0
        for i in range(1, int(a.duration) + 1):
            await asyncio.sleep(max(0.0, t_start + i - time.monotonic()))
            now, ticks = time.monotonic(), tree_ticks(pid)
            cpu_samples.append((ticks - last_ticks) / CLK_TCK / (now - last_t) * 100)
            rss_samples.append(tree_rss_kb(pid) / 1024)
            last_t, last_ticks = now, ticks
            if not _alive(pid):
                raise ToolUnavailable("died during the window; " + dead_message(tmux, name, tool))
        t_end = time.monotonic()
        window = t_end - t_start
        ticks1, be1, (busy1, all1) = tree_ticks(pid), pids_ticks(backends), machine_busy()
        stmts = await db.statements(tool.role)
        screen = tmux.capture(name)
        # ---- key latency, same process, still refreshing
        lat = key_latency(tmux, name, tool, a.presses)
        if tmux.pane(name)["dead"]:
            raise ToolUnavailable("died during the key test; " + dead_message(tmux, name, tool))
    finally:
        tmux.kill_session(name)

    top = [s for s in stmts if s["toplevel"]]
    calls = sum(s["calls"] for s in top)
    server_ms = sum(s["total_exec_time"] for s in top)
    nominal = window / a.refresh
    act = [s["calls"] for s in top if "pg_stat_activity" in s["query"]]
    observed = max(act) if act else 0
    refreshes = observed or nominal
    return {
        "pid": pid,
        "pane": f"{pane['width']}x{pane['height']}",
        "window_s": round(window, 2),
        "cpu_pct": (ticks1 - ticks0) / CLK_TCK / window * 100,
        "cpu_pct_1s_median": statistics.median(cpu_samples),
        "cpu_pct_1s_max": max(cpu_samples),
        "rss_mb_max": max(rss_samples),
        "rss_mb_avg": statistics.fmean(rss_samples),
        "rss_mb_start": rss_samples[0],
        "rss_mb_end": rss_samples[-1],
        "backends": len(backends),
        "backend_cpu_pct": (be1 - be0) / CLK_TCK / window * 100,
        "machine_busy_pct": (busy1 - busy0) / max(1, all1 - all0) * 100,
        "before_window": quiet,
        "refreshes_nominal": nominal,
        "refreshes_observed": observed,
        "statements_total": calls,
        "statements_per_refresh": calls / refreshes,
        "server_ms_per_refresh": server_ms / refreshes,
        "nested_statements": sum(s["calls"] for s in stmts if not s["toplevel"]),
        "statements": [
            {
                "query": s["query"],
                "calls": s["calls"],
                "total_ms": s["total_exec_time"],
                "rows": s["rows"],
            }
            for s in top
        ],
        "keys": lat,
        "screen_tail": screen.splitlines()[:12],
    }


def key_latency(tmux: Tmux, name: str, tool: Tool, presses: int) -> dict[str, Any]:
    rnd = random.Random(1234)
    lat: list[float] = []
    misses = 0
    for i in range(presses):
        key, marker = tool.key_cycle[i % len(tool.key_cycle)]
        time.sleep(rnd.uniform(0.5, 1.7))  # random phase against the refresh
        before_raw = tmux.capture(name)
        before = norm(before_raw)
        if marker is not None:
            pred = lambda s, m=marker: bool(m.search(s))  # noqa: E731
            if pred(before_raw):  # already there: the cycle is out of step, resync
                tmux.send_key(name, key)
                continue
        else:
            pred = lambda s, b=before: norm(s) != b  # noqa: E731
        t0 = time.monotonic()
        tmux.send_key(name, key)
        waited = wait_for(tmux, name, pred, 5)
        if waited is None:
            misses += 1
        else:
            lat.append(time.monotonic() - t0)
    out: dict[str, Any] = {
        "keys": [k for k, _ in tool.key_cycle],
        "n": len(lat),
        "timeouts": misses,
        "detector": ["marker" if m else "change" for _, m in tool.key_cycle],
    }
    if lat:
        s = sorted(lat)
        out.update(
            median_ms=statistics.median(s) * 1000,
            p90_ms=s[min(len(s) - 1, round(0.9 * (len(s) - 1)))] * 1000,
            max_ms=s[-1] * 1000,
            all_ms=[round(x * 1000, 1) for x in lat],
        )
    return out


# --------------------------------------------------------------------------- report


def machine_info(a: argparse.Namespace, pg_version: str) -> dict[str, str]:
    def run(cmd: list[str]) -> str:
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (r.stdout or r.stderr).strip().splitlines()[0]
        except (OSError, subprocess.TimeoutExpired, IndexError):
            return "?"

    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    oc_py = str(ROOT / ".venv/bin/python")
    return {
        "nproc": run(["nproc"]),
        "cpu": model,
        "kernel": platform.release(),
        "memory": run(["sh", "-c", "free -h | awk '/^Mem/ {print $2}'"]),
        "python (ops-console venv)": run([oc_py, "--version"]),
        "textual": run(
            [oc_py, "-c", "import importlib.metadata as m; print(m.version('textual'))"]
        ),
        "python (bench/.venv-ref)": run([str(Path(a.pga).parent / "python"), "--version"]),
        "psycopg": run(
            [
                str(Path(a.pga).parent / "python"),
                "-c",
                "import importlib.metadata as m; print(m.version('psycopg'))",
            ]
        ),
        "postgresql": pg_version,
        "tmux": run(["tmux", "-V"]),
    }


def fmt(v: Any, spec: str = ".1f") -> str:
    if v is None:
        return "—"
    if isinstance(v, float) and v != v:
        return "n/a"
    return format(v, spec) if isinstance(v, (int, float)) else str(v)


def report(res: dict[str, Any]) -> str:
    a = res["args"]
    tools: dict[str, Any] = res["tools"]
    base = res["baseline"]
    base_ms = statistics.fmean([b["mean_ms"] for b in base])
    cols = [n for n in ("ops-console", "pg_activity") if n in tools]

    def get(name: str, *path: str) -> Any:
        v: Any = tools.get(name)
        for k in path:
            if not isinstance(v, dict) or k not in v:
                return None
            v = v[k]
        return v

    def cell(n: str, f) -> str:
        try:
            return f(tools[n])
        except (KeyError, TypeError, ZeroDivisionError):
            return "not measured"

    def verdict(value: Any, limit: float | None, text: str) -> str:
        if value is None or limit is None:
            return f"{text}: not measured"
        return f"{text}: **{'met' if value <= limit else 'MISSED'}**"

    oc_cpu, pga_cpu = get("ops-console", "run", "cpu_pct"), get("pg_activity", "run", "cpu_pct")
    ratio = f" (ratio {oc_cpu / pga_cpu:.2f})" if oc_cpu is not None and pga_cpu else ""
    rows: list[tuple[str, Any, str]] = [
        (
            "CPU, % of one core (mean over window)",
            lambda t: fmt(t["run"]["cpu_pct"], ".2f"),
            verdict(oc_cpu, pga_cpu, "<= pg_activity" + ratio),
        ),
        (
            "CPU, 1-s samples: median / max",
            lambda t: f"{t['run']['cpu_pct_1s_median']:.1f} / {t['run']['cpu_pct_1s_max']:.1f}",
            "",
        ),
        (
            "RSS MB: max / avg (start → end)",
            lambda t: f"{t['run']['rss_mb_max']:.1f} / {t['run']['rss_mb_avg']:.1f} "
            f"({t['run']['rss_mb_start']:.1f} → {t['run']['rss_mb_end']:.1f})",
            verdict(get("ops-console", "run", "rss_mb_max"), 100, "max <= 100"),
        ),
        (
            "SQL statements per refresh",
            lambda t: fmt(t["run"]["statements_per_refresh"], ".2f"),
            verdict(get("ops-console", "run", "statements_per_refresh"), 3, "<= 3"),
        ),
        (
            "server ms per refresh (pg_stat_statements)",
            lambda t: fmt(t["run"]["server_ms_per_refresh"], ".2f"),
            verdict(
                get("ops-console", "run", "server_ms_per_refresh"),
                2 * base_ms,
                f"<= 2 x bare SELECT = {2 * base_ms:.2f}",
            ),
        ),
        (
            "refreshes in window: seen / nominal",
            lambda t: f"{t['run']['refreshes_observed']} / {t['run']['refreshes_nominal']:.0f}",
            "",
        ),
        (
            "server backends; their CPU %",
            lambda t: f"{t['run']['backends']}; {t['run']['backend_cpu_pct']:.2f}",
            "",
        ),
        (
            "first frame, s: median (min–max) of starts",
            lambda t: f"{t['first_frame']['median_s']:.3f} ({t['first_frame']['min_s']:.3f}–"
            f"{t['first_frame']['max_s']:.3f})",
            verdict(get("ops-console", "first_frame", "median_s"), 0.8, "median <= 0.8 s"),
        ),
        (
            "key → screen change, ms: median / p90 (n)",
            lambda t: f"{t['run']['keys']['median_ms']:.0f} / {t['run']['keys']['p90_ms']:.0f} "
            f"({t['run']['keys']['n']}, {t['run']['keys']['timeouts']} timeouts)",
            verdict(get("ops-console", "run", "keys", "median_ms"), 50, "median <= 50"),
        ),
        (
            "machine busy %, both cores, all processes: before starts / before / during window",
            lambda t: f"{t['first_frame']['before']['busy_pct']:.0f} / "
            f"{t['run']['before_window']['busy_pct']:.0f} / {t['run']['machine_busy_pct']:.0f}",
            "",
        ),
    ]
    head = "| figure | " + " | ".join(cols) + " | target (ops-console) |"
    lines = [head, "|" + "---|" * (len(cols) + 2)]
    for label, f, target in rows:
        lines.append(f"| {label} | " + " | ".join(cell(n, f) for n in cols) + f" | {target} |")

    m = res["machine"]
    load = res["load"]
    out = [
        f"## {res['date']} — {', '.join(cols)}",
        "",
        f"Machine: {m['nproc']} cores ({m['cpu']}), {m['memory']} RAM, kernel {m['kernel']}; "
        f"{m['python (ops-console venv)']} with Textual {m['textual']} (ops-console venv); "
        f"pg_activity from bench/.venv-ref ({m['python (bench/.venv-ref)']}, psycopg "
        f"{m['psycopg']}); PostgreSQL {m['postgresql']}; {m['tmux']}, pane {WIDTH}x{HEIGHT}, "
        "TERM=tmux-256color.",
        "",
        f"Load: {load.get('idle')} idle + {load.get('active')} active (`pg_sleep` "
        f"{a['sleep_range']}) + lock chain depth {load.get('chain_depth')} with fan-out "
        f"{load.get('fanout')}; pg_stat_activity held {res['activity_rows']} rows. "
        f"Refresh {a['refresh']} s, warm-up {a['warmup']} s, window {a['duration']} s, "
        f"{a['starts']} timed starts, {a['presses']} key presses.",
        "",
        f"Bare `{BASELINE_SQL}` (as bench_load, pg_read_all_stats): "
        + ", ".join(
            f"{b['mean_ms']:.2f} ms ({b['when']}, {b['runs']} runs, {b['rows']} rows)" for b in base
        )
        + f"; mean {base_ms:.2f} ms. Harness floor for first frame (a shell printing one "
        f"word, same tmux + polling): {res['floor_s'] * 1000:.0f} ms.",
        "",
        *lines,
        "",
    ]
    for n in cols:
        t = tools[n]
        cmd = " ".join(t.get("argv", []))
        if "error" in t:
            first, _, rest = t["error"].partition("\n")
            out += [f"**{n}: incomplete** — {first}", ""]
            if rest.strip():
                out += ["```", rest[-1500:], "```", ""]
            continue
        out.append(
            f"{n} (`{t.get('version', '')}`), role {t['role']}: `{cmd}`; "
            f"keys {t['run']['keys']['keys']} detected by "
            f"{'/'.join(t['run']['keys']['detector'])}."
        )
        out.append("")
        out.append("| calls | total ms | mean ms | rows | statement |")
        out.append("|---:|---:|---:|---:|---|")
        for s in t["run"]["statements"][:12]:
            q = re.sub(r"\s+", " ", s["query"]).replace("|", "\\|")
            q = q if len(q) <= 110 else q[:107] + "..."
            out.append(
                f"| {s['calls']} | {s['total_ms']:.1f} | "
                f"{s['total_ms'] / max(1, s['calls']):.2f} | {s['rows']} | `{q}` |"
            )
        out.append("")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- main


def start_load(
    a: argparse.Namespace, duration: int
) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    OUT.mkdir(parents=True, exist_ok=True)
    log = open(OUT / "pg_load.log", "w")  # noqa: SIM115 - handed to the child, closed below
    proc = subprocess.Popen(
        [
            sys.executable,
            str(BENCH / "pg_load.py"),
            "--host",
            a.host,
            "--port",
            str(a.port),
            "--idle",
            str(a.idle),
            "--active",
            str(a.active),
            "--duration",
            str(duration),
        ],
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        start_new_session=True,
    )
    log.close()  # the child has its own copy
    assert proc.stdout
    end = time.monotonic() + 240
    while time.monotonic() < end:
        r, _, _ = select.select([proc.stdout], [], [], 1)
        if r:
            line = proc.stdout.readline()
            if line.startswith("READY "):
                return proc, json.loads(line[6:])
            if not line:
                break
        if proc.poll() is not None:
            break
    stop_load(proc)
    raise SystemExit("pg_bench: load did not get ready; see " + str(OUT / "pg_load.log"))


def stop_load(proc: subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


async def amain(a: argparse.Namespace) -> int:
    tools_all = build_tools(a)
    wanted = [t.strip() for t in a.tools.split(",") if t.strip()]
    for t in wanted:
        if t not in tools_all:
            raise SystemExit(f"pg_bench: unknown tool {t!r} (ops-console, pg_activity)")
    db = Db(a)
    await db.open()
    pg_version = await db.version()

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "TMUX", "TMUX_PANE")
    }
    per_tool = (a.starts + 1) * 3 + 30 + a.warmup + a.duration + a.presses * 2.5 + 30
    budget = int(60 + len(wanted) * per_tool + 120)
    res: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "args": {
            "refresh": a.refresh,
            "warmup": a.warmup,
            "duration": a.duration,
            "starts": a.starts,
            "presses": a.presses,
            "sleep_range": "0.5–3 s",
        },
        "tools": {},
        "baseline": [],
    }
    load_proc = None
    tmux: Tmux | None = None
    try:
        print(
            f"pg_bench: starting load ({a.idle} idle, {a.active} active, lock chain)...", flush=True
        )
        load_proc, res["load"] = start_load(a, budget + 300)
        print(f"pg_bench: load ready in {res['load']['setup_s']} s", flush=True)
        res["activity_rows"] = await db.activity_rows()
        b = await db.baseline(a.baseline_runs)
        res["baseline"].append({**b, "when": "before"})
        print(
            f"pg_bench: bare SELECT * FROM pg_stat_activity: {b['mean_ms']:.2f} ms "
            f"({b['rows']} rows)",
            flush=True,
        )
        tmux = Tmux(env, budget + 600)
        res["floor_s"] = harness_floor(tmux, 5)
        for name in wanted:
            tool = tools_all[name]
            entry: dict[str, Any] = {"argv": tool.argv, "role": tool.role}
            res["tools"][name] = entry
            t_tool = time.monotonic()
            try:
                if name == "ops-console":
                    ensure_ops_console(a)
                else:
                    ensure_pg_activity(a)
                entry["version"] = preflight(tool, env)
                print(f"pg_bench: {name}: first frame x{a.starts}...", flush=True)
                quiet = wait_quiet(a, f"{name}'s starts")
                entry["first_frame"] = {**first_frames(tmux, tool, a.starts), "before": quiet}
                print(
                    f"pg_bench: {name}: run ({a.warmup:.0f} s warm-up, {a.duration:.0f} s "
                    f"window, {a.presses} key presses)...",
                    flush=True,
                )
                entry["run"] = await long_run(tmux, db, tool, a)
            except ToolUnavailable as e:
                entry["error"] = f"{name} could not be benchmarked: {e}"
                print(f"pg_bench: {entry['error']}", file=sys.stderr, flush=True)
            entry["elapsed_s"] = round(time.monotonic() - t_tool, 1)
        b = await db.baseline(a.baseline_runs)
        res["baseline"].append({**b, "when": "after"})
        res["machine"] = machine_info(a, pg_version)
    finally:
        if tmux:
            tmux.close()
        stop_load(load_proc)
        if db.admin:
            await db.admin.close(timeout=5)

    text = report(res)
    print()
    print(text)
    OUT.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    (OUT / f"pg_bench-{stamp}.json").write_text(json.dumps(res, indent=1, default=str))
    if not a.no_results:
        results = Path(a.results)
        if not results.exists():
            results.write_text(
                "# bench/pg_bench.py results\n\nEach section is one run of "
                "`.venv/bin/python bench/pg_bench.py`, newest last; bench/README.md says "
                "what each figure means. Figures from shared 2-core machines: compare "
                "ratios within one section rather than absolute numbers across sections.\n\n"
            )
        with results.open("a") as f:
            f.write("\n" + text)
        print(f"pg_bench: appended to {results}")
    failed = [n for n, t in res["tools"].items() if "error" in t]
    return 1 if failed else 0


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--tools",
        default="ops-console,pg_activity",
        help="comma-separated, in run order (default: ops-console,pg_activity)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=55432)
    p.add_argument("--refresh", type=float, default=2.0)
    p.add_argument("--duration", type=float, default=60.0, help="sampling window, s")
    p.add_argument("--warmup", type=float, default=10.0)
    p.add_argument("--starts", type=int, default=5, help="timed starts for the first frame")
    p.add_argument("--presses", type=int, default=20)
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--active", type=int, default=100)
    p.add_argument("--baseline-runs", type=int, default=30)
    p.add_argument(
        "--quiet-below",
        type=float,
        default=60.0,
        help="start each measurement once the machine is at most this %% busy "
        "(both cores, over 2 s; default 60: about one core free)",
    )
    p.add_argument(
        "--quiet-wait", type=float, default=120.0, help="longest wait for that, s (default 120)"
    )
    p.add_argument("--ops-console", default=str(ROOT / ".venv/bin/ops-console"))
    p.add_argument(
        "--oc-ready",
        default=r"ops-console",
        help="regex: ops-console's first frame is painted (default: header title)",
    )
    p.add_argument(
        "--oc-keys",
        default="1,2",
        help="keys cycled for key latency (default 1,2: dashboard <-> postgres)",
    )
    p.add_argument(
        "--oc-key-re",
        action="append",
        default=[],
        metavar="KEY=REGEX",
        help="screen text that proves KEY's screen is shown (default: any change "
        "of the screen with numbers masked)",
    )
    p.add_argument("--pga", default=str(BENCH / ".venv-ref/bin/pg_activity"))
    p.add_argument(
        "--pga-args",
        default="--no-db-size --no-tempfiles",
        help="extra pg_activity flags (default: --no-db-size --no-tempfiles)",
    )
    p.add_argument("--results", default=str(BENCH / "RESULTS.md"))
    p.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 100 idle, 10 active, 10 s window, 2 starts, 6 presses",
    )
    a = p.parse_args()
    if a.quick:
        a.idle, a.active, a.duration, a.warmup, a.starts, a.presses = 100, 10, 10, 3, 2, 6
    if not (
        0 < a.duration <= 600
        and 0 <= a.warmup <= 120
        and 1 <= a.starts <= 20
        and 2 <= a.presses <= 100
    ):
        p.error("duration (0,600], warmup [0,120], starts [1,20], presses [2,100]")
    if not shutil.which("tmux"):
        p.error("tmux is not installed (apt-get install tmux)")
    if a.host not in ("127.0.0.1", "localhost", "::1"):
        p.error("loopback only")

    def on_term(signum, frame):  # run the finally: blocks (tmux, load) on SIGTERM too
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        return asyncio.run(amain(a))
    except KeyboardInterrupt:
        print("pg_bench: interrupted; load and tmux stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
