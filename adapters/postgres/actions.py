"""Cancel and terminate backends, on a connection of their own.

The action connection is separate from the monitor's so a kill is never queued behind a
slow poll. The flow the console follows: `identity()` when the operator selects a row,
`recheck()` right before executing (pids are reused; queries end), then `cancel()` or
`terminate()`. The SQL shown in the confirmation dialog (`cancel_sql()`) is the text
executed, with the pid bound as $1.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from adapters.errors import Unreachable
from adapters.postgres.discovery import ResolvedPg
from adapters.postgres.errors import map_error
from adapters.postgres.models import BackendIdentity
from adapters.postgres.monitor import (
    MIN_SERVER_VERSION,
    open_connection,
    queries_for,
    timeout_settings,
)


def cancel_sql(pid: int) -> str:
    """The statement that cancels `pid`'s query, as shown to the operator."""
    return _shown("cancel_backend", pid)


def terminate_sql(pid: int) -> str:
    """The statement that terminates backend `pid`, as shown to the operator."""
    return _shown("terminate_backend", pid)


def _shown(name: str, pid: int) -> str:
    # The executed file with its $1 filled in for display: one source for both.
    return queries_for(MIN_SERVER_VERSION)[name].strip().replace("$1", str(int(pid)))


class PostgresActions:
    """Backend remediations over a lazily opened connection of their own."""

    def __init__(
        self,
        resolved: ResolvedPg,
        *,
        call_timeout: float = 5.0,
        application_name: str = "ops-console actions",
        on_connect: Callable[[int], None] | None = None,
    ) -> None:
        """`call_timeout` (seconds) bounds every call, also enforced as the server's
        statement_timeout. `on_connect(pid)` runs on each (re)connection, so the monitor
        can hide the new pid (`PostgresMonitor.add_own_pid`)."""
        self.resolved = resolved
        self.call_timeout = call_timeout
        self._settings = {
            "application_name": application_name,
            **timeout_settings(call_timeout, min(call_timeout, 1.0)),
            # Signalling a backend is not a write: the action connection never writes.
            "default_transaction_read_only": "on",
        }
        self._on_connect = on_connect
        self._conn: asyncpg.Connection | None = None
        self._sql: dict[str, str] = {}
        self._busy = asyncio.Lock()

    cancel_sql = staticmethod(cancel_sql)
    terminate_sql = staticmethod(terminate_sql)

    async def own_pid(self) -> int:
        """The backend pid of the action connection (connects if needed)."""
        async with self._busy:
            return (await self._connection()).get_server_pid()

    async def identity(self, pid: int) -> BackendIdentity | None:
        """What identifies backend `pid` now, or None if there is no such backend."""
        row = await self._call("fetchrow", "backend_identity", pid, retry=True)
        return None if row is None else BackendIdentity(row[0], row[1], row[2])

    async def recheck(self, identity: BackendIdentity, *, for_cancel: bool) -> str | None:
        """None if `identity.pid` is still the same backend (and, `for_cancel`, still runs
        the same query); otherwise why acting on it now would hit the wrong target."""
        pid = identity.pid
        row = await self._call("fetchrow", "backend_identity", pid, retry=True)
        if row is None:
            return f"pid {pid} has ended"
        if row[1] != identity.backend_start:
            return f"pid {pid} is now a different backend (started {_clock(row[1])})"
        if for_cancel:
            if row[2] != identity.query_start:
                return "the query changed since you selected it"
            if row[3] == "idle":
                return f"the query has finished (pid {pid} is idle)"
        return None

    async def cancel(self, pid: int) -> bool:
        """Cancel `pid`'s running query; False if the server found no such backend.

        Raises PermissionDenied (with the server's reason) when not allowed. Never retried:
        a second cancel could hit the backend's next query.
        """
        return bool(await self._call("fetchval", "cancel_backend", pid, retry=False))

    async def terminate(self, pid: int) -> bool:
        """Terminate backend `pid` (its transaction rolls back, its waiters are released);
        False if the server found no such backend. Raises PermissionDenied when not allowed."""
        return bool(await self._call("fetchval", "terminate_backend", pid, retry=False))

    async def close(self) -> None:
        """Close the action connection. Idempotent."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), 1.0)
        except Exception:  # best effort: the socket goes either way
            conn.terminate()

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is None or self._conn.is_closed():
            self._conn, self._sql = await open_connection(
                self.resolved, settings=self._settings, timeout=self.resolved.connect_timeout
            )
            if self._on_connect is not None:
                self._on_connect(self._conn.get_server_pid())
        return self._conn

    async def _call(self, method: str, query: str, *args: Any, retry: bool) -> Any:
        """Run query `query` with `method` under call_timeout, mapping failures.

        With `retry`, a connection found dead (the server restarted, an idle timeout) is
        reopened and the call made once more: only for reads, which are safe to repeat.
        """
        async with self._busy:
            for attempt in (1, 2):
                conn = await self._connection()
                call: Callable[..., Awaitable[Any]] = getattr(conn, method)
                try:
                    return await asyncio.wait_for(call(self._sql[query], *args), self.call_timeout)
                except asyncio.CancelledError:
                    self._drop()
                    raise
                except Exception as exc:
                    self._drop()
                    err = map_error(
                        exc,
                        where=f"{self.resolved.host}:{self.resolved.port}",
                        timeout=self.call_timeout,
                    )
                    if retry and attempt == 1 and isinstance(err, Unreachable):
                        continue
                    raise err from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.terminate()


def _clock(when: datetime | None) -> str:
    """A server timestamp as local wall-clock time, for messages."""
    return "?" if when is None else when.astimezone().strftime("%H:%M:%S")
