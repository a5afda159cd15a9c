"""A big-keys sample of one db: like `redis-cli --memkeys`, without stalling the server.

SCAN walks the db in batches; each batch's `TYPE` and `MEMORY USAGE` (default SAMPLES 5:
cheap even for huge aggregates) travel in one pipeline together with the next SCAN, so
there is one round trip per batch, and a short pause between batches leaves the server
to its other clients. The sample stops at its key budget, its time budget, a cancel, or
the end of the db, and says which.

When `MEMORY USAGE` is unavailable (renamed, ACL, very old server) sizes fall back to
lengths: STRLEN for strings (bytes), element counts for aggregates.
"""

from __future__ import annotations

import asyncio
import heapq
import time
from collections.abc import Callable

from adapters.errors import SourceError
from adapters.redis.client import Command, RedisConn, Reply
from adapters.redis.discovery import ResolvedRedis
from adapters.redis.errors import unavailable_note
from adapters.redis.models import BigKey, BigKeysProgress, BigKeysResult, PrefixStat
from adapters.redis.pacing import cancelled, pause

__all__ = ["LENGTH_COMMANDS", "key_prefix", "sample_big_keys"]

#: Per type, the command giving its length when MEMORY USAGE is unavailable.
LENGTH_COMMANDS = {
    b"string": "STRLEN",
    b"list": "LLEN",
    b"set": "SCARD",
    b"zset": "ZCARD",
    b"hash": "HLEN",
    b"stream": "XLEN",
}


def key_prefix(key: bytes, depth: int = 1, separator: bytes = b":") -> bytes:
    """The first `depth` segments of `key` with their separator (b"session:"), or b""."""
    parts = key.split(separator, depth)
    if len(parts) <= depth:  # fewer separators than asked for
        return b"" if len(parts) == 1 else separator.join(parts[:-1]) + separator
    return separator.join(parts[:depth]) + separator


async def sample_big_keys(
    source: RedisConn | ResolvedRedis,
    db: int,
    *,
    key_budget: int = 100_000,
    time_budget: float = 10.0,
    scan_count: int = 500,
    top_n: int = 50,
    prefix_depth: int = 1,
    separator: bytes = b":",
    pause_between: float = 0.002,
    progress: Callable[[BigKeysProgress], None] | None = None,
    cancel: asyncio.Event | None = None,
) -> BigKeysResult:
    """Sample the keys of `db` and return the largest keys and key prefixes.

    `source` is a resolved instance (a dedicated connection is opened and closed) or an
    open `RedisConn` already on `db`. A failure before anything was sampled raises a
    `SourceError`; a later one ends the sample early, its reason in `stopped_reason`.
    """
    if key_budget < 1 or time_budget <= 0 or scan_count < 1:
        raise ValueError("key_budget, time_budget and scan_count must be positive")
    own = isinstance(source, ResolvedRedis)
    conn = RedisConn(source, db=db, name="ops-console:bigkeys", reconnect=False) if own else source
    if not own and conn.db != db:
        raise ValueError(f"connection is on db {conn.db}, not db {db}")
    try:
        sampler = _Sampler(conn, db, key_budget, top_n, prefix_depth, separator)
        return await sampler.run(time_budget, scan_count, pause_between, progress, cancel)
    finally:
        if own:
            await conn.close()


