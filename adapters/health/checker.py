"""Run one health check, HTTP(S) or TCP, bounded by its timeout, and say what happened.

One TLS context per distinct setting (verify, CA bundle), shared; one small
`httpx.AsyncClient` per check, so its connection is reused from one run to the next.
Each check is bounded twice: httpx's per-phase timeout and an outer hard deadline, so
an endpoint that accepts and never answers (or drips its body a byte a second) costs
its own timeout and nothing else. The body is streamed and at most `BODY_LIMIT` bytes
are read, whatever the server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

import httpx

from adapters.health.certs import CertCache
from adapters.health.classify import classify_os_error
from adapters.health.expect import (
    check_json,
    decode_content,
    describe_expected,
    parse_json,
    status_ok,
    version_of,
)
from adapters.health.models import CertInfo, CheckResult, CheckSpec, ErrorKind

BODY_LIMIT = 64 * 1024
HEADERS_MAX = 64  # response headers kept for the detail view
HEADER_VALUE_MAX = 1024
_CERT_TIMEOUT_MAX = 5.0
#: The outer deadline's margin over the check's timeout: httpx's own timeout (which names
#: the phase that stalled) normally fires first.
HARD_SLACK = 0.1

_ClientKey = tuple[str, bool, str | None, bool]


class HealthChecker:
    """Runs checks; owns the HTTP clients and the certificate cache. Close it when done."""

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._clients: dict[_ClientKey, httpx.AsyncClient] = {}
        self._contexts: dict[tuple[bool, str | None], ssl.SSLContext] = {}
        self._clock = wall_clock
        self.certs = CertCache()

    async def run(self, spec: CheckSpec) -> CheckResult:
        """Run `spec` once; never raises (except cancellation), never outlives its timeout
        by more than the outer deadline's slack."""
        started = self._clock()
        try:
            async with asyncio.timeout(spec.timeout + HARD_SLACK):
                if spec.kind == "tcp":
                    return await self._tcp(spec, started)
                return await self._http(spec, started)
        except TimeoutError:
            return self._failed(spec, started, "timeout", f"no answer within {spec.timeout:g} s")

    async def close(self) -> None:
        """Close every client (and its pooled connections)."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            with contextlib.suppress(Exception):
                await client.aclose()

    # -- TCP ----------------------------------------------------------------------------

    async def _tcp(self, spec: CheckSpec, started: float) -> CheckResult:
        host, port = spec.host or "", spec.port or 0
        where = f"{host}:{port}"
        t0 = time.perf_counter()
        try:
            async with asyncio.timeout(spec.timeout):
                _, writer = await asyncio.open_connection(host, port)
        except TimeoutError:
            return self._failed(
                spec, started, "timeout", f"no connection within {spec.timeout:g} s"
            )
        except OSError as exc:
            kind, message = classify_os_error(exc, where, host) or ("error", str(exc))
            return self._failed(spec, started, kind, message, time.perf_counter() - t0)
        latency = time.perf_counter() - t0
        writer.close()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await writer.wait_closed()
        return CheckResult(spec.name, started, True, latency)

    # -- HTTP ---------------------------------------------------------------------------

    def _context(self, spec: CheckSpec) -> ssl.SSLContext:
        """One TLS context per distinct setting, shared by every check that uses it
        (building one reads the whole CA store: tens of milliseconds)."""
        key = (spec.verify, spec.ca_bundle)
        context = self._contexts.get(key)
        if context is None:
            if not spec.verify:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            elif spec.ca_bundle:
                context = ssl.create_default_context(cafile=spec.ca_bundle)
            else:
                context = httpx.create_ssl_context(trust_env=False)  # httpx's store (certifi)
            self._contexts[key] = context
        return context

    def _client(self, spec: CheckSpec) -> httpx.AsyncClient:
        # One small client per check: httpcore's pool scans all its connections for
        # every request, so a single pool shared by 200 checks costs O(n^2) per burst
        # (measured: 60 % of a core at 200 checks / 5 s, against 3 % with a pool each).
        key = (spec.name, spec.verify, spec.ca_bundle, spec.follow_redirects)
        client = self._clients.get(key)
        if client is None:
            # trust_env=False: a health check goes to the service itself, never through
            # a proxy picked up from the environment of whoever started the console.
            client = httpx.AsyncClient(
                verify=self._context(spec),
                follow_redirects=spec.follow_redirects,
                max_redirects=5,
                limits=httpx.Limits(
                    max_connections=4,
                    max_keepalive_connections=1,
                    # the connection is kept from one run of the check to the next
                    keepalive_expiry=max(30.0, spec.interval * 2) if spec.interval else 30.0,
                ),
                trust_env=False,
            )
            self._clients[key] = client
        return client

    async def _http(self, spec: CheckSpec, started: float) -> CheckResult:
        url = spec.url or ""
        parts = urlsplit(url)
        host = parts.hostname or ""
        tls = parts.scheme.lower() == "https"
        port = parts.port or (443 if tls else 80)
        cert_task: asyncio.Task[CertInfo] | None = None
        if tls:
            cert_task = asyncio.ensure_future(
                self.certs.get(host, port, min(spec.timeout, _CERT_TIMEOUT_MAX))
            )
        try:
            result = await self._request(spec, started, host, port)
        finally:
            if cert_task is not None and not cert_task.done():
                # The request is over: the certificate gets what is left of the timeout.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(cert_task), 1.0)
        if cert_task is None:
            return result
        cert = cert_task.result() if cert_task.done() and not cert_task.cancelled() else None
        if cert is None:
            cert_task.cancel()
        return replace(result, cert=cert)

    async def _request(self, spec: CheckSpec, started: float, host: str, port: int) -> CheckResult:
        where = f"{host}:{port}"
        client = self._client(spec)
        headers = {"Accept-Encoding": "gzip, deflate", "User-Agent": "ops-console-health"}
        headers.update(dict(spec.headers))
        t0 = time.perf_counter()
        try:
            request = client.build_request(
                spec.method, spec.url or "", headers=headers, timeout=httpx.Timeout(spec.timeout)
            )
            response = await client.send(request, stream=True)
        except httpx.TimeoutException as exc:
            phase = _phase(exc)
            return self._failed(
                spec,
                started,
                "timeout",
                f"no {phase} within {spec.timeout:g} s",
                time.perf_counter() - t0,
            )
        except httpx.TooManyRedirects:
            return self._failed(spec, started, "redirects", "more than 5 redirects")
        except httpx.RemoteProtocolError as exc:
            return self._failed(spec, started, "protocol", f"protocol error: {exc}")
        except (httpx.HTTPError, OSError, ssl.SSLError) as exc:
            kind, message = classify_os_error(exc, where, host) or ("error", f"{exc}")
            return self._failed(spec, started, kind, message, time.perf_counter() - t0)
        latency = time.perf_counter() - t0
        try:
            # The body gets what is left of the timeout: a server that drips it a byte
            # at a time never trips httpx's per-read timeout.
            left = max(0.0, spec.timeout - latency)
            async with asyncio.timeout(left) as scope:
                raw, truncated, read_error = await _read_prefix(response, BODY_LIMIT)
        except TimeoutError:
            if not scope.expired():
                raise
            raw, truncated = b"", False
            read_error = f"body not complete within {spec.timeout:g} s"
        finally:
            await response.aclose()
        return _judge_response(spec, started, latency, response, raw, truncated, read_error)

    def _failed(
        self,
        spec: CheckSpec,
        started: float,
        kind: ErrorKind,
        message: str,
        latency: float | None = None,
    ) -> CheckResult:
        return CheckResult(spec.name, started, False, latency, error_kind=kind, error=message)


def _phase(exc: httpx.TimeoutException) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return "connection"
    if isinstance(exc, httpx.PoolTimeout):
        return "free connection slot"
    if isinstance(exc, httpx.WriteTimeout):
        return "request sent"
    return "answer"


async def _read_prefix(response: httpx.Response, limit: int) -> tuple[bytes, bool, str | None]:
    """At most `limit` raw bytes of the body, whether there was more, and a read error."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                return b"".join(chunks)[:limit], True, None
    except httpx.TimeoutException:
        return b"".join(chunks), False, "body not complete within the timeout"
    except httpx.HTTPError as exc:
        return b"".join(chunks), False, f"body cut short: {exc}"
    return b"".join(chunks), False, None


