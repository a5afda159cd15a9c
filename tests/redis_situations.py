"""Real Redis situations for the adapter tests: the machine's Redis and throwaway servers.

Loaded by the Redis test modules with `pytest_plugins`. The machine's Redis
(`OPS_TEST_REDIS_URL`, default redis://127.0.0.1:6379) is only written in the dedicated
dbs below, under a namespace unique to each test, and each test deletes what it made.
Outages, passwords, renamed commands, maxmemory, loading and flushes use throwaway
`redis-server` processes on free ports (no persistence), killed at the end.

Without a reachable Redis (or `redis-server` binary) the tests skip, unless
`OPS_REQUIRE_SERVICES=1`, in which case they fail.

(PYTEST_DONT_REWRITE: the test modules import helpers from here before pytest loads it
as a plugin; its few asserts need no rewriting.)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as redis_py

from adapters.redis.discovery import RedisParams, ResolvedRedis, resolve

#: Dbs of the machine's Redis that these tests may write (never db 0).
DB_A = 13
DB_B = 14


def _unavailable(reason: str) -> None:
    if os.environ.get("OPS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


def machine_url() -> str:
    return os.environ.get("OPS_TEST_REDIS_URL", "redis://127.0.0.1:6379")


async def wait_for(
    check: Callable[[], Awaitable[bool]], timeout: float = 5.0, what: str = "state"
) -> None:
    """Poll `check` until it returns True (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if await check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


@pytest.fixture
async def machine() -> AsyncIterator[ResolvedRedis]:
    """The machine's Redis, resolved (db 0: read-only use; pass a DB_* to write)."""
    resolved = resolve(RedisParams(url=machine_url(), connect_timeout=1.0))
    client = redis_py.Redis.from_url(machine_url(), socket_connect_timeout=1.0)
    try:
        await client.ping()
    except Exception as exc:  # any failure means "not there"
        _unavailable(f"Redis at {resolved.describe()} unreachable: {exc}")
    finally:
        await client.aclose()
    yield resolved


@pytest.fixture
def ns() -> bytes:
    """A key namespace unique to this test: b'ops-test:1a2b3c4d:'."""
    return f"ops-test:{uuid.uuid4().hex[:8]}:".encode()


class Raw:
    """Plain redis-py clients (one per db) for building and checking situations."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._clients: dict[int, redis_py.Redis] = {}

    def db(self, index: int) -> redis_py.Redis:
        if index not in self._clients:
            self._clients[index] = redis_py.Redis.from_url(self.url, db=index)
        return self._clients[index]

    async def fill(
        self, db: int, prefix: bytes, count: int, value: bytes = b"v", start: int = 0
    ) -> list[bytes]:
        """Create `count` string keys prefix+N with pipelined MSETs; returns the names."""
        names = [prefix + str(i).encode() for i in range(start, start + count)]
        pipe = self.db(db).pipeline(transaction=False)
        for i in range(0, len(names), 1000):
            pipe.mset(dict.fromkeys(names[i : i + 1000], value))
        await pipe.execute()
        return names

    async def count(self, db: int, match: bytes) -> int:
        """Keys matching `match` in `db` (SCAN, like an operator would)."""
        n = 0
        async for _ in self.db(db).scan_iter(match=match, count=1000):
            n += 1
        return n

    async def delete_matching(self, db: int, match: bytes) -> None:
        client = self.db(db)
        batch: list[bytes] = []
        async for key in client.scan_iter(match=match, count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                await client.unlink(*batch)
                batch.clear()
        if batch:
            await client.unlink(*batch)

    async def close(self) -> None:
        for client in self._clients.values():
            await client.aclose()


@pytest.fixture
async def raw(machine: ResolvedRedis, ns: bytes) -> AsyncIterator[Raw]:
    """Clients on the machine's Redis; everything under `ns` in DB_A/DB_B is removed after."""
    helper = Raw(machine_url())
    yield helper
    for db in (DB_A, DB_B):
        await helper.delete_matching(db, ns + b"*")
    await helper.close()


# -- throwaway servers ------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A throwaway redis-server on a free port, configured by a generated file."""

    def __init__(
        self, workdir: Path, lines: list[str], port: int | None = None, tls: Path | None = None
    ) -> None:
        self.port = port or free_port()  # the TLS port when `tls` (plain TCP is then off)
        self.workdir = workdir
        self.conf = workdir / f"redis-{self.port}.conf"
        listen = [f"port {self.port}"]
        if tls is not None:
            listen = [
                "port 0",
                f"tls-port {self.port}",
                f"tls-cert-file {tls / 'server.pem'}",
                f"tls-key-file {tls / 'server.key'}",
                f"tls-ca-cert-file {tls / 'ca.pem'}",
                "tls-auth-clients no",
            ]
        base = [
            *listen,
            "bind 127.0.0.1",
            'save ""',
            "appendonly no",
            f"dir {workdir}",
            f"dbfilename dump-{self.port}.rdb",
            "enable-debug-command yes",
            f"logfile {workdir}/redis-{self.port}.log",
        ]
        self.conf.write_text("\n".join(base + lines) + "\n")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def resolved(self, **params: object) -> ResolvedRedis:
        return resolve(RedisParams(url=params.pop("url", self.url), **params))  # type: ignore[arg-type]

    def raw(self, db: int = 0, **kwargs: object) -> redis_py.Redis:
        return redis_py.Redis(host="127.0.0.1", port=self.port, db=db, **kwargs)  # type: ignore[arg-type]

    def start(self, wait: bool = True) -> Server:
        self.proc = subprocess.Popen(
            ["redis-server", str(self.conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited: {self.proc.stderr.read()!r}")  # type: ignore[union-attr]
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                return
            time.sleep(0.01)
        raise RuntimeError(f"redis-server on {self.port} did not listen in {timeout} s")

    def kill(self) -> None:
        """SIGKILL: an abrupt outage (nothing saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=5)


@pytest.fixture
def throwaway(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Factory: `throwaway("maxmemory 2mb", ...)` starts a server; all are killed after."""
    if shutil.which("redis-server") is None:
        _unavailable("redis-server binary not on PATH")
    servers: list[Server] = []

    def start(
        *lines: str, port: int | None = None, wait: bool = True, tls: Path | None = None
    ) -> Server:
        server = Server(tmp_path, list(lines), port=port, tls=tls)
        servers.append(server)
        return server.start(wait=wait)

    yield start
    for server in servers:
        server.kill()


def make_certs(directory: Path) -> None:
    """A throwaway CA and a server certificate for 127.0.0.1/localhost (needs openssl)."""
    if shutil.which("openssl") is None:
        _unavailable("openssl not on PATH")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "1", "-extfile", "san.ext", "-out", "server.pem")  # fmt: skip
