"""An event stream whose TCP connection is dropped silently on the way (a NAT or firewall
forgetting it, a partition): the engine never closes it, so its read would block forever
and no event would ever come again. Against the real engine, through a real TCP proxy
that black-holes connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from typing import Any

import pytest

from console.config_docker import DockerConfig, DockerHostConfig
from console.docker_source import DockerSource
from tests.docker_situations import Containers
from tests.test_docker_events import Running

pytest_plugins = ("tests.docker_situations",)

ENGINE_SOCKET = "/var/run/docker.sock"


class BlackHoleProxy:
    """TCP on loopback to the engine's unix socket. `drop()` silences every connection
    open now and every one accepted until `heal()`: nothing is forwarded any more and
    nothing is closed, for ever (the peer cannot tell). After `heal()` new connections
    pass; the silenced ones stay silent."""

    def __init__(self, target: str) -> None:
        self._target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._dropping = False
        self._silenced: set[int] = set()
        self._sockets: list[socket.socket] = []
        self._closed = False
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        with self._lock:
            self._dropping = True
            self._silenced.update(range(self.accepted))

    def heal(self) -> None:
        with self._lock:
            self._dropping = False

    def close(self) -> None:
        self._closed = True
        with self._lock:
            sockets = [self._listener, *self._sockets]
        for s in sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            engine = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            engine.connect(self._target)
            with self._lock:
                number = self.accepted
                self.accepted += 1
                if self._dropping:
                    self._silenced.add(number)
                self._sockets += [client, engine]
            for src, dst in ((client, engine), (engine, client)):
                threading.Thread(target=self._pump, args=(number, src, dst), daemon=True).start()

    def _pump(self, number: int, src: socket.socket, dst: socket.socket) -> None:
        while True:
            try:
                data = src.recv(65536)
            except OSError:
                return
            if not data:
                if number not in self._silenced:  # a silenced peer never sees the end
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                return
            if number in self._silenced:
                continue  # swallowed
            try:
                dst.sendall(data)
            except OSError:
                return


def died(source: DockerSource, container: Any) -> bool:
    return any(e.container_id == container.id and e.action == "die" for e in source.recent_events())


@pytest.mark.timeout(90)
async def test_a_silently_dropped_event_stream_connects_again(containers: Containers) -> None:
    proxy = BlackHoleProxy(ENGINE_SOCKET)
    try:
        victim = containers.run(command="sleep 120", name="victim")
        config = DockerConfig(
            hosts=(DockerHostConfig(url=f"tcp://127.0.0.1:{proxy.port}"),),
            name_patterns=(containers.prefix + "*",),
            timeout=1.0,
        )
        async with Running(DockerSource(config, 0.5), interval=0.5) as run:
            watcher = run.source._watchers[0]
            await run.until(
                lambda s: s.snapshot is not None
                and len(s.snapshot.containers) == 1
                and not s.stale,
                20,
                "the first poll",
            )
            deadline = time.monotonic() + 10
            while not watcher.connected:
                assert time.monotonic() < deadline, "the event stream never connected"
                await asyncio.sleep(0.05)
            assert watcher.connects == 1
            # Over TCP the stream probes its peer (a NAT dropping an idle stream shows).
            assert watcher.tcp_keepalive

            proxy.drop()
            await run.until(lambda s: s.stale, 10, "polls failing through the black hole")
            proxy.heal()
            await run.until(lambda s: not s.stale, 10, "polls answered again")

            # The engine never closed the silenced stream: only the source can tell it
            # is dead (its host stopped answering, then answered, and the stream did
            # not reconnect in between) and connect it again.
            deadline = time.monotonic() + 10
            while watcher.connects < 2 or not watcher.connected:
                assert time.monotonic() < deadline, (
                    f"the event stream stayed on its dead connection ({watcher.connects} connects)"
                )
                await asyncio.sleep(0.05)
            await asyncio.to_thread(victim.kill)
            deadline = time.monotonic() + 10
            while not died(run.source, victim):
                assert time.monotonic() < deadline, "no event came after the connection healed"
                await asyncio.sleep(0.05)
    finally:
        proxy.close()


class EventsNeverAnswered:
    """An HTTP "engine" on loopback that answers the version probe like an engine and
    never answers `GET /events` (a hung engine, or a link black-holed once connected)."""

    def __init__(self) -> None:
        import http.server

        hanging = threading.Event()
        self.hanging = hanging

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if "/events" in self.path:
                    hanging.set()
                    time.sleep(60)  # never answers in a test's lifetime
                    return
                body = b'{"ApiVersion": "1.41", "Version": "20.10.24"}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.timeout(30)
def test_an_event_request_never_answered_lets_the_watcher_go() -> None:
    from adapters.docker.client import DockerHost
    from adapters.docker.discovery import resolve
    from adapters.docker.events import EventWatcher

    engine = EventsNeverAnswered()
    host = DockerHost(resolve("hung", f"tcp://127.0.0.1:{engine.port}"), timeout=1.0)
    errors: list[str] = []
    watcher = EventWatcher(host, lambda _e: None, on_error=errors.append, backoff=(0.2, 0.5))
    try:
        watcher.start()
        assert engine.hanging.wait(10), "the watcher never asked for events"
        # The request is bounded by the host's timeout: it fails, says so, and retries.
        deadline = time.monotonic() + 5
        while not errors:
            assert time.monotonic() < deadline, "the event request was never given up"
            time.sleep(0.05)
        assert not watcher.connected
        watcher.close()
        assert watcher.join(3.0), "the watcher outlived close() by more than the timeout"
    finally:
        watcher.close()
        host.close()
        engine.close()
