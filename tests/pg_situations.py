"""Real PostgreSQL situations for tests: lock chains, fan-outs, idle transactions, hangs.

Each builder is an async context manager that opens its own asyncpg connections, tagged
with an application_name unique to the call, waits (by polling pg_stat_activity, never by
sleeping a fixed time) until the server shows the state, yields a `Situation` with the
pids, and on exit terminates only the backends it created and drops only the table it
created. Used by the adapter tests and, later, by the UI tests:

    async with lock_chain(dsn, depth=5) as chain:
        snap = await monitor.poll()
        ...chain.root, chain.waiters, chain.application_name...

Never lock catalog relations in a situation: a backend starting up needs them, so such a
lock stalls new connections server-wide, other people's included.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
#: Query text full of markup, escape sequences and a right-to-left override. NUL bytes
#: cannot be stored in PostgreSQL text, so there are none.
HOSTILE_SQL = (
    "SELECT 1 /* [red]x[/] [link=http://e]y[/link] [/] \x1b[2J \x1b]0;title\x07 \u202e */,"
    " pg_sleep(30)"
)
_T = TypeVar("_T")


def default_dsn() -> str:
    """The DSN of the test server: $OPS_TEST_PG_DSN or the local default."""
    return os.environ.get("OPS_TEST_PG_DSN", DEFAULT_DSN)


def new_tag(purpose: str = "pg") -> str:
    """A unique application_name for one situation (fits the 63-byte limit)."""
    return f"ops-test-{purpose}-{uuid.uuid4().hex[:10]}"


async def wait_until(
    predicate: Callable[[], _T | Awaitable[_T]],
    timeout: float = 10.0,
    *,
    interval: float = 0.05,
    what: str = "the expected state",
) -> _T:
    """Call `predicate` (sync or async) until it returns a truthy value; return that value.

    Exceptions from the predicate count as "not yet" (the last one is reported if the time
    runs out, as an AssertionError naming `what`).
    """
    deadline = time.monotonic() + timeout
    last: BaseException | None = None
    while True:
        try:
            value = predicate()
            if inspect.isawaitable(value):
                value = await value
            if value:
                return value  # type: ignore[return-value]
        except Exception as exc:  # "not yet"; reported below if it never settles
            last = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last!r})" if last else ""
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}{detail}")
        await asyncio.sleep(interval)


@dataclass(frozen=True)
class Situation:
    """What a builder made: its sessions' pids (root first) and how to recognise them."""

    application_name: str
    pids: tuple[int, ...]
    table: str | None = None
    query: str | None = None

    @property
    def root(self) -> int:
        """The first session: the blocker of a chain or fan-out, else the only session."""
        return self.pids[0]

    @property
    def waiters(self) -> tuple[int, ...]:
        """Every session but the root."""
        return self.pids[1:]


