"""Where a Redis instance is and how to reach it: URL, credentials, db, TLS, timeouts.

No driver import here: URLs are parsed by hand so that a bad URL is reported with our
words (and without the password) before any connection is attempted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal
from urllib.parse import parse_qs, quote, unquote, urlsplit

DEFAULT_URL = "redis://127.0.0.1:6379/0"
DEFAULT_PORT = 6379


class InvalidRedisTarget(ValueError):
    """A Redis URL or parameter that cannot be used. The message never holds a password."""


@dataclass(frozen=True, slots=True)
class RedisParams:
    """What the configuration says about one Redis instance (every field optional).

    Fields given here win over the same part of `url` (a config may hold the URL in the
    file and the password in `${REDIS_PASSWORD}`).
    """

    url: str | None = None  # redis://, rediss:// (TLS) or unix://; None: $REDIS_URL or default
    username: str | None = None  # ACL user (Redis >= 6)
    password: str | None = field(default=None, repr=False)
    db: int | None = None  # db index; None: the URL's, else 0
    tls_ca: str | None = None  # CA bundle (PEM file) to verify a rediss:// server
    connect_timeout: float = 3.0  # seconds to connect and authenticate
    call_timeout: float = 2.0  # seconds for one round trip (a command or a pipeline)


@dataclass(frozen=True, slots=True)
class ResolvedRedis:
    """A reachable-in-principle Redis instance: everything needed to open a connection."""

    transport: Literal["tcp", "tls", "unix"]
    host: str | None  # tcp/tls only
    port: int | None  # tcp/tls only
    path: str | None  # unix only: socket path
    db: int
    username: str | None
    password: str | None = field(repr=False)
    tls_ca: str | None
    connect_timeout: float
    call_timeout: float
    #: Where the URL came from: "config", "REDIS_URL" or "default" (told to the operator).
    source: str = "config"

    def describe(self) -> str:
        """A URL-like description for the screen and logs; the password is never shown."""
        user = quote(self.username, safe="") if self.username else ""
        secret = ":***" if self.password else ""
        auth = f"{user}{secret}@" if (user or secret) else ""
        if self.transport == "unix":
            return f"unix://{auth}{self.path}?db={self.db}"
        scheme = "rediss" if self.transport == "tls" else "redis"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"{scheme}://{auth}{host}:{self.port}/{self.db}"

    def with_db(self, db: int) -> ResolvedRedis:
        """The same instance, another db index."""
        _check_db(db)
        return replace(self, db=db)

    def __str__(self) -> str:
        return self.describe()


def resolve(
    params: RedisParams | None = None, env: Mapping[str, str] | None = None
) -> ResolvedRedis:
    """Resolve configuration into connection settings.

    The URL is `params.url`, else `$REDIS_URL`, else `redis://127.0.0.1:6379/0`. Username,
    password, db and CA file given in `params` override those found in the URL.
    Raises `InvalidRedisTarget` for an unusable URL or value.
    """
    params = params or RedisParams()
    env = os.environ if env is None else env
    if params.url:
        url, source = params.url, "config"
    elif env.get("REDIS_URL"):
        url, source = env["REDIS_URL"], "REDIS_URL"
    else:
        url, source = DEFAULT_URL, "default"

    if "://" not in url:
        raise InvalidRedisTarget(
            f"Redis URL from {source} has no scheme: use redis://, rediss:// or unix://"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:  # a bad port, an unbalanced [ ...
        raise InvalidRedisTarget(f"Redis URL from {source} is malformed: {exc}") from None
    query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    scheme = parts.scheme.lower()

    username = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    db: int | None = None
    if "db" in query:
        db = _parse_db(query["db"], source)
    host = path = None
    if scheme == "unix":
        transport: Literal["tcp", "tls", "unix"] = "unix"
        path = unquote(parts.path)
        if not path:
            raise InvalidRedisTarget(f"unix:// URL from {source} has no socket path")
        port = None
    elif scheme in ("redis", "rediss"):
        transport = "tls" if scheme == "rediss" else "tcp"
        host = parts.hostname or "127.0.0.1"
        port = port or DEFAULT_PORT
        segment = parts.path.strip("/")
        if segment and db is None:
            db = _parse_db(segment, source)
    else:
        raise InvalidRedisTarget(
            f"Redis URL from {source} has scheme {parts.scheme!r}: use redis://, rediss:// or unix://"
        )

    tls_ca = params.tls_ca or query.get("ssl_ca_certs") or query.get("tls_ca") or None
    if tls_ca and transport != "tls":
        raise InvalidRedisTarget("tls_ca is set but the URL is not rediss://")
    if params.db is not None:
        db = params.db
    db = 0 if db is None else db
    _check_db(db)
    for name, value in (
        ("connect_timeout", params.connect_timeout),
        ("call_timeout", params.call_timeout),
    ):
        if not value > 0:
            raise InvalidRedisTarget(f"{name} must be a positive number of seconds, not {value}")
    return ResolvedRedis(
        transport=transport,
        host=host,
        port=port,
        path=path,
        db=db,
        username=params.username or username,
        password=params.password if params.password is not None else password,
        tls_ca=tls_ca,
        connect_timeout=float(params.connect_timeout),
        call_timeout=float(params.call_timeout),
        source=source,
    )


def _parse_db(text: str, source: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidRedisTarget(
            f"Redis URL from {source}: db must be a number, not {text!r}"
        ) from None


def _check_db(db: int) -> None:
    if isinstance(db, bool) or not isinstance(db, int) or db < 0:
        raise InvalidRedisTarget(f"db must be a non-negative integer, not {db!r}")
