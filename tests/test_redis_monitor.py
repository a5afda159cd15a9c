"""RedisMonitor against real servers: numbers, rates, detail fields, and every fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from adapters.errors import AuthFailed, SourceTimeout, Unreachable
from adapters.redis.discovery import RedisParams, ResolvedRedis, resolve
from adapters.redis.errors import ServerLoading
from adapters.redis.keys import RedisKeys
from adapters.redis.monitor import RedisMonitor
from tests.redis_situations import DB_A, Raw, Server, make_certs, wait_for

pytest_plugins = ("tests.redis_situations",)


async def test_poll_numbers_match_info(machine: ResolvedRedis, raw: Raw, ns: bytes) -> None:
    await raw.fill(DB_A, ns + b"k:", 500)
    await raw.db(DB_A).pexpire(ns + b"k:1", 600_000)
    monitor = RedisMonitor(machine)
    try:
        # Retry until DB_A did not change around the poll (another run may be writing).
        for _ in range(20):
            before = (await raw.db(0).info("keyspace")).get(f"db{DB_A}")
            snap = await monitor.poll()
            info = await raw.db(0).info()  # redis-py's own INFO parser, independent of ours
            if info.get(f"db{DB_A}") == before:
                break
    finally:
        await monitor.close()
    assert snap.version == info["redis_version"] and snap.role == info["role"]
    assert snap.maxmemory == int(info["maxmemory"])
    assert snap.maxmemory_policy == info["maxmemory_policy"]
    assert snap.mode == info["redis_mode"]
    # Counters only grow: the separate INFO came later (other clients may be busy).
    for field, key, slack in [
        ("total_commands_processed", "total_commands_processed", 100_000),
        ("keyspace_hits", "keyspace_hits", 100_000),
        ("keyspace_misses", "keyspace_misses", 100_000),
        ("expired_keys", "expired_keys", 100_000),
        ("evicted_keys", "evicted_keys", 100_000),
        ("uptime", "uptime_in_seconds", 2),
    ]:
        assert 0 <= int(info[key]) - getattr(snap, field) <= slack, field
    assert abs(snap.used_memory - int(info["used_memory"])) < 5_000_000
    db = snap.db(DB_A)
    assert db is not None
    line = info[f"db{DB_A}"]
    assert (db.keys, db.expires) == (line["keys"], line["expires"])
    assert db.keys >= 500 and db.expires >= 1
    assert snap.notes == {}  # the machine's Redis allows every detail command
    assert snap.commands_sent == 7 and snap.clients is not None and snap.clients.total >= 2


async def test_rates_come_from_deltas_between_polls(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    client = server.raw()
    await client.set("hit", "1")
    for _ in range(3):
        await client.get("hit")  # cumulative: 3 hits, 1 miss
    await client.get("missing")
    monitor = RedisMonitor(server.resolved())
    try:
        first = await monitor.poll()
        assert first.interval is None and first.ops_per_sec is None
        assert first.evicted_per_sec is None and first.hit_ratio == 0.75
        pipe = client.pipeline(transaction=False)
        for _ in range(997):
            pipe.ping()
        pipe.get("hit")
        pipe.get("missing")
        pipe.get("missing")  # the interval: 1 hit, 2 misses
        await pipe.execute()
        second = await monitor.poll()
    finally:
        await monitor.close()
        await client.aclose()
    assert second.interval is not None and second.interval > 0
    # Exactly the 1,000 commands sent meanwhile: the monitor's own are left out.
    assert second.ops_per_sec is not None
    assert round(second.ops_per_sec * second.interval) == 1_000
    assert second.hit_ratio == pytest.approx(1 / 3)
    assert second.evicted_per_sec == 0 and second.expired_per_sec == 0


async def test_slowlog_latency_and_clients(throwaway: Callable[..., Server]) -> None:
    server = throwaway("slowlog-log-slower-than 0", "latency-monitor-threshold 10")
    client = server.raw(client_name="worker-7")
    others = [server.raw(client_name="worker-7") for _ in range(2)]
    try:
        await asyncio.gather(*(c.ping() for c in others))
        hostile = b"k\x00\r\n\x1b[2J\xff"
        await client.set(hostile, b"v")
        await client.execute_command("DEBUG", "SLEEP", "0.02")
        monitor = RedisMonitor(server.resolved())
        snap = await monitor.poll()
        await monitor.close()
    finally:
        for c in (client, *others):
            await c.aclose()
    assert snap.notes == {}
    assert snap.slowlog_threshold_us == 0 and snap.latency_threshold_ms == 10
    assert snap.slowlog is not None
    entry = next(e for e in snap.slowlog if e.args[:1] == (b"SET",))
    assert entry.args == (b"SET", hostile, b"v")  # binary-safe, argument boundaries kept
    assert entry.client_name == "worker-7" and entry.client_addr.startswith("127.0.0.1:")
    assert any(e.args[:2] == (b"DEBUG", b"SLEEP") and e.duration_us >= 20_000 for e in snap.slowlog)
    assert snap.latency is not None
    assert any(e.event == "command" and e.max_ms >= 20 for e in snap.latency)
    assert snap.clients is not None and ("worker-7", 3) in snap.clients.by_name
    assert snap.memory_stats is not None and snap.memory_stats["total.allocated"] > 0


async def test_outage_then_restart_recovers(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    monitor = RedisMonitor(server.resolved(connect_timeout=1.0, call_timeout=1.0))
    try:
        before = await monitor.poll()
        server.kill()
        started = time.monotonic()
        with pytest.raises(Unreachable) as info:
            await monitor.poll()
        assert info.value.retryable and time.monotonic() - started < 1.5
        assert "127.0.0.1" in str(info.value)
        with pytest.raises(Unreachable, match="connection refused"):
            await monitor.poll()  # still down: refused, quickly
        server.start()
        recovered: list = []

        async def polls() -> bool:
            recovered.append(await monitor.poll())
            return True

        await wait_for(polls, what="poll after restart")
    finally:
        await monitor.close()
    after = recovered[-1]
    assert after.uptime <= before.uptime + 5
    assert after.ops_per_sec is None  # a restart resets counters: no bogus rate


async def test_auth_failures_are_not_retryable(throwaway: Callable[..., Server]) -> None:
    server = throwaway("requirepass s3cret", "user ops on >opspass ~* +@all")
    for params, code in [({}, "NOAUTH"), ({"password": "wrong"}, "WRONGPASS")]:
        monitor = RedisMonitor(server.resolved(**params))
        with pytest.raises(AuthFailed, match=code) as info:
            await monitor.poll()
        assert not info.value.retryable and "wrong" not in str(info.value)
        await monitor.close()
    for params in ({"password": "s3cret"}, {"username": "ops", "password": "opspass"}):
        monitor = RedisMonitor(server.resolved(**params))
        assert (await monitor.poll()).role == "master"
        await monitor.close()


async def test_renamed_commands_degrade_fields_with_notes(throwaway: Callable[..., Server]) -> None:
    server = throwaway(
        'rename-command CONFIG ""',
        'rename-command SLOWLOG ""',
        'rename-command MEMORY ""',
        'rename-command LATENCY ""',
        "maxmemory 64mb",
    )
    monitor = RedisMonitor(server.resolved())
    try:
        snap = await monitor.poll()
        again = await monitor.poll()
    finally:
        await monitor.close()
    assert snap.maxmemory == 64 * 1024 * 1024  # from INFO memory, no CONFIG needed
    assert snap.slowlog is None and snap.memory_stats is None and snap.latency is None
    assert snap.slowlog_threshold_us is None and snap.clients is not None
    assert snap.notes == {
        "memory_stats": "MEMORY STATS unavailable: unknown command (renamed or disabled)",
        "slowlog": "SLOWLOG unavailable: unknown command (renamed or disabled)",
        "latency": "LATENCY unavailable: unknown command (renamed or disabled)",
        "slowlog_threshold_us": "CONFIG unavailable: unknown command (renamed or disabled)",
        "latency_threshold_ms": "CONFIG unavailable: unknown command (renamed or disabled)",
    }
    # Unavailable commands are not resent every poll; their notes stay.
    assert again.notes == snap.notes and again.commands_sent == 2  # INFO + CLIENT LIST


async def test_acl_denied_commands_degrade_fields(throwaway: Callable[..., Server]) -> None:
    server = throwaway(
        "user default off",
        "user viewer on >pw ~* +@all -slowlog -memory -latency -config -client|list",
    )
    monitor = RedisMonitor(server.resolved(username="viewer", password="pw"))
    try:
        snap = await monitor.poll()
    finally:
        await monitor.close()
    assert snap.clients is None and snap.slowlog is None
    assert snap.notes["clients"] == "CLIENT LIST unavailable: no permission (ACL)"
    assert snap.notes["slowlog"] == "SLOWLOG unavailable: no permission (ACL)"


async def test_maxmemory_and_evictions(throwaway: Callable[..., Server]) -> None:
    server = throwaway("maxmemory 4mb", "maxmemory-policy allkeys-lru")
    client = server.raw()
    monitor = RedisMonitor(server.resolved())
    try:
        first = await monitor.poll()
        assert (first.maxmemory, first.maxmemory_policy) == (4 * 1024 * 1024, "allkeys-lru")
        assert first.memory_ratio is not None and 0 < first.memory_ratio < 1
        pipe = client.pipeline(transaction=False)
        for i in range(2_000):
            pipe.set(f"fill:{i}", b"x" * 10_000)  # 20 MB into 4 MB
        await pipe.execute()
        second = await monitor.poll()
    finally:
        await monitor.close()
        await client.aclose()
    assert second.evicted_keys > 0
    assert second.evicted_per_sec is not None and second.evicted_per_sec > 0
    assert second.used_memory <= second.maxmemory * 1.1


async def test_loading_is_reported_then_recovers(
    throwaway: Callable[..., Server], tmp_path: Path
) -> None:
    seed = throwaway()
    seed_client = seed.raw()
    await seed_client.execute_command("DEBUG", "POPULATE", "10000")
    await seed_client.save()
    await seed_client.aclose()
    seed.kill()
    (tmp_path / f"dump-{seed.port}.rdb").rename(tmp_path / "seed.rdb")
    # Loading slowed to ~1 s, and the server answers clients while it loads.
    server = throwaway(
        "dbfilename seed.rdb", "key-load-delay 50", "loading-process-events-interval-bytes 1024"
    )
    monitor = RedisMonitor(server.resolved())
    try:
        snap = await monitor.poll()
        assert snap.loading
        assert (
            snap.notes["memory_stats"] == "MEMORY STATS unavailable: server is loading its dataset"
        )
        with pytest.raises(ServerLoading, match="loading its dataset") as info:
            await RedisKeys(server.resolved()).preview_pattern(0, "key:*")
        assert isinstance(info.value, Unreachable) and info.value.retryable

        async def loaded() -> bool:
            return not (await monitor.poll()).loading

        await wait_for(loaded, timeout=15, what="the dataset to load")
        final = await monitor.poll()
    finally:
        await monitor.close()
    assert "memory_stats" not in final.notes and final.db(0).keys == 10_000


async def test_a_slow_server_times_out_then_recovers(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    blocker = server.raw()
    monitor = RedisMonitor(server.resolved(call_timeout=0.3))
    try:
        await monitor.poll()
        sleeping = asyncio.create_task(blocker.execute_command("DEBUG", "SLEEP", "1"))
        await asyncio.sleep(0.05)
        started = time.monotonic()
        with pytest.raises(SourceTimeout) as info:
            await monitor.poll()
        assert info.value.retryable and time.monotonic() - started < 0.6
        await sleeping
        assert (await monitor.poll()).role == "master"  # a fresh connection, in sync
    finally:
        await monitor.close()
        await blocker.aclose()


async def test_unix_socket(throwaway: Callable[..., Server], tmp_path: Path) -> None:
    sock = tmp_path / "r.sock"
    throwaway(f"unixsocket {sock}", "unixsocketperm 700")
    monitor = RedisMonitor(resolve(RedisParams(url=f"unix://{sock}?db=3")))
    try:
        snap = await monitor.poll()
    finally:
        await monitor.close()
    assert snap.role == "master" and snap.target == f"unix://{sock}?db=3"
    assert snap.clients is not None and snap.clients.by_addr[0][0] == str(sock)


async def test_tls_with_ca_file(throwaway: Callable[..., Server], tmp_path: Path) -> None:
    make_certs(tmp_path)
    server = throwaway(tls=tmp_path)
    url = f"rediss://127.0.0.1:{server.port}/0"
    good = RedisMonitor(resolve(RedisParams(url=url, tls_ca=str(tmp_path / "ca.pem"))))
    try:
        assert (await good.poll()).role == "master"
    finally:
        await good.close()
    untrusted = RedisMonitor(resolve(RedisParams(url=url)))  # system CAs do not know ours
    with pytest.raises(Unreachable, match="certificate verify failed"):
        await untrusted.poll()
    await untrusted.close()


async def test_dashboard_poll_is_info_only(throwaway: Callable[..., Server]) -> None:
    server = throwaway()
    monitor = RedisMonitor(server.resolved())
    try:
        light = await monitor.poll(detail=False)
        again = await monitor.poll(detail=False)
    finally:
        await monitor.close()
    assert light.commands_sent == 1 and light.notes == {}
    assert light.slowlog is None and light.clients is None and light.memory_stats is None
    assert light.used_memory > 0 and "memory" in light.info
    assert again.ops_per_sec == 0  # the monitor's own INFO is not counted as traffic


async def test_a_cancelled_poll_leaves_no_half_read_connection(
    throwaway: Callable[..., Server],
) -> None:
    server = throwaway()
    blocker = server.raw()
    monitor = RedisMonitor(server.resolved())
    try:
        await monitor.poll()
        sleeping = asyncio.create_task(blocker.execute_command("DEBUG", "SLEEP", "0.3"))
        await asyncio.sleep(0.05)
        task = asyncio.create_task(monitor.poll())
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await sleeping
        # The next poll reads its own replies, not the cancelled poll's.
        snap = await monitor.poll()
        assert snap.role == "master" and snap.slowlog is not None
    finally:
        await monitor.close()
        await blocker.aclose()


async def test_replication_seen_from_both_sides(throwaway: Callable[..., Server]) -> None:
    master = throwaway("repl-diskless-sync-delay 0")
    replica = throwaway(f"replicaof 127.0.0.1 {master.port}")
    on_master = RedisMonitor(master.resolved())
    on_replica = RedisMonitor(replica.resolved())
    try:

        async def linked() -> bool:
            snap = await on_replica.poll(detail=False)
            return snap.replication.master_link_status == "up"

        await wait_for(linked, timeout=10, what="the replica to sync")

        async def acked() -> bool:
            return (await on_master.poll(detail=False)).replication.connected_replicas == 1

        await wait_for(acked, what="the master to list its replica")
        m = await on_master.poll()
        r = await on_replica.poll()
    finally:
        await on_master.close()
        await on_replica.close()
    assert m.role == "master" and len(m.replication.replicas) == 1
    (link,) = m.replication.replicas
    assert link.addr.endswith(f":{replica.port}") and link.lag is not None
    assert link.offset_lag is not None and link.offset_lag >= 0
    assert r.role == "slave" and r.replication.master_port == master.port
    assert r.replication.master_last_io_seconds_ago is not None
