"""The PostgreSQL source of one target: its monitor, its action connection, its history.

The driver is imported here lazily, on the first poll, so the first frame is painted
before asyncpg is loaded.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from adapters.postgres.actions import PostgresActions
    from adapters.postgres.discovery import ResolvedPg
    from adapters.postgres.models import BackendDetail, PgSnapshot
    from adapters.postgres.monitor import PostgresMonitor
    from console.config import PostgresConfig

#: Samples kept for the dashboard sparklines: 180 x 2 s = the last 6 minutes.
HISTORY_SAMPLES = 180


@dataclass
class PgHistory:
    """Recent connection counts and TPS, oldest first, for sparklines."""

    connections: deque[float]
    tps: deque[float]

    @classmethod
    def empty(cls) -> PgHistory:
        return cls(deque(maxlen=HISTORY_SAMPLES), deque(maxlen=HISTORY_SAMPLES))

    def add(self, snapshot: PgSnapshot) -> None:
        self.connections.append(float(snapshot.summary.total_connections))
        if snapshot.tps is not None:
            self.tps.append(snapshot.tps)


def timeouts_for(refresh: float, statement_timeout: float | None) -> tuple[float, float]:
    """(server statement_timeout, client call timeout) in seconds for a refresh interval.

    The server gives up before the next refresh is due, and the client waits a little
    longer than the server so a server-side cancel is reported as such.
    """
    statement = statement_timeout if statement_timeout else max(0.5, refresh * 0.75)
    return statement, statement + 1.0


class PostgresSource:
    """Owns the connections to one PostgreSQL server for one target."""

    name = "postgres"

    def __init__(self, config: PostgresConfig, refresh: float) -> None:
        self.config = config
        self.refresh = refresh
        self.history = PgHistory.empty()
        self._resolved: ResolvedPg | None = None
        self._monitor: PostgresMonitor | None = None
        self._actions: PostgresActions | None = None

    def resolved(self) -> ResolvedPg:
        if self._resolved is None:
            from adapters.postgres.discovery import PgParams, resolve

            cfg = self.config
            self._resolved = resolve(
                PgParams(
                    dsn=cfg.dsn,
                    host=cfg.host,
                    port=cfg.port,
                    user=cfg.user,
                    password=cfg.password,
                    database=cfg.database,
                    sslmode=cfg.sslmode,
                    service=cfg.service,
                    connect_timeout=cfg.connect_timeout,
                )
            )
        return self._resolved

    def describe(self) -> str:
        """Where this source connects (never includes a password)."""
        return self.resolved().describe()

    def monitor(self) -> PostgresMonitor:
        if self._monitor is None:
            from adapters.postgres.monitor import PostgresMonitor

            statement, call = timeouts_for(self.refresh, self.config.statement_timeout)
            self._monitor = PostgresMonitor(
                self.resolved(), statement_timeout=statement, call_timeout=call
            )
        return self._monitor

    async def fetch(self) -> PgSnapshot:
        """One poll: the snapshot, also folded into the history."""
        snapshot = await self.monitor().poll()
        self.history.add(snapshot)
        return snapshot

    async def detail(self, pid: int) -> BackendDetail | None:
        return await self.monitor().detail(pid)

    async def actions(self) -> PostgresActions:
        """The action connection, separate from the monitor so a kill never queues
        behind a slow poll; its pid is hidden from the activity view like the monitor's."""
        if self._actions is None:
            from adapters.postgres.actions import PostgresActions

            # Every (re)connection's pid is hidden from the activity view.
            self._actions = PostgresActions(self.resolved(), on_connect=self.monitor().add_own_pid)
        return self._actions

    async def close(self) -> None:
        for conn in (self._monitor, self._actions):
            if conn is not None:
                await conn.close()
        self._monitor = self._actions = None
