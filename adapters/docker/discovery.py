"""Where each Docker engine is: the configured URL, else `$DOCKER_HOST`, else the socket.

Nothing here connects. `resolve` decides the SDK's base URL and TLS settings and how to
describe the engine on screen without secrets (a tcp:// password is never shown).
`$DOCKER_TLS_VERIFY` and `$DOCKER_CERT_PATH` are honoured the way the docker CLI does
when the URL comes from `$DOCKER_HOST`. Docker CLI contexts are not read.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = ["DEFAULT_SOCKET", "ResolvedDocker", "resolve"]

DEFAULT_SOCKET = "/var/run/docker.sock"
DEFAULT_URL = f"unix://{DEFAULT_SOCKET}"


@dataclass(frozen=True, slots=True)
class ResolvedDocker:
    """One engine, ready to connect to."""

    name: str
    url: str  # what the SDK is given (may hold a password for tcp://user:pw@)
    origin: str  # "config", "DOCKER_HOST" or "default socket"
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    tls_verify: bool = True
    tls: bool = False

    @property
    def scheme(self) -> str:
        return self.url.partition("://")[0].lower()

    @property
    def socket_path(self) -> str | None:
        """The unix socket's path, None for tcp:// and ssh://."""
        return urlsplit(self.url).path if self.scheme == "unix" else None

    def endpoint(self) -> str:
        """Where the engine is, without secrets: `unix:///var/run/docker.sock`,
        `tcp://host:2376 (TLS)`, `ssh://user@host`."""
        if self.scheme == "unix":
            return f"unix://{self.socket_path}"
        try:
            parts = urlsplit(self.url)
            host = parts.hostname or ""
            if ":" in host:
                host = f"[{host}]"
            port = f":{parts.port}" if parts.port else ""
            user = f"{parts.username}@" if parts.username else ""
        except ValueError:
            return f"{self.scheme}://?"
        shown = f"{self.scheme}://{user}{host}{port}"
        return f"{shown} (TLS)" if self.tls else shown

    def describe(self) -> str:
        """`name: endpoint (from $DOCKER_HOST)` for the header and the pane."""
        origin = "" if self.origin == "config" else f" (from {self.origin})"
        return f"{self.name}: {self.endpoint()}{origin}"

    def missing(self) -> str | None:
        """Why there is obviously no engine (default socket absent), else None."""
        if self.origin == "default socket" and not os.path.exists(DEFAULT_SOCKET):
            return f"no Docker engine: DOCKER_HOST unset and {DEFAULT_SOCKET} missing"
        return None


def resolve(
    name: str,
    url: str | None = None,
    *,
    tls_ca: Path | str | None = None,
    tls_cert: Path | str | None = None,
    tls_key: Path | str | None = None,
    tls_verify: bool = True,
    env: Mapping[str, str] | None = None,
) -> ResolvedDocker:
    """The engine called `name`: `url`, else `$DOCKER_HOST`, else the local socket."""
    environ = os.environ if env is None else env
    if url:
        tls = any(p is not None for p in (tls_ca, tls_cert, tls_key))
        return ResolvedDocker(
            name=name,
            url=url,
            origin="config",
            tls_ca=_str(tls_ca),
            tls_cert=_str(tls_cert),
            tls_key=_str(tls_key),
            tls_verify=tls_verify,
            tls=tls and url.lower().startswith("tcp://"),
        )
    from_env = environ.get("DOCKER_HOST")
    if from_env:
        tls = bool(environ.get("DOCKER_TLS_VERIFY")) and from_env.lower().startswith("tcp://")
        cert_dir = Path(environ.get("DOCKER_CERT_PATH") or "~/.docker").expanduser()
        return ResolvedDocker(
            name=name,
            url=from_env,
            origin="DOCKER_HOST",
            tls_ca=str(cert_dir / "ca.pem") if tls else None,
            tls_cert=str(cert_dir / "cert.pem") if tls else None,
            tls_key=str(cert_dir / "key.pem") if tls else None,
            tls_verify=True,
            tls=tls,
        )
    return ResolvedDocker(name=name, url=DEFAULT_URL, origin="default socket")


def _str(path: Path | str | None) -> str | None:
    return None if path is None else str(path)
