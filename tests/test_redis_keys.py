"""Key actions against real Redis: preview, clear by pattern, flush, delete, hostile names."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from itertools import pairwise

import pytest

from adapters.errors import QueryFailed, Unreachable
from adapters.redis.discovery import ResolvedRedis
from adapters.redis.errors import CommandUnavailable
from adapters.redis.keys import RedisKeys, glob_escape
from adapters.redis.models import ClearProgress
from tests.redis_situations import DB_A, DB_B, Raw, Server

pytest_plugins = ("tests.redis_situations",)

HOSTILE = [
    b"\x00\xff\xfe binary",
    b"line\nbreak",
    b"\x1b[2J\x1b]0;pwned\x07",
    b"quote\"and'back\\slash",
    b"glob*chars?[x]",
    "ünïcødé 🔑".encode(),
]


async def test_clear_deletes_exactly_the_matching_keys(
    machine: ResolvedRedis, raw: Raw, ns: bytes
) -> None:
    matching = await raw.fill(DB_A, ns + b"session:", 100_000)
    keep = await raw.fill(DB_A, ns + b"keep:", 5_000)
    near = [ns + b"session", ns + b"sessions:1", ns + b"Session:1", ns + b"x:session:1"]
    await raw.db(DB_A).mset(dict.fromkeys(near, b"n"))
    other_db = await raw.fill(DB_B, ns + b"session:", 5_000)  # same names, another db
    seen: list[ClearProgress] = []

    result = await RedisKeys(machine).clear_pattern(
        DB_A, ns + b"session:*", pause=0.001, progress=seen.append
    )

    assert result.completed and result.stopped_reason is None and result.error is None
    assert result.deleted == 100_000 and result.uncertain == 0
    assert result.scanned >= 100_000
    assert await raw.count(DB_A, ns + b"session:*") == 0
    assert await raw.db(DB_A).exists(*keep) == len(keep)
    assert await raw.db(DB_A).exists(*near) == len(near)
    assert await raw.db(DB_B).exists(*other_db) == len(other_db)
    assert await raw.count(DB_B, ns + b"*") == len(other_db)
    assert await raw.count(DB_A, ns + b"*") == len(keep) + len(near)  # nothing else went
    # Progress was reported along the way and only ever grew.
    assert len(seen) > 10 and seen[-1].deleted == 100_000
    assert all(a.deleted <= b.deleted for a, b in pairwise(seen))
    assert len(matching) == 100_000


async def test_cancel_mid_clear_stops_promptly_with_an_honest_count(
    machine: ResolvedRedis, raw: Raw, ns: bytes
) -> None:
    await raw.fill(DB_A, ns + b"c:", 100_000)
    cancel = asyncio.Event()
    cancelled_at: list[float] = []

    def progress(p: ClearProgress) -> None:
        if p.deleted >= 20_000 and not cancel.is_set():
            cancel.set()
            cancelled_at.append(time.monotonic())

    result = await RedisKeys(machine).clear_pattern(
        DB_A, ns + b"c:*", pause=0.005, progress=progress, cancel=cancel
    )
    stopped_after = time.monotonic() - cancelled_at[0]
    assert not result.completed and result.stopped_reason == "cancelled"
    assert stopped_after < 0.1  # the pause is cut short; no further batch is sent
    assert 20_000 <= result.deleted < 100_000
    remaining = await raw.count(DB_A, ns + b"c:*")
    assert remaining + result.deleted == 100_000


async def test_connection_lost_mid_clear_returns_the_count(
    throwaway: Callable[..., Server],
) -> None:
    server = throwaway()
    client = server.raw(db=2)
    await client.execute_command("SELECT", 2)  # DEBUG POPULATE fills the selected db
    await client.execute_command("DEBUG", "POPULATE", "50000", "gone")
    await client.aclose()

    def progress(p: ClearProgress) -> None:
        if p.deleted >= 5_000:
            server.kill()

    started = time.monotonic()
    result = await RedisKeys(server.resolved(call_timeout=1.0)).clear_pattern(
        2, "gone:*", pause=0.001, progress=progress
    )
    assert time.monotonic() - started < 3
    assert not result.completed and result.stopped_reason.startswith("connection lost")
    assert isinstance(result.error, Unreachable)
    assert result.deleted >= 5_000 and result.uncertain <= 500


async def test_preview_counts_within_budget(machine: ResolvedRedis, raw: Raw, ns: bytes) -> None:
    await raw.fill(DB_A, ns + b"p:", 30_000, value=b"x" * 100)
    await raw.fill(DB_A, ns + b"q:", 1_000)
    keys = RedisKeys(machine)

    full = await keys.preview_pattern(DB_A, ns + b"p:*")
    assert full.complete and full.count == 30_000 and not full.is_flush
    assert len(full.sample) == 20 and all(k.startswith(ns + b"p:") for k in full.sample)
    assert full.estimate_basis == 100 and full.estimated_bytes is not None
    assert 30_000 * 100 < full.estimated_bytes < 30_000 * 400
    assert full.operation == (
        f"SCAN 0 MATCH {(ns + b'p:*').decode()} COUNT 500 + UNLINK in batches of 500 (db {DB_A})"
    )

    partial = await keys.preview_pattern(DB_A, ns + b"p:*", budget=2_000, scan_count=500)
    assert not partial.complete and 0 < partial.count < 30_000  # shown as "≥ N"

    one = await keys.preview_pattern(DB_A, ns + b"q:7")  # a plain name: EXISTS, exact
    assert (one.count, one.complete, one.sample) == (1, True, (ns + b"q:7",))
    none = await keys.preview_pattern(DB_A, ns + b"nothing:*")
    assert none.count == 0 and none.complete and none.estimated_bytes is None

    for flush in ("", "*", "**"):
        everything = await keys.preview_pattern(DB_A, flush, budget=10)
        assert everything.is_flush and everything.complete
        assert everything.count == everything.dbsize >= 31_000  # DBSIZE: exact
        assert everything.operation.startswith("SCAN 0 COUNT 500")


async def test_hostile_key_names_round_trip_as_bytes(
    machine: ResolvedRedis, raw: Raw, ns: bytes
) -> None:
    names = [ns + b"h:" + h for h in HOSTILE]
    await raw.db(DB_A).mset(dict.fromkeys(names, b"\x00\x1b[31mvalue\n"))
    keys = RedisKeys(machine)
    preview = await keys.preview_pattern(DB_A, glob_escape(ns + b"h:") + b"*", sample=50)
    assert sorted(preview.sample) == sorted(names) and preview.complete
    # A key whose name holds glob characters matches only itself once escaped.
    literal = ns + b"h:glob*chars?[x]"
    exact = await keys.preview_pattern(DB_A, glob_escape(literal))
    assert exact.sample == (literal,)
    for name in names:
        assert await keys.key_exists(DB_A, name)
    assert await keys.delete_key(DB_A, names[0])
    assert not await keys.delete_key(DB_A, names[0])  # already gone
    assert not await keys.key_exists(DB_A, names[0])
    result = await keys.clear_pattern(DB_A, glob_escape(ns + b"h:") + b"*")
    assert result.completed and result.deleted == len(names) - 1


async def test_flushdb_flushes_only_that_db(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    for db, n in ((1, 300), (2, 200), (0, 100)):
        client = server.raw(db=db)
        await client.mset({f"k:{i}": i for i in range(n)})
        await client.aclose()
    keys = RedisKeys(server.resolved())
    result = await keys.flushdb(1)
    assert (result.db, result.keys_before, result.operation) == (1, 300, "FLUSHDB ASYNC (db 1)")
    sizes = {}
    for db in (0, 1, 2):
        client = server.raw(db=db)
        sizes[db] = await client.dbsize()
        await client.aclose()
    assert sizes == {0: 100, 1: 0, 2: 200}
    everything = await keys.flushall()
    assert (everything.db, everything.keys_before) == (None, 300)
    client = server.raw()
    assert (await client.info("keyspace")) == {}
    await client.aclose()


async def test_renamed_commands_and_wrong_db_are_refused_clearly(
    throwaway: Callable[..., Server],
) -> None:
    server = throwaway('rename-command FLUSHDB ""', 'rename-command KEYS ""', "databases 4")
    client = server.raw(db=3)
    await client.mset({f"x:{i}": i for i in range(50)})
    await client.aclose()
    keys = RedisKeys(server.resolved())
    with pytest.raises(CommandUnavailable, match="unknown command") as info:
        await keys.flushdb(3)
    assert not info.value.retryable
    # KEYS is gone and preview/clear do not care: they never use it.
    assert (await keys.preview_pattern(3, "x:*")).count == 50
    assert (await keys.clear_pattern(3, "x:*")).deleted == 50
    with pytest.raises(QueryFailed, match="DB index is out of range"):
        await keys.preview_pattern(9, "x:*")
