"""Name a failed check by what happened: DNS, refused, timeout, which TLS problem...

httpx wraps the socket and ssl errors (`ConnectError` from httpcore's from anyio's...),
so the cause chain is walked to find the error that says what really went wrong.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

from adapters.health.models import ErrorKind

# OpenSSL X509_V_ERR_* codes (x509_vfy.h); stable across OpenSSL versions.
_CERT_HAS_EXPIRED = 10
_DEPTH_ZERO_SELF_SIGNED = 18
_SELF_SIGNED_IN_CHAIN = 19
_UNABLE_TO_GET_ISSUER_LOCALLY = 20
_UNABLE_TO_VERIFY_LEAF = 21
_HOSTNAME_MISMATCH = 62


def causes(exc: BaseException) -> Iterator[BaseException]:
    """`exc` and the exceptions it was raised from, outermost first (cycle-safe)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_tls(err: ssl.SSLError, where: str) -> tuple[ErrorKind, str]:
    """A TLS failure by its verification code."""
    if isinstance(err, ssl.SSLCertVerificationError):
        code = err.verify_code
        message = err.verify_message or err.reason or str(err)
        if code == _CERT_HAS_EXPIRED:
            return "tls-expired", f"TLS: the certificate of {where} has expired"
        if code == _HOSTNAME_MISMATCH:
            return "tls-hostname", f"TLS: the certificate is not for {where} ({message})"
        if code in (_DEPTH_ZERO_SELF_SIGNED, _SELF_SIGNED_IN_CHAIN):
            return "tls-self-signed", f"TLS: self-signed certificate at {where}"
        if code in (_UNABLE_TO_GET_ISSUER_LOCALLY, _UNABLE_TO_VERIFY_LEAF):
            return "tls-untrusted", f"TLS: certificate of {where} from an untrusted issuer"
        return "tls", f"TLS: certificate of {where} not verified: {message}"
    reason = err.reason or str(err)
    return "tls", f"TLS handshake with {where} failed: {reason}"


def classify_os_error(exc: BaseException, where: str, host: str) -> tuple[ErrorKind, str] | None:
    """DNS, refused, TLS or unreachable, if one of them is in `exc`'s causes."""
    for cause in causes(exc):
        if isinstance(cause, socket.gaierror):
            return "dns", f"DNS: cannot resolve {host} ({cause.strerror or cause})"
        if isinstance(cause, ConnectionRefusedError):
            return "refused", f"connection refused by {where}"
        if isinstance(cause, ssl.SSLError):
            return classify_tls(cause, where)
    for cause in causes(exc):
        if isinstance(cause, (ConnectionResetError, ConnectionAbortedError)):
            return "unreachable", f"connection to {where} reset"
        if isinstance(cause, OSError) and cause.errno is not None:
            return "unreachable", f"cannot reach {where}: {cause.strerror or cause}"
    return None
