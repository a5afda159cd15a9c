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
- Timeout or cancel: SIGTERM to the group, then SIGKILL after `grace` seconds.
- Cancelling the coroutine itself (the app gave up waiting) kills the group at once.
- A command that cannot be started (not found, not executable, cwd missing) is a result,
  not an exception.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import select
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from adapters.runbook.output import OutputBatch, OutputCapture

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
        end = f"killed by SIGKILL after {grace:g} s grace" if self.escalated else ""
        match self.status:
            case "succeeded":
                text = f"exit 0 after {took} ({counts})"
            case "failed":
                text = f"exit {self.exit_code} after {took} ({counts})"
            case "killed":
                text = f"killed by {self.signal} after {took} ({counts})"
            case "timeout":
                how = end or f"stopped by {self.signal}"
                text = f"timed out after {timeout:g} s: {how} ({counts})"
            case "cancelled":
                how = end or f"stopped by {self.signal}"
                if self.signal is None and self.exit_code is not None:
                    how = f"exit {self.exit_code} after SIGTERM"
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


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def _kill_group(pid: int, sig: signal.Signals) -> None:
    # The group may be gone already (everyone exited): that is the goal, not an error.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


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
    flusher = asyncio.create_task(_flush_periodically(capture, lock, on_output, flush_interval))
    stopped_by: Literal["timeout", "cancelled"] | None = None
    escalated = False
    detail: str | None = None
    try:
        stopped_by = await _wait(proc, spec.timeout, cancel)
        if stopped_by is not None:
            escalated = await _terminate(proc, spec.grace)
        if not await _drain(reader, DRAIN_SECONDS if stopped_by is None else spec.grace):
            detail = "a background process kept the output open; stopped reading"
            if stopped_by is not None:
                _kill_group(proc.pid, signal.SIGKILL)
    except asyncio.CancelledError:
        _kill_group(proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        reader.stop()
        flusher.cancel()
        # Reap the child so it does not linger as a zombie; it is dying by SIGKILL.
        with contextlib.suppress(BaseException):
            await asyncio.shield(proc.wait())
        raise
    finally:
        flusher.cancel()
        with contextlib.suppress(BaseException):
            await flusher
    duration = time.monotonic() - started
    with lock:
        capture.close()
        batch = capture.take_batch() if on_output is not None else None
    if on_output is not None and batch is not None:
        on_output(batch)
    with lock:
        return _result(
            spec, proc.returncode, stopped_by, escalated, detail, duration, capture, last_lines
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
        try:
            while not self._halt.is_set():
                ready, _, _ = select.select([self.fd], [], [], 0.1)
                if not ready:
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
            os.close(self.fd)
            # The loop may be closed already if the run was abandoned.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.finished.set)


async def _flush_periodically(
    capture: OutputCapture, lock: threading.Lock, on_output: OnOutput | None, interval: float
) -> None:
    if on_output is None:
        return
    while True:
        await asyncio.sleep(interval)
        with lock:
            batch = capture.take_batch()
        if batch is not None:
            on_output(batch)


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


async def _terminate(proc: asyncio.subprocess.Process, grace: float) -> bool:
    """SIGTERM the group, SIGKILL it after `grace`; True if SIGKILL was needed."""
    _kill_group(proc.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _kill_group(proc.pid, signal.SIGKILL)
        await proc.wait()
        return True
    return False


async def _drain(reader: _PipeReader, seconds: float) -> bool:
    """Let the reader reach the end of the pipe; False if it was still open."""
    try:
        await asyncio.wait_for(reader.finished.wait(), max(seconds, 0.1))
    except TimeoutError:
        reader.stop()
        await asyncio.to_thread(reader.join, 1.0)
        return False
    return True
