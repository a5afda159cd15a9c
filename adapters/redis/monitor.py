"""Polling one Redis instance into `RedisSnapshot`s: one round trip per poll.

A poll pipelines `INFO` (default sections: server, clients, memory, persistence, stats,
replication, cpu, keyspace, ...) with the optional detail commands — `MEMORY STATS`,
`SLOWLOG GET n`, `LATENCY LATEST`, `CLIENT LIST` and two `CONFIG GET`s — on the
monitor's own connection. `maxmemory` and `maxmemory_policy` come from INFO memory, so
`CONFIG` is never needed for the dashboard.

An optional command that is renamed, disabled, denied by ACL or refused while loading
degrades its field only (None, with a note in `snapshot.notes`); a command found
unavailable is not sent again for `recheck_after` seconds, its note kept meanwhile.
Only INFO failing, or the connection failing, raises (a `SourceError`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from adapters.errors import PermissionDenied, SourceError
from adapters.redis import parse
from adapters.redis.client import Command, RedisConn
from adapters.redis.discovery import ResolvedRedis
from adapters.redis.errors import CommandUnavailable, unavailable_note
from adapters.redis.models import RedisSnapshot

__all__ = ["RedisMonitor"]


@dataclass(frozen=True, slots=True)
class _Optional:
    field: str  # RedisSnapshot field it fills
    label: str  # command as named in notes
    command: Command


@dataclass(frozen=True, slots=True)
class _Counters:
    at: float  # local monotonic clock when the reply came
    run_id: str
    uptime: int
    commands: int
    evicted: int
    expired: int
    hits: int
    misses: int


class RedisMonitor:
    """Polls one instance on a dedicated, self-reconnecting connection.

    Not for concurrent use: the app's scheduler runs one poll at a time per source.
    """

    def __init__(
        self,
        resolved: ResolvedRedis,
        *,
        slowlog_entries: int = 32,
        top_clients: int = 10,
        client_list_limit: int = 5_000,
        recheck_after: float = 60.0,
        name: str = "ops-console:monitor",
    ) -> None:
        self.resolved = resolved
        self.slowlog_entries = slowlog_entries
        self.top_clients = top_clients
        self.client_list_limit = client_list_limit
        self.recheck_after = recheck_after
        self._conn = RedisConn(resolved, name=name, reconnect=True)
        self._previous: _Counters | None = None
        self._own_since_info = 0  # our commands counted in the next INFO's total
        self._unavailable: dict[str, tuple[str, float]] = {}  # label -> (note, until)
        self._last_clients = 0

    @property
    def round_trips(self) -> int:
        """Round trips made so far (one per successful poll)."""
        return self._conn.round_trips

    async def poll(self, *, detail: bool = True) -> RedisSnapshot:
        """Take one snapshot (one round trip).

        `detail=False` sends INFO only (what the dashboard pane needs); the detail
        fields are then None without notes. Raises `SourceError` subclasses:
        Unreachable (also ServerLoading), AuthFailed, SourceTimeout, ...
        """
        notes: dict[str, str] = {}
        wanted = self._optional_commands(notes) if detail else []
        replies = await self._conn.pipeline([("INFO",)] + [o.command for o in wanted])
        received = time.monotonic()
        info_reply = replies[0]
        if isinstance(info_reply, SourceError):
            raise info_reply
        info = parse.parse_info(info_reply)

        values: dict[str, object] = {}
        succeeded = 0
        for opt, reply in zip(wanted, replies[1:], strict=True):
            if isinstance(reply, SourceError):
                note = unavailable_note(opt.label, reply)
                notes[opt.field] = note
                if isinstance(reply, (CommandUnavailable, PermissionDenied)):
                    self._unavailable[opt.label] = (note, received + self.recheck_after)
                continue
            succeeded += 1
            self._unavailable.pop(opt.label, None)
            values[opt.field] = self._parse_optional(opt.field, reply)

        snapshot = self._build(info, values, notes, received, sent=len(replies))
        self._own_since_info = 1 + succeeded  # INFO itself and the commands after it
        return snapshot

    async def close(self) -> None:
        """Close the monitor's connection."""
        await self._conn.close()

    # -- internals ----------------------------------------------------------------------

    def _optional_commands(self, notes: dict[str, str]) -> list[_Optional]:
        candidates = [
            _Optional("memory_stats", "MEMORY STATS", ("MEMORY", "STATS")),
            _Optional("slowlog", "SLOWLOG", ("SLOWLOG", "GET", self.slowlog_entries)),
            _Optional("latency", "LATENCY", ("LATENCY", "LATEST")),
            _Optional("clients", "CLIENT LIST", ("CLIENT", "LIST")),
            _Optional(
                "slowlog_threshold_us", "CONFIG", ("CONFIG", "GET", "slowlog-log-slower-than")
            ),
            _Optional(
                "latency_threshold_ms", "CONFIG", ("CONFIG", "GET", "latency-monitor-threshold")
            ),
        ]
        now = time.monotonic()
        wanted = []
        for opt in candidates:
            skipped = self._unavailable.get(opt.label)
            if skipped and skipped[1] > now:
                notes[opt.field] = skipped[0]
            elif opt.field == "clients" and self._last_clients > self.client_list_limit:
                notes[opt.field] = (
                    f"CLIENT LIST skipped: {self._last_clients:,} clients "
                    f"(more than {self.client_list_limit:,})"
                )
            else:
                wanted.append(opt)
        return wanted

    def _parse_optional(self, field: str, reply: object) -> object:
        if field == "memory_stats":
            return parse.parse_pairs(reply)  # type: ignore[arg-type]
        if field == "slowlog":
            return parse.parse_slowlog(reply)  # type: ignore[arg-type]
        if field == "latency":
            return parse.parse_latency(reply)  # type: ignore[arg-type]
        if field == "clients":
            return parse.parse_client_list(reply, self.top_clients)  # type: ignore[arg-type]
        return parse.parse_config_int(reply)

    def _build(
        self,
        info: parse.Info,
        values: dict[str, object],
        notes: dict[str, str],
        received: float,
        sent: int,
    ) -> RedisSnapshot:
        f = parse.flat(info)
        num = parse.as_int
        counters = _Counters(
            at=received,
            run_id=f.get("run_id", ""),
            uptime=num(f.get("uptime_in_seconds")),
            commands=num(f.get("total_commands_processed")),
            evicted=num(f.get("evicted_keys")),
            expired=num(f.get("expired_keys")),
            hits=num(f.get("keyspace_hits")),
            misses=num(f.get("keyspace_misses")),
        )
        rates = self._rates(counters)
        self._previous = counters
        self._last_clients = num(f.get("connected_clients"))
        server_usec = f.get("server_time_usec")
        taken_at = num(server_usec) / 1e6 if server_usec else time.time()
        return RedisSnapshot(
            taken_at=taken_at,
            target=self._conn.target,
            version=f.get("redis_version", "?"),
            mode=f.get("redis_mode", "standalone"),
            role=f.get("role", "?"),
            uptime=counters.uptime,
            loading=f.get("loading") == "1",
            used_memory=num(f.get("used_memory")),
            used_memory_rss=num(f.get("used_memory_rss")),
            used_memory_peak=num(f.get("used_memory_peak")),
            maxmemory=num(f.get("maxmemory")),
            maxmemory_policy=f.get("maxmemory_policy", "?"),
            mem_fragmentation_ratio=parse.as_float(f.get("mem_fragmentation_ratio")),
            evicted_keys=counters.evicted,
            expired_keys=counters.expired,
            keyspace_hits=counters.hits,
            keyspace_misses=counters.misses,
            total_commands_processed=counters.commands,
            instantaneous_ops_per_sec=num(f.get("instantaneous_ops_per_sec")),
            connected_clients=self._last_clients,
            blocked_clients=num(f.get("blocked_clients")),
            replication=parse.parse_replication(info.get("replication", {})),
            keyspace=parse.parse_keyspace(info.get("keyspace", {})),
            info=info,
            memory_stats=values.get("memory_stats"),  # type: ignore[arg-type]
            slowlog=values.get("slowlog"),  # type: ignore[arg-type]
            slowlog_threshold_us=values.get("slowlog_threshold_us"),  # type: ignore[arg-type]
            latency=values.get("latency"),  # type: ignore[arg-type]
            latency_threshold_ms=values.get("latency_threshold_ms"),  # type: ignore[arg-type]
            clients=values.get("clients"),  # type: ignore[arg-type]
            notes=notes,
            commands_sent=sent,
            **rates,
        )

    def _rates(self, now: _Counters) -> dict[str, float | None]:
        prev = self._previous
        cumulative = _ratio(now.hits, now.misses)
        none = dict.fromkeys(("interval", "ops_per_sec", "evicted_per_sec", "expired_per_sec"))
        if (
            prev is None
            or prev.run_id != now.run_id
            or now.uptime < prev.uptime
            or now.commands < prev.commands
            or now.at <= prev.at
        ):
            return {**none, "hit_ratio": cumulative}
        dt = now.at - prev.at
        others = max(0, now.commands - prev.commands - self._own_since_info)
        hits, misses = now.hits - prev.hits, now.misses - prev.misses
        return {
            "interval": dt,
            "ops_per_sec": others / dt,
            "evicted_per_sec": max(0, now.evicted - prev.evicted) / dt,
            "expired_per_sec": max(0, now.expired - prev.expired) / dt,
            "hit_ratio": _ratio(hits, misses) if hits >= 0 and misses >= 0 else None,
        }


def _ratio(hits: int, misses: int) -> float | None:
    return hits / (hits + misses) if hits + misses > 0 else None
