"""ssh:// engines: the `ssh` binary running `docker system dial-stdio` on the remote
host (the user's keys, agent, known_hosts and ~/.ssh/config apply), as a requests
transport of our own.

The SDK's (`use_ssh_client=True`) cannot be used: it imports paramiko even to shell out
(not installed: every ssh:// call failed with "Install paramiko package"), starts one
ssh, a whole handshake, per request (a refresh of 16 containers was 16 handshakes at
once, past sshd's MaxStartups: some were dropped), lets ssh write its errors onto the
console's terminal, and never times a read out. Ours keeps each ssh process as one
kept-alive connection of the client's bounded pool, runs ssh in batch mode in its own
session (it can never prompt), keeps ssh's stderr for the error message, and times
reads out like a socket.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import os
import re
import select
import subprocess
import tempfile
import threading
import weakref
from typing import Any
from urllib.parse import urlsplit

__all__ = ["SshFailed", "SshTarget", "ssh_adapter_class"]


#: ssh handshakes in flight at once to one host (all its clients): below sshd's default
#: MaxStartups (10), past which it drops new connections at random.
_SSH_HANDSHAKES = 6
_SSH_KEEPALIVE = 10  # seconds: a dead link ends a quiet stream within 3 of these
_AUTH = re.compile(r"Permission denied|Host key verification failed|HOST IDENTIFICATION")


class SshFailed(ConnectionError):
    """ssh itself failed (refused, no route, key refused, no docker over there), in ssh's
    own words; `auth` when retrying cannot help and would only hammer the server's
    login (a refused key, an unknown or changed host key)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.auth = bool(_AUTH.search(reason))


class SshTarget:
    """Where ssh goes, and the handshakes in flight to it."""

    def __init__(self, url: str, connect_timeout: float) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or ""
        self.port = parts.port
        self.user = parts.username
        self.connect_timeout = connect_timeout
        self.handshakes = threading.BoundedSemaphore(_SSH_HANDSHAKES)

    def argv(self) -> list[str]:
        argv = [
            *("ssh", "-T", "-o", "BatchMode=yes"),  # never a prompt: no password, no "yes/no"
            *("-o", f"ConnectTimeout={max(1, math.ceil(self.connect_timeout))}"),
            *("-o", f"ServerAliveInterval={_SSH_KEEPALIVE}", "-o", "ServerAliveCountMax=3"),
        ]
        if self.user:
            argv += ["-l", self.user]
        if self.port:
            argv += ["-p", str(self.port)]
        return [*argv, "--", self.host, "docker system dial-stdio"]


