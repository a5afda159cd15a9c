"""The audit log: one JSON line per action attempt, on disk before the result is shown.

Several consoles (several operators on one host) may append to the same file at once.
Each append opens the file with `O_APPEND`, takes an exclusive `flock`, writes the whole
line, `fsync`s and closes: lines never interleave, and a record that `append` returned for
survives a crash. Opening per append (rather than keeping a descriptor) also follows log
rotation without any signal handling.

Contract for callers: `append` raises `AuditError` when the record could not be made
durable (disk full, permission, path is a directory, ...). The caller must then tell the
operator loudly that the action was not audited; it must never report the action as
done as if nothing happened. `console.actions.run_action` does this.

Secrets never reach the file: every record goes through `redact_record` on the way in.
"""

from __future__ import annotations

import asyncio
import errno
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, get_args

from console.operator import OperatorContext

log = logging.getLogger(__name__)

Outcome = Literal[
    "succeeded",
    "failed",
    "cancelled",
    "refused-read-only",
    "refused-disarmed",
    "refused-recheck",
    "timeout",
    "armed",
    "disarmed",
    "arm-expired",
]
OUTCOMES: frozenset[str] = frozenset(get_args(Outcome))

REDACTED = "***"

_BLOCK = 64 * 1024
# A line longer than this is not one of ours (ours are a few KB): it is skipped instead of
# being accumulated, so a corrupt file cannot make `recent` read gigabytes into memory.
_MAX_LINE = 1024 * 1024

_SECRET_KEY = re.compile(r"pass(?:word|wd)?|pwd|secret|token|api[_-]?key", re.IGNORECASE)
# scheme://user:password@host -> scheme://user:***@host. Greedy up to the last "@" of the
# next 256 non-blank characters, because passwords are not always percent-encoded;
# over-redacting a path that holds an "@" is the safe side.
_URL_PASSWORD = re.compile(r"([a-zA-Z][a-zA-Z0-9+.\-]{0,30}://[^\s:/?#@]{0,256}:)[^\s]{0,256}@")
# password=..., "token": "...", secret: ... in libpq DSNs, query strings, JSON, headers.
# Every repetition that may backtrack is bounded: unbounded ones made redaction
# quadratic on long text (6 KB of letters took ~50 ms; 800 KB of "x://" took minutes).
_KEY_VALUE = re.compile(
    r"""(?ix)
    ((?:password|passwd|pwd|secret|token|api[_-]?key)[\w.\-]{0,40}["']?\s{0,8}[=:]\s{0,8})
    ( "(?:[^"\\]|\\.){0,256}" | '(?:[^'\\]|\\.){0,256}' | [^\s&;,"'}]+ )
    """
)

# SQL: ALTER ROLE app [ENCRYPTED] PASSWORD 'x' (seen in pg_stat_activity query text).
_SQL_PASSWORD = re.compile(r"(?i)(\bpassword\s{1,8})'(?:[^']|''){0,256}'")


