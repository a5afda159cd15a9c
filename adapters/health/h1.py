"""A minimal HTTP/1.1 client for the health checks: h11 over one kept-alive asyncio stream
per check.

Why not httpx for every check: a health check is one small request repeated forever on
the same connection, and httpx spends most of a check's CPU on machinery a check does
not use (client, auth and redirect flows, httpcore's pool, anyio's stream wrappers,
trace hooks). Measured with bench/health_bench.py's setup (200 checks every 5 s,
local server, process CPU time per check run, checks started one by one): httpx
~3.0 ms, this path ~1.2 ms. httpx stays for the checks that follow redirects.

What stays the same as with httpx: HTTP parsing is h11's (the parser httpx uses), the
request carries the same headers, errors keep their cause (`socket.gaierror`,
`ConnectionRefusedError`, `ssl.SSLCertVerificationError`...) for `classify`, the body is
read raw (decoded later, bounded) and header bytes are decoded as httpx does (ASCII,
else UTF-8, else Latin-1). Everything constant about a check (the h11 request, the
address, the TLS context) is built once, not per run. URLs are parsed by httpx's rules
(see `HealthChecker._endpoint`), never here.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import ssl
import time

import h11

from adapters.health.judge import Answer

USER_AGENT = "ops-console-health"
_DISCONNECTED = "Server disconnected without sending a response."
READ_CHUNK = 64 * 1024


class ProtocolFault(Exception):
    """The server broke HTTP/1.1 (closed without a response, sent garbage)."""


class Progress:
    """How far one run got, for the message when its deadline strikes."""

    __slots__ = ("phase",)

    def __init__(self) -> None:
        self.phase = "connection"


def decode_headers(raw: list[tuple[bytes, bytes]]) -> tuple[tuple[str, str], ...]:
    """Header bytes as text: ASCII, else UTF-8, else Latin-1, for the whole set."""
    for encoding in ("ascii", "utf-8", "iso-8859-1"):
        try:
            return tuple((k.decode(encoding), v.decode(encoding)) for k, v in raw)
        except UnicodeDecodeError:
            continue
    raise AssertionError("Latin-1 decodes every byte")  # pragma: no cover


class Endpoint:
    """One check's target: its request, built once, and its idle kept-alive connection."""

    def __init__(
        self,
        host: str,
        port: int,
        target: bytes,
        method: str,
        host_header: bytes,
        headers: tuple[tuple[str, str], ...],
        context: ssl.SSLContext | None,
        keepalive: float,
    ) -> None:
        self.host = host
        self.port = port
        self.context = context
        self.keepalive = keepalive
        merged: dict[bytes, tuple[bytes, bytes]] = {}
        defaults = (
            (b"Host", host_header),
            (b"Accept", b"*/*"),
            (b"Accept-Encoding", b"gzip, deflate"),
            (b"Connection", b"keep-alive"),
            (b"User-Agent", USER_AGENT.encode()),
        )
        for name, value in (*defaults, *((k.encode(), v.encode()) for k, v in headers)):
            merged[name.lower()] = (name, value)  # the check's own headers win
        if method in ("POST", "PUT") and b"content-length" not in merged:
            merged[b"content-length"] = (b"Content-Length", b"0")  # as httpx sends
        # h11 validates the headers here, once, not on every run.
        self.request = h11.Request(method=method, target=target, headers=list(merged.values()))
        self._idle: Connection | None = None

    async def send(self, progress: Progress) -> tuple[Connection, Answer]:
        """Send the request and read the response head (the caller bounds the time).

        A kept-alive connection the server closed meanwhile gets one retry on a fresh
        connection, as long as not a byte of a response came back on it.
        """
        conn, self._idle = self._idle, None
        if conn is not None and conn.stale(self.keepalive):
            conn.close()
            conn = None
        if conn is not None:
            try:
                return conn, await conn.exchange(self.request, progress)
            except (ProtocolFault, OSError, h11.ProtocolError):
                conn.close()
                if conn.received or isinstance(conn.error, ssl.SSLError):
                    raise
            except BaseException:  # cancelled (its deadline): never leak the socket
                conn.close()
                raise
        progress.phase = "connection"
        conn = await Connection.open(self.host, self.port, self.context)
        try:
            return conn, await conn.exchange(self.request, progress)
        except BaseException:
            conn.close()
            raise

    def release(self, conn: Connection) -> None:
        """Keep `conn` for the next run if its exchange ended cleanly, else close it."""
        if conn.reusable() and self._idle is None:
            conn.idle_since = time.monotonic()
            self._idle = conn
        else:
            conn.close()

    def close(self) -> None:
        conn, self._idle = self._idle, None
        if conn is not None:
            conn.close()


