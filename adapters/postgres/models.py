"""Frozen snapshots of PostgreSQL state: raw values only, no colour or markup.

Text fields (query, user, application, ...) are untrusted: they hold what the server
returned, unescaped. Widgets sanitise them when rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Backend:
    """One client backend from pg_stat_activity, as seen at `Snapshot.taken_at`."""

    pid: int
    user: str | None
    database: str | None
    application: str | None
    client_addr: str | None
    state: str | None  # active, idle, idle in transaction, ...
    wait_event_type: str | None
    wait_event: str | None
    backend_start: datetime | None
    xact_start: datetime | None
    query_start: datetime | None
    state_change: datetime | None
    xact_age: float | None  # seconds, measured on the server's clock
    query_age: float | None  # seconds since query_start (for idle: since the last query began)
    query: str | None
    blocked_by: tuple[int, ...] = ()  # pg_blocking_pids(), only filled for Lock waiters
    #: For a Lock waiter: the mode it waits for and the relation (schema.name) if any.
    waiting_lock_mode: str | None = None
    waiting_relation: str | None = None
    waiting_locktype: str | None = None
    wait_age: float | None = None  # seconds this backend has waited on its lock (state_change)

    @property
    def is_waiting_on_lock(self) -> bool:
        return self.wait_event_type == "Lock"


@dataclass(frozen=True, slots=True)
class BlockingNode:
    """A backend in the blocking tree with the sessions that wait on it."""

    backend: Backend
    waiters: tuple[BlockingNode, ...] = ()
    #: This backend also appears elsewhere in the tree (it waits on two independent
    #: blockers); its waiters are listed only at its first occurrence, not repeated here.
    repeat: bool = False
    #: This backend is part of a wait cycle: a deadlock the server has not broken yet
    #: (it does after deadlock_timeout). The occurrence that closes the loop is a leaf.
    cycle: bool = False
    #: Sessions this backend also waits on that the tree does not show it under: the
    #: blockers dropped because they wait (transitively) on another of its blockers
    #: (see adapters/postgres/blocking.py). Clearing the blocker above does not release
    #: it while one of these still holds or queues for its lock. In pg_blocking_pids order.
    also_blocked_by: tuple[int, ...] = ()

    def count(self) -> int:
        """All sessions below this node, however deep."""
        return sum(1 + w.count() for w in self.waiters)


@dataclass(frozen=True, slots=True)
class ServerSummary:
    """Server-wide figures for the dashboard pane."""

    version: str  # e.g. "15.19"
    server_version_num: int
    started_at: datetime | None
    uptime: float | None  # seconds
    max_connections: int
    connections_by_state: dict[str, int]  # state -> count, client backends only
    total_connections: int
    xact_commit: int  # cumulative over all databases
    xact_rollback: int
    blks_hit: int
    blks_read: int
    database: str
    database_size: int | None  # bytes, of the connected database


@dataclass(frozen=True, slots=True)
class PgSnapshot:
    """Everything one poll of PostgreSQL returns."""

    taken_at: datetime  # server clock (now())
    summary: ServerSummary
    backends: tuple[Backend, ...]
    #: Root blockers (block others, wait on no one) with their waiters nested.
    blocking: tuple[BlockingNode, ...] = ()
    statements: int = 0  # SQL statements this poll sent (for the benchmark and the footer)
    #: Derived per-second rates (None on the first poll): filled by the adapter from deltas.
    tps: float | None = None
    cache_hit_ratio: float | None = None  # 0..1 over the last interval (or cumulative first)

    @property
    def waiting_count(self) -> int:
        return sum(1 for b in self.backends if b.is_waiting_on_lock)

    @property
    def blocking_count(self) -> int:
        blockers = {p for b in self.backends for p in b.blocked_by}
        return len(blockers)

    def longest_query(self) -> Backend | None:
        """The active backend whose current query has run longest."""
        active = [b for b in self.backends if b.state == "active" and b.query_age is not None]
        return max(active, key=lambda b: b.query_age or 0.0, default=None)

    def oldest_transaction(self) -> Backend | None:
        """The backend whose open transaction is oldest."""
        open_ = [b for b in self.backends if b.xact_age is not None]
        return max(open_, key=lambda b: b.xact_age or 0.0, default=None)


@dataclass(frozen=True, slots=True)
class LockRow:
    """One row of pg_locks for a backend (held or awaited)."""

    locktype: str
    mode: str
    granted: bool
    relation: str | None
    detail: str | None  # tuple, transactionid, virtualxid, ... rendered as text


@dataclass(frozen=True, slots=True)
class BackendDetail:
    """The detail view of one backend: all columns, full query, its locks."""

    backend: Backend
    backend_type: str | None
    client_hostname: str | None
    client_port: int | None
    backend_xid: str | None
    backend_xmin: str | None
    locks: tuple[LockRow, ...] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class BackendIdentity:
    """What identifies a backend across time: pids are reused, backend_start is not."""

    pid: int
    backend_start: datetime | None
    query_start: datetime | None
