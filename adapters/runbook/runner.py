"""Run one operator command as a subprocess: bounded output, timeout, cancel, clear result.

- The command gets its own session (`start_new_session`), so it leads a process group
  and SIGTERM / SIGKILL reach whatever it started (a `kubectl` under a shell script).
- stdin is /dev/null (a command that prompts gets EOF instead of hanging).
- stdout and stderr are two pipes, read by one thread of our own in arrival order (see
  `adapters.runbook.reader`): every line knows its stream, and the two streams stay
  interleaved as closely as two pipes allow. They are read in chunks, never by line: a
  50 MB line cannot blow the memory (see `adapters.runbook.output`). New lines reach
  `on_output` in batches at most every `flush_interval` seconds, so a flood does not
  drown the screen.
- Timeout or cancel: SIGTERM to the group, then SIGKILL to the group after `grace`
  seconds if the leader *or any other member* is still there (a child that ignores
  SIGTERM outlives a leader that obeys it). Every wait is bounded: a process stuck in
  the kernel is reported as not reaped instead of hanging the console.
- After a normal exit, members of the group still running (daemons started by the
  command) are left alone but counted in the result's detail.
- Cancelling the coroutine itself (the app gave up waiting) kills the group at once.
- A signal the kernel refuses (a member running as root under sudo) is reported.
- A command that cannot be started (not found, not executable, cwd missing) is a result,
  not an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from adapters.runbook.group import (
    REAP_SECONDS,
    Stop,
    describe_processes,
    group_members,
    kill_group,
    terminate,
)
from adapters.runbook.output import STREAMS, OutputBatch, OutputCapture, Stream
from adapters.runbook.reader import PipeReader, grow_pipe
from adapters.runbook.result import (
    RunResult,
    Status,
    StoppedBy,
    finished_result,
    start_failure,
)

__all__ = [
    "FLUSH_INTERVAL",
    "GRACE",
    "LAST_LINES",
    "REAP_SECONDS",
    "RunResult",
    "RunSpec",
    "Status",
    "run_command",
]

log = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.2
GRACE = 5.0
LAST_LINES = 20
#: After the command exits, how long a background child may keep a pipe open before
#: we stop reading (a daemon started without closing its stdout would block us forever).
DRAIN_SECONDS = 2.0

OnOutput = Callable[[OutputBatch], None]


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to run. `env` is added to the console's own environment."""

    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    timeout: float = 300.0
    grace: float = GRACE

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("argv must not be empty")
        if self.timeout <= 0 or self.grace < 0:
            raise ValueError("timeout must be positive and grace not negative")


