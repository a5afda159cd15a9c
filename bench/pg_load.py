#!/usr/bin/env python3
"""Hold a realistic pg_stat_activity on the bench cluster: idle, active and blocked sessions.

    .venv/bin/python bench/pg_load.py                      # 1000 idle, 100 active, chain 3 + 2
    .venv/bin/python bench/pg_load.py --idle 200 --active 20 --duration 120

Opens, as role bench_load (see bench/pg_cluster.sh):
  * --idle N connections that ran one `SELECT 1` and then stay idle (application_name
    bench_idle): cheap, one sleeping backend each;
  * --active M connections looping `SELECT pg_sleep(x)` with x uniform in
    [--sleep-min, --sleep-max] (bench_active): state 'active' almost all the time while the
    server mostly sleeps, so 2 cores are not eaten by the load itself;
  * a lock chain of --chain-depth sessions on public.bench_lock (bench_lock): session 0
    updates row 1 and stays idle in transaction; session i updates row i+1, then waits for
    row i held by session i-1; plus --fanout more sessions, each waiting for its own row
    held by the root.  So root <- s1 <- s2 and root <- f1, root <- f2: depth 3 with a
    fan-out of 2 (5 sessions, 4 of them blocked).

Prints one line starting with READY when everything is in place (and writes it to
--ready-file), then holds until SIGINT/SIGTERM or --duration seconds (default 1800 s: the
load never outlives a forgotten terminal by more than that).  Loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import sys
import time

import asyncpg

FANOUT_ROW = 50  # fan-out rows are 51..50+fanout (bench_lock has rows 1..100)
CHECK_INTERVAL = "1s"  # backends notice a vanished client even while sleeping or waiting


def _is_loopback(host: str) -> bool:
    if host.startswith("/"):
        return True  # unix socket directory
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args
        self.conns: list[asyncpg.Connection] = []
        self.tasks: list[asyncio.Task] = []
        self.stop = asyncio.Event()
        self.sem = asyncio.Semaphore(args.connect_concurrency)
        self.active_queries = 0

    async def connect(self, app: str) -> asyncpg.Connection:
        async with self.sem:
            conn = await asyncpg.connect(
                host=self.a.host,
                port=self.a.port,
                user=self.a.user,
                database=self.a.database,
                timeout=15,
                statement_cache_size=0,
                server_settings={
                    "application_name": app,
                    "client_connection_check_interval": CHECK_INTERVAL,
                    "statement_timeout": "0",
                    "lock_timeout": "0",
                    "idle_in_transaction_session_timeout": "0",
                },
            )
        self.conns.append(conn)
        return conn

    async def idle_one(self) -> None:
        conn = await self.connect("bench_idle")
        await conn.execute("SELECT 1")

    async def active_loop(self, conn: asyncpg.Connection) -> None:
        lo, hi = self.a.sleep_min, self.a.sleep_max
        deadline = time.monotonic() + self.a.duration + 60
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                await conn.execute("SELECT pg_sleep($1)", random.uniform(lo, hi))
                self.active_queries += 1
            except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
                if self.stop.is_set():
                    return
                await asyncio.sleep(0.5)

    async def lock_chain(self) -> list[int]:
        """root <- s1 <- ... <- s(depth-1), plus fan-out sessions blocked by the root alone.

        Chain session i (i >= 1) updates row i+1, then waits for row i (held by session
        i-1).  The root also updates rows FANOUT_ROW+1.., one per fan-out session, and each
        fan-out session waits for its own row: were they all to queue on one row, the
        tuple-lock queue would make each waiter block the next and there would be no
        fan-out in pg_blocking_pids.
        """
        pids: list[int] = []
        depth = self.a.chain_depth
        if depth <= 0:
            return pids
        probe = await asyncpg.connect(
            host=self.a.host,
            port=self.a.port,
            user=self.a.user,
            database=self.a.database,
            timeout=15,
            server_settings={"application_name": "bench_load_probe"},
        )
        try:
            root = await self.connect("bench_lock")
            await root.execute("BEGIN")
            for j in range(1, self.a.fanout + 1):
                await root.execute(
                    f"UPDATE public.bench_lock SET v = v + 1 WHERE id = {FANOUT_ROW + j}"
                )
            await root.execute("UPDATE public.bench_lock SET v = v + 1 WHERE id = 1")
            pids.append(root.get_server_pid())
            for i in range(1, depth):
                c = await self.connect("bench_lock")
                await c.execute("BEGIN")
                await c.execute(f"UPDATE public.bench_lock SET v = v + 1 WHERE id = {i + 1}")
                # never returns while the chain holds: kept as a task, ended at shutdown
                self.tasks.append(
                    asyncio.create_task(
                        c.execute(f"UPDATE public.bench_lock SET v = v + 1 WHERE id = {i}")
                    )
                )
                pids.append(c.get_server_pid())
                await self._wait_blocked(probe, c.get_server_pid())
            for j in range(1, self.a.fanout + 1):
                c = await self.connect("bench_lock")
                await c.execute("BEGIN")
                self.tasks.append(
                    asyncio.create_task(
                        c.execute(
                            f"UPDATE public.bench_lock SET v = v + 1 WHERE id = {FANOUT_ROW + j}"
                        )
                    )
                )
                pids.append(c.get_server_pid())
                await self._wait_blocked(probe, c.get_server_pid())
        finally:
            await probe.close(timeout=5)
        return pids

    async def _wait_blocked(self, probe: asyncpg.Connection, pid: int) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            if await probe.fetchval("SELECT cardinality(pg_blocking_pids($1::int))", pid):
                return
            await asyncio.sleep(0.05)
        raise RuntimeError(f"backend {pid} did not block within 10 s")

    async def run(self) -> int:
        a = self.a
        t0 = time.monotonic()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self.stop.set)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self.idle_one() for _ in range(a.idle))), a.startup_timeout
            )
            active = await asyncio.wait_for(
                asyncio.gather(*(self.connect("bench_active") for _ in range(a.active))),
                a.startup_timeout,
            )
            for c in active:
                self.tasks.append(asyncio.create_task(self.active_loop(c)))
            chain = await asyncio.wait_for(self.lock_chain(), a.startup_timeout)
        except (TimeoutError, OSError, asyncpg.PostgresError, RuntimeError) as e:
            print(
                f"pg_load: FAILED after {time.monotonic() - t0:.1f} s with {len(self.conns)} "
                f"connections open: {type(e).__name__}: {e}",
                file=sys.stderr,
                flush=True,
            )
            await self.close()
            return 1
        info = {
            "idle": a.idle,
            "active": a.active,
            "chain_depth": a.chain_depth,
            "fanout": a.fanout,
            "lock_pids": chain,
            "connections": len(self.conns),
            "setup_s": round(time.monotonic() - t0, 2),
            "pid": os.getpid(),
        }
        line = "READY " + json.dumps(info)
        print(line, flush=True)
        if a.ready_file:
            with open(a.ready_file, "w") as f:
                f.write(line + "\n")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), a.duration)
        print(
            f"pg_load: stopping after {time.monotonic() - t0:.0f} s "
            f"({self.active_queries} pg_sleep queries done)",
            flush=True,
        )
        await self.close()
        return 0

    async def close(self) -> None:
        self.stop.set()
        for t in self.tasks:
            t.cancel()
        # terminate(): close sockets at once; the backends see the client gone (idle ones
        # at once, sleeping / lock-waiting ones within client_connection_check_interval).
        for c in self.conns:
            c.terminate()
        await asyncio.gather(*self.tasks, return_exceptions=True)


def main() -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=55432)
    p.add_argument("--user", default="bench_load")
    p.add_argument("--database", default="postgres")
    p.add_argument("--idle", type=int, default=1000)
    p.add_argument("--active", type=int, default=100)
    p.add_argument("--chain-depth", type=int, default=3)
    p.add_argument("--fanout", type=int, default=2)
    p.add_argument("--sleep-min", type=float, default=0.5)
    p.add_argument("--sleep-max", type=float, default=3.0)
    p.add_argument("--duration", type=float, default=1800.0, help="seconds to hold (default 1800)")
    p.add_argument("--connect-concurrency", type=int, default=16)
    p.add_argument("--startup-timeout", type=float, default=180.0)
    p.add_argument("--ready-file")
    a = p.parse_args()
    if not _is_loopback(a.host):
        p.error(
            f"--host {a.host!r} is not a loopback address: this load generator is loopback-only"
        )
    if not (0 <= a.chain_depth <= FANOUT_ROW and 0 <= a.fanout <= 100 - FANOUT_ROW):
        p.error(
            f"--chain-depth must be in [0, {FANOUT_ROW}] and --fanout in [0, {100 - FANOUT_ROW}]"
        )
    if a.duration <= 0 or a.duration > 6 * 3600:
        p.error("--duration must be in (0, 21600] seconds")
    return asyncio.run(Load(a).run())


if __name__ == "__main__":
    sys.exit(main())