class _SshStream:
    """One `ssh … docker system dial-stdio` process: a byte stream to the remote engine's
    socket that carries one kept-alive HTTP connection, shaped like the socket that
    http.client and urllib3 use (`sendall`, `makefile`, `recv`, `settimeout`, `fileno`,
    `shutdown`, `close`). Reads time out like a socket's; ssh's stderr goes to a file
    whose last lines become the error when ssh ends before the engine answered."""

    def __init__(self, target: SshTarget) -> None:
        self._target = target
        self._timeout: float | None = None
        self._answered = False
        self._ended = False
        self._release_lock = threading.Lock()
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _reap
        # A slot is held from starting ssh to the first byte from the engine (or the end).
        # Without one, ssh is not started at all: past sshd's MaxStartups it would drop
        # logins at random, failing calls that would have succeeded a moment later.
        self._slot = target.handshakes.acquire(timeout=target.connect_timeout)
        if not self._slot:
            self._errors.close()
            raise SshFailed(
                f"{_SSH_HANDSHAKES} ssh logins to {target.host} already in progress for "
                f"{target.connect_timeout:g} s: not starting another"
            )
        try:
            self._proc = subprocess.Popen(
                target.argv(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=self._errors,
                start_new_session=True,  # no terminal to prompt on, no ctrl+c from it
            )
        except OSError as exc:
            self._release()
            self._errors.close()
            raise SshFailed(f"cannot run ssh: {exc.strerror or exc}") from exc
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._in = self._proc.stdin.fileno()
        self._out = self._proc.stdout.fileno()
        self._reader = io.BufferedReader(_SshRaw(self), 65_536)

    # -- socket API ----------------------------------------------------------------------

    def settimeout(self, timeout: object) -> None:
        self._timeout = float(timeout) if isinstance(timeout, int | float) else None

    def gettimeout(self) -> float | None:
        return self._timeout

    def fileno(self) -> int:
        return self._out  # readable when the engine wrote or ssh ended (urllib3 polls it)

    def makefile(self, *args: Any, **kwargs: Any) -> _SshFile:
        return _SshFile(self, self._reader)

    def recv(self, size: int) -> bytes:
        return self._reader.read1(size)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                sent = os.write(self._in, view)
            except OSError as exc:  # ssh ended (broken pipe), or closed from this side
                raise self._failure() or ConnectionError("ssh ended") from exc
            view = view[sent:]

    def send(self, data: bytes) -> int:
        self.sendall(data)
        return len(data)

    def shutdown(self, how: int = 2) -> None:
        """End ssh: a read blocked on it wakes at once (end of stream)."""
        self._end()

    def close(self) -> None:
        self._end()

    # -- internals -----------------------------------------------------------------------

    def _readinto(self, buffer: memoryview) -> int:
        poller = select.poll()
        poller.register(self._out, select.POLLIN)
        wait = None if self._timeout is None else max(0, int(self._timeout * 1000))
        if not poller.poll(wait):
            raise TimeoutError("timed out")  # socket.timeout: urllib3's read timeout
        got = os.readv(self._out, [buffer])
        if got:
            if not self._answered:
                self._answered = True
                self._release()
            return got
        self._release()
        failure = self._failure()
        if failure is not None:
            raise failure
        return 0  # the engine closed the connection

    def _failure(self) -> SshFailed | None:
        """Why ssh ended, when it was not a plain close (None then)."""
        if self._ended:
            return None  # ended from this side
        try:
            status: int | None = self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            status = None
        if status == 0 and self._answered:
            return None
        reason = self._stderr() or (
            "ssh closed the connection" if status is None else f"ssh exited with status {status}"
        )
        return SshFailed(reason)

    def _stderr(self) -> str:
        """ssh's last words (two lines at most, printable only, bounded)."""
        try:
            self._errors.seek(0)
            raw = self._errors.read()[-4096:]
        except (OSError, ValueError):
            return ""
        lines = [
            "".join(ch for ch in line if ch.isprintable()).strip()
            for line in raw.decode("utf-8", "replace").splitlines()
        ]
        lines = [line for line in lines if line and not line.startswith("Warning: Permanently")]
        text = " / ".join(lines[-2:])
        return text if len(text) <= 300 else text[:299] + "…"

    def _release(self) -> None:
        with self._release_lock:  # the reader's thread and a closing thread may race
            held, self._slot = self._slot, False
        if held:
            self._target.handshakes.release()

    def _end(self) -> None:
        if self._ended:
            return
        self._ended = True
        self._release()
        with contextlib.suppress(OSError):
            self._proc.terminate()
        # reaped off this thread: `close` may be called on the event loop
        threading.Thread(target=_reap, args=(self._proc, self._errors), daemon=True).start()


def _reap(proc: subprocess.Popen[bytes], errors: Any) -> None:
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    with contextlib.suppress(OSError):
        proc.stdin.close()  # type: ignore[union-attr]
    errors.close()


class _SshRaw(io.RawIOBase):
    """The raw side of the stream's buffered reader. `sock` is where code looking for the
    socket under a response finds it (the SDK's cancellable streams, our log reader)."""

    def __init__(self, stream: _SshStream) -> None:
        super().__init__()
        # A proxy, not a reference: the stream holds this reader, and a cycle would keep
        # ssh's stdout pipe open until the cycle collector runs (fds piled up when a
        # flapping host made and dropped connections).
        self.sock = weakref.proxy(stream)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.sock.fileno()

    def readinto(self, buffer: Any) -> int:
        return self.sock._readinto(memoryview(buffer).cast("B"))


class _SshFile:
    """The stream's one buffered reader, as `makefile()` gives it to each response:
    http.client closes that file after every response, which must leave the connection
    open for the next one. `channel` is where the SDK looks for an ssh stream's socket."""

    def __init__(self, stream: _SshStream, reader: io.BufferedReader) -> None:
        self.channel = stream
        self._reader = reader
        self.closed = False

    def close(self) -> None:
        self.closed = True

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reader, name)


@functools.cache
def ssh_adapter_class() -> type:
    """The requests adapter of ssh:// clients (made on first use: urllib3 and requests
    load with the SDK, after the first frame)."""
    import requests.adapters
    import urllib3.connection
    import urllib3.connectionpool

    class SshConnection(urllib3.connection.HTTPConnection):
        def __init__(self, target: SshTarget, timeout: Any) -> None:
            super().__init__("localhost", timeout=timeout)
            self._ssh_target = target

        def connect(self) -> None:
            self.sock = _SshStream(self._ssh_target)  # type: ignore[assignment]

    class SshConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
        def __init__(self, target: SshTarget, maxsize: int) -> None:
            super().__init__("localhost", maxsize=maxsize)
            self._ssh_target = target

        def _new_conn(self) -> SshConnection:
            self.num_connections += 1
            return SshConnection(self._ssh_target, timeout=self.timeout.connect_timeout)

    class SshAdapter(requests.adapters.HTTPAdapter):
        """Every request of the client through ONE pool of ssh streams."""

        def __init__(self, target: SshTarget, pool_size: int) -> None:
            super().__init__(pool_connections=1, pool_maxsize=pool_size)
            self.ssh_pool = SshConnectionPool(target, pool_size)

        def get_connection_with_tls_context(
            self, request: Any, verify: Any, proxies: Any = None, cert: Any = None
        ) -> SshConnectionPool:
            return self.ssh_pool

        def get_connection(self, url: Any, proxies: Any = None) -> SshConnectionPool:
            return self.ssh_pool

        def request_url(self, request: Any, proxies: Any) -> str:
            return str(request.path_url)  # never through a proxy: it is a pipe

        def close(self) -> None:
            super().close()
            self.ssh_pool.close()

    return SshAdapter
