"""The peer certificate of an HTTPS endpoint: subject, issuer, expiry.

httpx does not expose the certificate, so a separate light TLS handshake reads it. It
never verifies (verification is the check's own job, and an expired or self-signed
certificate is exactly the one whose details the operator needs), and it is cached per
host:port so 200 checks every 5 s cost one handshake per endpoint per hour.

The DER certificate is parsed with `cryptography` when it is installed; without it,
the subject and expiry are "unknown".
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections.abc import Callable

from adapters.health.classify import classify_os_error
from adapters.health.models import CertInfo

CACHE_SECONDS = 3600.0
RETRY_SECONDS = 60.0  # after a failed read, try again sooner than the hour


def parse_der(der: bytes) -> CertInfo:
    """Subject, issuer and expiry of a DER certificate (unknown without `cryptography`)."""
    try:
        from cryptography import x509
    except ImportError:
        return CertInfo(error="certificate details unknown (cryptography not installed)")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        return CertInfo(error=f"unreadable certificate: {exc}")
    return CertInfo(
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        not_after=cert.not_valid_after_utc.timestamp(),
    )


def _probe_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def read_certificate(host: str, port: int, timeout: float) -> CertInfo:
    """One TLS handshake with `host:port` to read its certificate; never raises."""
    where = f"{host}:{port}"
    writer: asyncio.StreamWriter | None = None
    try:
        async with asyncio.timeout(timeout):
            _, writer = await asyncio.open_connection(
                host, port, ssl=_probe_context(), server_hostname=host
            )
            ssl_object = writer.get_extra_info("ssl_object")
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
    except TimeoutError:
        return CertInfo(error=f"no TLS handshake with {where} within {timeout:g} s")
    except OSError as exc:
        found = classify_os_error(exc, where, host)
        return CertInfo(error=found[1] if found else f"cannot read the certificate: {exc}")
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
    if not der:
        return CertInfo(error="the server sent no certificate")
    return parse_der(der)


class CertCache:
    """Certificates by host:port, read at most once an hour (a minute after a failure)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, int], tuple[float, CertInfo]] = {}
        self._pending: dict[tuple[str, int], asyncio.Task[CertInfo]] = {}

    def fresh(self, host: str, port: int) -> CertInfo | None:
        """The cached certificate while it is fresh, else None (without any I/O)."""
        entry = self._entries.get((host.lower(), port))
        return entry[1] if entry is not None and self._clock() < entry[0] else None

    async def get(self, host: str, port: int, timeout: float) -> CertInfo:
        """The cached certificate, or one read now (concurrent callers share the read)."""
        key = (host.lower(), port)
        entry = self._entries.get(key)
        now = self._clock()
        if entry is not None and now < entry[0]:
            return entry[1]
        task = self._pending.get(key)
        if task is None:
            task = asyncio.ensure_future(read_certificate(host, port, timeout))
            self._pending[key] = task
            task.add_done_callback(lambda _t: self._pending.pop(key, None))
        # shield: one caller timing out must not cancel the read the others wait on
        info = await asyncio.shield(task)
        ttl = RETRY_SECONDS if info.error else CACHE_SECONDS
        self._entries[key] = (self._clock() + ttl, info)
        return info

    def forget(self) -> None:
        self._entries.clear()
