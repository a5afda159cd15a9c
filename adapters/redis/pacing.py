"""Pauses between batches of long key operations that end early when cancelled."""

from __future__ import annotations

import asyncio
import contextlib


async def pause(seconds: float, cancel: asyncio.Event | None) -> None:
    """Sleep `seconds` (at least yield once), returning at once if `cancel` gets set."""
    if cancel is None or seconds <= 0:
        await asyncio.sleep(max(0.0, seconds))
        return
    if cancel.is_set():
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(cancel.wait(), seconds)


def cancelled(cancel: asyncio.Event | None) -> bool:
    """True once the operator asked to stop."""
    return cancel is not None and cancel.is_set()
