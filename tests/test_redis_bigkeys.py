"""Big-keys sampling against real Redis: finds planted keys, keeps budgets, cancels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import redis.asyncio as redis_py

from adapters.redis.bigkeys import sample_big_keys
from adapters.redis.client import RedisConn
from adapters.redis.models import BigKeysProgress
from tests.redis_situations import Server

pytest_plugins = ("tests.redis_situations",)


async def plant(client: redis_py.Redis) -> None:
    """20,000 small keys, four big ones, and a prefix with few but large keys."""
    await client.execute_command("DEBUG", "POPULATE", "20000", "small")  # small:N
    await client.set("big:string", b"s" * 1_000_000)
    await client.hset("big:hash", mapping={f"f{i}": b"v" * 50 for i in range(10_000)})
    await client.rpush("big:list", *[b"e" * 20 for _ in range(30_000)])
    await client.zadd("big:zset", {f"m{i}": i for i in range(5_000)})
    await client.mset({f"blob:{i}": b"b" * 50_000 for i in range(40)})
    await client.set(b"bin:\x00\xff\n\x1b[31m", b"x" * 300_000)


async def test_finds_the_planted_big_keys_and_prefixes(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    client = server.raw()
    await plant(client)
    await client.aclose()
    seen: list[BigKeysProgress] = []
    result = await sample_big_keys(server.resolved(), 0, progress=seen.append)

    assert result.complete and result.stopped_reason is None
    assert result.scanned == result.dbsize == 20_045 and result.measure == "memory usage"
    big = {b"big:string", b"big:hash", b"big:list", b"big:zset", b"bin:\x00\xff\n\x1b[31m"}
    assert {k.name for k in result.largest[:5]} == big
    assert [k.size for k in result.largest] == sorted(
        (k.size for k in result.largest), reverse=True
    )
    assert result.largest[0].size > 1_000_000
    types = {k.name: k.type for k in result.largest}
    assert types[b"big:hash"] == "hash" and types[b"big:zset"] == "zset"
    prefixes = {p.prefix: p for p in result.prefixes}
    assert prefixes[b"blob:"].keys == 40 and prefixes[b"blob:"].size > 40 * 50_000
    assert prefixes[b"small:"].keys == 20_000 and prefixes[b"big:"].keys == 4
    assert result.prefixes[0].prefix == b"big:"  # biggest total first
    assert seen and seen[-1].scanned == 20_045 and seen[-1].fraction == 1.0


async def test_budgets_and_cancel(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    client = server.raw()
    await client.execute_command("DEBUG", "POPULATE", "50000")
    await client.aclose()
    resolved = server.resolved()

    by_keys = await sample_big_keys(resolved, 0, key_budget=1_234)
    assert (by_keys.scanned, by_keys.complete, by_keys.stopped_reason) == (
        1_234, False, "key budget",
    )  # fmt: skip

    started = time.monotonic()
    by_time = await sample_big_keys(resolved, 0, time_budget=0.05, scan_count=100)
    assert by_time.stopped_reason == "time budget" and not by_time.complete
    assert 0 < by_time.scanned < 50_000 and time.monotonic() - started < 0.5

    cancel = asyncio.Event()

    def progress(p: BigKeysProgress) -> None:
        if p.scanned >= 2_000:
            cancel.set()

    cancelled = await sample_big_keys(resolved, 0, progress=progress, cancel=cancel)
    assert cancelled.stopped_reason == "cancelled" and 2_000 <= cancelled.scanned <= 2_500


async def test_memory_unavailable_falls_back_to_lengths(throwaway: Callable[..., Server]) -> None:
    server = throwaway('rename-command MEMORY ""')
    client = server.raw(db=5)
    await client.set("str", b"s" * 5_000)
    await client.rpush("list", *range(700))
    await client.sadd("set", *range(30))
    await client.mset({f"tiny:{i}": "t" for i in range(100)})
    await client.aclose()
    async with RedisConn(server.resolved(), db=5) as conn:  # an open connection works too
        result = await sample_big_keys(conn, 5)
    assert result.measure == "length" and result.complete
    assert result.note == (
        "MEMORY USAGE unavailable: unknown command (renamed or disabled); sizes are lengths"
    )
    assert [(k.name, k.type, k.size) for k in result.largest[:3]] == [
        (b"str", "string", 5_000),
        (b"list", "list", 700),
        (b"set", "set", 30),
    ]