class AuditError(Exception):
    """The audit record could not be written durably. `str(err)` is fit for the screen."""


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One line of the audit log. Field order is the JSON key order."""

    ts: str  # UTC, ISO-8601 with a trailing Z
    user: str
    sudo_user: str | None
    ssh_client: str | None
    hostname: str
    target: str
    action: str  # e.g. "pg.terminate", "arm"
    params: dict[str, Any] = field(default_factory=dict)
    preview: str = ""  # the exact operation text shown in the confirmation
    outcome: Outcome = "succeeded"
    error: str | None = None
    duration_ms: float | None = None
    reason: str | None = None  # the operator's reason, for arming
    pid: int | None = None  # the console's pid: tells two consoles of one user apart
    #: What the action reported when it ran (e.g. "deleted 1,283 keys"): counts belong in
    #: the record, not only on the screen.
    result: str | None = None
    #: Facts the execution reported beyond its message, e.g. a runbook command's exit
    #: code, signal, duration, output counts and last lines (see `actions.ExecResult`).
    execution: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown audit outcome {self.outcome!r}")

    @classmethod
    def create(
        cls,
        operator: OperatorContext,
        *,
        target: str,
        action: str,
        outcome: Outcome,
        params: Mapping[str, Any] | None = None,
        preview: str = "",
        error: str | None = None,
        duration_ms: float | None = None,
        reason: str | None = None,
        result: str | None = None,
        execution: Mapping[str, Any] | None = None,
        now: float | None = None,
    ) -> AuditRecord:
        """A record for `operator` at wall-clock `now` (epoch seconds; default: the clock)."""
        return cls(
            ts=format_ts(time.time() if now is None else now),
            user=operator.user,
            sudo_user=operator.sudo_user,
            ssh_client=operator.ssh_client,
            hostname=operator.hostname,
            target=target,
            action=action,
            params=dict(params or {}),
            preview=preview,
            outcome=outcome,
            error=error,
            duration_ms=duration_ms,
            reason=reason,
            pid=operator.pid,
            result=result,
            execution=None if execution is None else dict(execution),
        )

    def to_json(self) -> str:
        """The record as one JSON line (without the newline), ASCII only."""
        # ensure_ascii: no raw newline, control or bidi character can end up in the file.
        return json.dumps(asdict(self), ensure_ascii=True, separators=(",", ":"), default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditRecord:
        """Build a record from a parsed line; unknown keys (newer versions) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        record = cls(**values)
        if not isinstance(record.params, dict):
            raise ValueError("params is not an object")
        if record.execution is not None and not isinstance(record.execution, dict):
            raise ValueError("execution is not an object")
        return record


