"""A runbook command's process group: signal it, count what is left, stop it for good.

The command leads its own group (`start_new_session`), so signals reach what it started.
Stopping is SIGTERM to the group, then SIGKILL if, after the grace period, the leader *or
any other member* is still alive; every wait is bounded, and a process that cannot be
reaped is reported rather than waited for.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from dataclasses import dataclass, field

log = logging.getLogger(__name__)

#: How long to wait for the kernel to take a SIGKILLed process away: a process in an
#: uninterruptible sleep (a dead NFS mount) cannot die until it leaves it.
REAP_SECONDS = 5.0
GROUP_POLL = 0.1


def signal_group(pgid: int, sig: signal.Signals) -> str | None:
    """Send `sig` to the group; a refusal as text (None when sent or nobody is left)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return None  # everyone exited already: that is the goal, not an error
    except PermissionError:
        # Every member left runs as another user (a root child under sudo).
        return (
            f"{sig.name} to the command's process group was refused (permission denied: "
            "a process of it runs as another user, e.g. under sudo)"
        )
    return None


def kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal the group where no result can carry a refusal: log it instead."""
    problem = signal_group(pgid, sig)
    if problem:
        log.warning("runbook command group %d: %s", pgid, problem)


def group_members(pgid: int) -> int | None:
    """How many live processes are in group `pgid`: 0 once it is gone.

    None: alive, but how many is unknown (no /proc, or its members are hidden from us).
    Zombies do not count: where PID 1 does not reap orphans (containers) they stay in
    the group forever, yet they are dead.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return 0
    except PermissionError:
        hidden = True  # someone else's processes: alive, maybe invisible in /proc
    else:
        hidden = False
    count = _proc_group_count(pgid)
    if count is None or (count == 0 and hidden):
        return None
    return count


def _proc_group_count(pgid: int) -> int | None:
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    count = 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rfind(b")") + 2 :].split()
        if len(fields) >= 3 and int(fields[2]) == pgid and fields[0] not in (b"Z", b"X"):
            count += 1
    return count


def describe_processes(count: int | None) -> str:
    if count is None:
        return "background processes"
    return f"{count} background process" + ("" if count == 1 else "es")


@dataclass(slots=True)
class Stop:
    """How stopping went: SIGKILL needed, and anything the operator must be told."""

    escalated: bool = False
    notes: list[str] = field(default_factory=list)

    def add(self, note: str | None) -> None:
        if note and note not in self.notes:
            self.notes.append(note)


async def terminate(proc: asyncio.subprocess.Process, grace: float) -> Stop:
    """SIGTERM the group; SIGKILL it if, after `grace`, its leader or anyone else in it
    is still alive. Every wait is bounded."""
    stop = Stop()
    pgid = proc.pid
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace
    stop.add(signal_group(pgid, signal.SIGTERM))
    if await reaped(proc, grace) and await group_gone(pgid, deadline):
        return stop
    stop.escalated = True
    stop.add(signal_group(pgid, signal.SIGKILL))
    if not await reaped(proc, REAP_SECONDS):
        stop.add(
            f"the command (pid {pgid}) could not be reaped {REAP_SECONDS:g} s after "
            "SIGKILL (stuck in the kernel?); stopped waiting for it"
        )
    elif not await group_gone(pgid, loop.time() + REAP_SECONDS):
        left = describe_processes(await asyncio.to_thread(group_members, pgid))
        stop.add(f"{left} of its group still alive {REAP_SECONDS:g} s after SIGKILL")
    return stop


async def reaped(proc: asyncio.subprocess.Process, seconds: float) -> bool:
    """Wait up to `seconds` for the leader's exit; True once it is reaped."""
    if proc.returncode is not None:
        return True
    try:
        await asyncio.wait_for(proc.wait(), max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


async def group_gone(pgid: int, deadline: float) -> bool:
    """Poll until no live process is left in the group, or until `deadline`."""
    loop = asyncio.get_running_loop()
    # In a thread: with zombies about (no reaping init in a container) each check reads
    # all of /proc, ~20 ms for 400 processes, which the screen must not wait for.
    while await asyncio.to_thread(group_members, pgid) != 0:
        if loop.time() >= deadline:
            return False
        await asyncio.sleep(GROUP_POLL)
    return True
