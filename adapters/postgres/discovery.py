"""Where to connect: libpq-style discovery of a PostgreSQL target, keeping each value's origin.

`resolve()` fills what the caller did not give, in libpq's order:

    explicit PgParams fields > dsn > service file > PG* environment > local socket > defaults

asyncpg can read most of these sources itself (PG* variables, ~/.pgpass, a service named in a
URI), but it reads `os.environ` directly, ignores key=value conninfo strings and services not
named in a URI, and cannot say where a value came from. The console's header must say that
("postgres@/var/run/postgresql:5432/postgres (socket, discovered)"), so the fields are resolved
here and handed to asyncpg explicitly. Only the password file is left to asyncpg: it reads
~/.pgpass (or PGPASSFILE) when no password is given, with libpq's host/port/db matching.

No driver import here: this module is pure configuration and is unit-tested without a server.
"""

from __future__ import annotations

import configparser
import os
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.errors import SourceError

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_PORT = 5432
DEFAULT_HOST = "127.0.0.1"
#: Where libpq builds put the server socket (Debian: /var/run/postgresql; upstream: /tmp).
DEFAULT_SOCKET_DIRS = ("/var/run/postgresql", "/run/postgresql", "/tmp")
#: System service file directory when PGSYSCONFDIR is unset (Debian's libpq sysconfdir).
DEFAULT_SYSCONFDIR = "/etc/postgresql-common"

#: libpq options passed through to asyncpg untouched (it understands them in a URI query).
_PASSTHROUGH = (
    "sslrootcert",
    "sslcert",
    "sslkey",
    "sslcrl",
    "sslpassword",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "target_session_attrs",
    "krbsrvname",
    "gsslib",
)
_FIELDS = ("host", "port", "user", "password", "database", "sslmode", "connect_timeout", "passfile")
_ALIASES = {"dbname": "database"}
_ENVIRONMENT = (
    ("host", "PGHOST"),
    ("port", "PGPORT"),
    ("user", "PGUSER"),
    ("database", "PGDATABASE"),
    ("password", "PGPASSWORD"),
    ("sslmode", "PGSSLMODE"),
    ("connect_timeout", "PGCONNECT_TIMEOUT"),
    ("passfile", "PGPASSFILE"),
)


class DiscoveryError(SourceError, ValueError):
    """The connection settings are unusable (bad DSN, unknown service). Not retryable.

    A SourceError so the app reports it like any other failure of the source.
    """

    kind = "config"
    retryable = False


@dataclass(frozen=True)
class PgParams:
    """What the caller (config file or CLI) says about the target; None means "discover"."""

    dsn: str | None = None
    host: str | None = None
    port: int | None = None
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    database: str | None = None
    sslmode: str | None = None
    service: str | None = None
    #: Left at the default, PGCONNECT_TIMEOUT / dsn / service may override it.
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT


