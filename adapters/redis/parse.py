"""Pure parsers of raw RESP2 replies (INFO, SLOWLOG, CLIENT LIST, ...) into our models.

No I/O: each function takes what the server sent (bytes, ints, nested lists) and is
tolerant of fields that older or newer servers add or leave out.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from adapters.redis.models import (
    ClientsSummary,
    KeyspaceDb,
    LatencyEvent,
    ReplicaLink,
    Replication,
    SlowlogEntry,
)

Info = dict[str, dict[str, str]]


def text(value: Any) -> str:
    """Server text as str; bytes that are not UTF-8 keep their bytes as \\x escapes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return str(value)


def parse_info(raw: bytes) -> Info:
    """INFO output -> {section (lower case): {field: value}}."""
    sections: Info = {}
    current = sections.setdefault("server", {})
    for line in text(raw).splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("#"):
            current = sections.setdefault(line.lstrip("# ").strip().lower(), {})
            continue
        key, sep, value = line.partition(":")
        if sep:
            current[key] = value
    return sections


def flat(info: Info) -> dict[str, str]:
    """All INFO fields in one mapping (field names are unique across sections)."""
    out: dict[str, str] = {}
    for fields in info.values():
        out.update(fields)
    return out


def as_int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return int(float(value))
        except (TypeError, ValueError):
            return default


def as_float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def kv_list(value: str) -> dict[str, str]:
    """'keys=1,expires=0,avg_ttl=0' -> dict."""
    out: dict[str, str] = {}
    for part in value.split(","):
        key, sep, val = part.partition("=")
        if sep:
            out[key] = val
    return out


def parse_keyspace(section: dict[str, str]) -> tuple[KeyspaceDb, ...]:
    """INFO keyspace -> one KeyspaceDb per non-empty db, by db index."""
    dbs = []
    for name, value in section.items():
        if not name.startswith("db") or not name[2:].isdigit():
            continue
        fields = kv_list(value)
        dbs.append(
            KeyspaceDb(
                db=int(name[2:]),
                keys=as_int(fields.get("keys")),
                expires=as_int(fields.get("expires")),
                avg_ttl_ms=as_int(fields.get("avg_ttl")),
            )
        )
    return tuple(sorted(dbs, key=lambda d: d.db))


def parse_replication(fields: dict[str, str]) -> Replication:
    """INFO replication (either side of the link) -> Replication."""
    role = fields.get("role", "master")
    master_offset = as_int(fields["master_repl_offset"]) if "master_repl_offset" in fields else None
    replicas = []
    for name, value in fields.items():
        if not (name.startswith("slave") and name[5:].isdigit()):
            continue
        f = kv_list(value)
        offset = as_int(f.get("offset"))
        replicas.append(
            ReplicaLink(
                addr=f"{f.get('ip', '?')}:{f.get('port', '?')}",
                state=f.get("state", "?"),
                offset=offset,
                lag=as_int(f["lag"]) if "lag" in f else None,
                offset_lag=max(0, master_offset - offset) if master_offset is not None else None,
            )
        )
    is_replica = role in ("slave", "replica")
    return Replication(
        role=role,
        connected_replicas=as_int(fields.get("connected_slaves")),
        replicas=tuple(replicas),
        master_repl_offset=master_offset,
        master_host=fields.get("master_host") if is_replica else None,
        master_port=as_int(fields["master_port"])
        if is_replica and "master_port" in fields
        else None,
        master_link_status=fields.get("master_link_status") if is_replica else None,
        master_last_io_seconds_ago=(
            as_int(fields["master_last_io_seconds_ago"], -1)
            if is_replica and "master_last_io_seconds_ago" in fields
            else None
        ),
        master_sync_in_progress=fields.get("master_sync_in_progress") == "1",
        replica_repl_offset=(
            as_int(fields["slave_repl_offset"]) if "slave_repl_offset" in fields else None
        ),
    )


def parse_slowlog(reply: list[Any]) -> tuple[SlowlogEntry, ...]:
    """SLOWLOG GET -> entries, newest first (the server's order)."""
    entries = []
    for item in reply or ():
        if not isinstance(item, list) or len(item) < 4:
            continue
        entries.append(
            SlowlogEntry(
                id=as_int(item[0]),
                timestamp=as_int(item[1]),
                duration_us=as_int(item[2]),
                args=tuple(a if isinstance(a, bytes) else text(a).encode() for a in item[3]),
                client_addr=text(item[4]) if len(item) > 4 and item[4] else None,
                client_name=text(item[5]) if len(item) > 5 and item[5] else None,
            )
        )
    return tuple(entries)


def parse_latency(reply: list[Any]) -> tuple[LatencyEvent, ...]:
    """LATENCY LATEST -> events, worst latest spike first."""
    events = [
        LatencyEvent(
            event=text(item[0]),
            timestamp=as_int(item[1]),
            latest_ms=as_int(item[2]),
            max_ms=as_int(item[3]),
        )
        for item in reply or ()
        if isinstance(item, list) and len(item) >= 4
    ]
    return tuple(sorted(events, key=lambda e: (-e.latest_ms, e.event)))


def _number(value: Any) -> Any:
    if isinstance(value, bytes):
        value = text(value)
    if isinstance(value, str):
        for kind in (int, float):
            try:
                return kind(value)
            except ValueError:
                pass
    return value


def parse_pairs(reply: list[Any]) -> dict[str, Any]:
    """A flat [key, value, key, value ...] reply (MEMORY STATS) -> dict, nested for lists."""
    out: dict[str, Any] = {}
    items = list(reply or ())
    for key, value in zip(items[0::2], items[1::2], strict=False):
        out[text(key)] = parse_pairs(value) if isinstance(value, list) else _number(value)
    return out


def parse_config_int(reply: Any) -> int | None:
    """CONFIG GET name -> its integer value, None when the server does not know it."""
    if isinstance(reply, list) and len(reply) >= 2:
        return as_int(reply[1])
    return None


def parse_client_list(raw: bytes, top: int) -> ClientsSummary:
    """CLIENT LIST -> counts by name and by host, the longest idle time."""
    by_name: Counter[str] = Counter()
    by_addr: Counter[str] = Counter()
    total = idle_max = blocked = pubsub = 0
    for line in text(raw).splitlines():
        fields = dict(p.split("=", 1) for p in line.split(" ") if "=" in p)
        if not fields:
            continue
        total += 1
        by_name[fields.get("name", "")] += 1
        addr = fields.get("addr", "")
        host = addr.rsplit(":", 1)[0] if ":" in addr else addr
        by_addr[host or "(unix socket)"] += 1
        idle_max = max(idle_max, as_int(fields.get("idle")))
        flags = fields.get("flags", "")
        blocked += "b" in flags
        pubsub += as_int(fields.get("sub")) + as_int(fields.get("psub")) > 0
    order = lambda kv: (-kv[1], kv[0])  # noqa: E731
    return ClientsSummary(
        total=total,
        by_name=tuple(sorted(by_name.items(), key=order)[:top]),
        by_addr=tuple(sorted(by_addr.items(), key=order)[:top]),
        idle_max=idle_max,
        blocked=blocked,
        pubsub=pubsub,
    )
