"""Following one engine's container events in a daemon thread.

The watcher uses its own client (`DockerHost.new_client`): an event stream lasts
forever and must never hold a thread of the host's pool. When the engine goes away the
stream ends; the watcher reconnects with a capped exponential backoff and calls
`on_connect` each time it is (re)connected, so the owner can refresh everything it may
have missed. `close()` closes the HTTP response from the calling side, which ends the
blocking read at once: the thread stops promptly even when no event ever comes.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from adapters.docker.client import DockerHost
from adapters.docker.models import DockerEvent
from adapters.docker.raw_socket import keep_alive, socket_of

__all__ = ["RELEVANT", "EventWatcher", "parse_event", "relevant"]

log = logging.getLogger(__name__)

#: Actions after which the table must change at once.
RELEVANT = frozenset(
    {"die", "oom", "restart", "start", "stop", "kill", "destroy", "create", "pause", "unpause"}
)


_NOT_LABELS = frozenset({"name", "image", "exitCode", "signal", "execDuration"})


def relevant(event: DockerEvent) -> bool:
    """Whether the event changes what the container table shows."""
    return event.action in RELEVANT or event.action.startswith("health_status")


def parse_event(host: str, raw: Mapping[str, Any]) -> DockerEvent | None:
    """A DockerEvent from a raw engine event (None for a non-container event)."""
    if (raw.get("Type") or "container") != "container":
        return None
    actor = raw.get("Actor") or {}
    attrs = actor.get("Attributes") or {}
    exit_code = attrs.get("exitCode")
    nano = raw.get("timeNano")
    return DockerEvent(
        host=host,
        container_id=str(actor.get("ID") or raw.get("id") or ""),
        action=str(raw.get("Action") or raw.get("status") or ""),
        name=str(attrs.get("name") or ""),
        time=nano / 1e9 if isinstance(nano, int) else float(raw.get("time") or 0),
        exit_code=int(exit_code) if str(exit_code or "").lstrip("-").isdigit() else None,
        image=str(attrs.get("image") or ""),
        # the engine merges the container's labels into the attributes
        labels={str(k): str(v) for k, v in attrs.items() if k not in _NOT_LABELS},
    )


class EventWatcher:
    """Calls `on_event` (from its own thread) for each container event of `host`."""

    def __init__(
        self,
        host: DockerHost,
        on_event: Callable[[DockerEvent], None],
        *,
        on_connect: Callable[[], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        backoff: tuple[float, float] = (0.5, 10.0),
    ) -> None:
        self.host = host
        self._on_event = on_event
        self._on_connect = on_connect
        self._on_error = on_error
        self._backoff = backoff
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None
        self._client: Any = None
        self._thread = threading.Thread(
            target=self._run, name=f"docker-events-{host.name}", daemon=True
        )
        self.connected = False
        #: whether the stream's TCP socket probes a silent peer (tcp:// hosts)
        self.tcp_keepalive = False
        self.connects = 0
        self.events_seen = 0

    def start(self) -> None:
        """Start following in the background."""
        self._thread.start()

    def close(self) -> None:
        """Stop: end the blocking read from this side; returns at once."""
        self._closed.set()
        with self._lock:
            stream, client = self._stream, self._client
        self._shut(stream, client)

    def reconnect(self) -> bool:
        """Drop the current stream so the watcher connects again (returns at once;
        False when it was not connected). For a stream that may be dead without
        knowing it: the events endpoint sends nothing while nothing happens, so a TCP
        connection dropped silently on the way (a NAT or firewall forgetting it, a
        network partition) blocks its read forever."""
        with self._lock:
            stream, client = self._stream, self._client
        if stream is None:
            return False
        self._shut(stream, client)
        return True

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    @staticmethod
    def _shut(stream: Any, client: Any) -> None:
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def _run(self) -> None:
        delay = self._backoff[0]
        while not self._closed.is_set():
            error: str | None = None
            try:
                self._follow()
                delay = self._backoff[0]  # a stream that ran was a success
            except Exception as exc:  # the engine is away: retry later
                error = str(exc) or type(exc).__name__
                log.debug("events of %s: %s", self.host.name, error)
            self.connected = False
            if self._closed.is_set():
                break
            if error is not None and self._on_error is not None:
                with contextlib.suppress(Exception):
                    self._on_error(error)
            self._closed.wait(delay)
            delay = min(delay * 2, self._backoff[1])

    def _follow(self) -> None:
        # Bounded until the engine answers (a hung engine, or a link black-holed right
        # after connecting, must not hold this thread where close() cannot reach it);
        # the stream itself has no read timeout: a quiet engine sends nothing.
        client = self.host.new_client(timeout=self.host.timeout)
        with self._lock:
            self._client = client
        try:
            if self._closed.is_set():
                raise _Closed
            stream = _open_events(client)
        except BaseException:
            with self._lock:
                self._client = None
            self._shut(None, client)
            if self._closed.is_set():
                return
            raise
        with self._lock:
            self._stream = stream
        try:
            if self._closed.is_set():  # closed while connecting
                return
            self.tcp_keepalive = _quiet_forever(stream)
            self.connected = True
            self.connects += 1
            if self._on_connect is not None:
                self._on_connect()
            for raw in stream:  # ends (StopIteration) when the engine goes away
                event = parse_event(self.host.name, raw)
                if event is None:
                    continue
                self.events_seen += 1
                self._on_event(event)
        finally:
            with self._lock:
                self._stream = self._client = None
            self._shut(stream, client)


def _open_events(client: Any) -> Any:
    """`client.api.events(decode=True, filters=container)`, but bounded by the client's
    timeout until the engine answers: the SDK's own passes `timeout=None`, so a request
    never answered blocked for ever, out of reach of close()."""
    from docker import types, utils

    api = client.api
    params = {"filters": utils.convert_filters({"type": "container"})}
    response = api._get(api._url("/events"), params=params, stream=True)
    api._raise_for_status(response)
    return types.CancellableStream(api._stream_helper(response, decode=True), response)


class _Closed(Exception):
    """close() came before the request was sent."""


def _quiet_forever(stream: Any) -> bool:
    """Once the engine answered: no read timeout on the stream (it may stay quiet for
    hours), and TCP keepalive where it runs over TCP, so that a connection dropped on the
    way ends the read instead of blocking it forever. True when keepalive is on."""
    try:
        sock = socket_of(stream._response)
        sock.settimeout(None)
    except Exception:  # not the layout this was written for: keep the read timeout
        log.debug("events: no socket under the stream", exc_info=True)
        return False
    try:
        return keep_alive(sock)
    except OSError:
        return False
