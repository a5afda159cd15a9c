"""The socket under a streamed SDK response, and TCP keepalive on it.

Long streams (events, followed logs) need their socket: to stop waiting for a read
timeout once the answer has started (a quiet stream is not a dead one), to shut it down
from another thread, and to turn on TCP keepalive. This reaches through
requests/urllib3/http.client internals; callers treat a failure as "no socket found".
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

__all__ = ["KEEPALIVE_IDLE", "keep_alive", "socket_of"]

#: seconds of silence before the first probe; then 3 probes 10 s apart: a connection
#: dropped on the way (a NAT or firewall forgetting it) is found dead within ~60 s.
KEEPALIVE_IDLE = 30
_KEEPALIVE_INTERVAL = 10
_KEEPALIVE_PROBES = 3


def socket_of(response: Any) -> Any:
    """The socket (or socket-like stream: ssh://) a streamed response reads from."""
    fp = response.raw._fp.fp
    raw = getattr(fp, "raw", None)
    if raw is not None:
        return getattr(raw, "_sock", None) or raw.sock
    return fp._sock


def keep_alive(sock: Any) -> bool:
    """Turn on TCP keepalive where `sock` is a TCP socket (TLS included); True if so.
    Unix sockets and ssh:// streams need none (ssh has its own ServerAlive)."""
    if not isinstance(sock, socket.socket) or sock.family not in (
        socket.AF_INET,
        socket.AF_INET6,
    ):
        return False
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (
        ("TCP_KEEPIDLE", KEEPALIVE_IDLE),
        ("TCP_KEEPINTVL", _KEEPALIVE_INTERVAL),
        ("TCP_KEEPCNT", _KEEPALIVE_PROBES),
    ):
        option = getattr(socket, name, None)
        if option is not None:  # Linux names; other systems keep their defaults
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, option, value)
    return True
