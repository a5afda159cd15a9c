"""The real console started in a real pseudo-terminal (200x50), for tests that need what
reaches a terminal byte for byte, or real signals."""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import subprocess
import sys
import termios
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def spawn_console(config: Path, state: Path) -> tuple[int, subprocess.Popen[bytes]]:
    """`python -m console --config CONFIG --no-mouse` on a new pty; returns the pty's
    main side (the caller reads it and closes it) and the process."""
    main, child = pty.openpty()
    fcntl.ioctl(child, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": str(state),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "console", "--config", str(config), "--no-mouse"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env,
        cwd=ROOT,
        close_fds=True,
    )
    os.close(child)
    return main, proc
