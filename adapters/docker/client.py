"""One Docker engine: a lazily made SDK client and the host's OWN bounded thread pool.

The Docker SDK blocks. Textual's shared pool has 6 threads on a 2-core machine and the
default asyncio executor is shared with everything else, so each host gets its own
pool of `workers` daemon threads (`DaemonThreadPool`: a hung call never keeps the
process alive) and every call goes through `DockerHost.call`,
which also bounds it in time and maps failures onto `adapters.errors`.

Long streams (events, followed logs) must not hold a pool thread: they use their own
client from `new_client` in their own thread.

ssh:// engines are reached through a transport of our own
(adapters/docker/ssh_transport.py; why not the SDK's is said there).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from adapters.docker.daemon_pool import DaemonThreadPool
from adapters.docker.discovery import ResolvedDocker
from adapters.docker.errors import NoEngine, exception_chain, map_docker_error
from adapters.docker.ssh_transport import SshFailed, SshTarget, ssh_adapter_class
from adapters.docker.tls import keep_own_verify, quiet_unverified, tls_message
from adapters.errors import AuthFailed, SourceError, SourceTimeout, Unreachable

if TYPE_CHECKING:
    import docker

__all__ = ["DockerHost", "SshFailed"]

T = TypeVar("T")


class DockerHost:
    """One engine of a target, shared by the monitor, the detail view and the actions."""

    def __init__(self, resolved: ResolvedDocker, *, timeout: float = 5.0, workers: int = 16):
        self.resolved = resolved
        self.name: str = resolved.name
        self.endpoint: str = resolved.endpoint()
        self.timeout = timeout
        self.workers = workers
        # Daemon threads: a call hung on the engine must never keep the process alive.
        self._pool = DaemonThreadPool(workers, name=f"docker-{resolved.name}")
        self._client: docker.DockerClient | None = None
        self._lock = threading.Lock()
        self._api_version: str | None = None
        self._closed = False
        self._queued = 0  # calls submitted to the pool and not started (event loop only)
        # ssh:// : one limit on handshakes in flight for every client of this host
        self._ssh = SshTarget(resolved.url, timeout) if resolved.scheme == "ssh" else None

    def describe(self) -> str:
        """`name: endpoint` (never with a password)."""
        return self.resolved.describe()

    @property
    def api_version(self) -> str | None:
        """The API version negotiated with the engine (None before the first call)."""
        return self._api_version

    # -- calls ---------------------------------------------------------------------------

    async def call(self, fn: Callable[[docker.DockerClient], T], *, timeout: float) -> T:
        """`fn(client)` in this host's pool, errors typed, abandoned when it has not
        finished `timeout` seconds after it STARTED on a pool thread.

        Time spent queued behind other calls is not the call's own: a refresh sampling
        more containers than the pool has threads queues the rest, and those must not
        time out for the others' sake. The queue is bounded too: every call ahead of
        this one ends or is abandoned within about `timeout` (the client's socket
        timeout is the host's), so with `n` calls queued ahead it waits at most
        `(n // workers + 1)` such rounds for a thread before giving up.

        A call that times out is abandoned, not killed: its thread is freed by the SDK's
        own socket timeout (the host's `timeout`).
        """
        if self._closed:
            raise Unreachable(f"{self.name}: connection closed")
        missing = self.resolved.missing()
        if missing is not None:
            raise NoEngine(missing)
        loop = asyncio.get_running_loop()
        ahead = self._queued
        queue_wait = (ahead // self.workers + 1) * max(timeout, self.timeout)
        started = done = False
        self._queued += 1
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives
            # when the call has just finished, so a cancelled poller would keep running.
            async with asyncio.timeout(queue_wait) as budget:

                def on_start() -> None:  # on the loop: `fn` just started on a pool thread
                    nonlocal started
                    if not done and not budget.expired():
                        started = True
                        self._queued -= 1
                        budget.reschedule(loop.time() + timeout)

                def run() -> T:
                    with contextlib.suppress(RuntimeError):  # the loop is closing
                        loop.call_soon_threadsafe(on_start)
                    return self._run(fn)

                return await loop.run_in_executor(self._pool, run)
        except TimeoutError:
            if started:
                raise SourceTimeout(
                    f"{self.endpoint} did not answer within {timeout:g} s"
                ) from None
            raise SourceTimeout(
                f"{self.endpoint}: no free connection within {queue_wait:g} s "
                f"({ahead} calls queued ahead)"
            ) from None
        finally:
            done = True
            if not started:
                self._queued -= 1

    def _run(self, fn: Callable[[docker.DockerClient], T]) -> T:
        try:
            return fn(self._shared_client())
        except BaseException as exc:
            raise self._error(exc) from exc

    def _error(self, exc: BaseException) -> SourceError:
        """`map_docker_error`, after what it cannot tell apart: ssh's own failures, and
        TLS failures (an SSL error carries errno 1, which it would take for EPERM and
        answer "add the user to the docker group")."""
        if isinstance(exc, SourceError):
            return exc
        for item in exception_chain(exc):
            if isinstance(item, SshFailed):
                kind = AuthFailed if item.auth else Unreachable
                where = self.endpoint.removeprefix("ssh://")
                return kind(f"ssh to {where} failed: {item.reason}")
            if isinstance(item, ssl.SSLError):
                return Unreachable(tls_message(item, self.resolved, self.endpoint))
        return map_docker_error(exc, where=self.endpoint)

    def _shared_client(self) -> docker.DockerClient:
        client = self._client
        if client is not None:
            return client
        # Made outside the lock: making one probes the engine, and `reset` (called on the
        # event loop) takes the lock; a hung engine must never stall the UI through it.
        made: docker.DockerClient | None = self._make(self.timeout, pool=self.workers + 2)
        with self._lock:
            if self._client is None:
                self._client, made = made, None
            client = self._client
        if made is not None:  # another thread won the race: drop ours, off this path
            _close_quietly(made)
        assert client is not None
        return client

    def new_client(self, timeout: float | None = None) -> docker.DockerClient:
        """A fresh SDK client for a long stream (events, logs); the caller closes it.

        `timeout` is the read timeout of its requests; None waits forever (a quiet
        followed log). Connecting is still bounded by the host's timeout. Raises the
        typed `SourceError` when the engine cannot be reached.
        """
        missing = self.resolved.missing()
        if missing is not None:
            raise NoEngine(missing)
        try:
            client = self._make(self.timeout, pool=2)
        except BaseException as exc:
            raise self._error(exc) from exc
        client.api.timeout = timeout  # type: ignore[assignment]
        return client

    def _make(self, timeout: float, *, pool: int) -> docker.DockerClient:
        import docker
        import docker.constants
        import docker.tls

        r = self.resolved
        seconds = int(timeout) if float(timeout).is_integer() else timeout
        tls: docker.tls.TLSConfig | bool = False
        if r.tls:
            cert = (r.tls_cert, r.tls_key) if r.tls_cert and r.tls_key else None
            verify: bool | str = bool(r.tls_verify)
            tls = docker.tls.TLSConfig(client_cert=cert, ca_cert=r.tls_ca, verify=verify)
            if not r.tls_verify:
                quiet_unverified(r.url)
        client = docker.DockerClient(
            # ssh://: made for a placeholder URL, then given our transport (see above)
            base_url="tcp://ssh.invalid:22" if r.scheme == "ssh" else r.url,
            # never None here: the SDK would ask the engine before the client is ready
            version=self._api_version or docker.constants.MINIMUM_DOCKER_API_VERSION,
            timeout=seconds,  # type: ignore[arg-type]
            tls=tls,
            max_pool_size=pool,
        )
        api = client.api
        if self._ssh is not None:
            adapter = ssh_adapter_class()(self._ssh, pool)
            api._unmount("http://", "https://")
            api.mount("http+docker://ssh", adapter)
            api._custom_adapter = adapter
            # what the SDK's own ssh:// client uses: it finds raw sockets by it
            api.base_url = "http+docker://ssh"
        if r.tls:
            keep_own_verify(api)
        if self._api_version is None:
            try:  # ask the engine once, then reuse (what `version=None` does)
                api._version = api._retrieve_server_version()
            except BaseException:
                _close_quietly(client)
                raise
        self._api_version = api.api_version
        return client

    def reset(self) -> None:
        """Drop the shared client (after the engine went away) so the next call
        reconnects and renegotiates the API version. Never blocks: it runs on the event
        loop, and closing a connection to a hung engine can."""
        with self._lock:
            client, self._client = self._client, None
            self._api_version = None
        if client is not None:
            threading.Thread(target=_close_quietly, args=(client,), daemon=True).start()

    def close(self) -> None:
        """Stop taking calls and free the pool; never waits for a hung call."""
        self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.reset()


def _close_quietly(client: docker.DockerClient) -> None:
    with contextlib.suppress(Exception):  # closing a dead connection may fail
        client.close()
