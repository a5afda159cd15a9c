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

Why the body is read raw: the engine sends every log line as its own HTTP chunk, and
urllib3's `read_chunked` costs more per chunk than the rest of the parsing. The reader
takes up to 64 KiB per read from the response's buffered socket file, undoes the chunked
transfer coding and the frames itself in `bytes.find`/`unpack_from` loops, handles a
whole one-line message in one step, and puts each read's lines into the deque under one
lock. The reader thread competes with the UI thread for the GIL, so its cost per line is
what keeps key presses prompt during a flood (bench/log_flood_bench.py).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
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
#: A frame up to this size is waited for whole; a bigger one is fed as it arrives, so a
#: partial frame held between reads stays bounded whatever the engine sends.
_WHOLE_FRAME = 65_536
#: A read smaller than this means the reader keeps up: wait a little before the next one
#: so a steady trickle is taken in a few large reads instead of hundreds of small ones.
_SMALL_READ = 8_192
_COALESCE = 0.01  # seconds; nothing next to the UI's 0.25 s drain


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
    `max_bytes` (it is emitted truncated and the rest of it is skipped). Lines go to
    `out`, which the follower moves into its deque after each read."""

    def __init__(self, stream: str, max_bytes: int, out: list[LogLine]) -> None:
        self.stream = stream
        self.max_bytes = max_bytes
        self.out = out
        self.buf = bytearray()
        self.line_ts: str | None = None
        self.skipping = False  # the current line was already emitted truncated
        self.at_message_start = True  # the next bytes begin with the engine's timestamp
        self.ts_buf = bytearray()

    def message_start(self) -> None:
        """A new engine message (frame) begins: it carries its own timestamp prefix."""
        self.at_message_start = True
        self.ts_buf.clear()

    def whole(self, data: bytes, start: int, end: int) -> bool:
        """Fast path: `data[start:end]` is one whole "TIMESTAMP text\\n" line and nothing
        is pending: emit it in one step, with the same result as `feed`. False (nothing
        done) when it is not that; the caller then takes the general path."""
        if self.buf or self.skipping or self.line_ts is not None or data[end - 1] != 10:
            return False
        end -= 1
        space = data.find(b" ", start, min(end, start + _MAX_TIMESTAMP + 1))
        if space < 0 or data.find(b"\n", space, end) >= 0:
            return False
        stamp = data[start:space].decode("ascii", errors="replace")
        start = space + 1
        truncated = end - start > self.max_bytes
        if truncated:
            end = start + self.max_bytes
        if end > start and data[end - 1] == 13:  # CRLF (TTY): the CR is not content
            end -= 1
        self.out.append(
            LogLine(
                self.stream, data[start:end].decode("utf-8", errors="replace"), stamp, truncated
            )
        )
        return True

    def feed_tty(self, data: bytes) -> None:
        """Raw TTY output: every line starts with its timestamp; whole lines in one step."""
        pos, size = 0, len(data)
        if self.buf or self.skipping or self.line_ts is not None or not self.at_message_start:
            nl = data.find(b"\n")
            if nl < 0:
                self.feed(data, tty=True)
                return
            self.feed(data[: nl + 1], tty=True)  # finishes the pending line
            pos = nl + 1
        if self.ts_buf:  # a timestamp cut between reads: the general path has it
            self.feed(data[pos:], tty=True)
            return
        find, whole = data.find, self.whole
        while pos < size:
            nl = find(b"\n", pos)
            if nl < 0 or not whole(data, pos, nl + 1):
                self.feed(data[pos:], tty=True)
                return
            pos = nl + 1

    def feed(self, data: bytes, *, tty: bool = False) -> None:
        pos, size = 0, len(data)
        while pos < size:
            if self.at_message_start:
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
        self.out.append(LogLine(self.stream, text, self.line_ts, truncated))
        self.buf.clear()
        self.line_ts = None


class _Demuxer:
    """The engine's multiplexed frames, parsed out of the body as it arrives: a whole
    frame in one step, a partial one held (up to `_WHOLE_FRAME`) or fed as it comes."""

    def __init__(self, assemblers: dict[str, _LineAssembler]) -> None:
        self.by_id = {sid: assemblers[name] for sid, name in _STREAMS.items()}
        self.default = assemblers["stdout"]
        self.carry = b""
        self.remaining = 0  # bytes still to come of a big frame being fed as it arrives
        self.target = self.default

    def feed(self, data: bytes) -> None:
        if self.remaining:
            piece = data[: self.remaining]
            self.remaining -= len(piece)
            self.target.feed(piece)
            data = data[len(piece) :]
            if not data:
                return
        if self.carry:
            data = self.carry + data
            self.carry = b""
        pos, size = 0, len(data)
        unpack, by_id, default = _HEADER.unpack_from, self.by_id.get, self.default
        while size - pos >= 8:
            stream_id, length = unpack(data, pos)
            start = pos + 8
            end = start + length
            target = by_id(stream_id, default)
            if end <= size:
                if end == start or not target.whole(data, start, end):
                    target.message_start()
                    target.feed(data[start:end])
                pos = end
            elif length > _WHOLE_FRAME:
                target.message_start()
                target.feed(data[start:])
                self.remaining, self.target = end - size, target
                return
            else:
                break
        self.carry = data[pos:]


class _Dechunker:
    """Undoes HTTP/1.1 chunked transfer coding on whatever pieces the socket gives."""

    def __init__(self) -> None:
        self.carry = b""  # an incomplete chunk-size line
        self.remaining = 0  # data bytes left in the current chunk
        self.skip = 0  # bytes of the CRLF after a chunk's data still to skip
        self.finished = False  # the last (zero-size) chunk came

    def feed(self, data: bytes) -> bytes:
        if self.finished:  # what follows the last chunk (trailers) is not body
            return b""
        if self.carry:
            data = self.carry + data
            self.carry = b""
        out: list[bytes] = []
        pos, size = 0, len(data)
        remaining, skip, find = self.remaining, self.skip, data.find
        while pos < size:
            if remaining:
                end = pos + remaining
                if end > size:
                    out.append(data[pos:])
                    remaining = end - size
                    break
                out.append(data[pos:end])
                pos, remaining, skip = end, 0, 2
            elif skip:
                taken = min(skip, size - pos)
                pos, skip = pos + taken, skip - taken
            else:
                eol = find(b"\r\n", pos)
                if eol < 0:
                    if size - pos > 1024:
                        raise ValueError("malformed chunked response (no chunk size)")
                    self.carry = data[pos:]
                    break
                head = data[pos:eol]
                try:
                    remaining = int(head, 16)
                except ValueError:  # a chunk extension (";name=value") or garbage
                    remaining = int(head.split(b";", 1)[0], 16)
                pos = eol + 2
                if not remaining:
                    self.finished = True
                    break
        self.remaining, self.skip = remaining, skip
        return out[0] if len(out) == 1 else b"".join(out)


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
            buffered = self._lines
            if max_lines is None or max_lines >= len(buffered):
                lines = list(buffered)
                buffered.clear()
            else:
                lines = [buffered.popleft() for _ in range(max(0, max_lines))]
            dropped, self._dropped_undrained = self._dropped_undrained, 0
            ended = self._done.is_set() and not buffered
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

    def _publish(self, lines: list[LogLine]) -> None:
        """Move one read's lines into the deque under one lock; count what falls out."""
        count = len(lines)
        with self._lock:
            over = len(self._lines) + count - self.buffer_lines
            if over > 0:
                self.lines_dropped += over
                self._dropped_undrained += over
            self._lines.extend(lines if count <= self.buffer_lines else lines[-self.buffer_lines :])
            self.lines_read += count
        lines.clear()

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
        read = _body_reader(response)
        out: list[LogLine] = []
        assemblers = {
            name: _LineAssembler(name, self.max_line_bytes, out) for name in ("stdout", "stderr")
        }
        feed = assemblers["stdout"].feed_tty if tty else _Demuxer(assemblers).feed
        try:
            while data := read():
                feed(data)
                if out:
                    self._publish(out)
                if self.follow and len(data) < _SMALL_READ and not self._stopping.is_set():
                    time.sleep(_COALESCE)
        except Exception:
            if self._stopping.is_set():
                return
            raise
        for assembler in assemblers.values():
            assembler.flush()
        if out:
            self._publish(out)


def _body_reader(response: Any) -> Callable[[], bytes]:
    """A function returning the next piece of the response body (b"" at its end), each
    read up to 64 KiB straight from the socket's buffered file, chunked coding undone."""
    fp = getattr(response.raw, "_fp", None)  # http.client.HTTPResponse under urllib3
    sock_file = getattr(fp, "fp", None)
    if sock_file is None or not hasattr(sock_file, "read1"):
        raw = response.raw  # not the layout this was written for: urllib3's own reads
        if getattr(raw, "chunked", False):
            chunks = raw.read_chunked(_READ_SIZE, decode_content=False)
            return lambda: next(chunks, b"")
        return lambda: raw.read(_READ_SIZE)
    if not getattr(fp, "chunked", False):
        return lambda: fp.read1(_READ_SIZE)  # http.client honours Content-Length or EOF
    dechunker = _Dechunker()

    def read() -> bytes:
        while not dechunker.finished:
            data = sock_file.read1(_READ_SIZE)
            if not data:
                return b""
            body = dechunker.feed(data)
            if body:
                return body
        return b""

    return read


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
