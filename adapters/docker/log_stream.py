"""The engine's log byte stream cut into `LogLine`s: chunked coding, frames, lines.

The SDK's high-level `logs()` drops which stream a chunk came from, so the engine's
multiplexed frames (8-byte header: stream id, 3 zero bytes, big-endian length) are
parsed here. A TTY container has no frames: everything is stdout. Timestamps are always
asked for and split off into `LogLine.timestamp`; the view decides whether to show them.

Why this is hand-written: the engine sends every log line as its own HTTP chunk, and
urllib3's `read_chunked` costs more per chunk than the rest of the parsing. These parsers
undo the chunked transfer coding and the frames in `bytes.find`/`unpack_from` loops and
handle a whole one-line message in one step. They run in the follower's reader thread
(adapters/docker/logs.py), which competes with the UI thread for the GIL, so their cost
per line is what keeps key presses prompt during a flood (bench/log_flood_bench.py).
Nothing here does I/O: each parser is fed whatever pieces the socket gave.
"""

from __future__ import annotations

import struct

from adapters.docker.models import LogLine

_HEADER = struct.Struct(">BxxxL")
_STREAMS = {1: "stdout", 2: "stderr", 3: "stderr"}  # 3: the engine's own "Error grabbing logs"
#: An RFC 3339 timestamp with nanoseconds is 30-35 bytes; anything longer is not one.
_MAX_TIMESTAMP = 40
#: A frame up to this size is waited for whole; a bigger one is fed as it arrives, so a
#: partial frame held between reads stays bounded whatever the engine sends.
_WHOLE_FRAME = 65_536


class LineAssembler:
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
        """General path: any piece of a message (or of raw TTY output), cut anywhere."""
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


class Demuxer:
    """The engine's multiplexed frames, parsed out of the body as it arrives: a whole
    frame in one step, a partial one held (up to `_WHOLE_FRAME`) or fed as it comes."""

    def __init__(self, assemblers: dict[str, LineAssembler]) -> None:
        self.by_id = {sid: assemblers[name] for sid, name in _STREAMS.items()}
        self.default = assemblers["stdout"]
        self.carry = b""
        self.remaining = 0  # bytes still to come of a big frame being fed as it arrives
        self.target = self.default

    def feed(self, data: bytes) -> None:
        """Route the frames in `data` (any piece of the body) to their streams' assemblers."""
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


class Dechunker:
    """Undoes HTTP/1.1 chunked transfer coding on whatever pieces the socket gives."""

    def __init__(self) -> None:
        self.carry = b""  # an incomplete chunk-size line
        self.remaining = 0  # data bytes left in the current chunk
        self.skip = 0  # bytes of the CRLF after a chunk's data still to skip
        self.finished = False  # the last (zero-size) chunk came

    def feed(self, data: bytes) -> bytes:
        """The body bytes in `data` (any piece of the response), chunk framing removed."""
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
