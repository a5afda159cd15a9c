"""The thread that reads a runbook command's stdout and stderr pipes into the capture.

Both pipes are read by one thread, in the order their data arrives (one `selectors`
loop), so the capture sees the lines of the two streams interleaved as closely as two
pipes allow: a line is placed by when it was read, and two lines written to different
pipes between two reads of ours keep no order between them.

Why a thread and not the event loop: the loop also draws the screen, and while it did,
a fast command sat blocked on a full 64 KB pipe (a 100,000-line flood took 3-4 times as
long as to /dev/null). The thread blocks in `select`/`read` without the GIL and drains
the pipes (grown to 1 MB) as fast as they fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import selectors
import threading
import time
from collections.abc import Mapping

from adapters.runbook.output import OutputCapture, Stream

READ_CHUNK = 256 * 1024
#: In a flood, how long to let output pile up in the pipes between two reads.
READ_PAUSE = 0.01
#: A read of at least this much, or two reads closer than `BURST_GAP`, is a flood.
PAUSE_BYTES = 4096
BURST_GAP = 0.001
PIPE_SIZE = 1024 * 1024


def grow_pipe(fd: int) -> None:
    """Ask for a 1 MB pipe (Linux): a flood then waits on us less often."""
    setpipe = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setpipe is not None:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, setpipe, PIPE_SIZE)


class PipeReader(threading.Thread):
    """Reads every pipe of `fds` to its end into `capture` (under `lock`), closing each.

    `select` with a short timeout lets `stop()` end the thread even while a background
    process keeps a pipe open, so no thread outlives its run. `finished` is set (in
    `loop`) once every pipe has ended or the thread was stopped.
    """

    def __init__(
        self,
        fds: Mapping[Stream, int],
        capture: OutputCapture,
        lock: threading.Lock,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        super().__init__(name="runbook-output", daemon=True)
        self.fds = dict(fds)
        self.capture = capture
        self.lock = lock
        self.loop = loop
        self.finished = asyncio.Event()
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        # `selectors`, not `select.select`: a console with many open files can hand a
        # pipe an fd number above 1024, which `select` cannot watch.
        selector = selectors.DefaultSelector()
        open_fds = dict(self.fds)
        try:
            for stream, fd in open_fds.items():
                selector.register(fd, selectors.EVENT_READ, stream)
            last_read = 0.0
            while open_fds and not self._halt.is_set():
                ready = selector.select(0.1)
                if not ready:
                    continue
                read = 0
                more = False
                # Both ready at once: both were written since our last look, in an
                # order the pipes do not keep; stdout is taken first, arbitrarily.
                for key, _ in sorted(ready, key=lambda event: event[0].data != "stdout"):
                    stream: Stream = key.data
                    chunk = os.read(key.fd, READ_CHUNK)
                    with self.lock:
                        if chunk:
                            self.capture.feed(chunk, stream)
                        else:
                            self.capture.close(stream)  # its last unterminated line
                    if not chunk:
                        selector.unregister(key.fd)
                        os.close(open_fds.pop(stream))
                        continue
                    read += len(chunk)
                    more = more or len(chunk) == READ_CHUNK
                now = time.monotonic()
                if not more and read and (read >= PAUSE_BYTES or now - last_read < BURST_GAP):
                    # A flood: let it pile up in the 1 MB pipes for a moment instead of
                    # waking up for every 8 KB (the writer is not blocked meanwhile, and
                    # the screen only draws every 0.2 s). Output that comes a line now
                    # and then is read at once, so each line is ordered by when it came.
                    time.sleep(READ_PAUSE)
                last_read = now
        except OSError:
            return  # a pipe broke: what was read is kept, the result says how it ended
        finally:
            selector.close()
            for fd in open_fds.values():
                os.close(fd)
            # The loop may be closed already if the run was abandoned.
            with contextlib.suppress(RuntimeError):
                self.loop.call_soon_threadsafe(self.finished.set)
