"""Bounded capture of a command's output: a ring of recent lines plus exact counters.

A runbook command may print 50 MB, or 50 MB without a single newline, on stdout, on
stderr or on both. The capture keeps the last `ring` lines (each cut at `line_cap`
bytes) and the lines not yet handed to the screen (at most `pending_cap`, the newest),
and counts every byte and line exactly, per stream. Its memory is bounded by
`(ring + pending_cap + 2) * line_cap` whatever the command prints (the 2: the line each
stream is still receiving).

The two streams arrive on two pipes: each has its own partial line (a stderr line
written between two halves of a stdout line does not split it), and complete lines
enter the ring in the order they were completed, which is the order they were read.

Lines are kept as bytes and decoded only when handed out: most lines of a flood are
counted and dropped without ever becoming `str`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Literal, NamedTuple

LINE_CAP = 4096
RING_LINES = 200
PENDING_CAP = 1000
TRUNCATED = "…"

Stream = Literal["stdout", "stderr"]
STREAMS: tuple[Stream, ...] = ("stdout", "stderr")


class OutputLine(NamedTuple):
    """One line of output: its text (decoded, not sanitised), the stream it came on, and
    whether it was cut at the line cap (`text` then holds only its first bytes).

    A named tuple, not a frozen dataclass: a flood hands out 1,000 of them a batch, and
    a tuple is made several times faster."""

    text: str
    stream: Stream = "stdout"
    cut: bool = False


@dataclass(frozen=True, slots=True)
class OutputBatch:
    """New lines since the last batch (the newest `pending_cap` of them) and the totals.

    `skipped` lines arrived since the last batch but were dropped from it (a flood).
    `total_lines` / `total_bytes` count both streams; `stderr_lines` those of stderr.
    """

    lines: tuple[OutputLine, ...]
    skipped: int
    total_lines: int
    total_bytes: int
    stderr_lines: int = 0


def decode(line: bytes, cut: bool) -> str:
    """A captured line as text: undecodable bytes replaced, a cut line marked."""
    text = line.decode("utf-8", errors="replace")
    return text + TRUNCATED if cut else text


# A captured line: (bytes, was cut, stream). Tuples, not objects: a flood makes many.
_Item = tuple[bytes, bool, Stream]


class _Partial:
    """The line one stream is still receiving, at most `cap` bytes of it."""

    __slots__ = ("cap", "cut", "data")

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.data = bytearray()
        self.cut = False  # bytes of the current line were dropped

    def extend(self, chunk: bytes) -> None:
        room = self.cap - len(self.data)
        if len(chunk) > room:
            self.data += chunk[: max(room, 0)]
            self.cut = True
        else:
            self.data += chunk

    def take(self) -> tuple[bytes, bool]:
        line, cut = bytes(self.data), self.cut
        self.data.clear()
        self.cut = False
        return line, cut

    def __bool__(self) -> bool:
        return bool(self.data) or self.cut


class OutputCapture:
    """Splits two byte streams into lines as they arrive; bounded whatever they hold."""

    def __init__(
        self, *, ring: int = RING_LINES, pending_cap: int = PENDING_CAP, line_cap: int = LINE_CAP
    ) -> None:
        self.line_cap = line_cap
        self.total_bytes = 0
        self.total_lines = 0  # complete lines (newline seen) plus a final partial one at close
        self.bytes_by_stream: dict[Stream, int] = dict.fromkeys(STREAMS, 0)
        self.lines_by_stream: dict[Stream, int] = dict.fromkeys(STREAMS, 0)
        self._ring: deque[_Item] = deque(maxlen=ring)
        self._pending: deque[_Item] = deque(maxlen=pending_cap)
        self._pending_count = 0  # lines completed since the last batch, dropped ones too
        self._partials: dict[Stream, _Partial] = {s: _Partial(line_cap) for s in STREAMS}

    def feed(self, chunk: bytes, stream: Stream = "stdout") -> None:
        """Take the next chunk of `stream` (any size, any split)."""
        if not chunk:
            return
        self.total_bytes += len(chunk)
        self.bytes_by_stream[stream] += len(chunk)
        partial = self._partials[stream]
        newlines = chunk.count(b"\n")
        if newlines == 0:
            partial.extend(chunk)
            return
        head, _, rest = chunk.partition(b"\n")
        partial.extend(head)
        self._complete(*partial.take(), stream)
        body, _, tail = rest.rpartition(b"\n")
        if newlines > 1:
            self._complete_many(body, newlines - 1, stream)
        partial.extend(tail)

    def close(self, stream: Stream | None = None) -> None:
        """`stream` (both when None) ended: a last line without a newline still counts."""
        for name in STREAMS if stream is None else (stream,):
            partial = self._partials[name]
            if partial:
                self._complete(*partial.take(), name)

    def take_batch(self) -> OutputBatch | None:
        """The lines completed since the last call, or None if there are none."""
        if not self._pending_count:
            return None
        lines = tuple(
            OutputLine(line.decode("utf-8", errors="replace"), stream, cut)
            for line, cut, stream in self._pending
        )
        batch = OutputBatch(
            lines=lines,
            skipped=self._pending_count - len(lines),
            total_lines=self.total_lines,
            total_bytes=self.total_bytes,
            stderr_lines=self.lines_by_stream["stderr"],
        )
        self._pending.clear()
        self._pending_count = 0
        return batch

    def last_lines(self, count: int) -> tuple[str, ...]:
        """The last `count` complete lines (fewer if the ring holds fewer), cut ones marked."""
        return tuple(text for text, _ in self.last_entries(count))

    def last_entries(self, count: int) -> tuple[tuple[str, Stream], ...]:
        """The last `count` complete lines with the stream each came on."""
        if count <= 0:
            return ()
        items = list(self._ring)[-count:]
        return tuple((decode(line, cut), stream) for line, cut, stream in items)

    # ------------------------------------------------------------------ internals

    def _complete(self, line: bytes, cut: bool, stream: Stream) -> None:
        if line.endswith(b"\r"):  # CRLF output
            line = line[:-1]
        item = (line, cut, stream)
        self._ring.append(item)
        self._pending.append(item)
        self._pending_count += 1
        self.total_lines += 1
        self.lines_by_stream[stream] += 1

    def _complete_many(self, body: bytes, count: int, stream: Stream) -> None:
        """`count` whole lines joined by newlines: only the newest ones are split out."""
        self.total_lines += count
        self.lines_by_stream[stream] += count
        self._pending_count += count
        keep = max(self._ring.maxlen or 0, self._pending.maxlen or 0)
        if count > keep:
            # Split only the tail that can still be kept; the rest is counted, not stored.
            cut_at = len(body)
            for _ in range(keep):
                cut_at = body.rfind(b"\n", 0, cut_at)
                if cut_at < 0:
                    break
            body = body[cut_at + 1 :] if cut_at >= 0 else body
        cap = self.line_cap
        items = [
            (line[:cap], True, stream)
            if len(line) > cap
            else (line.removesuffix(b"\r"), False, stream)
            for line in body.split(b"\n")
        ]
        self._ring.extend(items)
        self._pending.extend(items)
