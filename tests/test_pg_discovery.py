"""Discovery: libpq's precedence with an env dict and temp service files; real connects."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import asyncpg
import pytest

from adapters.postgres.discovery import (
    DiscoveryError,
    PgParams,
    ResolvedPg,
    parse_dsn,
    resolve,
)

NO_SOCKETS: tuple[str, ...] = ()


def service_file(tmp_path: Path, text: str, name: str = "pg_service.conf") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def fake_socket_dir(tmp_path: Path, port: int = 5432) -> str:
    directory = tmp_path / "run"
    directory.mkdir(exist_ok=True)
    (directory / f".s.PGSQL.{port}").touch()
    return str(directory)


def test_defaults_without_anything(tmp_path: Path) -> None:
    r = resolve(PgParams(), {"HOME": str(tmp_path)}, socket_dirs=NO_SOCKETS)
    assert (r.host, r.port) == ("127.0.0.1", 5432)
    assert r.user and r.database == r.user
    assert r.source("user") == "OS user" and r.source("database") == "= user"
    assert r.describe() == f"{r.user}@127.0.0.1:5432/{r.user} (tcp, default)"
    assert r.connect_timeout == 5.0 and r.password is None


def test_socket_is_discovered_for_the_resolved_port(tmp_path: Path) -> None:
    run = fake_socket_dir(tmp_path, 6001)
    dirs = (str(tmp_path / "missing"), run)
    assert resolve(PgParams(), {}, socket_dirs=dirs).host == "127.0.0.1"  # 5432: no socket
    r = resolve(PgParams(), {"PGPORT": "6001", "PGUSER": "postgres"}, socket_dirs=dirs)
    assert (r.host, r.port, r.is_socket) == (run, 6001, True)
    assert r.describe() == f"postgres@{run}:6001/postgres (socket, discovered)"


def test_environment_fills_everything_and_says_so() -> None:
    env = {
        "PGHOST": "db.internal",
        "PGPORT": "6543",
        "PGUSER": "alice",
        "PGDATABASE": "shop",
        "PGPASSWORD": "s3cret",
        "PGSSLMODE": "require",
        "PGCONNECT_TIMEOUT": "7",
    }
    r = resolve(PgParams(), env, socket_dirs=NO_SOCKETS)
    assert (r.host, r.port, r.user, r.database) == ("db.internal", 6543, "alice", "shop")
    assert (r.password, r.sslmode, r.connect_timeout) == ("s3cret", "require", 7.0)
    assert r.source("host") == "PGHOST" and r.source("database") == "PGDATABASE"
    assert r.source("connect_timeout") == "PGCONNECT_TIMEOUT"
    assert r.describe() == "alice@db.internal:6543/shop (tcp, PGHOST)"
    kwargs = r.connect_kwargs()
    assert kwargs == {
        "host": "db.internal",
        "port": 6543,
        "user": "alice",
        "database": "shop",
        "password": "s3cret",
        "ssl": "require",
        "timeout": 7.0,
    }


def test_password_never_shown() -> None:
    r = resolve(PgParams(dsn="postgresql://bob:hunter2@h/db"), {}, socket_dirs=NO_SOCKETS)
    assert r.password == "hunter2"
    assert "hunter2" not in r.describe()
    assert "hunter2" not in repr(r)
    assert not any("hunter2" in line for line in r.explain())
    assert "hunter2" not in repr(PgParams(password="hunter2"))


def test_precedence_given_over_dsn_over_service_over_env(tmp_path: Path) -> None:
    conf = service_file(
        tmp_path,
        "[prod]\nhost=svc-host\nport=7000\nuser=svc-user\ndbname=svc-db\npassword=p%w#x\n",
    )
    env = {
        "PGSERVICEFILE": str(conf),
        "PGHOST": "env-host",
        "PGUSER": "env-user",
        "PGDATABASE": "env-db",
        "PGSSLMODE": "disable",
    }
    r = resolve(
        PgParams(dsn="postgresql://dsn-user@dsn-host/?sslmode=prefer", service="prod", port=7100),
        env,
        socket_dirs=NO_SOCKETS,
    )
    assert (r.host, r.source("host")) == ("dsn-host", "dsn")
    assert (r.port, r.source("port")) == (7100, "given")
    assert (r.user, r.source("user")) == ("dsn-user", "dsn")
    assert (r.database, r.source("database")) == ("svc-db", "service prod")
    assert r.password == "p%w#x"  # no interpolation, no inline comments
    assert (r.sslmode, r.source("sslmode")) == ("prefer", "dsn")
    assert (r.service, r.source("service")) == ("prod", "given")
    assert r.describe() == "dsn-user@dsn-host:7100/svc-db (tcp, dsn)"


def test_service_named_by_pgservice_beats_other_env(tmp_path: Path) -> None:
    conf = service_file(tmp_path, "[ops]\nhost=/var/run/pg\nuser=ops\n")
    env = {"PGSERVICEFILE": str(conf), "PGSERVICE": "ops", "PGHOST": "env-host"}
    r = resolve(PgParams(), env, socket_dirs=NO_SOCKETS)
    assert (r.host, r.user, r.database) == ("/var/run/pg", "ops", "ops")
    assert r.source("service") == "PGSERVICE"
    assert r.describe() == "ops@/var/run/pg:5432/ops (socket, service ops)"


def test_service_from_dsn_and_home_and_sysconfdir(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    service_file(home, "[a]\nport=6001\n", ".pg_service.conf")
    sysconf = tmp_path / "etc"
    sysconf.mkdir()
    service_file(sysconf, "[a]\nport=6999\nuser=ignored\n[b]\nport=6002\n")
    env = {"HOME": str(home), "PGSYSCONFDIR": str(sysconf)}
    a = resolve(PgParams(dsn="postgresql://h/db?service=a"), env, socket_dirs=NO_SOCKETS)
    assert (a.port, a.source("port"), a.source("service")) == (6001, "service a", "dsn")
    assert a.source("user") == "OS user"  # the user file defined "a": the system one is unused
    b = resolve(PgParams(service="b"), env, socket_dirs=NO_SOCKETS)
    assert b.port == 6002


def test_unknown_service_is_an_error(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "PGSYSCONFDIR": str(tmp_path), "PGSERVICE": "nope"}
    with pytest.raises(DiscoveryError, match='service "nope" not found') as info:
        resolve(PgParams(), env)
    assert not info.value.retryable  # a SourceError the app reports, never retries


def test_connect_timeout_precedence() -> None:
    env = {"PGCONNECT_TIMEOUT": "9"}
    assert resolve(PgParams(), env, socket_dirs=NO_SOCKETS).connect_timeout == 9.0
    given = resolve(PgParams(connect_timeout=2.5), env, socket_dirs=NO_SOCKETS)
    assert (given.connect_timeout, given.source("connect_timeout")) == (2.5, "given")
    dsn = resolve(PgParams(dsn="host=h connect_timeout=3"), env, socket_dirs=NO_SOCKETS)
    assert dsn.connect_timeout == 3.0
    # libpq's 0 means "wait forever": a triage console never does.
    assert resolve(PgParams(), {"PGCONNECT_TIMEOUT": "0"}).connect_timeout == 5.0


def test_parse_dsn_forms() -> None:
    assert parse_dsn("postgresql://u%40x:p%3Aw@[::1]:5433/my%20db?sslmode=require") == {
        "user": "u@x",
        "password": "p:w",
        "host": "::1",
        "port": "5433",
        "database": "my db",
        "sslmode": "require",
    }
    assert parse_dsn("postgres:///db?host=/var/run/postgresql&port=5999") == {
        "database": "db",
        "host": "/var/run/postgresql",
        "port": "5999",
    }
    assert parse_dsn("postgresql://h1:5001,h2:5002/db")["host"] == "h1,h2"
    assert parse_dsn(r"host=/tmp port=5 dbname='a b\'c' user = x password=") == {
        "host": "/tmp",
        "port": "5",
        "database": "a b'c",
        "user": "x",
        "password": "",
    }
    with pytest.raises(DiscoveryError):
        parse_dsn("mysql://nope")
    with pytest.raises(DiscoveryError):
        parse_dsn("host=h 'broken")


def test_ssl_file_options_pass_through_to_asyncpg() -> None:
    r = resolve(
        PgParams(dsn="postgresql://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem"),
        {},
        socket_dirs=NO_SOCKETS,
    )
    kwargs = r.connect_kwargs()
    assert kwargs["ssl"] == "verify-full"
    assert kwargs["dsn"] == "postgresql://?sslrootcert=%2Fetc%2Fca.pem"


def test_explain_lists_every_origin() -> None:
    r = resolve(PgParams(host="h", user="u"), {"PGDATABASE": "d"}, socket_dirs=NO_SOCKETS)
    assert r.explain()[:4] == (
        "host h (given)",
        "port 5432 (default)",
        "user u (given)",
        "database d (PGDATABASE)",
    )


async def _whoami(resolved: ResolvedPg) -> tuple[str, str, str | None]:
    conn = await asyncpg.connect(**resolved.connect_kwargs())
    try:
        row = await conn.fetchrow(
            "SELECT current_user::text, current_database()::text, inet_server_addr()::text"
        )
        return row[0], row[1], row[2]
    finally:
        await conn.close()


async def test_resolved_settings_really_connect(pg_dsn: str, tmp_path: Path) -> None:
    parts = parse_dsn(pg_dsn)
    conf = service_file(
        tmp_path,
        f"[t]\nhost={parts.get('host', '127.0.0.1')}\nport={parts.get('port', 5432)}\n"
        f"user={parts.get('user', 'postgres')}\ndbname={parts.get('database', 'postgres')}\n",
    )
    r = resolve(PgParams(), {"PGSERVICEFILE": str(conf), "PGSERVICE": "t"}, socket_dirs=NO_SOCKETS)
    user, database, _ = await asyncio.wait_for(_whoami(r), 10)
    assert (user, database) == (r.user, r.database)


@pytest.mark.skipif(
    not os.path.exists("/var/run/postgresql/.s.PGSQL.5432"), reason="no local server socket"
)
async def test_discovered_socket_really_connects(pg_dsn: str) -> None:
    r = resolve(PgParams(user="postgres", database="postgres"), {})
    assert r.describe() == "postgres@/var/run/postgresql:5432/postgres (socket, discovered)"
    _, _, server_addr = await asyncio.wait_for(_whoami(r), 10)
    assert server_addr is None  # inet_server_addr() is NULL over a Unix socket


def test_import_hygiene() -> None:
    # Adapters never load Textual or Rich; discovery and the tree never load the driver.
    code = (
        "import sys\n"
        "import adapters.postgres.discovery, adapters.postgres.blocking\n"
        "assert 'asyncpg' not in sys.modules, 'driver loaded by discovery/blocking'\n"
        "import adapters.postgres.monitor, adapters.postgres.actions\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parent.parent)
