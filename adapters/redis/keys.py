"""Key actions: pattern preview and clear, flush, single-key delete. Never `KEYS`.

Every action runs on its own connection (not the monitor's), opened on the db it acts
on: the handshake `SELECT`s it, `CLIENT INFO` verifies it, and the connection is never
silently reopened mid-operation, so nothing outside that db is ever touched. Whether an
action is allowed (read-only, arming, `allow_flushall`) is the app's policy, not ours.

The `*_operation` helpers return the exact operation text shown in confirmations and
written to the audit log; arguments that are not plain printable words are quoted and
escaped the way `redis-cli` shows them, so the text is exact and inert.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from adapters.errors import SourceError
from adapters.redis import pacing
from adapters.redis.client import Command, RedisConn
from adapters.redis.discovery import ResolvedRedis
from adapters.redis.errors import unavailable_note
from adapters.redis.models import ClearProgress, ClearResult, FlushResult, PatternPreview
from adapters.redis.parse import as_int, parse_info, parse_keyspace

__all__ = [
    "RedisKeys",
    "clear_operation",
    "delete_operation",
    "flushall_operation",
    "flushdb_operation",
    "glob_escape",
    "is_flush_pattern",
    "show_arg",
]

_GLOB_SPECIAL = b"*?[]\\"


def _bytes(value: str | bytes) -> bytes:
    return value.encode() if isinstance(value, str) else bytes(value)


def is_flush_pattern(pattern: str | bytes) -> bool:
    """An empty pattern or one made only of `*` matches every key: a flush."""
    return _bytes(pattern).strip(b"*") == b""


def glob_escape(literal: str | bytes) -> bytes:
    """Escape glob characters so `literal` matches only itself in SCAN MATCH."""
    out = bytearray()
    for byte in _bytes(literal):
        if byte in _GLOB_SPECIAL:
            out += b"\\"
        out.append(byte)
    return bytes(out)


def show_arg(arg: str | bytes) -> str:
    """One argument as redis-cli shows it: bare if a plain word, else quoted and escaped."""
    raw = _bytes(arg)
    if raw and all(33 <= b <= 126 and b not in b"\"'\\" for b in raw):
        return raw.decode("ascii")
    escapes = {0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x22: '\\"', 0x5C: "\\\\"}
    parts = [escapes.get(b) or (chr(b) if 32 <= b <= 126 else f"\\x{b:02x}") for b in raw]
    return '"' + "".join(parts) + '"'


def clear_operation(db: int, pattern: str | bytes, batch: int = 500) -> str:
    """'SCAN 0 MATCH session:* COUNT 500 + UNLINK in batches of 500 (db 2)'."""
    match = "" if is_flush_pattern(pattern) else f" MATCH {show_arg(pattern)}"
    return f"SCAN 0{match} COUNT {batch} + UNLINK in batches of {batch} (db {db})"


def flushdb_operation(db: int, asynchronous: bool = True) -> str:
    """'FLUSHDB ASYNC (db 3)'."""
    return f"FLUSHDB{' ASYNC' if asynchronous else ''} (db {db})"


def flushall_operation(asynchronous: bool = True) -> str:
    """'FLUSHALL ASYNC (every db)'."""
    return f"FLUSHALL{' ASYNC' if asynchronous else ''} (every db)"


def delete_operation(db: int, key: bytes) -> str:
    """'UNLINK "bin:\\x00" (db 3)'."""
    return f"UNLINK {show_arg(key)} (db {db})"


class RedisKeys:
    """Key actions on one instance; each call opens (and closes) its own connection."""

    def __init__(self, resolved: ResolvedRedis, *, name: str = "ops-console:action") -> None:
        self.resolved = resolved
        self.name = name

    def _conn(self, db: int) -> RedisConn:
        return RedisConn(self.resolved, db=db, name=self.name, reconnect=False)

    async def preview_pattern(
        self,
        db: int,
        pattern: str | bytes,
        *,
        budget: int = 100_000,
        time_budget: float = 5.0,
        sample: int = 20,
        scan_count: int = 1_000,
        estimate_keys: int = 100,
        batch: int = 500,
    ) -> PatternPreview:
        """Count the keys of `db` matching `pattern` with SCAN, within budgets.

        `budget` bounds the keys examined (SCAN calls x COUNT); when it or the time
        budget runs out, `complete` is False and `count` is a lower bound. The memory
        estimate averages MEMORY USAGE over the first `estimate_keys` matches. A flush
        pattern (empty, `*`) counts with DBSIZE (exact) and samples one SCAN batch.
        """
        pat = _bytes(pattern)
        flush = is_flush_pattern(pat)
        started = time.monotonic()
        found: dict[bytes, None] = {}
        async with self._conn(db) as conn:
            dbsize = int(await conn.call("DBSIZE"))
            complete = True
            if flush:  # every key: DBSIZE is the exact count; one SCAN gives a sample
                _, keys = await conn.call("SCAN", b"0", "COUNT", max(scan_count, sample))
                found.update(dict.fromkeys(keys))
            elif not any(c in _GLOB_SPECIAL for c in pat):
                if await conn.call("EXISTS", pat):  # a plain name: no need to scan
                    found[pat] = None
            else:
                cursor, examined = b"0", 0
                while True:
                    cursor, keys = await conn.call(
                        "SCAN", cursor, "MATCH", pat, "COUNT", scan_count
                    )
                    found.update(dict.fromkeys(keys))
                    examined += scan_count
                    if cursor == b"0":
                        break
                    if examined >= budget or time.monotonic() - started >= time_budget:
                        complete = False
                        break
            names = list(found)
            estimated, basis, note = await self._estimate(conn, names[:estimate_keys])
        count = dbsize if flush else len(names)
        return PatternPreview(
            db=db,
            pattern=pat,
            count=count,
            complete=complete,
            sample=tuple(names[:sample]),
            estimated_bytes=round(estimated / basis * count) if basis else None,
            estimate_basis=basis,
            is_flush=flush,
            dbsize=dbsize,
            elapsed=time.monotonic() - started,
            operation=clear_operation(db, pat, batch),
            note=note,
        )

    @staticmethod
    async def _estimate(conn: RedisConn, names: list[bytes]) -> tuple[int, int, str | None]:
        if not names:
            return 0, 0, None
        replies = await conn.pipeline([("MEMORY", "USAGE", n) for n in names])
        errors = [r for r in replies if isinstance(r, SourceError)]
        if errors:
            return 0, 0, unavailable_note("MEMORY USAGE", errors[0]) + "; no memory estimate"
        sizes = [r for r in replies if isinstance(r, int)]  # None: deleted meanwhile
        return sum(sizes), len(sizes), None

    async def clear_pattern(
        self,
        db: int,
        pattern: str | bytes,
        *,
        batch: int = 500,
        pause: float = 0.005,
        progress: Callable[[ClearProgress], None] | None = None,
        cancel: asyncio.Event | None = None,
        time_budget: float | None = None,
    ) -> ClearResult:
        """Delete the keys of `db` matching `pattern`: SCAN MATCH + UNLINK in batches.

        One round trip per step (the UNLINK of a full batch and the next SCAN travel
        together), then a pause of `pause` seconds. Stops between steps when `cancel` is
        set or `time_budget` runs out. A failure once under way ends it with a result
        (`error` set) holding the exact count deleted so far; a failure to connect
        raises. An empty or all-`*` pattern deletes every key of the db.
        """
        if batch < 1:
            raise ValueError("batch must be positive")
        pat = _bytes(pattern)
        match: tuple[str | bytes, ...] = () if is_flush_pattern(pat) else ("MATCH", pat)
        state = _Clear(db, pat)
        async with self._conn(db) as conn:
            await conn.call("PING")  # connect, select and verify the db before anything
            cursor: bytes | None = b"0"
            pending: list[bytes] = []
            while True:
                if pacing.cancelled(cancel):
                    return state.stop("cancelled")
                if time_budget is not None and state.elapsed() >= time_budget:
                    return state.stop("time budget")
                chunk: list[bytes] = []
                if pending and (len(pending) >= batch or cursor is None):
                    chunk, pending = pending[:batch], pending[batch:]
                commands: list[Command] = [("UNLINK", *chunk)] if chunk else []
                if cursor is not None:
                    commands.append(("SCAN", cursor, *match, "COUNT", batch))
                if not commands:
                    return state.stop(None)
                try:
                    replies = await conn.pipeline(commands)
                except SourceError as err:
                    return state.stop(f"connection lost: {err}", err, uncertain=len(chunk))
                if chunk:
                    if isinstance(replies[0], SourceError):
                        return state.stop(f"UNLINK failed: {replies[0]}", replies[0])
                    state.deleted += int(replies[0])
                if cursor is not None:
                    scan = replies[-1]
                    if isinstance(scan, SourceError):
                        return state.stop(f"SCAN failed: {scan}", scan)
                    cursor, keys = scan
                    cursor = None if cursor == b"0" else cursor
                    state.scanned += len(keys)
                    pending.extend(keys)
                if progress is not None:
                    progress(ClearProgress(state.scanned, state.deleted, state.elapsed()))
                if cursor is not None or pending:
                    await pacing.pause(pause, cancel)

    async def flushdb(self, db: int, *, asynchronous: bool = True) -> FlushResult:
        """FLUSHDB [ASYNC] of `db` on a connection verified to be on it."""
        async with self._conn(db) as conn:
            flush: Command = ("FLUSHDB", "ASYNC") if asynchronous else ("FLUSHDB",)
            size, done = await conn.pipeline([("DBSIZE",), flush])
            for reply in (size, done):
                if isinstance(reply, SourceError):
                    raise reply
        return FlushResult(db, int(size), asynchronous, flushdb_operation(db, asynchronous))

    async def flushall(self, *, asynchronous: bool = True) -> FlushResult:
        """FLUSHALL [ASYNC]: every db. Offering it is the app's policy (allow_flushall)."""
        async with self._conn(self.resolved.db) as conn:
            flush: Command = ("FLUSHALL", "ASYNC") if asynchronous else ("FLUSHALL",)
            info, done = await conn.pipeline([("INFO", "keyspace"), flush])
            for reply in (info, done):
                if isinstance(reply, SourceError):
                    raise reply
        keys = sum(d.keys for d in parse_keyspace(parse_info(info).get("keyspace", {})))
        return FlushResult(None, keys, asynchronous, flushall_operation(asynchronous))

    async def delete_key(self, db: int, key: bytes) -> bool:
        """UNLINK one key of `db`; False if it no longer existed."""
        async with self._conn(db) as conn:
            return as_int(await conn.call("UNLINK", key)) == 1

    async def key_exists(self, db: int, key: bytes) -> bool:
        """Whether `key` exists in `db` (the recheck before deleting it)."""
        async with self._conn(db) as conn:
            return as_int(await conn.call("EXISTS", key)) == 1


class _Clear:
    """Counts of a clear in progress and the result when it stops."""

    def __init__(self, db: int, pattern: bytes) -> None:
        self.db, self.pattern = db, pattern
        self.deleted = self.scanned = 0
        self.started = time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def stop(
        self, reason: str | None, error: Exception | None = None, *, uncertain: int = 0
    ) -> ClearResult:
        return ClearResult(
            db=self.db,
            pattern=self.pattern,
            deleted=self.deleted,
            scanned=self.scanned,
            completed=reason is None,
            stopped_reason=reason,
            elapsed=self.elapsed(),
            uncertain=uncertain,
            error=error,
        )