class Connection:
    """One TCP (or TLS) connection and its h11 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = time.monotonic()
        self.received = False  # a byte of a response arrived in the current exchange
        self.error: BaseException | None = None

    @classmethod
    async def open(cls, host: str, port: int, context: ssl.SSLContext | None) -> Connection:
        """Connect to each address of `host` in turn; a refusal wins over other errors.

        (asyncio folds the errors of several addresses into one OSError without an
        errno, which would hide "refused"; so the addresses are tried here.)
        """
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            loop = asyncio.get_running_loop()
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            addresses = [(family, address[0]) for family, _, _, _, address in infos]
        else:  # no resolver thread for an address
            family = socket.AF_INET6 if literal.version == 6 else socket.AF_INET
            addresses = [(family, host)]
        errors: list[OSError] = []
        for family, address in addresses:
            try:
                reader, writer = await asyncio.open_connection(
                    address,
                    port,
                    family=family,
                    ssl=context,
                    server_hostname=host if context is not None else None,
                )
            except ssl.SSLError:
                raise  # the server is there and its TLS is wrong: no other address helps
            except OSError as exc:
                errors.append(exc)
                continue
            return cls(reader, writer)
        if not errors:
            raise OSError(f"no address for {host}")
        refused = [e for e in errors if isinstance(e, ConnectionRefusedError)]
        raise (refused or errors)[0]

    def stale(self, keepalive: float) -> bool:
        """Closed by the server while idle, idle for longer than we trust it, or holding
        bytes nobody asked for: read on the next run, they would pass for its answer (a
        late duplicate, an over-long body, a 408 sent on idle close)."""
        return (
            bool(self.reader._buffer)  # StreamReader has no public "pending bytes"
            or self.reader.at_eof()
            or self.writer.transport.is_closing()
            or time.monotonic() - self.idle_since > keepalive
        )

    async def exchange(self, request: h11.Request, progress: Progress) -> Answer:
        """Send `request` and read up to the response head."""
        conn = self.h11
        self.received = False
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
        try:
            progress.phase = "request sent"
            self.writer.write(conn.send(request) + (conn.send(h11.EndOfMessage()) or b""))
            await self.writer.drain()
            progress.phase = "answer"
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Response):
                    return Answer(
                        event.status_code,
                        event.reason.decode("latin-1"),
                        decode_headers(list(event.headers)),
                    )
                if isinstance(event, h11.ConnectionClosed):
                    raise ProtocolFault(_DISCONNECTED)
                # an InformationalResponse (1xx): the real answer follows
        except h11.RemoteProtocolError as exc:
            self.error = exc
            if not self.received:  # h11's words for it are about its own state machine
                raise ProtocolFault(_DISCONNECTED) from exc
            raise
        except BaseException as exc:
            self.error = exc
            raise

    async def read_body(self, limit: int) -> tuple[bytes, bool, str | None]:
        """At most `limit` raw bytes of the body, whether there was more, a read error."""
        chunks: list[bytes] = []
        size = 0
        try:
            while True:
                event = await self._next_event()
                if isinstance(event, h11.Data):
                    chunks.append(bytes(event.data))
                    size += len(event.data)
                    if size > limit:
                        self.error = ProtocolFault("body not read to its end")
                        return b"".join(chunks)[:limit], True, None
                elif isinstance(event, (h11.EndOfMessage, h11.ConnectionClosed)):
                    return b"".join(chunks), False, None
        except (h11.ProtocolError, OSError) as exc:
            self.error = exc
            return b"".join(chunks), False, f"body cut short: {exc}"
        except BaseException as exc:  # cancelled (its deadline): the connection is spent
            self.error = exc
            raise

    async def _next_event(self) -> object:
        conn = self.h11
        while True:
            event = conn.next_event()
            if event is h11.PAUSED:
                # A 101 to an Upgrade the check's headers asked for: not HTTP any more
                # (and asking h11 again would only say PAUSED again, forever).
                raise ProtocolFault("the server switched to another protocol")
            if event is not h11.NEED_DATA:
                return event
            data = await self.reader.read(READ_CHUNK)
            if data:
                self.received = True
            conn.receive_data(data)  # b"": the end of the stream, h11 says what it means

    def reusable(self) -> bool:
        return (
            self.error is None
            and self.h11.our_state is h11.DONE
            and self.h11.their_state is h11.DONE
            and not self.h11.trailing_data[0]  # bytes after the response: not to trust
            and not self.writer.transport.is_closing()
        )

    def close(self) -> None:
        # abort, not close: nothing is owed to a server we hang up on, and a TLS close
        # would wait for its close_notify.
        with contextlib.suppress(Exception):
            self.writer.transport.abort()
