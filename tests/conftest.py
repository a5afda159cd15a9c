"""Shared fixtures: the test PostgreSQL server, checked once per session.

Tests that need PostgreSQL take the `pg_dsn` fixture (or one built on it). If the server
($OPS_TEST_PG_DSN, default postgresql://postgres@127.0.0.1:5432/postgres) cannot be
reached they are skipped, unless OPS_REQUIRE_SERVICES=1 (CI), where they fail loudly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # the driver is imported only by tests that use it (import hygiene)
    from adapters.postgres.actions import PostgresActions
    from adapters.postgres.discovery import ResolvedPg
    from adapters.postgres.monitor import PostgresMonitor

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


async def _probe(dsn: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn, timeout=3)
    try:
        await conn.fetchval("SELECT 1")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_dsn() -> str:
    """The reachable test server's DSN (skip, or fail under OPS_REQUIRE_SERVICES=1)."""
    dsn = os.environ.get("OPS_TEST_PG_DSN", DEFAULT_PG_DSN)
    try:
        # In a thread: a session fixture may be set up while an event loop is running.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, _probe(dsn)).result(timeout=10)
    except Exception as exc:
        reason = f"PostgreSQL not reachable at {dsn}: {type(exc).__name__}: {exc}"
        if os.environ.get("OPS_REQUIRE_SERVICES") == "1":
            pytest.fail(f"required service missing: {reason}", pytrace=False)
        pytest.skip(reason)
    return dsn


@pytest.fixture
def pg_resolved(pg_dsn: str) -> ResolvedPg:
    """The test server as a ResolvedPg (from the DSN only, not the environment)."""
    from adapters.postgres.discovery import PgParams, resolve

    return resolve(PgParams(dsn=pg_dsn), env={})


@pytest.fixture
async def pg_monitor(pg_resolved: ResolvedPg) -> AsyncIterator[PostgresMonitor]:
    """A PostgresMonitor on the test server, closed after the test."""
    from adapters.postgres.monitor import PostgresMonitor

    monitor = PostgresMonitor(pg_resolved, statement_timeout=5.0, call_timeout=6.0)
    try:
        yield monitor
    finally:
        await monitor.close()


@pytest.fixture
async def pg_actions(pg_resolved: ResolvedPg) -> AsyncIterator[PostgresActions]:
    """A PostgresActions on the test server, closed after the test."""
    from adapters.postgres.actions import PostgresActions

    actions = PostgresActions(pg_resolved, call_timeout=5.0)
    try:
        yield actions
    finally:
        await actions.close()
