"""Real local servers for the health tests: HTTP(S) on free loopback ports, in threads.

One `HttpServer` answers every behaviour by path, so one server serves many checks:

    /healthy      200 JSON {"status": "healthy", "services": {"database": "connected"}, ...}
    /unhealthy    200 JSON whose database is "disconnected"
    /error        500 JSON
    /slow?ms=N    200 after N ms
    /flap         200, 500, 200, 500... (one counter per server)
    /redirect     302 to /healthy
    /not-json     200 HTML
    /big          200, a 10 MB JSON-looking body
    /drip         200 whose 1,000-byte body comes one byte every 0.2 s
    /hostile      200 with escape sequences, C1 controls, bidi overrides and Rich markup in
                  a header and in the JSON body's `version`
    /hostile-raw  the same header, and the hostile text raw as the body
    /status?code=N  N

`HangingServer` accepts connections and never answers. `TlsSet` holds a test CA and
HTTPS servers with a good certificate, one expiring in 5 days, an expired one, one for
another host name, and a self-signed one.

Run as `python -m tests.health_servers` to serve one HTTP server and one hanging server
(for the benchmark, in another process); it prints both ports and runs until killed.

(PYTEST_DONT_REWRITE: test modules import it before pytest loads it as a plugin.)
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

HEALTHY = {
    "status": "healthy",
    "version": "1.4.2",
    "services": {"database": "connected", "cache": "connected"},
}
HOSTILE = (
    "\x1b[2J\x1b]0;pwned\x07\x1b]52;c;ZWNobyBoaQ==\x07[red]markup[/] [link=http://x]l[/link]"
    "\u202eevil\u202c \x9b31m c1"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            try:
                self.request.do_handshake()
            except (OSError, ssl.SSLError):
                self.request.close()
                raise
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(
        self,
        code: int,
        body: bytes,
        ctype: str = "application/json",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.hits += 1
        route = url.path
        if route == "/healthy":
            self._send(200, json.dumps(HEALTHY).encode())
        elif route == "/unhealthy":
            doc = {**HEALTHY, "status": "degraded", "services": {"database": "disconnected"}}
            self._send(200, json.dumps(doc).encode())
        elif route == "/error":
            self._send(500, b'{"status": "error"}')
        elif route == "/status":
            self._send(int(query.get("code", "200")), b"{}")
        elif route == "/slow":
            time.sleep(int(query.get("ms", "1000")) / 1000)
            self._send(200, json.dumps(HEALTHY).encode())
        elif route == "/flap":
            with self.server.lock:
                self.server.flaps += 1
                good = self.server.flaps % 2 == 1
            self._send(200 if good else 500, json.dumps(HEALTHY if good else {}).encode())
        elif route == "/redirect":
            self._send(302, b"", "text/plain", {"Location": "/healthy"})
        elif route == "/not-json":
            self._send(200, b"<html><body>It works</body></html>", "text/html")
        elif route == "/big":
            self._big()
        elif route == "/drip":
            self._drip()
        elif route in ("/hostile", "/hostile-raw"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            # Raw bytes: beyond ASCII, reaching the client as Latin-1 (\x9b is a C1 CSI).
            self._headers_buffer.append(b"X-Hostile: \x9b2J [bold]x[/] \xe2\x80\xae\r\n")
            if url.path == "/hostile":  # JSON: the controls arrive escaped, then decoded
                body = json.dumps({"status": "healthy", "version": HOSTILE}).encode()
            else:
                body = HOSTILE.encode() * 3
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._send(404, b'{"error": "not found"}')

    def _big(self) -> None:
        size = 10 * 1024 * 1024
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        chunk = b'{"pad": "' + b"x" * 65_000 + b'"},'
        sent = 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                self.wfile.write(part)
                sent += len(part)
        except OSError:
            pass  # the client read its prefix and hung up, as it should

    def _drip(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "1000")
        self.end_headers()
        try:
            for _ in range(1000):
                self.wfile.write(b" ")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024  # the default 5 drops SYNs when 200 checks connect at once

    def __init__(self, context: ssl.SSLContext | None) -> None:
        self.context = context
        self.hits = 0
        self.flaps = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = super().get_request()
        if self.context is not None:
            # The handshake happens in the handler thread, never in the accept loop.
            sock = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that hang up or refuse our certificate are part of the tests


class HttpServer:
    """A threaded HTTP(S) server on a free loopback port, stopped by `close()`."""

    def __init__(self, context: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._server = _Server(context)
        self.port: int = self._server.server_address[1]
        self.host = host
        self.scheme = "https" if context is not None else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def hits(self) -> int:
        return self._server.hits

    def url(self, path: str = "/healthy") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class HangingServer:
    """Accepts every connection and never sends a byte."""

    def __init__(self) -> None:
        self._sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port: int = self._sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._closed = False
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def url(self, path: str = "/healthy") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self._closed = True
        self._sock.close()
        for conn in self.accepted:
            conn.close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A loopback port with nothing listening on it (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class TlsSet:
    """A test CA (trusted through `ca_file`) and HTTPS servers with chosen certificates."""

    ca_file: Path
    good: HttpServer
    expiring: HttpServer  # expires in 5 days
    expired: HttpServer
    wrong_host: HttpServer  # certificate for other.example, served on 127.0.0.1
    self_signed: HttpServer
    servers: list[HttpServer] = field(default_factory=list)

    def close(self) -> None:
        for server in self.servers:
            server.close()


def _context(cert_pem: bytes, key_pem: bytes, tmp: Path, name: str) -> ssl.SSLContext:
    cert, key = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert.write_bytes(cert_pem)
    key.write_bytes(key_pem)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def make_tls_set(tmp: Path) -> TlsSet:
    import trustme

    ca = trustme.CA()
    ca_file = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    now = dt.datetime.now(dt.UTC)

    def leaf(name: str, *identities: str, **kwargs: Any) -> HttpServer:
        cert = ca.issue_cert(*identities, **kwargs)
        chain = b"".join(blob.bytes() for blob in cert.cert_chain_pems)
        server = HttpServer(_context(chain, cert.private_key_pem.bytes(), tmp, name), "localhost")
        return server

    good = leaf("good", "localhost", "127.0.0.1", common_name="localhost")
    expiring = leaf("expiring", "localhost", not_after=now + dt.timedelta(days=5))
    expired = leaf(
        "expired",
        "localhost",
        not_before=now - dt.timedelta(days=30),
        not_after=now - dt.timedelta(days=1),
    )
    wrong = leaf("wrong", "other.example")
    # A CA's certificate is signed by its own key: served as a leaf, it is self-signed.
    other = trustme.CA(organization_name="Self Signed Inc")
    self_signed = HttpServer(
        _context(other.cert_pem.bytes(), other.private_key_pem.bytes(), tmp, "self"), "localhost"
    )
    servers = [good, expiring, expired, wrong, self_signed]
    return TlsSet(ca_file, good, expiring, expired, wrong, self_signed, servers)


# --- fixtures --------------------------------------------------------------------------


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    yield server
    server.close()


@pytest.fixture
def hanging_server() -> Iterator[HangingServer]:
    server = HangingServer()
    yield server
    server.close()


@pytest.fixture
def tls_set(tmp_path: Path) -> Iterator[TlsSet]:
    tls = make_tls_set(tmp_path)
    yield tls
    tls.close()


def main() -> None:
    """Serve one HTTP server and one hanging server until killed (for the benchmark)."""
    server, hanging = HttpServer(), HangingServer()
    print(server.port, hanging.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
        hanging.close()
        sys.exit(0)


if __name__ == "__main__":
    main()
