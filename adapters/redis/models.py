"""Frozen snapshots of Redis state and of key operations: raw values only, no markup.

Key names, command arguments and client names come from outside and are kept as the
server returned them (key names and arguments as `bytes`, binary-safe). Widgets escape
them when rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# -- monitoring -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplicaLink:
    """One replica connected to this master (INFO replication `slaveN:`)."""

    addr: str  # ip:port as the replica announced it
    state: str  # online, wait_bgsave, send_bulk, ...
    offset: int  # replication offset the replica acknowledged
    lag: int | None  # seconds since its last ACK
    offset_lag: int | None  # bytes behind master_repl_offset


@dataclass(frozen=True, slots=True)
class Replication:
    """INFO replication, for both sides of the link."""

    role: str  # master | slave (Redis' own word)
    connected_replicas: int = 0
    replicas: tuple[ReplicaLink, ...] = ()
    master_repl_offset: int | None = None
    # Filled when this instance is a replica:
    master_host: str | None = None
    master_port: int | None = None
    master_link_status: str | None = None  # up | down
    master_last_io_seconds_ago: int | None = None  # -1 while the link is down
    master_sync_in_progress: bool = False
    replica_repl_offset: int | None = None


@dataclass(frozen=True, slots=True)
class KeyspaceDb:
    """One line of INFO keyspace."""

    db: int
    keys: int
    expires: int
    avg_ttl_ms: int  # 0 when no key has a TTL


@dataclass(frozen=True, slots=True)
class SlowlogEntry:
    """One SLOWLOG entry. Redis truncates long arguments and long argument lists itself."""

    id: int
    timestamp: int  # unix seconds when the command ran
    duration_us: int
    args: tuple[bytes, ...]  # the command and its arguments, raw
    client_addr: str | None  # Redis >= 4
    client_name: str | None


@dataclass(frozen=True, slots=True)
class LatencyEvent:
    """One LATENCY LATEST row (only filled when latency-monitor-threshold > 0)."""

    event: str  # command, fast-command, fork, expire-cycle, ...
    timestamp: int  # unix seconds of the latest spike
    latest_ms: int
    max_ms: int


@dataclass(frozen=True, slots=True)
class ClientsSummary:
    """CLIENT LIST summarised: counts by name and by address, the longest idle."""

    total: int
    by_name: tuple[tuple[str, int], ...]  # top N (name, count), "" for unnamed
    by_addr: tuple[tuple[str, int], ...]  # top N (host without port, count)
    idle_max: int  # seconds
    blocked: int  # clients in a blocking call (flags contain "b")
    pubsub: int  # clients with subscriptions


@dataclass(frozen=True, slots=True)
class RedisSnapshot:
    """Everything one poll of a Redis instance returns.

    Optional fields (`memory_stats`, `slowlog`, `latency`, `clients`, thresholds) are
    None when their command was unavailable, denied or not asked for; `notes` then says
    why, keyed by the field name.
    """

    taken_at: float  # unix seconds, server clock when INFO was taken
    target: str  # description of the instance, never with the password
    version: str
    mode: str  # standalone | cluster | sentinel
    role: str
    uptime: int  # seconds
    loading: bool  # the server is loading its dataset (data commands answer LOADING)
    used_memory: int
    used_memory_rss: int
    used_memory_peak: int
    maxmemory: int  # bytes; 0 means no limit
    maxmemory_policy: str
    mem_fragmentation_ratio: float | None
    evicted_keys: int  # cumulative since start
    expired_keys: int
    keyspace_hits: int
    keyspace_misses: int
    total_commands_processed: int
    instantaneous_ops_per_sec: int  # Redis' own estimate over its last ~1.6 s
    connected_clients: int
    blocked_clients: int
    replication: Replication
    keyspace: tuple[KeyspaceDb, ...]
    #: Raw INFO: section name (lower case) -> field -> value, for the detail views.
    info: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    memory_stats: Mapping[str, Any] | None = None
    slowlog: tuple[SlowlogEntry, ...] | None = None
    slowlog_threshold_us: int | None = None  # slowlog-log-slower-than (CONFIG GET)
    latency: tuple[LatencyEvent, ...] | None = None
    latency_threshold_ms: int | None = None  # latency-monitor-threshold; 0 = monitor off
    clients: ClientsSummary | None = None
    notes: Mapping[str, str] = field(default_factory=dict)
    #: Rates over the interval since the previous poll; None on the first poll and after
    #: a restart (counters went back). `ops_per_sec` excludes this monitor's own commands.
    interval: float | None = None
    ops_per_sec: float | None = None
    evicted_per_sec: float | None = None
    expired_per_sec: float | None = None
    #: keyspace hit ratio (0..1) over the interval, or cumulative on the first poll;
    #: None when there were no lookups.
    hit_ratio: float | None = None
    commands_sent: int = 0  # commands this poll sent (for the benchmark and the footer)

    @property
    def memory_ratio(self) -> float | None:
        """used_memory / maxmemory, or None when there is no limit."""
        return self.used_memory / self.maxmemory if self.maxmemory else None

    @property
    def total_keys(self) -> int:
        return sum(db.keys for db in self.keyspace)

    def db(self, index: int) -> KeyspaceDb | None:
        """The keyspace line of one db, None when the db holds no key."""
        return next((d for d in self.keyspace if d.db == index), None)


# -- big keys ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BigKey:
    """One sampled key and its size."""

    name: bytes
    type: str  # string, list, set, zset, hash, stream, ... ("?" if TYPE was unavailable)
    size: int  # see BigKeysResult.measure for the unit


@dataclass(frozen=True, slots=True)
class PrefixStat:
    """Keys sharing a prefix (the first segments up to the separator, kept with it).

    `prefix` b"" gathers the keys that have no separator in them.
    """

    prefix: bytes
    keys: int
    size: int  # sum of the keys' sizes, same unit as BigKeysResult.measure


@dataclass(frozen=True, slots=True)
class BigKeysProgress:
    """Where a big-keys sample stands (sent after each batch)."""

    scanned: int
    key_budget: int
    elapsed: float
    time_budget: float
    dbsize: int | None  # keys in the db when the sample started

    @property
    def fraction(self) -> float:
        """0..1: the larger of the budgets used, or of the db covered."""
        parts = [self.scanned / self.key_budget, self.elapsed / self.time_budget]
        if self.dbsize:
            parts.append(self.scanned / self.dbsize)
        return min(1.0, max(parts))


@dataclass(frozen=True, slots=True)
class BigKeysResult:
    """The outcome of a big-keys sample of one db."""

    db: int
    largest: tuple[BigKey, ...]  # biggest first
    prefixes: tuple[PrefixStat, ...]  # biggest total first
    scanned: int  # distinct keys examined
    dbsize: int | None  # keys in the db when the sample started
    complete: bool  # the SCAN went round the whole db
    stopped_reason: str | None  # "key budget", "time budget", "cancelled", error text
    elapsed: float
    #: "memory usage" (bytes, MEMORY USAGE with its default sampling) or "length"
    #: (STRLEN bytes for strings, element counts for aggregates) when MEMORY is
    #: unavailable, or "unavailable" when neither could be measured.
    measure: str = "memory usage"
    note: str | None = None  # why the measure degraded


# -- key actions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PatternPreview:
    """What clearing a pattern would touch, counted with SCAN (bounded)."""

    db: int
    pattern: bytes
    count: int  # matching keys found; a lower bound when not complete ("≥ N")
    complete: bool  # the SCAN covered the whole db within its budgets
    sample: tuple[bytes, ...]  # some matching names, in SCAN order
    estimated_bytes: int | None  # MEMORY USAGE of a sample, extrapolated to `count`
    estimate_basis: int  # how many keys the estimate measured
    is_flush: bool  # empty or all-`*` pattern: needs flush-level confirmation
    dbsize: int  # keys in the db
    elapsed: float
    operation: str  # the exact operation a clear would run
    note: str | None = None  # e.g. "MEMORY unavailable: no estimate"


@dataclass(frozen=True, slots=True)
class ClearProgress:
    """Where a pattern clear stands (sent after each round trip)."""

    scanned: int  # keys SCAN returned (they match the pattern; a key may come twice)
    deleted: int  # keys UNLINK confirmed deleted
    elapsed: float


@dataclass(frozen=True, slots=True)
class ClearResult:
    """The outcome of a pattern clear, also when it stopped early."""

    db: int
    pattern: bytes
    deleted: int  # keys UNLINK confirmed deleted (exact)
    scanned: int  # keys SCAN returned matching the pattern
    completed: bool
    stopped_reason: str | None  # None when completed; "cancelled", "connection lost: …"
    elapsed: float
    #: Keys sent in an UNLINK whose reply never came (connection lost): they may or may
    #: not be deleted. 0 in every other case.
    uncertain: int = 0
    error: Exception | None = None  # the SourceError that stopped it, if any


@dataclass(frozen=True, slots=True)
class FlushResult:
    """The outcome of FLUSHDB / FLUSHALL."""

    db: int | None  # None for FLUSHALL
    keys_before: int  # keys in the db(s) just before the flush
    asynchronous: bool
    operation: str
