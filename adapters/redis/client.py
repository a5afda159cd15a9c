"""One dedicated Redis connection with bounded, pipelined round trips.

The only module that opens connections with redis-py. It uses the driver's connection
layer directly (no pool, no response callbacks, no built-in retries), so that:

- a `RedisConn` is exactly one TCP/TLS/unix connection (actions never queue behind the
  monitor, and a `SELECT`ed db cannot leak to another connection);
- replies are raw RESP2 values (bytes, int, list, None): key names stay binary;
- every round trip (one command or a pipeline) is bounded by `call_timeout`, and on a
  timeout, a transport failure or a cancellation the connection is dropped, never
  reused half-read;
- an error *reply* to one command of a pipeline (unknown command, NOPERM, LOADING) is
  returned in place as a `SourceError` and the others still count.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from typing import Any

from redis.asyncio.connection import Connection, SSLConnection, UnixDomainSocketConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from adapters.errors import QueryFailed, SourceError, Unreachable
from adapters.redis.discovery import ResolvedRedis
from adapters.redis.errors import is_server_reply, map_error

#: A command argument: str and int are encoded by the driver; bytes go as they are.
Arg = str | bytes | int | float
Command = Sequence[Arg]
Reply = Any  # bytes | int | list | None (RESP2, undecoded)

__all__ = ["Arg", "Command", "RedisConn", "Reply"]


class RedisConn:
    """One dedicated connection to one db of one instance.

    `reconnect=True` (monitoring): a lost connection is reopened on the next call.
    `reconnect=False` (actions): once lost, every call fails with `Unreachable`, so a
    long operation never silently continues on a new session.
    """

    def __init__(
        self,
        resolved: ResolvedRedis,
        *,
        db: int | None = None,
        name: str = "ops-console",
        reconnect: bool = True,
    ) -> None:
        self.resolved = resolved if db is None else resolved.with_db(db)
        self.name = name
        self.reconnect = reconnect
        self.target = self.resolved.describe()
        self.round_trips = 0  # for benches and the footer
        self._conn: Connection | None = None
        self._was_connected = False
        self._lock = asyncio.Lock()

    @property
    def db(self) -> int:
        """The db this connection is (or will be) on."""
        return self.resolved.db

    @property
    def connected(self) -> bool:
        """Whether the connection is open now (it opens on the first call)."""
        return self._conn is not None and self._conn.is_connected

    async def call(self, *args: Arg, timeout: float | None = None) -> Reply:
        """Run one command; its error reply is raised as a `SourceError`."""
        (reply,) = await self.pipeline([args], timeout=timeout)
        if isinstance(reply, SourceError):
            raise reply
        return reply

    async def pipeline(
        self, commands: Sequence[Command], *, timeout: float | None = None
    ) -> list[Reply | SourceError]:
        """Send `commands` in one write and read every reply (one round trip).

        A failed command's slot holds its mapped `SourceError`; a transport failure or
        the time budget (`timeout`, default `call_timeout`) raises a `SourceError`.
        """
        if not commands:
            return []
        budget = self.resolved.call_timeout if timeout is None else timeout
        async with self._lock:
            # Opening the connection has its own budget on top of the call's.
            limit = budget if self.connected else budget + self.resolved.connect_timeout
            try:
                async with asyncio.timeout(limit):
                    conn = await self._ensure()
                    await conn.send_packed_command(conn.pack_commands(commands))
                    replies: list[Reply | SourceError] = []
                    for _ in commands:
                        try:
                            replies.append(await conn.read_response(disconnect_on_error=False))
                        except Exception as exc:
                            if not is_server_reply(exc):
                                raise
                            replies.append(map_error(exc, self.target))
                    self.round_trips += 1
                    return replies
            except BaseException as exc:
                await self._drop()
                if isinstance(exc, (asyncio.CancelledError, KeyboardInterrupt, SystemExit)):
                    raise
                if isinstance(exc, TimeoutError) and not isinstance(exc, SourceError):
                    raise map_error(TimeoutError(f"{budget:g} s"), self.target) from None
                raise map_error(exc, self.target) from None

    async def close(self) -> None:
        """Close the connection (idempotent)."""
        async with self._lock:
            await self._drop()

    async def __aenter__(self) -> RedisConn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _ensure(self) -> Connection:
        if self._conn is not None and self._conn.is_connected:
            return self._conn
        if self._was_connected and not self.reconnect:
            raise Unreachable(f"{self.target}: connection lost")
        conn = self._new_connection()
        await conn.connect()  # AUTH and SELECT are part of the handshake
        self._conn = conn
        self._was_connected = True
        await self._after_connect(conn)
        return conn

    async def _after_connect(self, conn: Connection) -> None:
        """Name the connection (best effort) and verify the selected db when possible."""
        await conn.send_packed_command(
            conn.pack_commands([("CLIENT", "SETNAME", self.name), ("CLIENT", "INFO")])
        )
        replies = []
        for _ in range(2):
            try:
                replies.append(await conn.read_response(disconnect_on_error=False))
            except Exception as exc:
                if not is_server_reply(exc):
                    raise
                replies.append(None)  # CLIENT renamed, denied, or too old: not fatal
        info = replies[1]
        if isinstance(info, bytes):
            fields = dict(part.split(b"=", 1) for part in info.strip().split(b" ") if b"=" in part)
            actual = fields.get(b"db")
            if actual is not None and int(actual) != self.db:
                raise QueryFailed(
                    f"{self.target}: connection is on db {int(actual)}, expected db {self.db}"
                )

    def _new_connection(self) -> Connection:
        r = self.resolved
        common: dict[str, Any] = {
            "db": r.db,
            "username": r.username,
            "password": r.password,
            # Reads and writes are bounded per round trip by `pipeline` (asyncio.timeout),
            # so a long pipeline given a longer budget is not cut by a per-read timeout.
            "socket_timeout": None,
            "socket_connect_timeout": r.connect_timeout,
            "retry": Retry(NoBackoff(), 0),
            "driver_info": None,  # no CLIENT SETINFO in the handshake
            "protocol": 2,
        }
        if r.transport == "unix":
            return UnixDomainSocketConnection(path=r.path or "", **common)
        if r.transport == "tls":
            return SSLConnection(
                host=r.host or "127.0.0.1",
                port=r.port or 6379,
                ssl_ca_certs=r.tls_ca,
                ssl_cert_reqs="required",
                **common,
            )
        return Connection(host=r.host or "127.0.0.1", port=r.port or 6379, **common)

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken: nothing to release
                await conn.disconnect(nowait=True)
