"""TLS to a tcp:// engine: settings that must win over the environment, and what a
failed handshake says (which side refused it, and which setting to check)."""

from __future__ import annotations

import re
import ssl
import warnings
from typing import Any
from urllib.parse import urlsplit

from adapters.docker.discovery import ResolvedDocker

__all__ = ["keep_own_verify", "quiet_unverified", "tls_message"]


def keep_own_verify(api: Any) -> None:
    """Make the engine's TLS settings win over `$REQUESTS_CA_BUNDLE`/`$CURL_CA_BUNDLE`.

    requests puts those variables in place of a session's own `verify` on every request
    (psf/requests#3829), so where one is set (often: corporate machines, Nix, CI images)
    the host's `tls_ca` was ignored, its certificate failed verification, and so did
    `tls_verify: false`. Without a `tls_ca` (verify against "the default CAs") they
    still apply, as do the proxy variables.
    """
    merge = api.merge_environment_settings

    def merged(url: str, proxies: Any, stream: Any, verify: Any, cert: Any) -> dict[str, Any]:
        settings: dict[str, Any] = merge(url, proxies, stream, verify, cert)
        if api.verify is not True:  # a CA file of the host's, or False
            settings["verify"] = api.verify
        return settings

    api.merge_environment_settings = merged


def quiet_unverified(url: str) -> None:
    """`tls_verify: false` is the operator's choice, made once in the config: urllib3's
    warning about it would otherwise be logged for every request to this engine."""
    import urllib3.exceptions

    host = urlsplit(url).hostname or ""
    warnings.filterwarnings(
        "ignore",
        message=re.escape(f"Unverified HTTPS request is being made to host '{host}'"),
        category=urllib3.exceptions.InsecureRequestWarning,
    )


def tls_message(err: ssl.SSLError, r: ResolvedDocker, where: str) -> str:
    """Which side refused the TLS handshake, and which setting to check."""
    if isinstance(err, ssl.SSLCertVerificationError):
        why = err.verify_message or err.reason or "not verified"
        ca = f"tls_ca {r.tls_ca}" if r.tls_ca else "the default CA certificates"
        return (
            f"TLS handshake with {where} failed: its certificate is not trusted "
            f"({why}; checked against {ca})"
        )
    reason = str(err.reason or err)
    if "CERTIFICATE" in reason.upper() or "UNKNOWN_CA" in reason.upper():
        ours = (
            f"our client certificate {r.tls_cert}"
            if r.tls_cert
            else "the connection: no client certificate is configured (tls_cert, tls_key)"
        )
        return f"TLS handshake with {where} failed: the engine refused {ours} ({reason})"
    return f"TLS with {where} failed: {reason}"
