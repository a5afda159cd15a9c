"""What a runbook command's run came to: status, exit code or signal, output counts per
stream and its last lines, and one line saying so for the operator and the audit log."""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from adapters.runbook.output import OutputCapture, Stream

Status = Literal[
    "succeeded", "failed", "killed", "timeout", "cancelled", "not-found", "not-executable"
]
StoppedBy = Literal["timeout", "cancelled"]


@dataclass(frozen=True, slots=True)
class RunResult:
    """What happened. `exit_code` is set when the command exited by itself; `signal`
    names the signal that ended it (ours after a timeout or cancel, or anyone's).

    `lines` / `bytes` count both streams; the `stdout_*` / `stderr_*` fields split them.
    `last_streams` says, for each of `last_lines`, which stream it came on.
    """

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
    stdout_lines: int = 0
    stderr_lines: int = 0
    stdout_bytes: int = 0
    stderr_bytes: int = 0
    last_streams: tuple[Stream, ...] = ()

    @property
    def succeeded(self) -> bool:
        """Exit code 0."""
        return self.status == "succeeded"

    def describe(self, timeout: float, grace: float) -> str:
        """One line for the operator and the audit log."""
        took = f"{self.duration:.1f} s"
        counts = f"{self.lines:,} lines, {self.bytes:,} bytes of output"
        if self.stderr_lines:
            counts += f"; {self.stderr_lines:,} of the lines on stderr"
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


def signal_name(returncode: int) -> str:
    """The name of the signal behind a negative return code ("SIGTERM")."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def start_failure(err: OSError, argv0: str, cwd: Path | None, started: float) -> RunResult:
    """The result of a command that could not be started (`err` from the spawn)."""
    if isinstance(err, FileNotFoundError):
        status: Status = "not-found"
        missing = cwd is not None and not cwd.is_dir()
        detail = f"working directory {cwd} does not exist" if missing else None
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


def finished_result(
    argv0: str,
    returncode: int | None,
    stopped_by: StoppedBy | None,
    escalated: bool,
    detail: str | None,
    duration: float,
    capture: OutputCapture,
    last_lines: int,
) -> RunResult:
    """The result of a command that ran, from how it ended and what it printed."""
    exit_code = returncode if returncode is not None and returncode >= 0 else None
    sig = signal_name(returncode) if returncode is not None and returncode < 0 else None
    status: Status
    if stopped_by is not None:
        status = stopped_by
    elif returncode == 0:
        status = "succeeded"
    elif sig is not None:
        status = "killed"
    else:
        status = "failed"
    last = capture.last_entries(last_lines)
    return RunResult(
        status=status,
        argv0=argv0,
        exit_code=exit_code,
        signal=sig,
        duration=duration,
        lines=capture.total_lines,
        bytes=capture.total_bytes,
        last_lines=tuple(text for text, _ in last),
        escalated=escalated,
        detail=detail,
        stdout_lines=capture.lines_by_stream["stdout"],
        stderr_lines=capture.lines_by_stream["stderr"],
        stdout_bytes=capture.bytes_by_stream["stdout"],
        stderr_bytes=capture.bytes_by_stream["stderr"],
        last_streams=tuple(stream for _, stream in last),
    )
