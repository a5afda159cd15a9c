"""The polling connection: one PgSnapshot per call, in at most three SQL statements.

Cost matters here: it runs every couple of seconds against servers with a thousand
backends, during incidents. So: prepared statements (asyncpg caches them per connection),
a projection of pg_stat_activity that costs the server about what a bare
`SELECT * FROM pg_stat_activity` costs (see queries/activity_post_120000.sql),
pg_blocking_pids() and pg_locks only for Lock waiters, pg_database_size() only every
DATABASE_SIZE_EVERY seconds, rows mapped positionally onto the frozen dataclasses, and
nothing else per poll.

Ages (xact_age, query_age, wait_age) are measured on the server's clock: the snapshot's
now() (taken_at, from the summary statement) minus the backend's timestamps, clamped at 0,
computed here rather than per row on the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.resources
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, TypeVar

import asyncpg

from adapters.errors import QueryFailed, SourceError, Unreachable
from adapters.postgres.blocking import build_blocking_tree
from adapters.postgres.discovery import ResolvedPg
from adapters.postgres.errors import map_error
from adapters.postgres.models import (
    Backend,
    BackendDetail,
    LockRow,
    PgSnapshot,
    ServerSummary,
)

#: Oldest supported server (pg_stat_activity.backend_type, pg_blocking_pids, and the
#: server_version_num setting all exist from 10; 12 is the oldest we test against).
MIN_SERVER_VERSION = 120000
#: Seconds between two measurements of the database size (pg_database_size() stats every
#: file of the database: most of the summary's server time, every poll). The summary shows
#: the last measurement in between; each new connection measures on its first poll.
DATABASE_SIZE_EVERY = 30.0
_QUERY_FILE = re.compile(r"(?P<name>\w+)_post_(?P<floor>\d{6})\.sql")
_T = TypeVar("_T")


@functools.cache
def _query_files() -> dict[str, tuple[tuple[int, str], ...]]:
    """name -> ((version floor, SQL), ...) from queries/NAME_post_NNNNNN.sql, read once."""
    found: dict[str, list[tuple[int, str]]] = {}
    for entry in importlib.resources.files("adapters.postgres").joinpath("queries").iterdir():
        match = _QUERY_FILE.fullmatch(entry.name)
        if match:
            found.setdefault(match["name"], []).append((int(match["floor"]), entry.read_text()))
    return {name: tuple(sorted(versions)) for name, versions in found.items()}


def queries_for(server_version_num: int) -> dict[str, str]:
    """The version ladder: for each query, the file with the highest floor <= the server's.

    Raises QueryFailed (not retryable) for a server older than MIN_SERVER_VERSION.
    """
    if server_version_num < MIN_SERVER_VERSION:
        err = QueryFailed(
            f"PostgreSQL {_version_text(server_version_num)} is not supported "
            f"(needs {MIN_SERVER_VERSION // 10000} or newer)"
        )
        err.retryable = False
        raise err
    return {
        name: next(sql for floor, sql in reversed(versions) if floor <= server_version_num)
        for name, versions in _query_files().items()
    }


async def open_connection(
    resolved: ResolvedPg, *, settings: dict[str, str], timeout: float
) -> tuple[asyncpg.Connection, dict[str, str]]:
    """Connect with `settings` as server_settings; return the connection and its queries.

    Failures come out as mapped SourceErrors. Shared by the monitor and the actions.
    """
    try:
        conn = await asyncio.wait_for(
            asyncpg.connect(**resolved.connect_kwargs(), server_settings=settings),
            timeout + 1.0,  # asyncpg's own connect timeout fires first; this is a backstop
        )
    except Exception as exc:
        raise map_error(exc, where=_where(resolved), timeout=timeout, connecting=True) from exc
    version = conn.get_server_version()
    # asyncpg reports 15.20 as (15, 0, 20) and 9.6.24 as (9, 6, 24).
    num = version.major * 10000 + version.minor * 100 + version.micro
    try:
        return conn, queries_for(num)
    except SourceError:
        conn.terminate()
        raise


def timeout_settings(statement_timeout: float, lock_timeout: float) -> dict[str, str]:
    """statement_timeout and lock_timeout as server settings (milliseconds, never 0=off)."""
    return {
        "statement_timeout": str(max(1, round(statement_timeout * 1000))),
        "lock_timeout": str(max(1, round(lock_timeout * 1000))),
    }


class PostgresMonitor:
    """The monitor's own connection: lazy, reconnecting, every call under a timeout."""

    def __init__(
        self,
        resolved: ResolvedPg,
        *,
        statement_timeout: float,
        lock_timeout: float = 1.0,
        call_timeout: float,
        application_name: str = "ops-console",
        database_size_every: float = DATABASE_SIZE_EVERY,
    ) -> None:
        """`statement_timeout` and `lock_timeout` (seconds) are enforced by the server;
        `call_timeout` (seconds) bounds each call on the client, so set it a little above
        `statement_timeout` to let the server's clearer cancel arrive first.
        `database_size_every` (seconds) spaces the measurements of the database size."""
        self.resolved = resolved
        self.call_timeout = call_timeout
        self.database_size_every = database_size_every
        self._settings = {
            "application_name": application_name,
            **timeout_settings(statement_timeout, lock_timeout),
            # Monitoring never writes; and a plan of a catalog query never needs JIT.
            "default_transaction_read_only": "on",
            "jit": "off",
        }
        self._conn: asyncpg.Connection | None = None
        self._sql: dict[str, str] = {}
        self._extra_pids: set[int] = set()
        self._previous: ServerSummary | None = None
        self._previous_at: datetime | None = None
        self._database_size: int | None = None
        self._database_size_at: float | None = None  # time.monotonic() of the measurement
        # asyncpg runs one operation per connection at a time: poll and detail take turns.
        self._busy = asyncio.Lock()

    @property
    def own_pids(self) -> frozenset[int]:
        """Backend pids of the console itself, hidden from the activity view."""
        pids = set(self._extra_pids)
        if self._conn is not None and not self._conn.is_closed():
            pids.add(self._conn.get_server_pid())
        return frozenset(pids)

    def add_own_pid(self, pid: int) -> None:
        """Hide another of the console's backends (the action connection) from activity."""
        self._extra_pids.add(pid)

    async def poll(self) -> PgSnapshot:
        """One snapshot: summary, client backends, awaited locks; 2 statements, 3 with waiters.

        Raises a SourceError; after any failure the connection is dropped, and the next
        call reconnects.
        """
        async with self._busy:
            conn = await self._connection()
            sql = self._sql
            measured_at = self._database_size_at
            measure = measured_at is None or (
                time.monotonic() - measured_at >= self.database_size_every
            )
            srow = await self._run(conn.fetchrow, sql["summary"], measure)
            rows = await self._run(conn.fetch, sql["activity"], list(self.own_pids))
            statements = 2
            waiting = [r[0] for r in rows if r[13] is not None]
            locks: dict[int, Any] = {}
            if waiting:
                locks = {
                    r[0]: r for r in await self._run(conn.fetch, sql["waiting_locks"], waiting)
                }
                statements += 1

        if measure:
            self._database_size, self._database_size_at = srow[10], time.monotonic()
        taken_at: datetime = srow[11]
        roles = dict(zip(srow[12], srow[13], strict=True))
        databases = dict(zip(srow[14], srow[15], strict=True))
        backends = _backends(rows, locks, taken_at, roles, databases)
        by_state = Counter(b.state or "unknown" for b in backends)
        summary = ServerSummary(
            *srow[:5],
            connections_by_state=dict(by_state),
            total_connections=len(backends),
            xact_commit=srow[5],
            xact_rollback=srow[6],
            blks_hit=srow[7],
            blks_read=srow[8],
            database=srow[9],
            database_size=self._database_size,
        )
        tps, hit_ratio = self._rates(summary, taken_at)
        return PgSnapshot(
            taken_at=taken_at,
            summary=summary,
            backends=tuple(backends),
            blocking=build_blocking_tree(backends),
            statements=statements,
            tps=tps,
            cache_hit_ratio=hit_ratio,
        )

    async def detail(self, pid: int) -> BackendDetail | None:
        """All columns of backend `pid` (any type) and the locks it holds and awaits, or
        None if there is no such backend. Two statements, on demand only."""
        async with self._busy:
            conn = await self._connection()
            row = await self._run(conn.fetchrow, self._sql["backend_detail"], pid)
            if row is None:
                return None
            lock_rows = await self._run(conn.fetch, self._sql["backend_locks"], pid)
        locks = tuple(LockRow(*r) for r in lock_rows)
        awaited = next((lock for lock in locks if not lock.granted), None)
        backend = Backend(
            *row[:15],
            blocked_by=tuple(row[15] or ()),
            waiting_lock_mode=awaited.mode if awaited else None,
            waiting_relation=awaited.relation if awaited else None,
            waiting_locktype=awaited.locktype if awaited else None,
            wait_age=row[16],
        )
        return BackendDetail(backend, *row[17:22], locks=locks)

    async def describe(self) -> str:
        """Who and where the monitor is connected ("... pid 123, PostgreSQL 15.20")."""
        conn = self._conn
        if conn is None or conn.is_closed():
            return f"{self.resolved.describe()}, not connected"
        version = conn.get_settings().server_version.split()[0]
        return f"{self.resolved.describe()}, pid {conn.get_server_pid()}, PostgreSQL {version}"

    async def close(self) -> None:
        """Close the connection (at once if a call is still running). Idempotent."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        if self._busy.locked():
            conn.terminate()
            return
        try:
            await asyncio.wait_for(conn.close(), 1.0)
        except Exception:  # closing is best effort: the socket goes either way
            conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None:
            if not self._conn.is_closed():
                return self._conn
            # Closed under us (terminated, server restart, network): say so once, so the
            # operator sees the gap; the next poll reconnects.
            self._drop()
            raise Unreachable(f"connection lost at {_where(self.resolved)}")
        self._conn, self._sql = await open_connection(
            self.resolved, settings=self._settings, timeout=self.resolved.connect_timeout
        )
        self._database_size_at = None  # possibly another server now (failover): measure
        return self._conn

    async def _run(self, call: Callable[..., Awaitable[_T]], *args: Any) -> _T:
        """`call(*args)` under call_timeout; any failure drops the connection and is mapped."""
        try:
            return await asyncio.wait_for(call(*args), self.call_timeout)
        except asyncio.CancelledError:
            self._drop()  # cancelled mid-protocol: the connection state is unknown
            raise
        except Exception as exc:
            self._drop()
            raise map_error(exc, where=_where(self.resolved), timeout=self.call_timeout) from exc

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()  # no goodbye: the server or the network may be the problem

    def _rates(
        self, summary: ServerSummary, taken_at: datetime
    ) -> tuple[float | None, float | None]:
        """(tps, cache hit ratio) over the interval since the previous poll.

        The first poll, a restart (counters reset) or a stats reset gives tps None and the
        cumulative hit ratio.
        """
        prev, prev_at = self._previous, self._previous_at
        self._previous, self._previous_at = summary, taken_at
        hit, read = summary.blks_hit, summary.blks_read
        tps = None
        if (
            prev is not None
            and prev_at is not None
            and taken_at > prev_at
            and prev.started_at == summary.started_at
            and summary.xact_commit >= prev.xact_commit
            and summary.xact_rollback >= prev.xact_rollback
            and hit >= prev.blks_hit
            and read >= prev.blks_read
        ):
            elapsed = (taken_at - prev_at).total_seconds()
            done = summary.xact_commit + summary.xact_rollback
            tps = (done - prev.xact_commit - prev.xact_rollback) / elapsed
            hit, read = hit - prev.blks_hit, read - prev.blks_read
        return tps, (hit / (hit + read) if hit + read else None)


def _backends(
    rows: list[Any],
    locks: dict[int, Any],
    now: datetime,
    roles: dict[int, str],
    databases: dict[int, str],
) -> list[Backend]:
    """Backends from activity rows (see queries/activity_*.sql for the columns) and, for
    Lock waiters, the lock each awaits (by pid; missing if granted in between).

    User and database oids are named from `roles` and `databases` (None if unknown, as
    pg_stat_activity's outer joins give NULL). Ages are `now` (the snapshot's server clock)
    minus the row's timestamps, clamped at 0 (a query that began after now(), during this
    poll); None where the timestamp is None. Hot: ~1,000 rows per poll, so it is inline.
    """
    user_of, database_of = roles.get, databases.get
    new = _new_backend
    out = []
    append = out.append
    for r in rows:
        xs, qs, by = r[9], r[10], r[13]
        xact_age = query_age = None
        if xs is not None:
            xact_age = (now - xs).total_seconds()
            if xact_age < 0.0:
                xact_age = 0.0
        if qs is not None:
            query_age = (now - qs).total_seconds()
            if query_age < 0.0:
                query_age = 0.0
        # pid, user, database, application, client_addr, state, wait_event_type,
        # wait_event, backend_start, xact_start, query_start, state_change
        head = (
            r[0], user_of(r[1]), database_of(r[2]), r[3], r[4], r[5], r[6], r[7],
            r[8], xs, qs, r[11],
        )  # fmt: skip
        if by is None:
            append(new(*head, xact_age, query_age, r[12]))
            continue
        # A Lock waiter. Its wait began at the lock's waitstart (14+), else at state_change
        # (when the statement that waits began: the fallback before 14, and while the
        # server has not yet filled waitstart in).
        lock = locks.get(r[0])
        since = lock[4] if lock is not None and lock[4] is not None else r[11]
        wait_age = None if since is None else max(0.0, (now - since).total_seconds())
        if lock is None:  # granted between the two statements
            append(new(*head, xact_age, query_age, r[12], tuple(by), wait_age=wait_age))
        else:
            mode, relation, locktype = lock[2], lock[3], lock[1]
            append(
                new(
                    *head, xact_age, query_age, r[12], tuple(by), mode, relation, locktype, wait_age
                )
            )
    return out


def _slot_constructor(cls: type[_T]) -> Callable[..., _T]:
    """A drop-in for `cls(...)`, about twice as fast, for a frozen slotted dataclass.

    Its generated __init__ sets each field through object.__setattr__ (to get past
    frozen), which is most of the cost of building ~1,000 Backends per poll. This makes the
    instance with object.__new__ and sets the slots through their descriptors: the same
    parameters, defaults and resulting object. A class it cannot mirror exactly (not a
    frozen slotted dataclass, a __post_init__, a default_factory, an init=False or
    keyword-only field) gets `cls` itself back.
    """
    params = getattr(cls, "__dataclass_params__", None)
    if params is None or not params.frozen or "__slots__" not in cls.__dict__:
        return cls
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(
        not f.init or f.kw_only or f.default_factory is not dataclasses.MISSING for f in fields
    ):
        return cls
    names = [f.name for f in fields]
    scope: dict[str, Any] = {"_new": object.__new__, "_cls": cls}
    scope.update((f"_set_{n}", getattr(cls, n).__set__) for n in names)
    body = "".join(f"    _set_{n}(obj, {n})\n" for n in names)
    exec(f"def new({', '.join(names)}):\n    obj = _new(_cls)\n{body}    return obj\n", scope)
    new = scope["new"]
    new.__defaults__ = tuple(f.default for f in fields if f.default is not dataclasses.MISSING)
    new.__qualname__ = new.__name__ = f"new_{cls.__name__}"
    return new


#: Backend(...) for the hot loop of _backends().
_new_backend = _slot_constructor(Backend)


def _where(resolved: ResolvedPg) -> str:
    return f"{resolved.host}:{resolved.port}"


def _version_text(num: int) -> str:
    return (
        f"{num // 10000}.{num % 10000}" if num >= 100000 else f"{num // 10000}.{num // 100 % 100}"
    )