def _headers(response: httpx.Response) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for name, value in response.headers.multi_items()[:HEADERS_MAX]:
        out.append((name[:HEADER_VALUE_MAX], value[:HEADER_VALUE_MAX]))
    return tuple(out)


def _judge_response(
    spec: CheckSpec,
    started: float,
    latency: float,
    response: httpx.Response,
    raw: bytes,
    truncated: bool,
    read_error: str | None,
) -> CheckResult:
    body, decode_error = decode_content(raw, response.headers.get("content-encoding"), BODY_LIMIT)
    text = body.decode("utf-8", errors="replace")
    base: dict[str, Any] = {
        "status_code": response.status_code,
        "reason_phrase": response.reason_phrase,
        "headers": _headers(response),
        "body": text,
        "body_bytes": len(raw),
        "body_truncated": truncated,
        "final_url": str(response.url) if response.history else None,
    }
    kind: ErrorKind | None = None
    error: str | None = None
    problems: list[str] = []
    version: str | None = None
    if not status_ok(response.status_code, spec.expect_status):
        kind = "status"
        error = f"HTTP {response.status_code}, expected {describe_expected(spec.expect_status)}"
        location = response.headers.get("location")
        if location and 300 <= response.status_code < 400:
            error += f" (redirect to {location[:200]}; redirects are not followed)"
    content_type = response.headers.get("content-type", "").lower()
    needs_json = bool(spec.expect_json) or (
        spec.version_path is not None and "json" in content_type
    )
    document: Any = None
    json_error: str | None = None
    if needs_json and not truncated and decode_error is None and read_error is None:
        document, json_error = parse_json(body)
        version = version_of(document, spec.version_path) if json_error is None else None
    if kind is None and read_error is not None:
        kind = "timeout" if read_error.startswith("body not complete") else "protocol"
        error = read_error
    if kind is None and spec.expect_json:
        if truncated:
            kind = "not-json"
            error = f"body larger than {BODY_LIMIT // 1024} KB (truncated): JSON not checked"
        elif decode_error is not None:
            kind, error = "not-json", decode_error
        elif json_error is not None:
            kind, error = "not-json", json_error
        else:
            problems = check_json(document, spec.expect_json)
            if problems:
                kind, error = "json", "; ".join(problems)
    if kind is None and spec.body_contains is not None and spec.body_contains not in text:
        kind = "body"
        error = f"body does not contain {spec.body_contains!r}" + (
            f" (only the first {BODY_LIMIT // 1024} KB read)" if truncated else ""
        )
    return CheckResult(
        spec.name,
        started,
        kind is None,
        latency,
        error_kind=kind,
        error=error,
        version=version,
        json_problems=tuple(problems),
        **base,
    )