@dataclass
class Sessions:
    """The connections of one situation, all tagged with its application_name, plus an
    `admin` connection (tagged "<tag>-admin") that inspects and cleans up."""

    dsn: str
    tag: str
    admin: asyncpg.Connection | None = None
    conns: list[asyncpg.Connection] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    table_name: str | None = None

    async def start(self) -> Sessions:
        """Open the admin connection."""
        self.admin = await asyncpg.connect(
            self.dsn, server_settings={"application_name": self.tag + "-admin"}
        )
        return self

    async def open(self, count: int = 1) -> list[asyncpg.Connection]:
        """`count` new sessions tagged with this situation's application_name."""
        results = await asyncio.gather(
            *(
                asyncpg.connect(self.dsn, server_settings={"application_name": self.tag})
                for _ in range(count)
            ),
            return_exceptions=True,
        )
        new = [r for r in results if isinstance(r, asyncpg.Connection)]
        self.conns.extend(new)  # even on failure, so close() cleans up what did open
        errors = [r for r in results if isinstance(r, BaseException)]
        if any(isinstance(e, asyncpg.TooManyConnectionsError) for e in errors):
            raise AssertionError(
                f"the test server has no room for {count} more sessions (max_connections"
                " is shared by every test run on it)"
            ) from errors[0]
        if errors:
            raise errors[0]
        return new

    def background(self, conn: asyncpg.Connection, sql: str, *args: Any) -> None:
        """Run `sql` on `conn` without waiting for it (it will block or sleep)."""
        self.tasks.append(
            asyncio.create_task(conn.fetch(sql, *args) if args else conn.execute(sql))
        )

    async def activity(self, pids: Sequence[int]) -> dict[int, asyncpg.Record]:
        """pid -> (state, wait_event_type, wait_event, blocked_by, query) as the server sees it."""
        assert self.admin is not None
        rows = await self.admin.fetch(
            "SELECT pid, state, wait_event_type, wait_event, pg_blocking_pids(pid) AS blocked_by,"
            " query FROM pg_stat_activity WHERE pid = ANY($1::int[])",
            list(pids),
        )
        return {r["pid"]: r for r in rows}

    async def wait_state(
        self, pids: Sequence[int], check: Callable[[asyncpg.Record], bool], what: str
    ) -> None:
        """Wait until every one of `pids` passes `check` in pg_stat_activity."""

        async def ready() -> bool:
            seen = await self.activity(pids)
            return len(seen) == len(pids) and all(check(seen[p]) for p in pids)

        await wait_until(ready, 15.0, what=what)

    async def table(self, rows: int) -> str:
        """A fresh table `(id int primary key, v int)` with ids 1..rows; dropped on close."""
        assert self.admin is not None
        name = "ops_test_" + uuid.uuid4().hex[:12]
        await self.admin.execute(
            f"CREATE TABLE {name} (id int PRIMARY KEY, v int NOT NULL DEFAULT 0)"
        )
        await self.admin.execute(
            f"INSERT INTO {name} (id) SELECT generate_series(1, $1::int)", rows
        )
        self.table_name = name
        return name

    async def close(self) -> None:
        """Terminate our sessions (only ours), then drop our table and disconnect."""
        pids = [c.get_server_pid() for c in self.conns if not c.is_closed()]
        if self.admin is not None and pids:
            with contextlib.suppress(Exception):
                await self.admin.execute(
                    "SELECT pg_terminate_backend(p) FROM unnest($1::int[]) p", pids
                )
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for conn in self.conns:
            conn.terminate()
        if self.admin is not None:
            table = self.table_name
            if table:
                with contextlib.suppress(Exception):
                    await wait_until(lambda: self._gone(pids), 10.0, what="our sessions to end")
                    await self.admin.execute(f"DROP TABLE IF EXISTS {table}")
            await self.admin.close()

    async def _gone(self, pids: Sequence[int]) -> bool:
        return not await self.activity(pids)


@contextlib.asynccontextmanager
async def sessions(dsn: str | None = None, purpose: str = "pg") -> AsyncIterator[Sessions]:
    """A `Sessions` helper for building a custom situation; cleaned up on exit."""
    helper = await Sessions(dsn or default_dsn(), new_tag(purpose)).start()
    try:
        yield helper
    finally:
        await helper.close()


def _waiting_on(blocker: int) -> Callable[[asyncpg.Record], bool]:
    return lambda r: r["wait_event_type"] == "Lock" and blocker in r["blocked_by"]


@contextlib.asynccontextmanager
async def lock_chain(dsn: str | None = None, depth: int = 5) -> AsyncIterator[Situation]:
    """`depth` sessions in a chain: each waits on the one before; the root is idle in a
    transaction holding row 1. Session k first locks its own row k, then waits on row k-1.
    `pids` is (root, w2, ..., w_depth); the tree is `depth` levels deep."""
    async with sessions(dsn, "chain") as s:
        table = await s.table(depth)
        conns = await s.open(depth)
        await conns[0].execute(f"BEGIN; UPDATE {table} SET v = v + 1 WHERE id = 1")
        pids = [c.get_server_pid() for c in conns]
        for k in range(1, depth):
            await conns[k].execute(f"BEGIN; UPDATE {table} SET v = v + 1 WHERE id = {k + 1}")
            s.background(conns[k], f"UPDATE {table} SET v = v + 1 WHERE id = {k}")
            await s.wait_state([pids[k]], _waiting_on(pids[k - 1]), f"chain link {k + 1} waiting")
        yield Situation(s.tag, tuple(pids), table)


