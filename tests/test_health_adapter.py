"""The checker against real local HTTP(S) and TCP servers: each fault reads as itself."""

from __future__ import annotations

import asyncio
import gzip
import itertools
import json
import ssl
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from adapters.health.checker import BODY_LIMIT, HealthChecker
from adapters.health.models import CheckSpec
from tests.health_servers import HEALTHY, HangingServer, HttpServer, TlsSet, free_port

pytest_plugins = ("tests.health_servers",)
pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def checker() -> AsyncIterator[HealthChecker]:
    c = HealthChecker()
    yield c
    await c.close()


async def test_healthy_json_meets_expectations_and_shows_version(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    spec = CheckSpec(
        "api",
        http_server.url("/healthy"),
        expect_json=(("status", "healthy"), ("services.database", "connected")),
        body_contains="healthy",
    )
    result = await checker.run(spec)
    assert result.ok and result.status_code == 200 and result.error is None, result
    assert result.version == "1.4.2"
    assert result.latency is not None and 0 < result.latency < 2
    assert ("content-type", "application/json") in result.headers
    assert result.cert is None  # plain HTTP


async def test_each_failure_reads_as_itself(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    cases = {
        "error": (CheckSpec("e", http_server.url("/error")), "status", "HTTP 500, expected 2xx"),
        "unhealthy": (
            CheckSpec(
                "u",
                http_server.url("/unhealthy"),
                expect_json=(("services.database", "connected"),),
            ),
            "json",
            'services.database is "disconnected", expected "connected"',
        ),
        "not-json": (
            CheckSpec("n", http_server.url("/not-json"), expect_json=(("status", "healthy"),)),
            "not-json",
            "body is not JSON",
        ),
        "redirect": (
            CheckSpec("r", http_server.url("/redirect")),
            "status",
            "HTTP 302, expected 2xx (redirect to /healthy",
        ),
        "body": (
            CheckSpec("b", http_server.url("/healthy"), body_contains="sunny"),
            "body",
            "body does not contain 'sunny'",
        ),
        "refused": (
            CheckSpec("c", f"http://127.0.0.1:{free_port()}/"),
            "refused",
            "connection refused by 127.0.0.1:",
        ),
        "dns": (CheckSpec("d", "http://no-such-host.invalid/"), "dns", "DNS: cannot resolve"),
        "tcp-refused": (
            CheckSpec("t", host="127.0.0.1", port=free_port()),
            "refused",
            "connection refused",
        ),
        "tcp-dns": (CheckSpec("t", host="no-such-host.invalid", port=5432), "dns", "DNS:"),
    }
    results = await asyncio.gather(*(checker.run(spec) for spec, _, _ in cases.values()))
    for (label, (_, kind, text)), result in zip(cases.items(), results, strict=True):
        assert not result.ok, label
        assert result.error_kind == kind, (label, result)
        assert text in (result.error or ""), (label, result.error)


async def test_redirect_followed_when_asked(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    result = await checker.run(CheckSpec("r", http_server.url("/redirect"), follow_redirects=True))
    assert result.ok and result.final_url == http_server.url("/healthy")


async def test_tcp_open_port(checker: HealthChecker, http_server: HttpServer) -> None:
    result = await checker.run(CheckSpec("db", host="127.0.0.1", port=http_server.port))
    assert result.ok and result.latency is not None and result.answered


async def test_hanging_endpoint_is_bounded_by_its_timeout_and_delays_nothing(
    checker: HealthChecker, http_server: HttpServer, hanging_server: HangingServer
) -> None:
    hang = CheckSpec("hang", hanging_server.url(), timeout=1.0)
    quick = [CheckSpec(f"q{i}", http_server.url("/healthy"), timeout=1.0) for i in range(20)]
    started = time.monotonic()
    hang_task = asyncio.create_task(checker.run(hang))
    quick_results = await asyncio.gather(*(checker.run(s) for s in quick))
    quick_done = time.monotonic() - started
    result = await hang_task
    total = time.monotonic() - started
    assert all(r.ok for r in quick_results)
    assert quick_done < 0.9, quick_done  # the others finished well before the hang's timeout
    assert result.error_kind == "timeout" and "within 1 s" in (result.error or ""), result
    assert 0.9 < total < 1.6, total


async def test_dripping_body_is_bounded_too(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    started = time.monotonic()
    result = await checker.run(CheckSpec("drip", http_server.url("/drip"), timeout=1.0))
    assert time.monotonic() - started < 1.6
    assert not result.ok and result.error_kind == "timeout" and result.status_code == 200


async def test_ten_megabyte_body_reads_a_bounded_prefix(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    plain = await checker.run(CheckSpec("big", http_server.url("/big")))
    assert plain.ok and plain.body_truncated and plain.body_bytes == BODY_LIMIT
    assert plain.body is not None and len(plain.body) <= BODY_LIMIT
    expecting = await checker.run(
        CheckSpec("big", http_server.url("/big"), expect_json=(("status", "ok"),))
    )
    assert not expecting.ok and expecting.error_kind == "not-json"
    assert "truncated" in (expecting.error or "")


async def test_hostile_text_is_kept_raw_for_the_widgets_to_neutralise(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    result = await checker.run(CheckSpec("h", http_server.url("/hostile")))
    assert result.ok and result.version is not None and "\x1b" in result.version
    assert len(result.version) <= 64
    header = dict(result.headers)["x-hostile"]
    assert "\x9b" in header


async def test_tls_good_and_certificate_details(checker: HealthChecker, tls_set: TlsSet) -> None:
    result = await checker.run(CheckSpec("tls", tls_set.good.url(), ca_bundle=str(tls_set.ca_file)))
    assert result.ok, result
    assert result.cert is not None and result.cert.error is None
    assert "CN=localhost" in (result.cert.subject or "")
    assert "Testing CA" in (result.cert.issuer or "")
    assert (result.cert.days_left(time.time()) or 0) > 30


async def test_tls_faults_read_as_themselves(checker: HealthChecker, tls_set: TlsSet) -> None:
    ca = str(tls_set.ca_file)
    cases = {
        "expired": (CheckSpec("x", tls_set.expired.url(), ca_bundle=ca), "tls-expired"),
        "wrong host": (CheckSpec("w", tls_set.wrong_host.url(), ca_bundle=ca), "tls-hostname"),
        "self-signed": (CheckSpec("s", tls_set.self_signed.url(), ca_bundle=ca), "tls-self-signed"),
        "unknown CA": (CheckSpec("u", tls_set.good.url()), "tls-untrusted"),
    }
    results = await asyncio.gather(*(checker.run(spec) for spec, _ in cases.values()))
    for (label, (_, kind)), result in zip(cases.items(), results, strict=True):
        assert not result.ok and result.error_kind == kind, (label, result)
        # the certificate is still read, so the operator sees what is wrong with it
        assert result.cert is not None and result.cert.not_after is not None, label
    expired = results[0].cert
    assert expired is not None and (expired.days_left(time.time()) or 0) < 0


async def test_expiring_certificate_and_insecure_check(
    checker: HealthChecker, tls_set: TlsSet
) -> None:
    soon = await checker.run(
        CheckSpec("soon", tls_set.expiring.url(), ca_bundle=str(tls_set.ca_file))
    )
    assert soon.ok and soon.cert is not None
    days = soon.cert.days_left(time.time())
    assert days is not None and 4.9 < days <= 5.0
    insecure = await checker.run(CheckSpec("i", tls_set.expired.url(), verify=False))
    assert insecure.ok and insecure.cert is not None
    assert (insecure.cert.days_left(time.time()) or 0) < 0


async def test_certificate_is_read_once_per_endpoint(
    checker: HealthChecker, tls_set: TlsSet
) -> None:
    spec = CheckSpec("tls", tls_set.good.url(), ca_bundle=str(tls_set.ca_file))
    first = await checker.run(spec)
    hits = tls_set.good.hits
    second = await checker.run(spec)
    assert first.cert is second.cert  # cached, not read again
    assert tls_set.good.hits == hits + 1  # only the check itself


# --- the kept-alive HTTP/1.1 path (adapters/health/h1.py) -----------------------------

Respond = Callable[[int, int], "bytes | None"]


class ScriptedServer:
    """A real asyncio TCP server that answers each request with scripted raw bytes, to
    make what the threaded test server never does: close a kept-alive connection under
    a request, answer chunked and gzipped. `respond(connection, request)` (both counted
    from 0) gives the reply, or None to hang up without one; `hang_up` closes the
    connection after each reply without saying so (an idle keep-alive timeout)."""

    def __init__(
        self, respond: Respond, *, hang_up: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self.respond = respond
        self.hang_up = hang_up
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []
        self._server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.tls)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/health") -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = self.connections
        self.connections += 1
        try:
            for index in itertools.count():
                self.requests.append(await reader.readuntil(b"\r\n\r\n"))
                reply = self.respond(number, index)
                if reply is None:
                    break
                writer.write(reply)
                await writer.drain()
                if self.hang_up or b"\r\nConnection: close\r\n" in reply:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def reply(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "Content-Type: application/json", *headers]
    if not any(h.startswith("Transfer-Encoding") for h in headers):
        head.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


HEALTHY_BODY = json.dumps(HEALTHY).encode()


async def test_connection_is_kept_alive_from_run_to_run(checker: HealthChecker) -> None:
    async with ScriptedServer(lambda _c, _r: reply(HEALTHY_BODY)) as server:
        spec = CheckSpec("k", server.url(), expect_json=(("status", "healthy"),))
        results = [await checker.run(spec) for _ in range(5)]
        assert all(r.ok and r.version == "1.4.2" for r in results), results
        assert server.connections == 1
        request = server.requests[0].decode()
        assert request.startswith("GET /health HTTP/1.1\r\n")
        assert f"host: 127.0.0.1:{server.port}" in request.lower()
        assert "user-agent: ops-console-health" in request.lower()


async def test_kept_alive_connection_closed_by_the_server_is_replaced(
    checker: HealthChecker,
) -> None:
    # Closed under the next request (the keep-alive race): retried once, fresh.
    async with ScriptedServer(lambda _c, r: reply(HEALTHY_BODY) if r == 0 else None) as server:
        results = [await checker.run(CheckSpec("race", server.url())) for _ in range(3)]
        assert all(r.ok for r in results), results
        assert server.connections == 3
    # Closed while idle: seen before the next request, which goes on a fresh one.
    async with ScriptedServer(lambda _c, _r: reply(HEALTHY_BODY), hang_up=True) as server:
        first = await checker.run(CheckSpec("idle", server.url()))
        await asyncio.sleep(0.1)
        second = await checker.run(CheckSpec("idle", server.url()))
        assert first.ok and second.ok, (first, second)
        assert server.connections == 2


async def test_bytes_left_on_a_kept_alive_connection_never_pass_for_the_next_answer(
    checker: HealthChecker,
) -> None:
    """A late duplicate answer, arriving after the first run ended, must not be read as
    the second run's answer (the server is failing by then)."""
    failing = reply(b"{}").replace(b"200 OK", b"503 Service Unavailable")
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        try:
            await reader.readuntil(b"\r\n\r\n")
            if connections == 1:
                writer.write(reply(HEALTHY_BODY))
                await writer.drain()
                await asyncio.sleep(0.05)  # after the client has read its answer
                writer.write(reply(HEALTHY_BODY))  # one answer too many
                await writer.drain()
                await reader.readuntil(b"\r\n\r\n")
            writer.write(failing)
            await writer.drain()
            await reader.read()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        spec = CheckSpec("dup", f"http://127.0.0.1:{port}/health")
        first = await checker.run(spec)
        await asyncio.sleep(0.2)  # the extra answer is in our buffer by now
        second = await checker.run(spec)
    finally:
        server.close()
    assert first.ok, first
    assert not second.ok and second.status_code == 503, second
    assert connections == 2  # the tainted connection was not reused


async def test_server_hanging_up_without_an_answer_is_a_protocol_error(
    checker: HealthChecker,
) -> None:
    async with ScriptedServer(lambda _c, _r: None) as server:
        result = await checker.run(CheckSpec("gone", server.url()))
        assert not result.ok and result.error_kind == "protocol", result
        assert "without sending a response" in (result.error or "")
        assert server.connections == 1  # a fresh connection is not retried


async def test_connection_close_is_honoured(checker: HealthChecker) -> None:
    async with ScriptedServer(lambda _c, _r: reply(HEALTHY_BODY, "Connection: close")) as srv:
        results = [await checker.run(CheckSpec("c", srv.url())) for _ in range(3)]
        assert all(r.ok for r in results), results
        assert srv.connections == 3


async def test_chunked_gzip_body_is_decoded(checker: HealthChecker) -> None:
    packed = gzip.compress(HEALTHY_BODY)
    chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(packed[i : i + 10]), packed[i : i + 10])
        for i in range(0, len(packed), 10)
    )
    body = chunks + b"0\r\n\r\n"
    answer = reply(body, "Transfer-Encoding: chunked", "Content-Encoding: gzip")
    async with ScriptedServer(lambda _c, _r: answer) as server:
        spec = CheckSpec("gz", server.url(), expect_json=(("services.cache", "connected"),))
        result = await checker.run(spec)
        again = await checker.run(spec)
        assert result.ok and result.version == "1.4.2", result
        assert result.body_bytes == len(packed) and again.ok
        assert server.connections == 1


async def test_head_and_refused_on_a_name_with_several_addresses(
    checker: HealthChecker, http_server: HttpServer
) -> None:
    head = await checker.run(CheckSpec("h", http_server.url("/healthy"), method="HEAD"))
    assert head.ok and head.status_code == 200 and head.body == "", head
    # localhost may resolve to ::1 and 127.0.0.1: a refusal on each is still "refused"
    refused = await checker.run(CheckSpec("r", f"http://localhost:{free_port()}/"))
    assert refused.error_kind == "refused", refused


async def test_switch_to_another_protocol_is_a_protocol_error(checker: HealthChecker) -> None:
    switch = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\n"
    async with ScriptedServer(lambda _c, _r: switch) as server:
        spec = CheckSpec(
            "up", server.url(), headers=(("Upgrade", "foo"), ("Connection", "Upgrade"))
        )
        result = await asyncio.wait_for(checker.run(spec), 10)
        assert result.error_kind == "protocol", result
        assert "another protocol" in (result.error or "")


async def test_https_connection_is_kept_alive_and_verified(
    checker: HealthChecker, tmp_path: Path
) -> None:
    import trustme

    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    async with ScriptedServer(lambda _c, _r: reply(HEALTHY_BODY), tls=server_context) as server:
        spec = CheckSpec("s", server.url(), ca_bundle=str(ca_file))
        results = [await checker.run(spec) for _ in range(4)]
        assert all(r.ok and r.cert is not None for r in results), results
        # one connection for the checks (no handshake per run) + one certificate read
        assert server.connections == 2
        untrusted = await checker.run(CheckSpec("u", server.url()))
        assert untrusted.error_kind == "tls-untrusted", untrusted
