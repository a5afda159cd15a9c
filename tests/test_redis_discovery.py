"""Redis discovery, pure parsers, operation texts and import hygiene (no server needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from adapters.redis.bigkeys import key_prefix
from adapters.redis.discovery import InvalidRedisTarget, RedisParams, resolve
from adapters.redis.keys import (
    clear_operation,
    delete_operation,
    flushall_operation,
    flushdb_operation,
    glob_escape,
    is_flush_pattern,
    show_arg,
)
from adapters.redis.parse import (
    parse_client_list,
    parse_info,
    parse_keyspace,
    parse_pairs,
    parse_replication,
    parse_slowlog,
)

ROOT = Path(__file__).resolve().parents[1]


def test_default_is_redis_url_then_localhost() -> None:
    r = resolve(RedisParams(), env={})
    assert (r.transport, r.host, r.port, r.db, r.source) == ("tcp", "127.0.0.1", 6379, 0, "default")
    r = resolve(RedisParams(), env={"REDIS_URL": "redis://cache.internal:6380/4"})
    assert (r.host, r.port, r.db, r.source) == ("cache.internal", 6380, 4, "REDIS_URL")
    # The config's URL wins over the environment.
    r = resolve(RedisParams(url="redis://a:1/2"), env={"REDIS_URL": "redis://b:3/4"})
    assert (r.host, r.port, r.db, r.source) == ("a", 1, 2, "config")


def test_acl_credentials_tls_and_overrides() -> None:
    r = resolve(
        RedisParams(url="rediss://alice:p%40ss%3Aw0rd@10.0.0.5:6390/3?ssl_ca_certs=/etc/ca.pem"),
        env={},
    )
    assert r.transport == "tls" and r.tls_ca == "/etc/ca.pem"
    assert (r.username, r.password, r.db) == ("alice", "p@ss:w0rd", 3)
    # Explicit fields (e.g. from ${VAR}) override the URL's parts.
    r = resolve(
        RedisParams(url="rediss://alice:old@h/3", password="new", db=5, tls_ca="/ca.pem"), env={}
    )
    assert (r.password, r.db, r.tls_ca, r.port) == ("new", 5, "/ca.pem", 6379)
    r = resolve(RedisParams(url="redis://[::1]:7000/0"), env={})
    assert (r.host, r.port) == ("::1", 7000)
    assert r.describe() == "redis://[::1]:7000/0"


def test_unix_socket_url() -> None:
    r = resolve(RedisParams(url="unix://:secret@/run/redis/redis.sock?db=2"), env={})
    assert (r.transport, r.path, r.db, r.password) == ("unix", "/run/redis/redis.sock", 2, "secret")
    assert r.describe() == "unix://:***@/run/redis/redis.sock?db=2"


def test_describe_and_repr_never_show_the_password() -> None:
    r = resolve(RedisParams(url="redis://bob:hunter2@db.example:6379/1"), env={})
    assert r.describe() == "redis://bob:***@db.example:6379/1"
    for shown in (r.describe(), str(r), repr(r), repr(RedisParams(password="hunter2"))):
        assert "hunter2" not in shown


@pytest.mark.parametrize(
    ("params", "message"),
    [
        (RedisParams(url="http://h"), "scheme"),
        (RedisParams(url="localhost:6379"), "no scheme"),
        (RedisParams(url="redis://h/notanumber"), "db must be a number"),
        (RedisParams(url="redis://h:99999"), "malformed"),
        (RedisParams(url="redis://h", db=-1), "non-negative"),
        (RedisParams(url="unix://"), "socket path"),
        (RedisParams(url="redis://h", tls_ca="/ca.pem"), "not rediss"),
        (RedisParams(url="redis://:pw@h", call_timeout=0), "call_timeout"),
    ],
)
def test_invalid_targets_are_explained_without_secrets(params: RedisParams, message: str) -> None:
    with pytest.raises(InvalidRedisTarget, match=message) as info:
        resolve(params, env={})
    assert "pw" not in str(info.value).replace("pw@", "")


def test_info_and_replication_parsing() -> None:
    raw = (
        b"# Server\r\nredis_version:7.2.4\r\n\r\n# Replication\r\nrole:master\r\n"
        b"connected_slaves:1\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=90,lag=1\r\n"
        b"master_repl_offset:100\r\n\r\n# Keyspace\r\n"
        b"db0:keys=10,expires=2,avg_ttl=500\r\ndb12:keys=1,expires=0,avg_ttl=0,subexpiry=0\r\n"
    )
    info = parse_info(raw)
    assert info["server"]["redis_version"] == "7.2.4"
    rep = parse_replication(info["replication"])
    assert rep.connected_replicas == 1
    (link,) = rep.replicas
    assert (link.addr, link.state, link.lag, link.offset_lag) == ("10.0.0.2:6380", "online", 1, 10)
    dbs = parse_keyspace(info["keyspace"])
    assert [(d.db, d.keys, d.expires, d.avg_ttl_ms) for d in dbs] == [
        (0, 10, 2, 500),
        (12, 1, 0, 0),
    ]
    replica = parse_replication(
        {"role": "slave", "master_host": "m", "master_port": "6379", "master_link_status": "down",
         "master_last_io_seconds_ago": "-1", "slave_repl_offset": "5"}
    )  # fmt: skip
    assert (replica.master_link_status, replica.master_last_io_seconds_ago) == ("down", -1)


def test_slowlog_client_list_and_memory_stats_parsing() -> None:
    (entry,) = parse_slowlog(
        [[7, 1700000000, 15000, [b"SET", b"k\x00\n", b"\xff"], b"1.2.3.4:5", b""]]
    )
    assert entry.args == (b"SET", b"k\x00\n", b"\xff") and entry.client_name is None
    clients = parse_client_list(
        b"id=1 addr=10.0.0.1:5000 name=web idle=3 flags=N sub=0 psub=0\n"
        b"id=2 addr=10.0.0.1:5001 name=web idle=9 flags=b sub=0 psub=0\n"
        b"id=3 addr=/tmp/redis.sock:0 name= idle=0 flags=N sub=1 psub=0\n",
        top=10,
    )
    assert clients.total == 3 and clients.by_name[0] == ("web", 2)
    assert clients.by_addr[0] == ("10.0.0.1", 2) and clients.idle_max == 9
    assert (clients.blocked, clients.pubsub) == (1, 1)
    stats = parse_pairs(
        [b"peak.allocated", 10, b"db.0", [b"overhead.hashtable.main", 5], b"x", b"0.5"]
    )
    assert stats == {"peak.allocated": 10, "db.0": {"overhead.hashtable.main": 5}, "x": 0.5}


def test_operation_texts_are_exact_and_inert() -> None:
    assert clear_operation(2, "session:*") == (
        "SCAN 0 MATCH session:* COUNT 500 + UNLINK in batches of 500 (db 2)"
    )
    assert (
        clear_operation(2, "*", batch=100) == "SCAN 0 COUNT 100 + UNLINK in batches of 100 (db 2)"
    )
    assert flushdb_operation(3) == "FLUSHDB ASYNC (db 3)"
    assert flushdb_operation(3, asynchronous=False) == "FLUSHDB (db 3)"
    assert flushall_operation() == "FLUSHALL ASYNC (every db)"
    hostile = b'evil\x1b]52;c;AAAA\x07\n"x y\xff'
    shown = delete_operation(1, hostile)
    assert shown == 'UNLINK "evil\\x1b]52;c;AAAA\\x07\\n\\"x y\\xff" (db 1)'
    assert all(ch.isprintable() for ch in shown)
    assert show_arg(b"") == '""' and show_arg("plain:key") == "plain:key"


def test_patterns_prefixes_and_escaping() -> None:
    assert all(is_flush_pattern(p) for p in ("", "*", "**", b"*"))
    assert not any(is_flush_pattern(p) for p in ("a*", "*a", "?"))
    assert glob_escape(b"a*b?[c]\\") == b"a\\*b\\?\\[c\\]\\\\"
    assert key_prefix(b"session:42:x") == b"session:"
    assert key_prefix(b"session:42:x", depth=2) == b"session:42:"
    assert key_prefix(b"session:42", depth=2) == b"session:"
    assert key_prefix(b"plain") == b""


def test_adapters_import_no_ui_and_only_two_modules_import_the_driver() -> None:
    code = (
        "import sys\n"
        "import adapters.redis.monitor, adapters.redis.keys, adapters.redis.bigkeys\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'rich'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == ""
    importers = sorted(
        p.name
        for p in (ROOT / "adapters" / "redis").glob("*.py")
        if any(
            line.startswith(("import redis", "from redis")) for line in p.read_text().splitlines()
        )
    )
    assert importers == ["client.py", "errors.py"]
