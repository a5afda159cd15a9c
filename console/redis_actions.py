"""Redis remediations as `ActionPlan`s: clear keys by pattern, flush a db, delete a key.

The preview of a clear is counted with SCAN beforehand (bounded: "≥ N" when its budget
ran out); the plan says exactly what will run. A pattern that matches everything (empty
or `*`) is a flush and needs the flush-level confirmation: the target and db typed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING

from adapters.errors import NotFound, SourceError
from adapters.redis.keys import (
    delete_operation,
    flushall_operation,
    flushdb_operation,
    show_arg,
)
from console.actions import ActionPlan, Risk, Stopped
from widgets.formatting import human_bytes

if TYPE_CHECKING:
    from adapters.redis.models import ClearProgress, PatternPreview
    from console.redis_source import RedisSource

#: A clear of a million keys takes tens of seconds by design (it is paced): the bound is
#: generous, and ctrl+c stops it cleanly between batches with an exact count.
CLEAR_TIMEOUT = 3600.0
FLUSH_TIMEOUT = 30.0
DELETE_TIMEOUT = 10.0
SAMPLE_SHOWN = 8


class ClearStopped(SourceError):
    """A clear that stopped before the end (connection lost, an error); the message
    holds the exact counts."""

    kind = "stopped"


class ClearCancelled(Stopped):
    """A clear the operator stopped (ctrl+c); the message holds the exact counts."""


def flush_token(target: str, db: int | None) -> str:
    """What the operator types to confirm a flush: `TARGET/DB` (or `TARGET/all`)."""
    return f"{target}/{'all' if db is None else db}"


def _count(preview: PatternPreview) -> str:
    return (
        f"{preview.count:,}"
        if preview.complete
        else f"≥ {preview.count:,} (count stopped at its budget)"
    )


async def _reachable(source: RedisSource, db: int) -> str | None:
    """Recheck for key actions: the instance answers and the db can be selected."""
    try:
        await source.keys().key_exists(db, b"ops-console:recheck")
    except SourceError as err:
        return f"{source.instance} is not reachable: {err}"
    return None


def clear_plan(
    source: RedisSource,
    preview: PatternPreview,
    *,
    target: str,
    progress: Callable[[ClearProgress], None],
    cancel: asyncio.Event,
) -> ActionPlan:
    """The plan to delete the keys of `preview.db` matching `preview.pattern`."""
    db, pattern = preview.db, preview.pattern
    details: list[tuple[str, str]] = [
        ("instance", f"{source.instance} ({source.describe()})"),
        ("db", str(db)),
        ("pattern", show_arg(pattern) or "(empty: every key)"),
        ("matching keys", _count(preview)),
        ("keys in db", f"{preview.dbsize:,}"),
    ]
    if preview.estimated_bytes is not None:
        details.append(
            (
                "estimated memory",
                f"{human_bytes(preview.estimated_bytes)} (from {preview.estimate_basis} keys)",
            )
        )
    if preview.sample:
        names = ", ".join(show_arg(k) for k in preview.sample[:SAMPLE_SHOWN])
        more = " …" if len(preview.sample) > SAMPLE_SHOWN else ""
        details.append(("sample", names + more))
    if preview.note:
        details.append(("note", preview.note))
    if preview.is_flush:
        details.insert(0, ("FLUSH", "this pattern matches every key of the db"))

    async def recheck() -> str | None:
        return await _reachable(source, db)

    async def execute() -> str:
        result = await source.keys().clear_pattern(db, pattern, progress=progress, cancel=cancel)
        counts = f"deleted {result.deleted:,} keys (matched {result.scanned:,})"
        if result.uncertain:
            counts += f"; {result.uncertain:,} more may be deleted (no reply came)"
        if not result.completed:
            stop = ClearCancelled if result.stopped_reason == "cancelled" else ClearStopped
            raise stop(f"stopped ({result.stopped_reason}): {counts}")
        return (
            f"Cleared {show_arg(pattern)} in db {db} of {source.instance}: {counts} "
            f"in {result.elapsed:.1f} s."
        )

    return ActionPlan(
        action="redis.clear",
        target=target,
        title=f"Delete the keys matching {show_arg(pattern)} in db {db} of {source.instance}",
        preview=preview.operation,
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=Risk.HIGH if preview.is_flush else Risk.LOW,
        confirm_token=flush_token(target, db),
        params={
            "instance": source.instance,
            "db": db,
            "pattern": show_arg(pattern),
            "matching": preview.count,
            "count_complete": preview.complete,
        },
        timeout=CLEAR_TIMEOUT,
    )


def flush_plan(
    source: RedisSource, db: int | None, keys_in_db: int | None, *, target: str
) -> ActionPlan:
    """FLUSHDB ASYNC of `db`, or FLUSHALL ASYNC when `db` is None (only if allowed)."""
    operation = flushall_operation() if db is None else flushdb_operation(db)
    where = "every db" if db is None else f"db {db}"

    async def recheck() -> str | None:
        if db is None and not source.allow_flushall:
            return "FLUSHALL is not allowed on this instance (allow_flushall: false)"
        return await _reachable(source, source.db() if db is None else db)

    async def execute() -> str:
        keys = source.keys()
        result = await (keys.flushall() if db is None else keys.flushdb(db))
        return f"Flushed {where} of {source.instance}: {result.keys_before:,} keys were there."

    details = [
        ("instance", f"{source.instance} ({source.describe()})"),
        ("db", "ALL" if db is None else str(db)),
    ]
    if keys_in_db is not None:
        details.append(("keys now", f"{keys_in_db:,}"))
    return ActionPlan(
        action="redis.flushall" if db is None else "redis.flushdb",
        target=target,
        title=f"Flush {where} of {source.instance}: every key is deleted",
        preview=operation,
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=Risk.HIGH,
        confirm_token=flush_token(target, db),
        params={"instance": source.instance, "db": db, "keys_before": keys_in_db},
        timeout=FLUSH_TIMEOUT,
    )


def delete_key_plan(
    source: RedisSource, db: int, key: bytes, size: int | None, *, target: str
) -> ActionPlan:
    """UNLINK of one key (from the big-keys list)."""

    async def recheck() -> str | None:
        try:
            exists = await source.keys().key_exists(db, key)
        except SourceError as err:
            return f"{source.instance} is not reachable: {err}"
        return None if exists else f"the key {show_arg(key)} no longer exists"

    async def execute() -> str:
        if not await source.keys().delete_key(db, key):
            raise NotFound(f"the key {show_arg(key)} was already gone")
        return f"Deleted {show_arg(key)} from db {db} of {source.instance}."

    details = [("instance", source.instance), ("db", str(db)), ("key", show_arg(key))]
    if size is not None:
        details.append(("memory", human_bytes(size)))
    return ActionPlan(
        action="redis.delete",
        target=target,
        title=f"Delete one key from db {db} of {source.instance}",
        preview=delete_operation(db, key),
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=Risk.LOW,  # on production the life cycle raises it and asks for the target name
        params={"instance": source.instance, "db": db, "key": show_arg(key)[:200]},
        timeout=DELETE_TIMEOUT,
    )


def unasked_plan(source: RedisSource, action: str, db: int, *, target: str) -> ActionPlan:
    """What `x` (`redis.clear`) or `F` (`redis.flushdb`) would offer on the instance's own
    `db`, for a read-only target: refused (and audited) before a db or pattern is asked.

    Nothing was typed, so nothing may run from it: its recheck refuses, should the plan
    ever get that far (the target is no longer read-only by then).
    """
    if action == "redis.flushdb":
        plan = flush_plan(source, db, None, target=target)
    else:
        plan = ActionPlan(
            action="redis.clear",
            target=target,
            title=f"Delete keys by pattern in db {db} of {source.instance}",
            preview=f"SCAN MATCH <pattern> + UNLINK in batches (db {db}): no pattern was "
            "asked (read-only)",
            recheck=_never,
            execute=_never_run,
            details=(("instance", source.instance), ("db", str(db))),
            params={"instance": source.instance, "db": db, "pattern": None},
            timeout=CLEAR_TIMEOUT,
        )
    return replace(plan, recheck=_never, execute=_never_run)


async def _never() -> str | None:
    return "nothing was asked (read-only when the key was pressed): press it again"


async def _never_run() -> str:
    raise SourceError("not run: nothing was asked")