async def run_command(
    spec: RunSpec,
    *,
    on_output: OnOutput | None = None,
    cancel: asyncio.Event | None = None,
    flush_interval: float = FLUSH_INTERVAL,
    last_lines: int = LAST_LINES,
    capture: OutputCapture | None = None,
) -> RunResult:
    """Run `spec` to its end, its timeout or `cancel`; never raises for the command's faults.

    `on_output` gets batches of new lines (called in this event loop). Raises only
    `asyncio.CancelledError` (after killing the process group) when this coroutine is
    cancelled.
    """
    capture = capture or OutputCapture()
    env = {**os.environ, **spec.env} if spec.env else None
    started = time.monotonic()
    pipes = _open_pipes()
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=pipes["stdout"][1],
            stderr=pipes["stderr"][1],
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as err:
        _close(read_fd for read_fd, _ in pipes.values())
        return start_failure(err, spec.argv[0], spec.cwd, started)
    except BaseException:
        _close(read_fd for read_fd, _ in pipes.values())
        raise
    finally:
        # Else our own copies would keep the pipes open forever.
        _close(write_fd for _, write_fd in pipes.values())

    lock = threading.Lock()
    reads = {stream: read_fd for stream, (read_fd, _) in pipes.items()}
    reader = PipeReader(reads, capture, lock, asyncio.get_running_loop())
    reader.start()
    deliver = _Deliver(on_output)
    flusher = asyncio.create_task(_flush_periodically(capture, lock, deliver, flush_interval))
    stopped_by: StoppedBy | None = None
    stop = Stop()
    try:
        stopped_by = await _wait(proc, spec.timeout, cancel)
        if stopped_by is not None:
            stop = await terminate(proc, spec.grace)
        if not await _drain(reader, DRAIN_SECONDS if stopped_by is None else spec.grace):
            stop.notes.append("a background process kept the output open; stopped reading")
            if stopped_by is not None:
                kill_group(proc.pid, signal.SIGKILL)
        if stopped_by is None:
            # Daemons the command started are not ours to kill, but the operator must
            # know they are there.
            left = await asyncio.to_thread(group_members, proc.pid)
            if left != 0:
                stop.notes.append(
                    f"{describe_processes(left)} still running in the command's group "
                    "(not stopped by the console)"
                )
    except asyncio.CancelledError:
        kill_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        reader.stop()
        flusher.cancel()
        # Reap the child so it does not linger as a zombie; it is dying by SIGKILL, but
        # one stuck in the kernel must not hold the cancel up.
        with contextlib.suppress(BaseException):
            await asyncio.wait_for(asyncio.shield(proc.wait()), REAP_SECONDS)
        raise
    finally:
        flusher.cancel()
        with contextlib.suppress(BaseException):
            await flusher
    duration = time.monotonic() - started
    with lock:
        capture.close()
        batch = capture.take_batch() if on_output is not None else None
    if batch is not None:
        deliver(batch)
    detail = "; ".join(stop.notes) or None
    with lock:
        return finished_result(
            spec.argv[0],
            proc.returncode,
            stopped_by,
            stop.escalated,
            detail,
            duration,
            capture,
            last_lines,
        )


def _open_pipes() -> dict[Stream, tuple[int, int]]:
    """(read end, write end) for each stream; all close-on-exec, the child gets dup2'd
    copies of the write ends."""
    pipes: dict[Stream, tuple[int, int]] = {}
    try:
        for stream in STREAMS:
            pipes[stream] = os.pipe()
            grow_pipe(pipes[stream][1])
    except OSError:
        _close(fd for pair in pipes.values() for fd in pair)
        raise
    return pipes


def _close(fds: Iterable[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class _Deliver:
    """Hands batches to `on_output`; a failing callback (a panel gone mid-run) is logged
    and never ends the run: the command's result and its audit matter more."""

    def __init__(self, on_output: OnOutput | None) -> None:
        self.on_output = on_output
        self.failures = 0

    def __call__(self, batch: OutputBatch) -> None:
        if self.on_output is None:
            return
        try:
            self.on_output(batch)
        except Exception:
            self.failures += 1
            if self.failures == 1:
                log.exception("the runbook output callback failed; the command goes on")


async def _flush_periodically(
    capture: OutputCapture, lock: threading.Lock, deliver: _Deliver, interval: float
) -> None:
    if deliver.on_output is None:
        return
    while True:
        await asyncio.sleep(interval)
        with lock:
            batch = capture.take_batch()
        if batch is not None:
            deliver(batch)


async def _wait(
    proc: asyncio.subprocess.Process, timeout: float, cancel: asyncio.Event | None
) -> StoppedBy | None:
    """Wait for the exit; say "timeout" or "cancelled" if it must be stopped instead."""
    waiter = asyncio.ensure_future(proc.wait())
    tasks: set[asyncio.Future[object]] = {waiter}
    cancelled = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    if cancelled is not None:
        tasks.add(cancelled)
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if cancelled is not None:
            cancelled.cancel()
    if waiter in done:
        return None
    waiter.cancel()
    return "cancelled" if cancelled is not None and cancelled in done else "timeout"


async def _drain(reader: PipeReader, seconds: float) -> bool:
    """Let the reader reach the end of the pipe; False if it was still open."""
    try:
        await asyncio.wait_for(reader.finished.wait(), max(seconds, 0.1))
    except TimeoutError:
        reader.stop()
        await asyncio.to_thread(reader.join, 1.0)
        return False
    return True
