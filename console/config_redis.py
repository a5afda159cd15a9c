"""The `redis:` list of a target: one entry per instance, in the order the screen shows them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from console.config_yaml import (
    MASK,
    REFRESH_MAX,
    Reader,
    boolean,
    checked_url,
    join,
    named_entries,
    optional_integer,
    optional_number,
    optional_text,
    redact_dsn,
    required,
    resolve_path,
)

REDIS_SCHEMES = ("redis", "rediss", "unix")
REDIS_NAME = "redis"
"""The name of a target's only Redis instance when the file gives none."""

_seconds = required(optional_number(), "a number of seconds")


@dataclass(frozen=True, slots=True)
class RedisConfig:
    """How to reach one Redis instance. Every connection setting left None is discovered
    by the adapter: the URL from `$REDIS_URL`, else `redis://127.0.0.1:6379/0`."""

    name: str = REDIS_NAME
    """The instance's name in its target (screen, audit log); unique per target and
    required when the target lists more than one instance."""
    url: str | None = field(default=None, repr=False)
    """redis://, rediss:// (TLS) or unix:// URL; may hold a password, so never shown
    unmasked. Explicit keys below override the same part of the URL."""
    username: str | None = None
    """ACL user (Redis 6 and later)."""
    password: str | None = field(default=None, repr=False)
    """SECRET. Prefer `${VAR}` over writing it in the file."""
    db: int | None = None
    """Database index, 0 or more; None uses the URL's, else 0."""
    tls_ca: Path | None = None
    """CA bundle (PEM) that verifies a rediss:// server; `~` expanded, a relative path is
    taken from the config file's directory."""
    connect_timeout: float = 3.0
    """Seconds to connect and authenticate before reporting the instance unreachable."""
    call_timeout: float = 2.0
    """Seconds one round trip (a command or a pipeline) may take."""
    refresh: float | None = None
    """Seconds between polls of this instance; None uses the global `refresh`."""
    allow_flushall: bool = False
    """Offer `FLUSHALL` (every db of the instance) next to `FLUSHDB`."""


_REDIS_KEYS = tuple(f.name for f in fields(RedisConfig))


def read_redis(r: Reader, node: Node, path: str, source: Path) -> tuple[RedisConfig, ...]:
    """One form only, a list, so the screen's order is the file's; a lone mapping is the
    likely mistake and gets a hint."""
    entries = named_entries(
        r,
        node,
        path,
        _REDIS_KEYS,
        noun="instance",
        owner="Redis instance",
        settings="instance settings",
        expected="a list of instances, e.g. `redis: [{url: redis://...}]`",
        example="- url: redis://...",
        default_name=REDIS_NAME,
    )
    instances = [
        _read_redis_instance(r, name, f, item_path, source) for name, f, item_path in entries
    ]
    return tuple(instances)


def _read_redis_instance(
    r: Reader, name: str, f: dict[str, Node], path: str, source: Path
) -> RedisConfig:
    url = r.get(f, "url", path, _redis_url, None)
    tls_ca = r.get(f, "tls_ca", path, optional_text, None)
    if tls_ca is not None and url is not None and not url.lower().startswith("rediss://"):
        r.report(
            f["tls_ca"],
            join(path, "tls_ca"),
            "a CA file is only used over TLS: the url must start with rediss://",
        )
    return RedisConfig(
        name=name,
        url=url,
        username=r.get(f, "username", path, optional_text, None),
        password=r.get(f, "password", path, optional_text, None),
        db=r.get(f, "db", path, optional_integer(0), None),
        tls_ca=None if tls_ca is None else resolve_path(tls_ca, source),
        connect_timeout=r.get(f, "connect_timeout", path, _seconds, 3.0),
        call_timeout=r.get(f, "call_timeout", path, _seconds, 2.0),
        refresh=r.get(f, "refresh", path, optional_number(at_most=REFRESH_MAX), None),
        allow_flushall=r.get(f, "allow_flushall", path, boolean, False),
    )


def _redis_url(r: Reader, node: Node) -> str | None:
    """A redis://, rediss:// or unix:// URL, or None. Messages show it password-masked."""
    url = optional_text(r, node)
    if url is None:
        return None
    shown = redact_dsn(url)
    parts = checked_url(r, url, REDIS_SCHEMES)
    if parts.scheme.lower() == "unix":
        if not parts.path:
            r.fail(
                f"a unix:// URL needs the socket path, e.g. unix:///run/redis.sock, got {shown!r}"
            )
    else:
        db = parts.path.strip("/")
        if db and not (db.isascii() and db.isdigit()):
            r.fail(f"the path of {shown!r} must be a db number (0 or more)")
    return url


def redacted_redis(instance: RedisConfig) -> dict[str, Any]:
    out = asdict(instance)
    if out["url"] is not None:
        out["url"] = redact_dsn(out["url"])
    if out["password"] is not None:
        out["password"] = MASK
    if out["tls_ca"] is not None:
        out["tls_ca"] = str(out["tls_ca"])
    return out