class _Sampler:
    def __init__(
        self, conn: RedisConn, db: int, key_budget: int, top_n: int, depth: int, sep: bytes
    ) -> None:
        self.conn, self.db, self.key_budget, self.top_n = conn, db, key_budget, top_n
        self.depth, self.sep = depth, sep
        self.seen: set[bytes] = set()
        self.top: list[tuple[int, bytes, str]] = []  # min-heap of (size, name, type)
        self.prefixes: dict[bytes, list[int]] = {}  # prefix -> [keys, size]
        self.measure = "memory usage"
        self.note: str | None = None

    async def run(
        self,
        time_budget: float,
        scan_count: int,
        pause_between: float,
        progress: Callable[[BigKeysProgress], None] | None,
        cancel: asyncio.Event | None,
    ) -> BigKeysResult:
        started = time.monotonic()
        dbsize_reply, first = await self.conn.pipeline(
            [("DBSIZE",), ("SCAN", b"0", "COUNT", scan_count)]
        )
        for reply in (dbsize_reply, first):
            if isinstance(reply, SourceError):
                raise reply
        dbsize = int(dbsize_reply)
        cursor, keys = first
        reason: str | None = None
        while True:
            batch = [k for k in dict.fromkeys(keys) if k not in self.seen]
            batch = batch[: self.key_budget - len(self.seen)]
            done = cursor == b"0"
            budget_left = len(self.seen) + len(batch) < self.key_budget
            next_scan = not done and budget_left
            try:
                cursor, keys = await self._measure(batch, cursor if next_scan else None, scan_count)
            except SourceError as err:
                reason = f"stopped: {err}"
                break
            elapsed = time.monotonic() - started
            if progress is not None:
                progress(
                    BigKeysProgress(len(self.seen), self.key_budget, elapsed, time_budget, dbsize)
                )
            if done:
                break
            if not budget_left:
                reason = "key budget"
                break
            if cancelled(cancel):
                reason = "cancelled"
                break
            if elapsed >= time_budget:
                reason = "time budget"
                break
            await pause(pause_between, cancel)
        return self._result(dbsize, reason is None, reason, time.monotonic() - started)

    async def _measure(
        self, batch: list[bytes], cursor: bytes | None, scan_count: int
    ) -> tuple[bytes, list[bytes]]:
        """Size `batch` and fetch the next SCAN batch in the same round trip."""
        commands: list[Command] = [("TYPE", k) for k in batch]
        if self.measure == "memory usage":
            commands += [("MEMORY", "USAGE", k) for k in batch]
        if cursor is not None:
            commands.append(("SCAN", cursor, "COUNT", scan_count))
        replies = await self.conn.pipeline(commands, timeout=self._timeout(len(commands)))
        next_cursor, next_keys = b"0", []
        if cursor is not None:
            scan = replies.pop()
            if isinstance(scan, SourceError):
                raise scan
            next_cursor, next_keys = scan
        types = replies[: len(batch)]
        sizes: list[Reply] = replies[len(batch) :]
        if self.measure == "memory usage" and any(isinstance(s, SourceError) for s in sizes):
            err = next(s for s in sizes if isinstance(s, SourceError))
            self.measure = "length"
            self.note = unavailable_note("MEMORY USAGE", err) + "; sizes are lengths"
        if self.measure == "length":
            sizes = await self._lengths(batch, types)
        elif self.measure == "unavailable":
            sizes = [None] * len(batch)
        for key, kind, size in zip(batch, types, sizes, strict=True):
            self._record(key, kind, size)
        return next_cursor, next_keys

    async def _lengths(self, batch: list[bytes], types: list[Reply]) -> list[Reply]:
        commands: list[Command] = []
        slots: list[int] = []
        for i, (key, kind) in enumerate(zip(batch, types, strict=True)):
            command = LENGTH_COMMANDS.get(kind) if isinstance(kind, bytes) else None
            if command:
                slots.append(i)
                commands.append((command, key))
        sizes: list[Reply] = [None] * len(batch)
        replies = await self.conn.pipeline(commands, timeout=self._timeout(len(commands)))
        for i, reply in zip(slots, replies, strict=True):
            sizes[i] = reply
        if commands and all(isinstance(r, SourceError) for r in replies):
            self.measure = "unavailable"
            self.note = (self.note or "") + f"; {unavailable_note('length', replies[0])}"
        return sizes

    def _record(self, key: bytes, kind: Reply, size: Reply) -> None:
        if kind == b"none":  # deleted between SCAN and TYPE
            return
        self.seen.add(key)
        type_name = kind.decode("ascii", "replace") if isinstance(kind, bytes) else "?"
        value = size if isinstance(size, int) else 0
        entry = self.prefixes.setdefault(key_prefix(key, self.depth, self.sep), [0, 0])
        entry[0] += 1
        entry[1] += value
        item = (value, key, type_name)
        if len(self.top) < self.top_n:
            heapq.heappush(self.top, item)
        elif item > self.top[0]:
            heapq.heapreplace(self.top, item)

    def _timeout(self, commands: int) -> float:
        # A pipeline of a thousand cheap commands takes about a millisecond; allow more.
        return self.conn.resolved.call_timeout + commands / 10_000

    def _result(
        self, dbsize: int, complete: bool, reason: str | None, elapsed: float
    ) -> BigKeysResult:
        largest = tuple(
            BigKey(name=name, type=kind, size=size)
            for size, name, kind in sorted(self.top, key=lambda t: (-t[0], t[1]))
        )
        prefixes = sorted(
            (PrefixStat(prefix=p, keys=n, size=s) for p, (n, s) in self.prefixes.items()),
            key=lambda p: (-p.size, -p.keys, p.prefix),
        )
        return BigKeysResult(
            db=self.db,
            largest=largest,
            prefixes=tuple(prefixes[: self.top_n]),
            scanned=len(self.seen),
            dbsize=dbsize,
            complete=complete,
            stopped_reason=reason,
            elapsed=elapsed,
            measure=self.measure,
            note=self.note,
        )
