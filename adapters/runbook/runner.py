"""Run one operator command as a subprocess: bounded output, timeout, cancel, clear result.

- The command gets its own session (`start_new_session`), so it leads a process group
  and SIGTERM / SIGKILL reach whatever it started (a `kubectl` under a shell script).
- stdin is /dev/null (a command that prompts gets EOF instead of hanging), and stderr is
  joined to stdout on one pipe, so the operator sees both in the order they were written.
- The pipe is read in chunks, never by line: a 50 MB line cannot blow the memory (see
  `adapters.runbook.output`). New lines reach `on_output` in batches at most every
  `flush_interval` seconds, so a flood does not drown the screen.
- The pipe is read by a thread of its own, not by the event loop: the loop also draws
  the screen, and while it did, a fast command sat blocked on a full 64 KB pipe (a
  100,000-line flood took 3-4 times as long as to /dev/null). The thread blocks in
  `read` without the GIL and drains the pipe (grown to 1 MB) as fast as it fills.
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
import fcntl
import logging
import os
import selectors
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from adapters.runbook.group import (
    REAP_SECONDS,
    Stop,
    describe_processes,
    group_members,
    kill_group,
    terminate,
)
from adapters.runbook.output import OutputBatch, OutputCapture

log = logging.getLogger(__name__)

Status = Literal[
    "succeeded", "failed", "killed", "timeout", "cancelled", "not-found", "not-executable"
]

READ_CHUNK = 256 * 1024
READ_PAUSE = 0.01
FLUSH_INTERVAL = 0.2
GRACE = 5.0
LAST_LINES = 20
#: After the command exits, how long a background child may keep the pipe open before
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


@dataclass(frozen=True, slots=True)
class RunResult:
    """What happened. `exit_code` is set when the command exited by itself; `signal`
    names the signal that ended it (ours after a timeout or cancel, or anyone's)."""

    status: Status
    argv0: str
    exit_code: int | None
    signal: str | None
    duration: float
    lines: int
    bytes: int
    last_lines: tuple[str, ...]
    #: SIGKILL was needed: the command ignored SIGTERM for the whole grace period.
    escalated: bool = False
    #: Why it could not start, or a note (a background child kept the pipe open).
    detail: str | None = None

    @property
    def succeeded(self) -> bool:
        """Exit code 0."""
        return self.status == "succeeded"

    def describe(self, timeout: float, grace: float) -> str:
        """One line for the operator and the audit log."""
        took = f"{self.duration:.1f} s"
        counts = f"{self.lines:,} lines, {self.bytes:,} bytes of output"
        match self.status:
            case "succeeded":
                text = f"exit 0 after {took} ({counts})"
            case "failed":
                text = f"exit {self.exit_code} after {took} ({counts})"
            case "killed":
                text = f"killed by {self.signal} after {took} ({counts})"
            case "timeout":
                text = f"timed out after {timeout:g} s: {self._how_stopped(grace)} ({counts})"
            case "cancelled":
                how = self._how_stopped(grace)
                text = f"stopped by the operator after {took}: {how} ({counts})"
            case "not-found" if self.detail:
                return f"cannot start {self.argv0}: {self.detail}"
            case "not-found":
                text = f"command not found: {self.argv0}"
            case "not-executable":
                text = f"not executable: {self.argv0}"
        if self.detail and self.status not in ("not-found", "not-executable"):
            text += f"; {self.detail}"
        elif self.detail:
            text += f" ({self.detail})"
        return text

    def _how_stopped(self, grace: float) -> str:
        """How a command we stopped (timeout, cancel) ended, SIGKILL called out."""
        killed = f"killed by SIGKILL after {grace:g} s grace"
        if self.escalated and self.signal == "SIGKILL":
            return killed
        if self.signal is not None:
            how = f"stopped by {self.signal}"
        elif self.exit_code is not None:
            how = f"exit {self.exit_code} after SIGTERM"
        else:
            # Never reaped (stuck in the kernel): the detail says so.
            return f"SIGKILL sent after {grace:g} s grace" if self.escalated else "SIGTERM sent"
        if self.escalated:
            # The leader obeyed SIGTERM, something else in its group did not.
            how += f"; the rest of its group {killed}"
        return how


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _start_failure(err: OSError, spec: RunSpec, started: float) -> RunResult:
    argv0 = spec.argv[0]
    if isinstance(err, FileNotFoundError):
        if spec.cwd is not None and not spec.cwd.is_dir():
            status: Status = "not-found"
            detail = f"working directory {spec.cwd} does not exist"
        else:
            status, detail = "not-found", None
    else:
        # EACCES (no x bit, a directory), ENOEXEC (not a program), ETXTBSY, ...:
        # it is there but cannot be run; strerror says which.
        status, detail = "not-executable", err.strerror or str(err)
    return RunResult(
        status=status,
        argv0=argv0,
        exit_code=None,
        signal=None,
        duration=time.monotonic() - started,
        lines=0,
        bytes=0,
        last_lines=(),
        detail=detail,
    )


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
    read_fd, write_fd = os.pipe()  # both close-on-exec; the child gets dup2'd copies
    _grow_pipe(write_fd)
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=write_fd,
            stderr=write_fd,
            cwd=spec.cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as err:
        os.close(read_fd)
        return _start_failure(err, spec, started)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)  # else our own copy would keep the pipe open forever

    lock = threading.Lock()
    reader = _PipeReader(read_fd, capture, lock, asyncio.get_running_loop())
    reader.start()
    deliver = _Deliver(on_output)
    flusher = asyncio.create_task(_flush_periodically(capture, lock, deliver, flush_interval))
    stopped_by: Literal["timeout", "cancelled"] | None = None
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
        return _result(
            spec, proc.returncode, stopped_by, stop.escalated, detail, duration, capture, last_lines
        )


