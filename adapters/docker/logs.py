"""Follow one container's log in a thread of its own, kept in a bounded buffer (pull model).

Why a pull model: a flood of 20,000 lines/s must neither flood the UI with messages nor
grow memory. The reader thread appends to a bounded deque (the oldest lines fall out and
are counted) and the UI drains it on its own timer. A followed stream of a quiet
container blocks in `recv` forever: `stop()` shuts the socket down from the calling side,
which wakes that read at once, so the app always exits promptly.

Why the body is read raw: the reader takes up to 64 KiB per read from the response's
buffered socket file and hands it to the parsers of adapters/docker/log_stream.py
(chunked coding, the engine's frames, lines), then puts each read's lines into the deque
under one lock. The reader thread competes with the UI thread for the GIL, so its cost
per line is what keeps key presses prompt during a flood (bench/log_flood_bench.py).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.docker.log_stream import Dechunker, Demuxer, LineAssembler
from adapters.docker.models import LogLine
from adapters.docker.raw_socket import socket_of

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker

log = logging.getLogger(__name__)

_READ_SIZE = 65_536
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
                socket_of(response).settimeout(None)
        read = _body_reader(response)
        out: list[LogLine] = []
        assemblers = {
            name: LineAssembler(name, self.max_line_bytes, out) for name in ("stdout", "stderr")
        }
        feed = assemblers["stdout"].feed_tty if tty else Demuxer(assemblers).feed
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
    dechunker = Dechunker()

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


def _close_stream(stream: Any) -> None:
    """Shut the socket down (wakes a blocked recv in the reader), then close it."""
    response = getattr(stream, "_response", None)
    sock = None
    with contextlib.suppress(Exception):
        sock = socket_of(response)
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
