"""One Redis instance in full: memory, keyspace, slowlog, latency, clients, replication.

Each section is a pure function of a `RedisSnapshot` returning a Rich renderable (so it is
testable without an app); `RedisDetailView` shows them one `Static` per section in a
scrolling container. A section whose command was unavailable shows the snapshot's note in
its place. Every table cell is a `Text`: a `str` cell would be parsed as markup.

Key names and slowlog arguments are bytes from outside. `show_bytes` renders them inert
through the one sanitiser. (redis-cli style quoting lives in `adapters.redis.keys.show_arg`,
but that module imports the driver at import time, and widgets never import the driver.)
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from adapters.redis.models import RedisSnapshot
from widgets.formatting import NA, duration, human_bytes, number
from widgets.safe_text import ELLIPSIS, safe_text, sanitize

ARG_MAX = 80  # characters of one slowlog argument
COMMAND_MAX = 200  # characters of one slowlog command line, arguments included
_VALUE_MAX = 60
#: Notes the sections below show in place of their field; any other note goes to "Notes".
_SHOWN_NOTES = frozenset(
    {
        "memory_stats",
        "slowlog",
        "slowlog_threshold_us",
        "latency",
        "latency_threshold_ms",
        "clients",
        "keyspace",
        "replication",
    }
)
#: Words that make an integer memory figure a size in bytes (see `_bytes_like`).
_BYTES_WORDS = (
    "memory",
    "mem_",
    "bytes",
    "allocat",
    "overhead",
    "backlog",
    "buffer",
    "caches",
    "clients.",
    "links",
    "peak",
)
#: INFO memory fields shown first, in this order; the rest follow in the server's order.
_MEMORY_FIRST = (
    "used_memory",
    "maxmemory",
    "maxmemory_policy",
    "used_memory_rss",
    "mem_fragmentation_ratio",
    "used_memory_peak",
    "used_memory_dataset",
    "used_memory_overhead",
)


def show_bytes(value: bytes | str, max_len: int | None = None) -> str:
    """A key name or argument as inert text; quoted when empty or holding whitespace, so
    the boundaries between arguments stay visible."""
    text = sanitize(value, max_len=max_len)
    return f'"{text}"' if not text or any(c.isspace() for c in text) else text


def _heading(title: str, detail: str = "") -> Text:
    out = Text(title, style="bold underline")  # ends its line: a Group joins `end=""`
    if detail:
        out.append(f"  {detail}", style="dim")
    return out


def _note(text: str) -> Text:
    return Text(sanitize(text, max_len=300), style="italic")


def _table(*headers: str, fold: int | None = None) -> Table:
    table = Table(box=None, pad_edge=False, show_edge=False, expand=False, padding=(0, 2, 0, 0))
    for i, header in enumerate(headers):
        numeric = header in ("keys", "expires", "count", "latest ms", "max ms", "duration")
        table.add_column(
            Text(header, style="bold"),
            justify="right" if numeric else "left",
            overflow="fold" if i == fold else "ellipsis",
            no_wrap=i != fold,
        )
    return table


class Pairs:
    """Label/value pairs in as many columns as fit (read downwards), padded by hand.

    A Rich grid measures every cell on every render: with Redis 7's INFO memory and
    MEMORY STATS that was ~27 ms per poll in Pilot; padded lines bring it to ~10 ms.
    """

    def __init__(self, items: list[tuple[str, str]], max_columns: int = 3) -> None:
        self.items = items
        self.max_columns = max_columns
        self._label = max((len(label) for label, _ in items), default=0)
        self._cell = self._label + 2 + max((len(value) for _, value in items), default=0)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        gap = 4
        width = options.max_width
        columns = max(1, min(self.max_columns, (width + gap) // (self._cell + gap)))
        rows = -(-len(self.items) // columns)
        for row in range(rows):
            line = Text(no_wrap=True, overflow="ellipsis")
            for column in range(columns):
                index = column * rows + row
                if index >= len(self.items):
                    break
                label, value = self.items[index]
                if column:
                    line.append(" " * gap)
                line.append(label.ljust(self._label + 2), style="dim")
                line.append(
                    value if column == columns - 1 else value.ljust(self._cell - 2 - self._label)
                )
            line.truncate(width, overflow="ellipsis")
            yield line

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        widest = self._cell * self.max_columns + 4 * (self.max_columns - 1)
        return Measurement(min(self._cell, options.max_width), min(widest, options.max_width))


def _bytes_like(name: str) -> bool:
    """Whether an integer INFO memory / MEMORY STATS figure is a size in bytes (most are;
    counts and flags are the exceptions)."""
    if any(word in name for word in ("ratio", "perc", ".count", "number_of", "objects")):
        return False
    return any(word in name for word in _BYTES_WORDS)


def _format(name: str, value: Any) -> str:
    """A memory figure for humans: sizes in binary units, ratios and percentages short."""
    if isinstance(value, str):
        try:
            value = float(value) if "." in value else int(value)
        except ValueError:
            return sanitize(value, max_len=_VALUE_MAX)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return sanitize(value, max_len=_VALUE_MAX)
    if "perc" in name:
        return f"{value:.1f}%"
    if isinstance(value, int) and _bytes_like(name):
        return human_bytes(value)
    return number(value, 2 if isinstance(value, float) else 0)


def _flatten(stats: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in stats.items():
        name = f"{prefix}{sanitize(key, max_len=40)}"
        if isinstance(value, Mapping):  # db.0 -> overhead.hashtable.main, ...
            out.extend(_flatten(value, f"{name} "))
        else:
            out.append((name, value))
    return out


def header_section(snap: RedisSnapshot) -> RenderableType:
    out = Text(f"Redis {sanitize(snap.version, max_len=16)}", style="bold", end="")
    out.append(f" · {sanitize(snap.mode, max_len=12)} · {sanitize(snap.role, max_len=12)}")
    out.append(f" · up {duration(snap.uptime)} · {sanitize(snap.target, max_len=80)}")
    if snap.loading:
        out.append("  LOADING dataset", style="bold reverse")
    return out


def memory_section(snap: RedisSnapshot) -> RenderableType:
    limit = human_bytes(snap.maxmemory) if snap.maxmemory else "no limit (maxmemory 0)"
    typed: dict[str, str] = {
        "used_memory": human_bytes(snap.used_memory),
        "maxmemory": limit,
        "maxmemory_policy": sanitize(snap.maxmemory_policy, max_len=_VALUE_MAX),
        "used_memory_rss": human_bytes(snap.used_memory_rss),
        "mem_fragmentation_ratio": number(snap.mem_fragmentation_ratio, 2),
        "used_memory_peak": human_bytes(snap.used_memory_peak),
    }
    info = snap.info.get("memory", {})
    names = [n for n in _MEMORY_FIRST if n in typed or n in info]
    names += [n for n in info if n not in names and not n.endswith("_human")]
    items = [
        (sanitize(n, max_len=40), typed[n] if n in typed else _format(n, info[n])) for n in names
    ]
    parts: list[RenderableType] = [_heading("Memory", "INFO memory"), Pairs(items), Text()]
    parts.append(_heading("Memory stats", "MEMORY STATS"))
    if snap.memory_stats is None:
        parts.append(_note(snap.notes.get("memory_stats", "MEMORY STATS not polled")))
    else:
        flat = _flatten(snap.memory_stats)
        parts.append(Pairs([(name, _format(name, value)) for name, value in flat]))
    return Group(*parts)


def keyspace_section(snap: RedisSnapshot) -> RenderableType:
    dbs = snap.keyspace
    head = _heading("Keyspace", f"{snap.total_keys:,} keys in {len(dbs)} db(s)")
    if "keyspace" in snap.notes:
        return Group(head, _note(snap.notes["keyspace"]))
    if not dbs:
        return Group(head, Text("No keys in any db.", style="dim"))
    table = _table("db", "keys", "expires", "avg TTL")
    for db in dbs:
        ttl = duration(db.avg_ttl_ms / 1000) if db.avg_ttl_ms else NA
        share = f" ({db.expires / db.keys:.0%})" if db.keys else ""
        cells = (f"db{db.db}", f"{db.keys:,}", f"{db.expires:,}{share}", ttl)
        table.add_row(*(Text(c, end="") for c in cells))
    return Group(head, table)


def command_text(args: tuple[bytes, ...]) -> Text:
    """A slowlog command line, each argument inert, the whole capped at COMMAND_MAX."""
    line, length = [], 0
    for arg in args:
        shown = show_bytes(arg, max_len=ARG_MAX)
        line.append(shown)
        length += len(shown) + 1
        if length > COMMAND_MAX:
            break
    text = " ".join(line)
    if len(text) > COMMAND_MAX:
        text = text[: COMMAND_MAX - 1] + ELLIPSIS
    return Text(text, end="")


def slowlog_section(snap: RedisSnapshot) -> RenderableType:
    threshold = snap.slowlog_threshold_us
    if threshold is None:
        why = snap.notes.get("slowlog_threshold_us")
        detail = f"threshold unknown ({sanitize(why, max_len=80)})" if why else ""
    elif threshold < 0:
        detail = "disabled (slowlog-log-slower-than < 0)"
    else:
        detail = f"logs commands slower than {_micros(threshold)}"
    entries = snap.slowlog
    if entries is None:
        note = snap.notes.get("slowlog", "SLOWLOG not polled")
        return Group(_heading("Slowlog", detail), _note(note))
    head = _heading("Slowlog", f"{len(entries)} latest · {detail}".strip(" ·"))
    if not entries:
        return Group(head, Text("Empty.", style="dim"))
    table = _table("at", "duration", "command", "client", fold=2)
    for e in entries:
        client = " ".join(sanitize(v, max_len=40) for v in (e.client_addr, e.client_name) if v)
        table.add_row(
            Text(_when(e.timestamp), end=""),
            Text(_micros(e.duration_us), end=""),
            command_text(e.args),
            Text(client or NA, end=""),
        )
    return Group(head, table)


def latency_section(snap: RedisSnapshot) -> RenderableType:
    threshold = snap.latency_threshold_ms
    detail = "LATENCY LATEST"
    if threshold == 0:
        detail += " · monitor off (latency-monitor-threshold 0): no events are recorded"
    elif threshold is not None:
        detail += f" · records events over {threshold} ms"
    if snap.latency is None:
        note = snap.notes.get("latency", "LATENCY not polled")
        return Group(_heading("Latency", detail), _note(note))
    if not snap.latency:
        return Group(_heading("Latency", detail), Text("No events.", style="dim"))
    table = _table("event", "at", "latest ms", "max ms")
    for ev in snap.latency:
        table.add_row(
            safe_text(ev.event, max_len=40),
            Text(_when(ev.timestamp), end=""),
            Text(f"{ev.latest_ms:,}", end=""),
            Text(f"{ev.max_ms:,}", end=""),
        )
    return Group(_heading("Latency", detail), table)


def clients_section(snap: RedisSnapshot) -> RenderableType:
    c = snap.clients
    if c is None:
        note = snap.notes.get("clients", "CLIENT LIST not polled")
        return Group(_heading("Clients", f"{snap.connected_clients:,} connected"), _note(note))
    head = _heading("Clients", "CLIENT LIST, summarised")
    line = Text(f"{c.total:,} clients · longest idle {duration(c.idle_max)}")
    line.append(f" · {c.blocked:,} blocked · {c.pubsub:,} pub/sub")
    table = _table("name", "count", "address", "count")
    names, addrs = list(c.by_name), list(c.by_addr)
    for i in range(max(len(names), len(addrs))):
        name, n = names[i] if i < len(names) else (None, None)
        addr, a = addrs[i] if i < len(addrs) else (None, None)
        table.add_row(
            Text("(unnamed)", style="dim", end="") if name == "" else safe_text(name, max_len=40),
            Text("" if n is None else f"{n:,}", end=""),
            safe_text(addr, max_len=48),
            Text("" if a is None else f"{a:,}", end=""),
        )
    return Group(head, line, table)


def replication_section(snap: RedisSnapshot) -> RenderableType:
    rep = snap.replication
    head = _heading("Replication", sanitize(rep.role, max_len=12))
    if "replication" in snap.notes:
        return Group(head, _note(snap.notes["replication"]))
    if rep.role in ("slave", "replica"):
        line = Text(f"master {sanitize(rep.master_host, max_len=60)}:{rep.master_port}")
        line.append(f" · link {sanitize(rep.master_link_status or '?', max_len=10)}")
        last_io = rep.master_last_io_seconds_ago
        if last_io is not None and last_io >= 0:
            line.append(f" · last I/O {last_io} s ago")
        if rep.master_sync_in_progress:
            line.append(" · SYNC in progress", style="bold")
        return Group(head, line)
    line = Text(f"{rep.connected_replicas} replica(s)")
    if rep.master_repl_offset is not None:
        line.append(f" · offset {rep.master_repl_offset:,}")
    if not rep.replicas:
        return Group(head, line)
    table = _table("replica", "state", "lag", "behind")
    for r in rep.replicas:
        lag = "" if r.lag is None else f"{r.lag} s"
        behind = human_bytes(r.offset_lag) if r.offset_lag is not None else NA
        table.add_row(
            safe_text(r.addr, max_len=60),
            safe_text(r.state, max_len=20),
            Text(lag or NA, end=""),
            Text(behind, end=""),
        )
    return Group(head, line, table)


def notes_section(snap: RedisSnapshot) -> RenderableType:
    """Notes no section above shows (a field of the snapshot that had no home there)."""
    rest = sorted((k, v) for k, v in snap.notes.items() if k not in _SHOWN_NOTES)
    if not rest:
        return Text("", end="")
    lines = [_note(f"{sanitize(k, max_len=40)}: {v}") for k, v in rest]
    return Group(_heading("Notes"), *lines)


Section = Callable[[RedisSnapshot], RenderableType]
Inputs = Callable[[RedisSnapshot], object]


def _depends(*fields: str) -> Inputs:
    """Inputs of a section: these snapshot fields and the notes kept under their names."""

    def inputs(snap: RedisSnapshot) -> object:
        return [getattr(snap, f) for f in fields] + [snap.notes.get(f) for f in fields]

    return inputs


def _header_inputs(snap: RedisSnapshot) -> object:
    return (snap.version, snap.mode, snap.role, duration(snap.uptime), snap.target, snap.loading)


def _always(snap: RedisSnapshot) -> object:
    return object()  # never equal to the last one: rebuilt on every snapshot


#: (name, builder, what it depends on). A section whose inputs did not change since the
#: last snapshot is not rebuilt: a 32-entry slowlog table costs ~40 ms to lay out.
SECTIONS: tuple[tuple[str, Section, Inputs], ...] = (
    ("header", header_section, _header_inputs),
    ("memory", memory_section, _always),  # changes on every poll anyway
    ("keyspace", keyspace_section, _depends("keyspace")),
    ("slowlog", slowlog_section, _depends("slowlog", "slowlog_threshold_us")),
    ("latency", latency_section, _depends("latency", "latency_threshold_ms")),
    ("clients", clients_section, _depends("clients", "connected_clients")),
    ("replication", replication_section, _depends("replication")),
    ("notes", notes_section, lambda snap: sorted(snap.notes.items())),
)


def _when(epoch: int) -> str:
    """Local date and time of a server timestamp; entries can be days old."""
    return time.strftime("%m-%d %H:%M:%S", time.localtime(epoch))


def _micros(us: int) -> str:
    if us < 1000:
        return f"{us} µs"
    if us < 1_000_000:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1_000_000:.2f} s"


_UNSET = object()


class RedisDetailView(VerticalScroll):
    """The Redis screen's body for one instance: every section, scrollable."""

    DEFAULT_CSS = """
    RedisDetailView {
        height: 1fr;
        color: $foreground;
        & > .redis-detail-section { height: auto; margin-bottom: 1; }
        & > .redis-detail-empty { height: auto; color: $text-muted; display: none; }
        &.-empty > .redis-detail-section { display: none; }
        &.-empty > .redis-detail-empty { display: block; }
    }
    """

    def __init__(
        self,
        snapshot: RedisSnapshot | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._snapshot = snapshot
        self._inputs: dict[str, object] = {}

    def compose(self) -> ComposeResult:
        yield Static(
            Text("Waiting for the first poll…", end=""), classes="redis-detail-empty", markup=False
        )
        for key, _, _ in SECTIONS:
            yield Static(classes=f"redis-detail-section -{key}", markup=False)

    def on_mount(self) -> None:
        self._show()

    @property
    def snapshot(self) -> RedisSnapshot | None:
        return self._snapshot

    def update_snapshot(self, snapshot: RedisSnapshot | None) -> None:
        """Show `snapshot` (None: nothing polled yet); the scroll position is kept."""
        if snapshot is self._snapshot and self.is_mounted:
            return
        self._snapshot = snapshot
        if self.is_mounted:
            self._show()

    def _show(self) -> None:
        snap = self._snapshot
        self.set_class(snap is None, "-empty")
        if snap is None:
            return
        for key, build, inputs in SECTIONS:
            now = inputs(snap)
            if self._inputs.get(key, _UNSET) == now:
                continue  # same data: keep what is drawn, no rebuild, no repaint
            self._inputs[key] = now
            self.query_one(f".redis-detail-section.-{key}", Static).update(build(snap))
