"""The checker against real local HTTP(S) and TCP servers: each fault reads as itself."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from adapters.health.checker import BODY_LIMIT, HealthChecker
from adapters.health.models import CheckSpec
from tests.health_servers import HangingServer, HttpServer, TlsSet, free_port

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