@dataclass(frozen=True)
class ResolvedPg:
    """A complete connection target plus where each value came from."""

    host: str  # host name, IP address, or a socket directory (starts with "/")
    port: int
    user: str
    database: str
    password: str | None = field(default=None, repr=False)
    sslmode: str | None = None  # None: asyncpg's default ("prefer" over TCP)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    service: str | None = None
    passfile: str | None = None
    #: Extra libpq options (sslrootcert, ...) handed to asyncpg as they were given.
    options: tuple[tuple[str, str], ...] = ()
    #: field name -> origin ("given", "dsn", "service prod", "PGHOST", "discovered", ...).
    sources: tuple[tuple[str, str], ...] = ()

    @property
    def is_socket(self) -> bool:
        """Whether the target is a Unix-domain socket directory rather than a TCP host."""
        return self.host.startswith("/")

    def source(self, name: str) -> str:
        """Where the value of field `name` came from ("default" if never recorded)."""
        return dict(self.sources).get(name, "default")

    def connect_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `asyncpg.connect()` (explicit, so asyncpg adds nothing)."""
        hosts = self.host.split(",")
        kwargs: dict[str, Any] = {
            "host": hosts if len(hosts) > 1 else self.host,
            "port": self.port,
            "user": self.user,
            "database": self.database,
            "timeout": self.connect_timeout,
        }
        if self.password is not None:
            kwargs["password"] = self.password
        if self.passfile is not None:
            kwargs["passfile"] = self.passfile
        if self.sslmode is not None:
            kwargs["ssl"] = self.sslmode
        if self.options:
            # asyncpg reads ssl file options only from a DSN; explicit kwargs win over it.
            kwargs["dsn"] = "postgresql://?" + urllib.parse.urlencode(self.options)
        return kwargs

    def describe(self) -> str:
        """One line for the header; never includes the password."""
        kind = "socket" if self.is_socket else "tcp"
        return (
            f"{self.user}@{self.host}:{self.port}/{self.database} ({kind}, {self.source('host')})"
        )

    def explain(self) -> tuple[str, ...]:
        """One line per setting with its origin, for "what did discovery find" output."""
        lines = [
            f"{name} {getattr(self, name)} ({self.source(name)})"
            for name in ("host", "port", "user", "database")
        ]
        if self.password is not None:
            lines.append(f"password set ({self.source('password')})")
        else:
            lines.append(f"password none given (asyncpg reads {self.passfile or '~/.pgpass'})")
        lines.append(f"sslmode {self.sslmode or 'prefer'} ({self.source('sslmode')})")
        lines.append(
            f"connect_timeout {self.connect_timeout:g}s ({self.source('connect_timeout')})"
        )
        if self.service:
            lines.append(f"service {self.service} ({self.source('service')})")
        return tuple(lines)


def resolve(
    params: PgParams,
    env: Mapping[str, str] = os.environ,
    *,
    socket_dirs: tuple[str, ...] = DEFAULT_SOCKET_DIRS,
) -> ResolvedPg:
    """Fill what `params` leaves out the way libpq does, recording each value's origin.

    `env` stands for the process environment (tests pass a dict). `socket_dirs` are probed for
    `.s.PGSQL.<port>` when no host is given anywhere. Raises DiscoveryError for a malformed DSN
    or a named service that no service file defines.
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = {}
    options: dict[str, str] = {}

    def offer(values_from: Mapping[str, Any], origin: str) -> None:
        for name, value in values_from.items():
            name = _ALIASES.get(name, name)
            if value in (None, ""):
                continue
            if name in _PASSTHROUGH:
                options.setdefault(name, str(value))
            elif name in _FIELDS and name not in values:
                values[name] = value
                sources[name] = origin

    explicit = {n: getattr(params, n) for n in _FIELDS if hasattr(params, n)}
    if params.connect_timeout == DEFAULT_CONNECT_TIMEOUT:
        explicit.pop("connect_timeout")  # the default is not an explicit choice
    offer(explicit, "given")
    dsn_values = parse_dsn(params.dsn) if params.dsn else {}
    offer(dsn_values, "dsn")

    service = params.service or dsn_values.get("service") or env.get("PGSERVICE")
    if service:
        service_source = (
            "given" if params.service else "dsn" if dsn_values.get("service") else "PGSERVICE"
        )
        offer(_read_service(service, env), f"service {service}")
        sources["service"] = service_source

    for name, variable in _ENVIRONMENT:
        offer({name: env.get(variable)}, variable)

    port = _int(values.get("port", DEFAULT_PORT), "port")
    if "host" not in values:
        found = next((d for d in socket_dirs if Path(d, f".s.PGSQL.{port}").exists()), None)
        values["host"], sources["host"] = (
            (found, "discovered") if found else (DEFAULT_HOST, "default")
        )
    if "user" not in values:
        values["user"], sources["user"] = _os_user(), "OS user"
    if "database" not in values:
        values["database"], sources["database"] = values["user"], "= user"
    timeout = _float(values.get("connect_timeout", DEFAULT_CONNECT_TIMEOUT), "connect_timeout")
    if timeout <= 0:  # libpq's 0 means "wait forever"; a triage console never does
        timeout, sources["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT, "default"

    return ResolvedPg(
        host=str(values["host"]),
        port=port,
        user=str(values["user"]),
        database=str(values["database"]),
        password=values.get("password"),
        sslmode=values.get("sslmode"),
        connect_timeout=timeout,
        service=service or None,
        passfile=values.get("passfile"),
        options=tuple(sorted(options.items())),
        sources=tuple(sorted(sources.items())),
    )


def parse_dsn(dsn: str) -> dict[str, str]:
    """Split a libpq connection string (URI or key=value form) into keyword -> value.

    Multi-host URIs keep their host list comma-joined ("h1,h2"); the port of the first host
    wins. Raises DiscoveryError if the string cannot be parsed.
    """
    dsn = dsn.strip()
    if dsn.startswith(("postgresql://", "postgres://")):
        return _parse_uri(dsn)
    if "=" in dsn:
        return _parse_keywords(dsn)
    raise DiscoveryError("the DSN is neither a postgresql:// URI nor key=value pairs")


def _parse_uri(dsn: str) -> dict[str, str]:
    parts = urllib.parse.urlsplit(dsn)
    out: dict[str, str] = {}
    auth, _, hostspec = parts.netloc.rpartition("@")
    if auth:
        user, _, password = auth.partition(":")
        out["user"] = urllib.parse.unquote(user)
        if password:
            out["password"] = urllib.parse.unquote(password)
    hosts, ports = [], []
    for item in filter(None, hostspec.split(",")):
        match = re.fullmatch(
            r"\[(?P<v6>[^\]]+)\](?::(?P<p1>\d*))?|(?P<h>[^:]*)(?::(?P<p2>\d*))?", item
        )
        if not match:
            raise DiscoveryError(f"cannot parse host {item!r} in the DSN")
        hosts.append(urllib.parse.unquote(match["v6"] or match["h"] or ""))
        ports.append(match["p1"] or match["p2"] or "")
    if any(hosts):
        out["host"] = ",".join(hosts)
    if ports and ports[0]:
        out["port"] = ports[0]
    if parts.path.strip("/"):
        out["database"] = urllib.parse.unquote(parts.path.lstrip("/"))
    try:
        query = urllib.parse.parse_qsl(parts.query, strict_parsing=bool(parts.query))
    except ValueError as exc:
        raise DiscoveryError(f"cannot parse the DSN query string: {exc}") from None
    for key, value in query:
        out[_ALIASES.get(key, key)] = value  # query parameters override the netloc (libpq)
    return out


_KEYWORD = re.compile(r"\s*(\w+)\s*=\s*(?:'((?:[^'\\]|\\.)*)'|((?:[^\s\\]|\\.)*))")


def _parse_keywords(dsn: str) -> dict[str, str]:
    out: dict[str, str] = {}
    pos = 0
    while pos < len(dsn.rstrip()):
        match = _KEYWORD.match(dsn, pos)
        if not match:
            raise DiscoveryError(f"cannot parse the DSN near {dsn[pos : pos + 20]!r}")
        raw = match[2] if match[2] is not None else match[3]
        out[_ALIASES.get(match[1], match[1])] = re.sub(r"\\(.)", r"\1", raw)
        pos = match.end()
    return out


def _read_service(name: str, env: Mapping[str, str]) -> dict[str, str]:
    """The service's keywords: the user's file first, then the system file (as libpq)."""
    home = env.get("HOME") or str(Path.home())
    user_file = env.get("PGSERVICEFILE") or os.path.join(home, ".pg_service.conf")
    sysconf = env.get("PGSYSCONFDIR") or DEFAULT_SYSCONFDIR
    for path in (user_file, os.path.join(sysconf, "pg_service.conf")):
        # No interpolation: passwords may contain "%"; no inline comments: nor "#".
        parser = configparser.ConfigParser(interpolation=None, strict=False)
        try:
            parser.read(path, encoding="utf-8")
        except configparser.Error as exc:
            raise DiscoveryError(f"cannot parse service file {path}: {exc}") from None
        if parser.has_section(name):
            return dict(parser.items(name))
    raise DiscoveryError(f'definition of service "{name}" not found')


def _os_user() -> str:
    """libpq's default user: the effective OS user, not $USER."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):  # no pwd module (Windows) or uid without a passwd entry
        import getpass

        return getpass.getuser()


def _int(value: Any, name: str) -> int:
    try:
        return int(str(value).split(",")[0])
    except ValueError:
        raise DiscoveryError(f"invalid {name}: {value!r}") from None


def _float(value: Any, name: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DiscoveryError(f"invalid {name}: {value!r}") from None