def _result(
    spec: RunSpec,
    returncode: int | None,
    stopped_by: Literal["timeout", "cancelled"] | None,
    escalated: bool,
    detail: str | None,
    duration: float,
    capture: OutputCapture,
    last_lines: int,
) -> RunResult:
    exit_code = returncode if returncode is not None and returncode >= 0 else None
    sig = _signal_name(returncode) if returncode is not None and returncode < 0 else None
    status: Status
    if stopped_by is not None:
        status = stopped_by
    elif returncode == 0:
        status = "succeeded"
    elif sig is not None:
        status = "killed"
    else:
        status = "failed"
    return RunResult(
        status=status,
        argv0=spec.argv[0],
        exit_code=exit_code,
        signal=sig,
        duration=duration,
        lines=capture.total_lines,
        bytes=capture.total_bytes,
        last_lines=capture.last_lines(last_lines),
        escalated=escalated,
        detail=detail,
    )


def _grow_pipe(fd: int) -> None:
    """Ask for a 1 MB pipe (Linux): a flood then waits on us less often."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setpipe, 1024 * 1024)


class _PipeReader(threading.Thread):
    """Reads the pipe to its end into `capture` (under `lock`), then closes it.

    `select` with a short timeout lets `stop()` end the thread even while a background
    process keeps the pipe open, so no thread outlives its run.
    """

    def __init__(
        self,
        fd: int,
        capture: OutputCapture,
        lock: threading.Lock,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name="runbook-output", daemon=True)
        self.fd = fd
        self.capture = capture
        self.lock = lock
        self.loop = loop
        self.finished = asyncio.Event()
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        # `selectors`, not `select.select`: a console with many open files can hand the
        # pipe an fd number above 1024, which `select` cannot watch.
        selector = selectors.DefaultSelector()
        try:
            selector.register(self.fd, selectors.EVENT_READ)
            while not self._halt.is_set():
                if not selector.select(0.1):
                    continue
                chunk = os.read(self.fd, READ_CHUNK)
                if not chunk:
                    return
                with self.lock:
                    self.capture.feed(chunk)
                if len(chunk) < READ_CHUNK:
                    # Output is flowing in small writes: let it pile up in the 1 MB pipe
                    # for a moment instead of waking up for every 8 KB. The writer is
                    # not blocked meanwhile, and the screen only draws every 0.2 s.
                    time.sleep(READ_PAUSE)
        except OSError:
            return  # the pipe broke: what was read is kept, the result says how it ended
        finally:
            selector.close()
            os.close(self.fd)
            # The loop may be closed already if the run was abandoned.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.finished.set)


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
) -> Literal["timeout", "cancelled"] | None:
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


async def _drain(reader: _PipeReader, seconds: float) -> bool:
    """Let the reader reach the end of the pipe; False if it was still open."""
    try:
        await asyncio.wait_for(reader.finished.wait(), max(seconds, 0.1))
    except TimeoutError:
        reader.stop()
        await asyncio.to_thread(reader.join, 1.0)
        return False
    return True
