"""Bounded capture of a command's output: a ring of recent lines plus exact counters.

A runbook command may print 50 MB, or 50 MB without a single newline. The capture keeps
the last `ring` lines (each cut at `line_cap` bytes) and the lines not yet handed to the
screen (at most `pending_cap`, the newest), and counts every byte and line exactly. Its
memory is bounded by `(ring + pending_cap) * line_cap` whatever the command prints.

Lines are kept as bytes and decoded only when handed out: most lines of a flood are
counted and dropped without ever becoming `str`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

LINE_CAP = 4096
RING_LINES = 200
PENDING_CAP = 1000
TRUNCATED = "…"


@dataclass(frozen=True, slots=True)
class OutputBatch:
    """New lines since the last batch (the newest `pending_cap` of them) and the totals.

    `skipped` lines arrived since the last batch but were dropped from it (a flood).
    """

    lines: tuple[str, ...]
    skipped: int
    total_lines: int
    total_bytes: int


def decode(line: bytes, cut: bool) -> str:
    """A captured line as text: undecodable bytes replaced, a cut line marked."""
    text = line.decode("utf-8", errors="replace")
    return text + TRUNCATED if cut else text


class OutputCapture:
    """Splits a byte stream into lines as it arrives; bounded whatever the stream holds."""

    def __init__(
        self, *, ring: int = RING_LINES, pending_cap: int = PENDING_CAP, line_cap: int = LINE_CAP
    ) -> None:
        self.line_cap = line_cap
        self.total_bytes = 0
        self.total_lines = 0  # complete lines (newline seen) plus a final partial one at close
        # (line bytes, was cut) pairs.
        self._ring: deque[tuple[bytes, bool]] = deque(maxlen=ring)
        self._pending: deque[tuple[bytes, bool]] = deque(maxlen=pending_cap)
        self._pending_count = 0  # lines completed since the last batch, dropped ones too
        self._partial = bytearray()  # the line being received, at most line_cap bytes
        self._partial_cut = False  # bytes of the current line were dropped

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk of the stream (any size, any split)."""
        if not chunk:
            return
        self.total_bytes += len(chunk)
        newlines = chunk.count(b"\n")
        if newlines == 0:
            self._extend_partial(chunk)
            return
        head, _, rest = chunk.partition(b"\n")
        self._extend_partial(head)
        self._complete(bytes(self._partial), self._partial_cut)
        self._partial.clear()
        self._partial_cut = False
        body, _, tail = rest.rpartition(b"\n")
        if newlines > 1:
            self._complete_many(body, newlines - 1)
        self._extend_partial(tail)

    def close(self) -> None:
        """The stream ended: a last line without a newline still counts as a line."""
        if self._partial or self._partial_cut:
            self._complete(bytes(self._partial), self._partial_cut)
            self._partial.clear()
            self._partial_cut = False

    def take_batch(self) -> OutputBatch | None:
        """The lines completed since the last call, or None if there are none."""
        if not self._pending_count:
            return None
        lines = tuple(decode(line, cut) for line, cut in self._pending)
        batch = OutputBatch(
            lines=lines,
            skipped=self._pending_count - len(lines),
            total_lines=self.total_lines,
            total_bytes=self.total_bytes,
        )
        self._pending.clear()
        self._pending_count = 0
        return batch

    def last_lines(self, count: int) -> tuple[str, ...]:
        """The last `count` complete lines (fewer if the ring holds fewer)."""
        if count <= 0:
            return ()
        items = list(self._ring)[-count:]
        return tuple(decode(line, cut) for line, cut in items)

    # ------------------------------------------------------------------ internals

    def _extend_partial(self, data: bytes) -> None:
        room = self.line_cap - len(self._partial)
        if len(data) > room:
            self._partial += data[: max(room, 0)]
            self._partial_cut = True
        else:
            self._partial += data

    def _complete(self, line: bytes, cut: bool) -> None:
        if line.endswith(b"\r"):  # CRLF output
            line = line[:-1]
        item = (line, cut)
        self._ring.append(item)
        self._pending.append(item)
        self._pending_count += 1
        self.total_lines += 1

    def _complete_many(self, body: bytes, count: int) -> None:
        """`count` whole lines joined by newlines: only the newest ones are split out."""
        self.total_lines += count
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
            (line[:cap], True) if len(line) > cap else (line.removesuffix(b"\r"), False)
            for line in body.split(b"\n")
        ]
        self._ring.extend(items)
        self._pending.extend(items)
