"""A fixed PostgreSQL picture for snapshot tests: same pixels on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from adapters.postgres.blocking import build_blocking_tree
from adapters.postgres.models import Backend, PgSnapshot, ServerSummary
from console.state import SourceState

NOW = datetime(2026, 11, 23, 3, 14, 0, tzinfo=UTC)
CLOCK = NOW.timestamp()


def _backend(pid: int, state: str, query: str, age: float, **extra: object) -> Backend:
    start = NOW - timedelta(seconds=age)
    values: dict[str, object] = {
        "pid": pid,
        "user": "app",
        "database": "shop",
        "application": "web-1",
        "client_addr": "10.1.2.3",
        "state": state,
        "wait_event_type": None,
        "wait_event": None,
        "backend_start": NOW - timedelta(hours=1),
        "xact_start": start if state != "idle" else None,
        "query_start": start,
        "state_change": start,
        "xact_age": age if state != "idle" else None,
        "query_age": age,
        "query": query,
    }
    values.update(extra)
    return Backend(**values)  # type: ignore[arg-type]


def backends() -> tuple[Backend, ...]:
    rows = [
        _backend(
            4242,
            "idle in transaction",
            "UPDATE orders SET paid = true WHERE id = 7",
            312.0,
            application="billing-worker",
        ),
        _backend(
            4301,
            "active",
            "UPDATE orders SET status = 'sent' WHERE id = 7",
            95.5,
            wait_event_type="Lock",
            wait_event="transactionid",
            blocked_by=(4242,),
            waiting_lock_mode="ShareLock",
            waiting_locktype="transactionid",
            wait_age=95.5,
        ),
        _backend(
            4302,
            "active",
            "DELETE FROM orders WHERE id = 7",
            60.2,
            wait_event_type="Lock",
            wait_event="tuple",
            blocked_by=(4301,),
            waiting_lock_mode="ExclusiveLock",
            waiting_relation="public.orders",
            waiting_locktype="tuple",
            wait_age=60.2,
            user="ops",
        ),
        _backend(
            4303,
            "active",
            "SELECT a[i] FROM t /* [red]x[/] [/] \x1b[2J \u202e */",
            12.0,
            application="report\x1b]0;pwned\x07",
        ),
        _backend(
            4410,
            "active",
            "SELECT pg_sleep(600)",
            540.0,
            wait_event_type="Timeout",
            wait_event="PgSleep",
            application="cron",
        ),
        _backend(4411, "active", "COPY events TO STDOUT", 3.4, application="backup"),
    ]
    rows += [
        _backend(5000 + i, "idle", "SELECT 1", 30.0 + i, application=f"pool-{i}") for i in range(12)
    ]
    return tuple(rows)


def snapshot() -> PgSnapshot:
    rows = backends()
    states: dict[str, int] = {}
    for row in rows:
        states[row.state or "?"] = states.get(row.state or "?", 0) + 1
    summary = ServerSummary(
        version="15.19",
        server_version_num=150019,
        started_at=NOW - timedelta(days=3, hours=4),
        uptime=3 * 86400 + 4 * 3600,
        max_connections=100,
        connections_by_state=states,
        total_connections=len(rows),
        xact_commit=123456,
        xact_rollback=12,
        blks_hit=999000,
        blks_read=1000,
        database="shop",
        database_size=7_340_032_000,
    )
    return PgSnapshot(
        taken_at=NOW,
        summary=summary,
        backends=rows,
        blocking=build_blocking_tree(rows),
        statements=3,
        tps=412.5,
        cache_hit_ratio=0.9987,
    )


def state() -> SourceState[PgSnapshot]:
    empty: SourceState[PgSnapshot] = SourceState("postgres")
    return empty.succeeded(snapshot(), CLOCK - 1, 0.004, 2.0)
