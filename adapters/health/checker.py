"""Run one health check, HTTP(S) or TCP, bounded by its timeout, and say what happened.

One TLS context per distinct setting (verify, CA bundle), shared. An HTTP(S) check goes
through `h1` (h11 over one kept-alive connection per check, its request built once); a
check that follows redirects goes through one small `httpx.AsyncClient` of its own.
Either way its connection is reused from one run to the next. Each check is bounded
twice: its own deadline (which names the phase that stalled) and an outer hard
deadline, so an endpoint that accepts and never answers (or drips its body a byte a
second) costs its own timeout and nothing else. The body is read raw and at most
`BODY_LIMIT` bytes of it are kept, whatever the server sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import urlsplit

import h11
import httpx

from adapters.health.certs import CertCache
from adapters.health.classify import classify_os_error
from adapters.health.h1 import Connection, Endpoint, Progress, ProtocolFault
from adapters.health.judge import BODY_LIMIT, Answer, judge_answer
from adapters.health.models import CheckResult, CheckSpec, ErrorKind

__all__ = ["BODY_LIMIT", "HARD_SLACK", "HealthChecker"]

_CERT_TIMEOUT_MAX = 5.0
#: The outer deadline's margin over the check's timeout: the check's own deadline
#: (which names the phase that stalled) normally fires first.
HARD_SLACK = 0.1

_ClientKey = tuple[str, bool, str | None, bool]
_EndpointKey = tuple[str, str, str, tuple[tuple[str, str], ...], bool, str | None, float | None]


def _keepalive(spec: CheckSpec) -> float:
    # the connection is kept from one run of the check to the next
    return max(30.0, spec.interval * 2) if spec.interval else 30.0


class HealthChecker:
    """Runs checks; owns the HTTP clients and the certificate cache. Close it when done."""

    def __init__(self, *, wall_clock: Callable[[], float] = time.time) -> None:
        self._clients: dict[_ClientKey, httpx.AsyncClient] = {}
        self._endpoints: dict[_EndpointKey, Endpoint] = {}
        self._targets: dict[str, tuple[str, int, bool]] = {}
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
        """Close every client and connection."""
        endpoints, self._endpoints = list(self._endpoints.values()), {}
        for endpoint in endpoints:
            endpoint.close()
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
                    keepalive_expiry=_keepalive(spec),
                ),
                trust_env=False,
            )
            self._clients[key] = client
        return client

    def _target(self, url: str) -> tuple[str, int, bool]:
        """Host (as written, for messages and the certificate), port and TLS of `url`."""
        target = self._targets.get(url)
        if target is None:
            parts = urlsplit(url)
            tls = parts.scheme.lower() == "https"
            target = (parts.hostname or "", parts.port or (443 if tls else 80), tls)
            self._targets[url] = target
        return target

    async def _http(self, spec: CheckSpec, started: float) -> CheckResult:
        host, port, tls = self._target(spec.url or "")
        if not tls:
            return await self._request(spec, started, host, port)
        # Read on its own schedule (hourly): a fresh one costs nothing per run.
        cert = self.certs.fresh(host, port)
        if cert is not None:
            return replace(await self._request(spec, started, host, port), cert=cert)
        cert_task = asyncio.ensure_future(
            self.certs.get(host, port, min(spec.timeout, _CERT_TIMEOUT_MAX))
        )
        try:
            result = await self._request(spec, started, host, port)
        finally:
            if not cert_task.done():
                # The request is over: the certificate gets what is left of the check's
                # timeout (at most 1 s), never enough to push a finished result past the
                # outer deadline.
                left = spec.timeout - (self._clock() - started)
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(max(0.0, min(1.0, left - 0.05))):
                        await asyncio.shield(cert_task)
        found = cert_task.result() if cert_task.done() and not cert_task.cancelled() else None
        if found is None:
            cert_task.cancel()
        return replace(result, cert=found)

    async def _request(self, spec: CheckSpec, started: float, host: str, port: int) -> CheckResult:
        if spec.follow_redirects:
            return await self._request_httpx(spec, started, host, port)
        return await self._request_h1(spec, started, host, port)

    def _endpoint(self, spec: CheckSpec) -> Endpoint:
        key = (
            spec.name,
            spec.url or "",
            spec.method,
            spec.headers,
            spec.verify,
            spec.ca_bundle,
            spec.interval,
        )
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            url = httpx.URL(spec.url or "")  # httpx's URL rules: IDNA, percent-encoding
            tls = url.scheme == "https"
            endpoint = Endpoint(
                host=url.raw_host.decode("ascii"),
                port=url.port or (443 if tls else 80),
                target=url.raw_path,
                method=spec.method,
                host_header=url.netloc,
                headers=spec.headers,
                context=self._context(spec) if tls else None,
                keepalive=_keepalive(spec),
            )
            self._endpoints[key] = endpoint
        return endpoint

    async def _request_h1(
        self, spec: CheckSpec, started: float, host: str, port: int
    ) -> CheckResult:
        where = f"{host}:{port}"
        progress = Progress()
        answer: Answer | None = None
        conn: Connection | None = None
        latency = 0.0
        t0 = time.perf_counter()
        try:
            endpoint = self._endpoint(spec)
            # One deadline for the whole exchange: the body gets what is left of it, so
            # a server that drips its body a byte at a time is bounded too.
            async with asyncio.timeout(spec.timeout) as scope:
                conn, answer = await endpoint.send(progress)
                latency = time.perf_counter() - t0
                raw, truncated, read_error = await conn.read_body(BODY_LIMIT)
        except TimeoutError:
            if not scope.expired():
                raise
            if answer is None:
                return self._failed(
                    spec,
                    started,
                    "timeout",
                    f"no {progress.phase} within {spec.timeout:g} s",
                    time.perf_counter() - t0,
                )
            raw, truncated = b"", False
            read_error = f"body not complete within {spec.timeout:g} s"
        except (ProtocolFault, h11.RemoteProtocolError) as exc:
            return self._failed(spec, started, "protocol", f"protocol error: {exc}")
        except (h11.LocalProtocolError, httpx.InvalidURL, UnicodeError) as exc:
            return self._failed(spec, started, "error", f"cannot send the request: {exc}")
        except OSError as exc:
            kind, message = classify_os_error(exc, where, host) or ("error", f"{exc}")
            return self._failed(spec, started, kind, message, time.perf_counter() - t0)
        finally:
            if conn is not None:
                endpoint.release(conn)
        assert answer is not None  # every path without an answer returned above
        return judge_answer(spec, started, latency, answer, raw, truncated, read_error)

    async def _request_httpx(
        self, spec: CheckSpec, started: float, host: str, port: int
    ) -> CheckResult:
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
        answer = Answer(
            response.status_code,
            response.reason_phrase,
            tuple(response.headers.multi_items()),
            str(response.url) if response.history else None,
        )
        return judge_answer(spec, started, latency, answer, raw, truncated, read_error)

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