def format_ts(now: float) -> str:
    """`now` (epoch seconds) as UTC ISO-8601 with milliseconds and a Z."""
    stamp = datetime.fromtimestamp(now, tz=UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")


def redact_text(text: str) -> str:
    """`text` with passwords (URLs, `password=` pairs, SQL `PASSWORD '...'`) as ***."""
    text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    text = _SQL_PASSWORD.sub(lambda m: f"{m.group(1)}'{REDACTED}'", text)
    return _KEY_VALUE.sub(lambda m: f"{m.group(1)}{REDACTED}", text)


def redact_value(value: Any) -> Any:
    """Redact recursively: secret-looking keys lose their value, strings are scanned."""
    if isinstance(value, Mapping):
        return {
            str(key): REDACTED if _SECRET_KEY.search(str(key)) else redact_value(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [redact_value(item) for item in value]
    if isinstance(value, str):
        return redact_text(value)
    return value


def redact_record(record: AuditRecord) -> AuditRecord:
    """A copy of `record` with secrets removed from every free-text field."""
    return replace(
        record,
        params=redact_value(record.params),
        preview=redact_text(record.preview),
        error=None if record.error is None else redact_text(record.error),
        reason=None if record.reason is None else redact_text(record.reason),
        result=None if record.result is None else redact_text(record.result),
        execution=None if record.execution is None else redact_value(record.execution),
    )


#: One thread for every audit write of the process: appends stay in order, and they
#: never wait behind health checks' name lookups in the default executor.
_AUDIT_THREAD = ThreadPoolExecutor(max_workers=1, thread_name_prefix="audit")


class AuditLog:
    """An append-only JSON-lines file shared by every console on the host."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    async def append_async(self, record: AuditRecord) -> None:
        """`append` off the event loop, on the audit's own thread: never queued behind
        other blocking work (a DNS outage can fill the default executor with lookups)."""
        await asyncio.get_running_loop().run_in_executor(_AUDIT_THREAD, self.append, record)

    async def check_writable_async(self) -> None:
        """`check_writable` on the audit's own thread."""
        await asyncio.get_running_loop().run_in_executor(_AUDIT_THREAD, self.check_writable)

    def append(self, record: AuditRecord) -> None:
        """Write `record` as one line and fsync it; raise `AuditError` if that failed.

        Blocking (it waits for the disk): call it from a thread in async code.
        """
        data = (redact_record(record).to_json() + "\n").encode("ascii")
        fd, new_entry = self._open_for_append()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(data)
            while view:
                # A regular file takes the whole buffer in one write; the loop only covers
                # a short write (signal, quota edge), still under the lock, still at EOF.
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            if new_entry:
                _fsync_dir(self.path.parent)  # make the new directory entry durable too
        except OSError as err:
            raise AuditError(_describe(err, self.path, "write")) from err
        finally:
            os.close(fd)  # also releases the lock

    def check_writable(self) -> None:
        """Raise `AuditError` if the log cannot be opened for appending (nothing written).

        Used before a destructive action, so the operator learns that the log is
        unusable before acting rather than after. A full disk is only seen by `append`.
        """
        fd, _new_entry = self._open_for_append()
        os.close(fd)

    def recent(self, limit: int = 200) -> list[AuditRecord]:
        """Up to `limit` records, newest first; malformed lines are skipped and logged."""
        records, notes = self.recent_with_notes(limit)
        for note in notes:
            log.warning("%s", note)
        return records

    def recent_with_notes(self, limit: int = 200) -> tuple[list[AuditRecord], list[str]]:
        """Like `recent`, also returning one note per skipped line (for the audit screen).

        Reads backwards from the end in blocks, so the cost depends on `limit`, not on
        the size of the file. A missing file is an empty log.
        """
        records: list[AuditRecord] = []
        notes: list[str] = []
        if limit <= 0:
            return records, notes
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return records, notes
        except OSError as err:
            raise AuditError(_describe(err, self.path, "read")) from err
        try:
            # Shared lock: a writer's line is either entirely there or not at all.
            fcntl.flock(fd, fcntl.LOCK_SH)
            for offset, line in _reverse_lines(fd):
                if line is None:
                    notes.append(f"{self.path}: skipped an over-long line at byte {offset}")
                    continue
                if not line.strip():
                    continue
                try:
                    records.append(AuditRecord.from_dict(json.loads(line)))
                except (ValueError, TypeError, AttributeError) as err:
                    notes.append(f"{self.path}: skipped a malformed line at byte {offset}: {err}")
                    continue
                if len(records) >= limit:
                    break
        except OSError as err:
            raise AuditError(_describe(err, self.path, "read")) from err
        finally:
            os.close(fd)
        return records, notes

    def _open_for_append(self) -> tuple[int, bool]:
        """Open for appending, creating what is missing; also say if a new entry was made."""
        try:
            had_file = self.path.exists()
            made_dirs = self._make_parents()
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            fd = os.open(self.path, flags, 0o600)
        except OSError as err:
            raise AuditError(_describe(err, self.path, "open")) from err
        return fd, made_dirs or not had_file

    def _make_parents(self) -> bool:
        """Create missing parent directories (0o700 each); return True if any was made."""
        missing: list[Path] = []
        parent = self.path.parent
        while not parent.exists():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            # Path.mkdir(parents=True) would give the intermediate ones default modes;
            # exist_ok: another console may have created it in the meantime.
            directory.mkdir(mode=0o700, exist_ok=True)
        return bool(missing)


def _reverse_lines(fd: int) -> Iterator[tuple[int, bytes | None]]:
    """Yield (byte offset, line) from the end of the file backwards; None = over-long."""
    position = os.lseek(fd, 0, os.SEEK_END)
    tail = b""  # bytes from `position` up to the first newline after it (a partial line)
    oversized = False  # `tail` was dropped for length: the next line found is that line
    while position > 0:
        size = min(_BLOCK, position)
        position -= size
        pieces = (os.pread(fd, size, position) + tail).split(b"\n")
        tail = pieces[0]
        starts = [position]
        for piece in pieces[:-1]:
            starts.append(starts[-1] + len(piece) + 1)
        for start, piece in zip(reversed(starts[1:]), reversed(pieces[1:]), strict=True):
            yield start, (None if oversized else piece)
            oversized = False
        if len(tail) > _MAX_LINE:
            tail = b""
            oversized = True
    if oversized or tail:
        yield 0, (None if oversized else tail)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return  # best effort: the file's own fsync already succeeded
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on a directory; the data itself is synced
    finally:
        os.close(fd)


def _describe(err: OSError, path: Path, doing: str) -> str:
    reason = err.strerror or str(err)
    if err.errno == errno.ENOSPC:
        reason = "no space left on the device"
    elif err.errno in (errno.EACCES, errno.EPERM):
        reason = "permission denied"
    return f"audit log {path}: cannot {doing}: {reason}"