@contextlib.asynccontextmanager
async def fan_out(dsn: str | None = None, n: int = 50) -> AsyncIterator[Situation]:
    """One root idle in a transaction holding rows 1..n; n sessions each waiting on one of
    those rows (each waits on the root only). `pids` is (root, w1, ..., wn)."""
    async with sessions(dsn, "fan") as s:
        table = await s.table(n)
        root, *waiters = await s.open(n + 1)
        await root.execute(f"BEGIN; SELECT id FROM {table} FOR UPDATE")
        for i, conn in enumerate(waiters, start=1):
            s.background(conn, f"UPDATE {table} SET v = v + 1 WHERE id = {i}")
        pids = [c.get_server_pid() for c in (root, *waiters)]
        await s.wait_state(pids[1:], _waiting_on(pids[0]), f"{n} waiters on the root")
        yield Situation(s.tag, tuple(pids), table)


@contextlib.asynccontextmanager
async def idle_in_transaction(dsn: str | None = None) -> AsyncIterator[Situation]:
    """One session idle in an open transaction (it has run `BEGIN; SELECT 1`)."""
    async with sessions(dsn, "idle") as s:
        (conn,) = await s.open()
        sql = "BEGIN; SELECT 1"
        await conn.execute(sql)
        pid = conn.get_server_pid()
        await s.wait_state(
            [pid], lambda r: r["state"] == "idle in transaction", "idle in transaction"
        )
        yield Situation(s.tag, (pid,), query=sql)


@contextlib.asynccontextmanager
async def long_query(dsn: str | None = None, seconds: float = 30.0) -> AsyncIterator[Situation]:
    """One session running `SELECT pg_sleep(seconds)` (active, wait event PgSleep)."""
    async with sessions(dsn, "sleep") as s:
        (conn,) = await s.open()
        sql = f"SELECT pg_sleep({float(seconds)})"
        s.background(conn, sql)
        pid = conn.get_server_pid()
        await s.wait_state([pid], lambda r: r["wait_event"] == "PgSleep", "pg_sleep running")
        yield Situation(s.tag, (pid,), query=sql)


@contextlib.asynccontextmanager
async def hostile_query(dsn: str | None = None) -> AsyncIterator[Situation]:
    """One session running HOSTILE_SQL (markup, escape sequences, RLO) for 30 s."""
    async with sessions(dsn, "hostile") as s:
        (conn,) = await s.open()
        s.background(conn, HOSTILE_SQL)
        pid = conn.get_server_pid()
        await s.wait_state([pid], lambda r: r["wait_event"] == "PgSleep", "hostile query running")
        yield Situation(s.tag, (pid,), query=HOSTILE_SQL)


class FreezableProxy:
    """A TCP proxy in front of the server that can stop forwarding: a network hang on cue."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        #: Chunks that arrived while frozen: proof that a caller is now stuck waiting.
        self.held = 0
        self._open = asyncio.Event()
        self._open.set()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> FreezableProxy:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def freeze(self) -> None:
        """Hold every byte in both directions until `thaw()`."""
        self._open.clear()

    def thaw(self) -> None:
        """Forward again (held bytes go through)."""
        self._open.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers += [writer, up_writer]
        await asyncio.gather(
            self._pump(reader, up_writer), self._pump(up_reader, writer), return_exceptions=True
        )

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                if not self._open.is_set():
                    self.held += 1
                    await self._open.wait()
                writer.write(data)
                await writer.drain()
        finally:
            writer.close()

    async def close(self) -> None:
        """Stop listening and cut every proxied connection."""
        self._open.set()
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.asynccontextmanager
async def freezable_proxy(
    host: str = "127.0.0.1", port: int = 5432
) -> AsyncIterator[FreezableProxy]:
    """A running FreezableProxy to host:port, closed on exit; connect to 127.0.0.1:proxy.port."""
    proxy = await FreezableProxy(host, port).start()
    try:
        yield proxy
    finally:
        await proxy.close()
