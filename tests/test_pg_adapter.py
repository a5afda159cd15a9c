"""The PostgreSQL monitor and actions against a real server, in situations built per test.

The server is shared (other test runs, other people): assertions only look at the
sessions a test created (by pid or by its unique application_name), and counts that depend
on the whole server are asserted as relations ("3 statements iff anyone waits on a lock").
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import asyncpg
import pytest

from adapters.errors import (
    AuthFailed,
    PermissionDenied,
    QueryFailed,
    SourceTimeout,
    Unreachable,
)
from adapters.postgres.actions import PostgresActions, cancel_sql, terminate_sql
from adapters.postgres.blocking import root_blocker_of
from adapters.postgres.discovery import PgParams, ResolvedPg, resolve
from adapters.postgres.errors import map_error
from adapters.postgres.models import Backend, BlockingNode, PgSnapshot
from adapters.postgres.monitor import PostgresMonitor, queries_for
from tests.pg_situations import (
    HOSTILE_SQL,
    Sessions,
    fan_out,
    freezable_proxy,
    hostile_query,
    idle_in_transaction,
    lock_chain,
    long_query,
    sessions,
    wait_until,
)


def ours(snap: PgSnapshot, app: str) -> dict[int, Backend]:
    return {b.pid: b for b in snap.backends if b.application == app}


def find(nodes: tuple[BlockingNode, ...], pid: int) -> BlockingNode | None:
    for node in nodes:
        if node.backend.pid == pid:
            return node
        found = find(node.waiters, pid)
        if found is not None:
            return found
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def poll_until(
    monitor: PostgresMonitor, check: Callable[[PgSnapshot], bool], what: str
) -> PgSnapshot:
    async def attempt() -> PgSnapshot | None:
        snap = await monitor.poll()
        return snap if check(snap) else None

    return await wait_until(attempt, 10.0, what=what)


# --- activity -------------------------------------------------------------------------


async def test_activity_matches_the_situation(pg_dsn: str, pg_monitor: PostgresMonitor) -> None:
    async with idle_in_transaction(pg_dsn) as idle, long_query(pg_dsn) as sleeper:

        def aged(snap: PgSnapshot) -> bool:
            backend = ours(snap, idle.application_name).get(idle.root)
            return backend is not None and (backend.xact_age or 0) > 0.05

        snap = await poll_until(pg_monitor, aged, "a measurable transaction age")
        i = ours(snap, idle.application_name)[idle.root]
        assert i.state == "idle in transaction"
        assert (i.wait_event_type, i.wait_event) == ("Client", "ClientRead")
        assert i.query == idle.query and i.blocked_by == () and i.wait_age is None
        assert i.user and i.database and i.client_addr == "127.0.0.1"
        assert i.backend_start <= i.xact_start <= i.query_start <= snap.taken_at
        assert 0 < i.xact_age < 60 and i.query_age is not None and i.query_age >= 0

        s = ours(snap, sleeper.application_name)[sleeper.root]
        assert s.state == "active" and s.query == sleeper.query
        assert (s.wait_event_type, s.wait_event) == ("Timeout", "PgSleep")
        assert s.query_age is not None and s.query_age >= 0
        assert snap.longest_query() is not None

        later = await poll_until(
            pg_monitor,
            lambda s2: ours(s2, idle.application_name)[idle.root].xact_age > i.xact_age,
            "the age to grow on the server clock",
        )
        assert later.taken_at > snap.taken_at


async def test_lock_waiters_carry_blockers_and_awaited_lock(
    pg_dsn: str, pg_monitor: PostgresMonitor
) -> None:
    async with lock_chain(pg_dsn, depth=3) as chain:
        snap = await pg_monitor.poll()
        mine = ours(snap, chain.application_name)
        root, w2, w3 = (mine[p] for p in chain.pids)
        assert root.state == "idle in transaction" and root.blocked_by == ()
        assert root.waiting_lock_mode is None
        for waiter, blocker in ((w2, root), (w3, w2)):
            assert waiter.is_waiting_on_lock and waiter.state == "active"
            assert waiter.blocked_by == (blocker.pid,)
            assert (waiter.waiting_locktype, waiter.waiting_lock_mode) == (
                "transactionid",
                "ShareLock",
            )
            assert waiter.waiting_relation is None  # a row lock waits on the holder's xid
            assert waiter.wait_age is not None and waiter.wait_age >= 0
        assert snap.statements == 3


async def test_statement_count_is_two_without_waiters_three_with(
    pg_dsn: str, pg_monitor: PostgresMonitor
) -> None:
    snap = await pg_monitor.poll()
    # The server is shared: someone else may be waiting on a lock right now.
    assert snap.statements == (3 if snap.waiting_count else 2)
    async with fan_out(pg_dsn, n=2):
        assert (await pg_monitor.poll()).statements == 3


async def test_own_pids_are_excluded(
    pg_monitor: PostgresMonitor, pg_actions: PostgresActions
) -> None:
    snap = await pg_monitor.poll()
    (own,) = pg_monitor.own_pids
    assert own not in {b.pid for b in snap.backends}
    action_pid = await pg_actions.own_pid()
    assert action_pid in {b.pid for b in (await pg_monitor.poll()).backends}
    pg_monitor.add_own_pid(action_pid)
    assert pg_monitor.own_pids == {own, action_pid}
    assert action_pid not in {b.pid for b in (await pg_monitor.poll()).backends}
    assert "pid" in await pg_monitor.describe() and "PostgreSQL" in await pg_monitor.describe()


async def test_hostile_query_text_is_kept_verbatim(
    pg_dsn: str, pg_monitor: PostgresMonitor
) -> None:
    async with hostile_query(pg_dsn) as hostile:
        snap = await pg_monitor.poll()
        assert ours(snap, hostile.application_name)[hostile.root].query == HOSTILE_SQL


# --- blocking tree from the real server ----------------------------------------------


async def test_blocking_tree_of_a_chain_of_depth_5(
    pg_dsn: str, pg_monitor: PostgresMonitor
) -> None:
    async with lock_chain(pg_dsn, depth=5) as chain:
        snap = await pg_monitor.poll()
        node = find(snap.blocking, chain.root)
        assert node is not None and node in snap.blocking  # a root
        pids = []
        while node is not None:
            pids.append(node.backend.pid)
            assert len(node.waiters) <= 1
            node = node.waiters[0] if node.waiters else None
        assert tuple(pids) == chain.pids
        assert root_blocker_of(chain.pids[-1], snap.backends, tree=snap.blocking) == chain.root
        assert root_blocker_of(chain.pids[2], snap.backends) == chain.root
        assert root_blocker_of(chain.root, snap.backends) is None


async def test_blocking_tree_of_a_fan_out_of_50(pg_dsn: str, pg_monitor: PostgresMonitor) -> None:
    async with fan_out(pg_dsn, n=50) as fan:
        snap = await pg_monitor.poll()
        root = find(snap.blocking, fan.root)
        assert root is not None and root in snap.blocking
        assert {w.backend.pid for w in root.waiters} == set(fan.waiters)
        assert root.count() == 50 and all(not w.waiters for w in root.waiters)
        assert snap.statements == 3
        assert all(
            root_blocker_of(p, snap.backends, tree=snap.blocking) == fan.root for p in fan.waiters
        )


async def test_blocker_outside_the_list_becomes_a_synthetic_root(
    pg_dsn: str, pg_resolved: ResolvedPg
) -> None:
    # The chain's root is hidden as if it were the console's own: its waiter must stay.
    async with lock_chain(pg_dsn, depth=2) as chain:
        monitor = PostgresMonitor(pg_resolved, statement_timeout=5, call_timeout=6)
        try:
            monitor.add_own_pid(chain.root)
            snap = await monitor.poll()
        finally:
            await monitor.close()
        root = find(snap.blocking, chain.root)
        assert root is not None and root.backend.query is None  # only the pid is known
        assert [w.backend.pid for w in root.waiters] == [chain.pids[1]]


# --- rates and detail ----------------------------------------------------------------


async def test_rates_from_the_second_poll(pg_dsn: str, pg_monitor: PostgresMonitor) -> None:
    first = await pg_monitor.poll()
    assert first.tps is None
    assert first.cache_hit_ratio is None or 0 <= first.cache_hit_ratio <= 1
    assert first.summary.server_version_num >= 120000 and first.summary.max_connections > 0
    assert first.summary.database_size and first.summary.uptime and first.summary.uptime > 0
    assert first.summary.total_connections == len(first.backends)
    assert sum(first.summary.connections_by_state.values()) == len(first.backends)
    async with sessions(pg_dsn, "load") as s:
        (conn,) = await s.open()
        for _ in range(20):
            await conn.fetchval("SELECT count(*) FROM pg_class")
    second = await pg_monitor.poll()
    assert second.tps is not None and second.tps >= 0
    assert second.cache_hit_ratio is None or 0 <= second.cache_hit_ratio <= 1


async def test_detail_has_locks_held_and_awaited(pg_dsn: str, pg_monitor: PostgresMonitor) -> None:
    async with lock_chain(pg_dsn, depth=2) as chain:
        root = await pg_monitor.detail(chain.root)
        waiter = await pg_monitor.detail(chain.pids[1])
        assert root is not None and waiter is not None
        assert root.backend_type == "client backend" and root.backend_xid is not None
        held = {(lock.locktype, lock.mode, lock.relation) for lock in root.locks if lock.granted}
        assert ("transactionid", "ExclusiveLock", None) in held
        assert ("relation", "RowExclusiveLock", chain.table) in held
        awaited = [lock for lock in waiter.locks if not lock.granted]
        assert [(lock.locktype, lock.mode) for lock in awaited] == [("transactionid", "ShareLock")]
        assert awaited[0].detail == f"xid {root.backend_xid}"
        assert waiter.locks[0] == awaited[0]  # awaited first
        assert waiter.backend.blocked_by == (chain.root,)
        assert waiter.backend.waiting_lock_mode == "ShareLock"
        assert await pg_monitor.detail(2**31 - 1) is None


# --- actions -------------------------------------------------------------------------


def test_shown_sql_is_the_executed_sql() -> None:
    assert cancel_sql(4242) == "SELECT pg_cancel_backend(4242)"
    assert terminate_sql(4242) == "SELECT pg_terminate_backend(4242)"
    assert PostgresActions.cancel_sql(7) == "SELECT pg_cancel_backend(7)"


async def test_recheck_refuses_ended_reused_and_changed(
    pg_dsn: str, pg_actions: PostgresActions
) -> None:
    async with long_query(pg_dsn) as sleeper:
        identity = await pg_actions.identity(sleeper.root)
        assert identity is not None and identity.pid == sleeper.root
        assert await pg_actions.recheck(identity, for_cancel=True) is None
        assert await pg_actions.recheck(identity, for_cancel=False) is None

        reused = replace(identity, backend_start=identity.backend_start - timedelta(seconds=1))
        reason = await pg_actions.recheck(reused, for_cancel=False)
        assert reason is not None and reason.startswith(
            f"pid {sleeper.root} is now a different backend"
        )
        assert "(started " in reason

        other_query = replace(identity, query_start=identity.query_start - timedelta(seconds=1))
        assert await pg_actions.recheck(other_query, for_cancel=False) is None  # terminate: fine
        assert await pg_actions.recheck(other_query, for_cancel=True) == (
            "the query changed since you selected it"
        )

    async with sessions(pg_dsn, "ended") as s:
        (conn,) = await s.open()
        pid = conn.get_server_pid()
        identity = await pg_actions.identity(pid)
        assert identity is not None
        await conn.close()
        await wait_until(lambda: _gone(s, pid), what="the session to end")
        assert await pg_actions.identity(pid) is None
        assert await pg_actions.recheck(identity, for_cancel=False) == f"pid {pid} has ended"


async def _gone(s: Sessions, pid: int) -> bool:
    return pid not in await s.activity([pid])


async def test_recheck_refuses_cancel_of_a_finished_query(
    pg_dsn: str, pg_actions: PostgresActions
) -> None:
    async with sessions(pg_dsn, "finished") as s:
        (conn,) = await s.open()
        await conn.execute("SELECT 1")
        pid = conn.get_server_pid()
        await s.wait_state([pid], lambda r: r["state"] == "idle", "idle")
        identity = await pg_actions.identity(pid)
        assert identity is not None
        assert await pg_actions.recheck(identity, for_cancel=True) == (
            f"the query has finished (pid {pid} is idle)"
        )


async def test_cancel_really_cancels(pg_dsn: str, pg_actions: PostgresActions) -> None:
    async with long_query(pg_dsn) as sleeper, sessions(pg_dsn, "watch") as s:
        assert await pg_actions.cancel(sleeper.root) is True
        await s.wait_state(
            [sleeper.root], lambda r: r["state"] == "idle", "the query to be cancelled"
        )
    assert await pg_actions.cancel(2**31 - 1) is False  # no such backend: false, not an error


async def test_terminate_releases_the_waiters(pg_dsn: str, pg_actions: PostgresActions) -> None:
    async with fan_out(pg_dsn, n=3) as fan, sessions(pg_dsn, "watch") as s:
        assert await pg_actions.terminate(fan.root) is True
        # Each waiter's UPDATE goes through; it ends idle (autocommit), no longer waiting.
        await s.wait_state(fan.waiters, lambda r: r["state"] == "idle", "the waiters to proceed")
        assert fan.root not in await s.activity([fan.root])


async def test_cancel_without_privilege_is_permission_denied(
    pg_dsn: str, pg_resolved: ResolvedPg
) -> None:
    role = "ops_test_" + uuid.uuid4().hex[:10]
    async with sessions(pg_dsn, "role") as s, long_query(pg_dsn) as sleeper:
        assert s.admin is not None
        await s.admin.execute(f"CREATE ROLE {role} LOGIN")
        actions = PostgresActions(replace(pg_resolved, user=role), call_timeout=5)
        try:
            with pytest.raises(PermissionDenied) as info:
                await actions.cancel(sleeper.root)
            assert "cancel" in str(info.value) and not info.value.retryable
        finally:
            await actions.close()
            await wait_until(lambda: _role_unused(s, role), what="the role's session to end")
            await s.admin.execute(f"DROP ROLE {role}")


async def _role_unused(s: Sessions, role: str) -> bool:
    assert s.admin is not None
    return not await s.admin.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = $1", role
    )


# --- failures and recovery -----------------------------------------------------------


async def test_monitor_recovers_after_its_backend_is_terminated(
    pg_dsn: str, pg_monitor: PostgresMonitor
) -> None:
    await pg_monitor.poll()
    (pid,) = pg_monitor.own_pids
    async with sessions(pg_dsn, "killer") as s:
        assert s.admin is not None
        assert await s.admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        await wait_until(lambda: _gone(s, pid), what="the monitor's backend to end")
    with pytest.raises(Unreachable) as info:
        await pg_monitor.poll()
    assert info.value.retryable
    snap = await pg_monitor.poll()  # reconnects
    assert pg_monitor.own_pids and pid not in pg_monitor.own_pids and snap.backends is not None


async def test_connection_refused_is_unreachable() -> None:
    port = free_port()
    resolved = resolve(PgParams(host="127.0.0.1", port=port, user="postgres"), {})
    monitor = PostgresMonitor(resolved, statement_timeout=1, call_timeout=2)
    with pytest.raises(Unreachable) as info:
        await monitor.poll()
    assert str(info.value) == f"connection refused at 127.0.0.1:{port}"
    assert info.value.retryable
    await monitor.close()


async def test_missing_database_is_auth_failed(pg_resolved: ResolvedPg) -> None:
    name = "ops_test_nope_" + uuid.uuid4().hex[:8]
    monitor = PostgresMonitor(
        replace(pg_resolved, database=name), statement_timeout=1, call_timeout=2
    )
    with pytest.raises(AuthFailed) as info:
        await monitor.poll()
    assert str(info.value) == f'database "{name}" does not exist'
    assert not info.value.retryable
    await monitor.close()


async def test_unknown_role_is_auth_failed(pg_resolved: ResolvedPg) -> None:
    role = "ops_test_nobody_" + uuid.uuid4().hex[:8]
    actions = PostgresActions(replace(pg_resolved, user=role))
    with pytest.raises(AuthFailed) as info:
        await actions.own_pid()
    assert str(info.value) == f'role "{role}" does not exist' and not info.value.retryable
    await actions.close()


async def test_network_hang_times_out_within_the_call_timeout_then_recovers(
    pg_resolved: ResolvedPg,
) -> None:
    async with freezable_proxy(pg_resolved.host, pg_resolved.port) as proxy:
        via_proxy = replace(pg_resolved, host="127.0.0.1", port=proxy.port)
        monitor = PostgresMonitor(via_proxy, statement_timeout=5, call_timeout=0.5)
        try:
            await monitor.poll()
            proxy.freeze()
            started = time.monotonic()
            with pytest.raises(SourceTimeout) as info:
                await monitor.poll()
            assert time.monotonic() - started < 2.0
            assert "within 0.5 s" in str(info.value) and info.value.retryable
            proxy.thaw()
            assert (await monitor.poll()).summary.max_connections > 0  # reconnected
        finally:
            await monitor.close()


async def test_statement_timeout_is_source_timeout(pg_dsn: str) -> None:
    conn = await asyncpg.connect(pg_dsn, server_settings={"statement_timeout": "50"})
    try:
        with pytest.raises(asyncpg.QueryCanceledError) as info:
            await conn.execute("SELECT pg_sleep(2)")
    finally:
        await conn.close()
    err = map_error(info.value, where="127.0.0.1:5432")
    assert isinstance(err, SourceTimeout)
    assert str(err) == "canceling statement due to statement timeout at 127.0.0.1:5432"


async def test_lock_timeout_is_source_timeout(pg_dsn: str) -> None:
    async with lock_chain(pg_dsn, depth=1) as chain, sessions(pg_dsn, "locker") as s:
        (conn,) = await s.open()
        await conn.execute("SET lock_timeout = 50")
        with pytest.raises(asyncpg.LockNotAvailableError) as info:
            async with conn.transaction():
                await conn.execute(f"LOCK TABLE {chain.table} IN ACCESS EXCLUSIVE MODE")
    assert isinstance(map_error(info.value), SourceTimeout)


@pytest.mark.parametrize(
    ("exc", "kind", "message"),
    [
        (
            asyncpg.InvalidPasswordError('password authentication failed for user "x"'),
            AuthFailed,
            'password authentication failed for user "x"',
        ),
        (
            asyncpg.AdminShutdownError("terminating connection due to administrator command"),
            Unreachable,
            "terminating connection due to administrator command at h:1",
        ),
        (
            asyncpg.CannotConnectNowError("the database system is starting up"),
            Unreachable,
            "the database system is starting up at h:1",
        ),
        (
            asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
            Unreachable,
            "connection lost at h:1",
        ),
        (
            asyncpg.InsufficientPrivilegeError("permission denied to cancel query"),
            PermissionDenied,
            "permission denied to cancel query",
        ),
        (
            asyncpg.UndefinedTableError('relation "x" does not exist\nLINE 1'),
            QueryFailed,
            'relation "x" does not exist LINE 1',
        ),
        (TimeoutError(), SourceTimeout, "no answer at h:1 within 3 s"),
        (ConnectionResetError(), Unreachable, "connection lost at h:1"),
    ],
)
def test_error_mapping_table(exc: BaseException, kind: type, message: str) -> None:
    # Failures this trust-auth test server cannot produce on demand, mapped from the
    # driver's own exception classes.
    err = map_error(exc, where="h:1", timeout=3)
    assert type(err) is kind and str(err) == message


def test_version_ladder() -> None:
    assert "l.waitstart" in queries_for(150020)["waiting_locks"]
    assert "l.waitstart" not in queries_for(130010)["waiting_locks"]
    with pytest.raises(QueryFailed) as info:
        queries_for(110022)
    assert "11.22" in str(info.value) and not info.value.retryable


async def test_a_cancelled_poll_leaves_a_working_monitor(pg_resolved: ResolvedPg) -> None:
    # The app may cancel a poll mid-flight (its worker was cancelled): the connection is
    # dropped, since its protocol state is unknown, and the next poll reconnects.
    async with freezable_proxy(pg_resolved.host, pg_resolved.port) as proxy:
        via_proxy = replace(pg_resolved, host="127.0.0.1", port=proxy.port)
        monitor = PostgresMonitor(via_proxy, statement_timeout=5, call_timeout=30)
        try:
            await monitor.poll()
            (pid,) = monitor.own_pids
            proxy.freeze()
            task = asyncio.create_task(monitor.poll())
            await wait_until(lambda: proxy.held, what="the poll to be stuck on the network")
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            proxy.thaw()
            assert (await monitor.poll()).summary.max_connections > 0
            assert monitor.own_pids and pid not in monitor.own_pids
        finally:
            await monitor.close()
