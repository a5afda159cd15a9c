"""The real console in a real pseudo-terminal: what reaches the terminal, byte for byte."""

from __future__ import annotations

import os
import re
import select
import time

from tests.pg_situations import hostile_query
from tests.pty_console import spawn_console
from tests.ui_helpers import write_config


def _read_for(fd: int, seconds: float, until: bytes | None = None) -> bytes:
    out = bytearray()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if until is not None and until in out:
                break
    return bytes(out)


async def test_no_control_bytes_from_data_reach_the_terminal(tmp_path, pg_dsn) -> None:
    config = write_config(tmp_path, pg_dsn, refresh=0.5)
    async with hostile_query(pg_dsn):
        main, proc = spawn_console(config, tmp_path)
        try:
            output = _read_for(main, 15, until=b"ops-console")
            os.write(main, b"2")
            # Wait until the hostile query is drawn (its escape shown as the visible ␛).
            output += _read_for(main, 15, until="␛]0;title".encode())
            os.write(main, b"q")
            output += _read_for(main, 10)
            assert proc.wait(timeout=10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            os.close(main)
    assert "␛]0;title".encode() in output, "the hostile query was never drawn"
    assert b"\x1b]0;title" not in output  # no OSC 0 title change from data
    assert "\u202e".encode() not in output  # no bidi override
    assert "\x9b".encode() not in output  # no C1 CSI
    # Textual's own OSC sequences end with BEL; any other BEL would come from data.
    assert b"\x07" not in re.sub(rb"\x1b\][0-9]+;[^\x07\x1b]*\x07", b"", output)
