"""Follow one container's log in a thread of its own, kept in a bounded buffer (pull model).

The SDK's high-level `logs()` drops which stream a chunk came from, so the engine's
multiplexed frames (8-byte header: stream id, 3 zero bytes, big-endian length) are
parsed here. A TTY container has no frames: everything is stdout. Timestamps are always
asked for and split off into `LogLine.timestamp`; the view decides whether to show them.

Why a pull model: a flood of 20,000 lines/s must neither flood the UI with messages nor
grow memory. The reader thread appends to a bounded deque (the oldest lines fall out and
are counted) and the UI drains it on its own timer. A followed stream of a quiet
container blocks in `recv` forever: `stop()` shuts the socket down from the calling side,
which wakes that read at once, so the app always exits promptly.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.docker.models import LogLine

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker

log = logging.getLogger(__name__)

_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr", 3: "stderr"}  # 3: the engine's own "Error grabbing logs"
_READ_SIZE = 65_536
#: An RFC 3339 timestamp with nanoseconds is 30-35 bytes; anything longer is not one.
_MAX_TIMESTAMP = 40


@dataclass(frozen=True, slots=True)
class LogBatch:
    """What `drain` hands the UI: new lines, how many fell out unseen, and whether the
    stream is over (`ended`: the reader stopped and every line was drained)."""

    lines: list[LogLine]
    dropped: int
    ended: bool
    error: str | None


class _LineAssembler:
    """Cuts one stream's bytes into lines, bounded: a partial line never grows past
    `max_bytes` (it is emitted truncated and the rest of it is skipped)."""

    def __init__(
        self, stream: str, max_bytes: int, timestamps: bool, emit: Callable[[LogLine], None]
    ) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.timestamps = timestamps
        self.emit = emit
        self.buf = bytearray()
        self.line_ts: str | None = None
        self.skipping = False  # the current line was already emitted truncated
        self.at_message_start = True  # the next bytes begin with the engine's timestamp
        self.ts_buf = bytearray()

    def message_start(self) -> None:
        """A new engine message (frame) begins: it carries its own timestamp prefix."""
        self.at_message_start = True
        self.ts_buf.clear()

    def feed(self, data: bytes, *, tty: bool = False) -> None:
        pos, size = 0, len(data)
        while pos < size:
            if self.at_message_start and self.timestamps:
                pos = self._take_timestamp(data, pos)
                if pos >= size:
                    return
            nl = data.find(b"\n", pos)
            if nl < 0:
                self._append(data, pos, size)
                return
            self._append(data, pos, nl)
            self._end_line()
            pos = nl + 1
            if tty:
                # Without frames, every line the engine sends starts with its timestamp.
                self.at_message_start = True

    def flush(self) -> None:
        """The stream ended: a last line without a newline is still a line."""
        if self.buf or self.line_ts is not None:
            self._end_line()

    def _take_timestamp(self, data: bytes, pos: int) -> int:
        """Consume the message's timestamp prefix (up to its space); return the new pos."""
        room = _MAX_TIMESTAMP - len(self.ts_buf)
        space = data.find(b" ", pos, pos + room + 1)
        if space < 0 and len(data) - pos <= room:
            self.ts_buf += data[pos:]  # the prefix continues in the next piece
            return len(data)
        if space < 0:
            # Not a timestamp after all: give its bytes back as text.
            self.at_message_start = False
            pending = bytes(self.ts_buf)
            self.ts_buf.clear()
            self._append(pending, 0, len(pending))
            return pos
        self.ts_buf += data[pos:space]
        stamp = self.ts_buf.decode("ascii", errors="replace")
        self.ts_buf.clear()
        self.at_message_start = False
        if self.line_ts is None and not self.buf and not self.skipping:
            self.line_ts = stamp
        return space + 1

    def _append(self, data: bytes, start: int, end: int) -> None:
        if self.skipping or end <= start:
            return
        room = self.max_bytes - len(self.buf)
        if end - start <= room:
            self.buf += data[start:end]
            return
        self.buf += data[start : start + room]
        self._emit(truncated=True)
        self.skipping = True

    def _end_line(self) -> None:
        if self.skipping:
            self.skipping = False
            self.line_ts = None
            return
        self._emit(truncated=False)

    def _emit(self, *, truncated: bool) -> None:
        raw = bytes(self.buf)
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        text = raw.decode("utf-8", errors="replace")
        self.emit(LogLine(self.stream, text, self.line_ts, truncated))
        self.buf.clear()
        self.line_ts = None


