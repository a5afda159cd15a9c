"""The Redis screen's long operations: preview and clear, flush, delete, big-keys sample.

Each runs as the app's one running action (ctrl+c stops it between batches through the
cancel event), reports progress to the screen through `progress`, and every
remediation goes through the app's action life cycle (`OpsConsoleApp.run_plan`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from adapters.errors import SourceError
from console.redis_actions import clear_plan, delete_key_plan, flush_plan, unasked_plan

if TYPE_CHECKING:
    from console.app import OpsConsoleApp
    from console.redis_source import RedisSource

#: (label, fraction or None, detail) -> shown by the screen's progress line.
Progress = Callable[[str, float | None, str], None]
Finish = Callable[[str], None]

PREVIEW_BUDGET = 200_000
PREVIEW_SECONDS = 5.0


async def clear_flow(
    app: OpsConsoleApp,
    source: RedisSource,
    db: int,
    pattern: str,
    progress: Progress,
    finish: Finish,
) -> None:
    """Count what `pattern` matches (bounded), confirm, then delete in paced batches."""
    cancel = app.action_cancel or asyncio.Event()
    if app.read_only:
        # Refused (and audited) by the life cycle before anything touches the server.
        from adapters.redis.keys import clear_operation, is_flush_pattern
        from adapters.redis.models import PatternPreview

        preview = PatternPreview(
            db=db,
            pattern=pattern.encode(),
            count=0,
            complete=False,
            sample=(),
            estimated_bytes=None,
            estimate_basis=0,
            is_flush=is_flush_pattern(pattern),
            dbsize=0,
            elapsed=0.0,
            operation=clear_operation(db, pattern),
        )
    else:
        progress(f"Counting keys matching {pattern!r} in db {db}…", None, "ctrl+c stops")
        try:
            preview = await source.keys().preview_pattern(
                db, pattern, budget=PREVIEW_BUDGET, time_budget=PREVIEW_SECONDS
            )
        except SourceError as err:
            finish(f"Could not count the keys: {err}")
            app.notify(f"Could not count the keys: {err}", severity="error", markup=False)
            return
        finish("")

    def on_progress(p: Any) -> None:
        total = preview.count if preview.complete and preview.count else None
        fraction = min(1.0, p.deleted / total) if total else None
        progress(
            "Clearing",
            fraction,
            f"deleted {p.deleted:,} · matched {p.scanned:,} · {p.elapsed:.1f} s",
        )

    plan = clear_plan(source, preview, target=app.target.name, progress=on_progress, cancel=cancel)
    outcome = await app.run_plan(plan)
    finish(outcome.message)


async def flush_flow(
    app: OpsConsoleApp, source: RedisSource, db: int | None, keys: int | None, finish: Finish
) -> None:
    """FLUSHDB ASYNC (or FLUSHALL when allowed) behind the flush-level confirmation."""
    outcome = await app.run_plan(flush_plan(source, db, keys, target=app.target.name))
    finish(outcome.message)


async def refused_flow(
    app: OpsConsoleApp, source: RedisSource, action: str, db: int, finish: Finish
) -> None:
    """`x` or `F` on a read-only target: refused and audited at once, like every other
    action, instead of asking for a db and a pattern first (see `unasked_plan`)."""
    plan = unasked_plan(source, action, db, target=app.target.name)
    outcome = await app.run_plan(plan)
    finish(outcome.message)


async def delete_flow(
    app: OpsConsoleApp, source: RedisSource, db: int, key: bytes, size: int | None, finish: Finish
) -> None:
    """UNLINK one key picked from the big-keys list."""
    outcome = await app.run_plan(delete_key_plan(source, db, key, size, target=app.target.name))
    finish(outcome.message)


async def big_keys_flow(
    app: OpsConsoleApp,
    source: RedisSource,
    db: int,
    progress: Progress,
    done: Callable[[Any], None],
) -> None:
    """A bounded, paced, cancellable big-keys sample (read-only: no confirmation)."""
    from adapters.redis.bigkeys import sample_big_keys

    cancel = app.action_cancel or asyncio.Event()

    def on_progress(p: Any) -> None:
        progress(
            "Sampling big keys",
            p.fraction,
            f"scanned {p.scanned:,} of budget {p.key_budget:,} · {p.elapsed:.1f} s",
        )

    try:
        result = await sample_big_keys(source.resolved(), db, progress=on_progress, cancel=cancel)
    except SourceError as err:
        app.notify(f"Big-keys sample failed: {err}", severity="error", markup=False)
        done(None)
        return
    done(result)
