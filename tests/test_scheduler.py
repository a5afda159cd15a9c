"""The polling loop: no overlap, no storm, failures kept as state, recovery."""

from __future__ import annotations

import asyncio

from adapters.errors import AuthFailed, Unreachable
from console.scheduler import NON_RETRYABLE_DELAY, Poller
from console.state import SourceState


async def test_slow_poll_is_not_restarted_and_marks_behind() -> None:
    started = finished = 0
    states: list[SourceState[int]] = []

    async def slow_fetch() -> int:
        nonlocal started, finished
        started += 1
        await asyncio.sleep(0.25)  # longer than the interval
        finished += 1
        return finished

    poller = Poller("slow", slow_fetch, interval=0.05, on_state=states.append)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.9)
    task.cancel()
    # Every poll that started (but the one cancelled now) has finished: none was
    # abandoned by a timer tick.
    assert finished >= 2
    assert started - finished <= 1
    assert all(s.behind for s in states)
    assert states[-1].snapshot == finished


async def test_failure_keeps_last_snapshot_and_recovers() -> None:
    outcomes: list[object] = [1, Unreachable("connection refused"), Unreachable("refused"), 2]
    states: list[SourceState[int]] = []

    async def fetch() -> int:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return item  # type: ignore[return-value]

    now = [1000.0]
    poller = Poller("pg", fetch, interval=2.0, on_state=states.append, clock=lambda: now[0])
    await poller.poll_once()
    now[0] += 2
    failed = await poller.poll_once()
    assert failed.snapshot == 1 and failed.stale
    assert str(failed.error) == "connection refused"
    assert failed.failed_since == 1002.0
    assert failed.next_retry_at == 1004.0  # retryable: at the refresh interval
    now[0] += 2
    again = await poller.poll_once()
    assert again.failed_since == 1002.0  # the run of failures started then
    now[0] += 2
    recovered = await poller.poll_once()
    assert recovered.snapshot == 2 and not recovered.stale
    assert recovered.updated_at == 1006.0 and recovered.failed_since is None


async def test_non_retryable_error_backs_off() -> None:
    async def fetch() -> int:
        raise AuthFailed("password authentication failed for user x")

    poller = Poller("pg", fetch, interval=2.0, on_state=lambda s: None, clock=lambda: 0.0)
    state = await poller.poll_once()
    assert state.next_retry_at == NON_RETRYABLE_DELAY


async def test_unexpected_exception_and_hang_become_state() -> None:
    async def buggy() -> int:
        raise KeyError("oops")

    state = await Poller("b", buggy, interval=1, on_state=lambda s: None).poll_once()
    assert state.error is not None and "KeyError" in str(state.error)

    async def hangs() -> int:
        await asyncio.sleep(60)
        return 0

    poller = Poller("h", hangs, interval=0.1, on_state=lambda s: None, guard_timeout=0.2)
    state = await asyncio.wait_for(poller.poll_once(), 5)
    assert state.error is not None and state.error.kind == "timeout"


async def test_poke_polls_at_once() -> None:
    calls = 0

    async def fetch() -> int:
        nonlocal calls
        calls += 1
        return calls

    poller = Poller("p", fetch, interval=30, on_state=lambda s: None)
    task = asyncio.create_task(poller.run())
    await asyncio.sleep(0.1)
    assert calls == 1
    poller.poke()
    await asyncio.sleep(0.1)
    task.cancel()
    assert calls == 2