class LogFollower:
    """Reads one container's log in a daemon thread into a bounded deque; see the module
    docstring. Create, `start()`, `drain()` on a timer, `stop()` when the view closes."""

    def __init__(
        self,
        client_factory: Callable[[], docker.DockerClient],
        container_id: str,
        *,
        since: float | None = None,
        tail: int | None = 1000,
        follow: bool = True,
        buffer_lines: int = 10_000,
        max_line_bytes: int = 16_384,
    ) -> None:
        if buffer_lines < 1 or max_line_bytes < 1:
            raise ValueError("buffer_lines and max_line_bytes must be positive")
        self.client_factory = client_factory
        self.container_id = container_id
        self.since = since
        self.tail = tail
        self.follow = follow
        self.buffer_lines = buffer_lines
        self.max_line_bytes = max_line_bytes
        self.lines_read = 0
        self.lines_dropped = 0
        self._lines: deque[LogLine] = deque(maxlen=buffer_lines)
        self._dropped_undrained = 0
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._done = threading.Event()
        self._error: str | None = None
        self._stream: Any = None  # docker.types.CancellableStream while reading
        self._client: docker.DockerClient | None = None
        self._thread: threading.Thread | None = None

    # -- UI side ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the reader thread (once)."""
        if self._thread is not None:
            raise RuntimeError("LogFollower.start() called twice")
        self._thread = threading.Thread(
            target=self._run, name=f"docker-logs-{self.container_id[:12]}", daemon=True
        )
        self._thread.start()

    def drain(self, max_lines: int | None = None) -> LogBatch:
        """Take up to `max_lines` buffered lines (all when None), oldest first."""
        with self._lock:
            n = len(self._lines) if max_lines is None else min(max_lines, len(self._lines))
            lines = [self._lines.popleft() for _ in range(n)]
            dropped, self._dropped_undrained = self._dropped_undrained, 0
            ended = self._done.is_set() and not self._lines
            error = self._error
        return LogBatch(lines, dropped, ended, error)

    def stop(self) -> None:
        """Close the stream from this side and return at once; the thread then ends."""
        self._stopping.set()
        with self._lock:
            stream = self._stream
        if stream is not None:
            _close_stream(stream)

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the reader thread to end; True when it has."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    # -- reader thread ------------------------------------------------------------------

    def _push(self, line: LogLine) -> None:
        with self._lock:
            if len(self._lines) == self.buffer_lines:
                self.lines_dropped += 1
                self._dropped_undrained += 1
            self._lines.append(line)
            self.lines_read += 1

    def _run(self) -> None:
        try:
            self._read()
        except Exception as exc:
            if not self._stopping.is_set():
                log.debug("log stream of %s ended with an error", self.container_id, exc_info=True)
                with self._lock:
                    self._error = describe_error(exc)
        finally:
            with self._lock:
                stream, self._stream = self._stream, None
            if stream is not None:
                _close_stream(stream)
            if self._client is not None:
                with contextlib.suppress(Exception):
                    self._client.close()
            self._done.set()

    def _read(self) -> None:
        if self._stopping.is_set():
            return
        self._client = client = self.client_factory()
        api = client.api
        tty = bool(api.inspect_container(self.container_id)["Config"].get("Tty"))
        since: float | int | None = self.since
        if since is not None and since <= 0:
            since = None
        stream = api.logs(
            self.container_id,
            stdout=True,
            stderr=True,
            stream=True,
            follow=self.follow,
            timestamps=True,
            tail="all" if self.tail is None else max(0, int(self.tail)),
            since=since,
        )
        with self._lock:
            self._stream = stream
        if self._stopping.is_set():  # stop() came while the request was on its way
            return
        response = stream._response  # the SDK's generator would drop the stream id
        if self.follow:
            # A followed log may stay quiet for hours: no read timeout (stop() ends it).
            with contextlib.suppress(Exception):
                _socket_of(response).settimeout(None)
        chunks = _chunks(response)
        assemblers = {
            name: _LineAssembler(name, self.max_line_bytes, True, self._push)
            for name in ("stdout", "stderr")
        }
        try:
            if tty:
                out = assemblers["stdout"]
                for chunk in chunks:
                    out.feed(chunk, tty=True)
            else:
                _demux(chunks, assemblers)
        except Exception:
            if self._stopping.is_set():
                return
            raise
        for assembler in assemblers.values():
            assembler.flush()


def _demux(chunks: Iterator[bytes], assemblers: dict[str, _LineAssembler]) -> None:
    """Parse multiplexed frames out of `chunks`, a frame's payload fed as it arrives."""
    header = bytearray()
    remaining = 0
    target: _LineAssembler | None = None
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            if remaining == 0:
                need = _HEADER.size - len(header)
                header += view[:need]
                view = view[need:]
                if len(header) < _HEADER.size:
                    break
                stream_id, remaining = _HEADER.unpack(bytes(header))
                header.clear()
                target = assemblers[_STREAMS.get(stream_id, "stdout")]
                target.message_start()
                continue
            piece = view[:remaining]
            view = view[len(piece) :]
            remaining -= len(piece)
            assert target is not None
            target.feed(bytes(piece))


def _chunks(response: Any) -> Iterator[bytes]:
    """The raw body as it arrives (chunked transfer: one HTTP chunk at a time)."""
    raw = response.raw
    if getattr(raw, "chunked", False) and hasattr(raw, "read_chunked"):
        yield from raw.read_chunked(_READ_SIZE, decode_content=False)
        return
    while True:
        data = raw.read1(_READ_SIZE) if hasattr(raw, "read1") else raw.read(_READ_SIZE)
        if not data:
            return
        yield data


def _socket_of(response: Any) -> Any:
    fp = response.raw._fp.fp
    raw = getattr(fp, "raw", None)
    if raw is not None:
        return getattr(raw, "_sock", None) or raw.sock
    return fp._sock


def _close_stream(stream: Any) -> None:
    """Shut the socket down (wakes a blocked recv in the reader), then close it."""
    response = getattr(stream, "_response", None)
    sock = None
    with contextlib.suppress(Exception):
        sock = _socket_of(response)
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(Exception):
        stream.close()
    if response is not None:
        with contextlib.suppress(Exception):
            response.close()


def describe_error(exc: BaseException) -> str:
    """A short, operator-facing reason for a log stream that failed."""
    import docker.errors

    if isinstance(exc, docker.errors.NotFound):
        return "the container no longer exists"
    if isinstance(exc, docker.errors.APIError):
        return f"the engine refused the log request: {exc.explanation or exc}"
    return f"the log stream failed: {type(exc).__name__}: {exc}"
