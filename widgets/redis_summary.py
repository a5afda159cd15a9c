"""The dashboard's Redis pane, one per instance: memory, evictions, hits, load, replication.

Like the PostgreSQL pane it never blanks: a failed poll keeps the last snapshot on
screen, dimmed, and the freshness line says since when it is stale, why, and when the
next retry is. A field whose source was unavailable (`snapshot.notes[field]`) shows the
note in its place rather than a number that would look real.

The sparklines (memory, ops/s) come from the pane's own bounded deques, fed once per new
snapshot (a state seen again adds no sample).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from adapters.redis.models import RedisSnapshot, Replication
from console.state import SourceState
from widgets.formatting import NA, duration, human_bytes, number, percent
from widgets.freshness import Freshness
from widgets.safe_text import sanitize

HISTORY_SAMPLES = 180  # 3 minutes at a 1 s refresh, 6 at 2 s
BAR_WIDTH = 20
_TARGET_MAX = 60
FRAGMENTATION_FLOOR = 64 * 1024 * 1024  # RSS below which fragmentation is not flagged


#: Redraw the sparklines on every Nth update only (the body and freshness every time).
SPARK_EVERY = 5


class RedisSummaryPane(Widget):
    """One Redis instance at a glance: memory vs maxmemory, RSS and fragmentation, the
    eviction policy, evicted/expired keys per second, hit ratio, ops/s, clients, role and
    replication lag, the loading flag, sparklines of memory and ops/s, and freshness."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "redis-summary--label",
        "redis-summary--value",
        "redis-summary--muted",
        "redis-summary--note",
        "redis-summary--bar",
        "redis-summary--bar-empty",
        "redis-summary--warning",
        "redis-summary--critical",
    }

    DEFAULT_CSS = """
    RedisSummaryPane {
        height: auto;
        border: round $border;
        border-title-color: $text-primary;
        padding: 0 1;
        & > .redis-summary--label { color: $text-muted; }
        & > .redis-summary--value { color: $foreground; text-style: bold; }
        & > .redis-summary--muted { color: $text-muted; }
        & > .redis-summary--note { color: $text-warning; text-style: italic; }
        & > .redis-summary--bar { color: $success; }
        & > .redis-summary--bar-empty { color: $text-disabled; }
        & > .redis-summary--warning { color: $text-warning; text-style: bold; }
        & > .redis-summary--critical { color: $text-error; text-style: bold; }
        &.-stale { border: round $error; }
        &.-stale > .redis-summary-body { text-opacity: 60%; }
        .redis-summary-body { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
        .redis-summary-sparks { height: 1; margin-top: 1; }
        .redis-summary-spark-label { width: auto; color: $text-muted; padding: 0 1 0 0; }
        Sparkline { width: 1fr; margin-right: 2; }
    }
    """

    def __init__(
        self,
        title: str,
        *,
        clock: Callable[[], float] = time.time,
        source_name: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        # The instance name comes from config; still a Text, so it is never parsed as markup.
        self.border_title = Text(f"Redis {sanitize(title, max_len=40)}".rstrip(), end="")
        self._clock = clock
        #: The `SourceState.name` this pane shows, so a dashboard can route states to it.
        self.source_name = source_name
        self._state: SourceState[RedisSnapshot] | None = None
        self._memory: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._ops: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._sampled_at: float | None = None
        self._body_lines = 0
        self._updates = 0

    def compose(self) -> ComposeResult:
        # Classes, not ids: a dashboard holds one pane per instance.
        yield Static(classes="redis-summary-body", markup=False)
        with Horizontal(classes="redis-summary-sparks"):
            yield Static(classes="redis-summary-spark-label -memory")
            yield Sparkline([], classes="-memory")
            yield Static(classes="redis-summary-spark-label -ops")
            yield Sparkline([], classes="-ops")
        yield Freshness(self._state, clock=self._clock)

    def on_mount(self) -> None:
        self._show()

    @property
    def state(self) -> SourceState[RedisSnapshot] | None:
        return self._state

    @property
    def memory_history(self) -> Sequence[float]:
        return tuple(self._memory)

    @property
    def ops_history(self) -> Sequence[float]:
        return tuple(self._ops)

    def update_state(self, state: SourceState[RedisSnapshot]) -> None:
        """Show `state`; a stale state keeps its last snapshot and says why it is stale."""
        if state is self._state:
            return  # the dashboard may repeat a state: no sample, no repaint
        self._state = state
        snapshot = state.snapshot
        if snapshot is not None and state.updated_at != self._sampled_at:
            self._sampled_at = state.updated_at
            self._memory.append(float(snapshot.used_memory))
            if snapshot.ops_per_sec is not None:  # None on the first poll, after a restart
                self._ops.append(snapshot.ops_per_sec)
        if self.is_mounted:
            self._show()

    def body_text(self) -> Text:
        """The pane's text lines (what its body shows)."""
        state = self._state
        snap = state.snapshot if state is not None else None
        if snap is None:
            failed = state is not None and state.error is not None
            return Text("No data yet." if failed else "Waiting for the first poll…", end="")
        label, value, muted, note_style = (
            self._style(n) for n in ("label", "value", "muted", "note")
        )
        notes = snap.notes
        out = Text(no_wrap=True, overflow="ellipsis", end="")

        def field(name: str, text: str | Text, style: Style = value, key: str = "") -> None:
            out.append(name + " ", label)
            note = notes.get(key) if key else None
            if note is not None:  # what the poll could not get: say so, show no number
                out.append(sanitize(note, max_len=80), note_style)
            elif isinstance(text, Text):
                out.append_text(text)
            else:
                out.append(text, style)

        field("Redis", sanitize(snap.version, max_len=16))
        field(" ·", sanitize(snap.mode, max_len=12))
        field(" · up", duration(snap.uptime))
        out.append(" · " + sanitize(snap.target, max_len=_TARGET_MAX), muted)
        if snap.loading:
            out.append("  LOADING dataset", self._style("critical"))
        out.append("\n")

        ratio = snap.memory_ratio
        if snap.maxmemory > 0:
            used = f"{human_bytes(snap.used_memory)} / {human_bytes(snap.maxmemory)} "
            field("memory", used, key="used_memory")
            if "used_memory" not in notes:
                out.append_text(self._bar(ratio or 0.0))
        else:
            field("memory", human_bytes(snap.used_memory), key="used_memory")
            out.append(" · no limit (maxmemory 0)", value)
        policy_alert = snap.maxmemory > 0 and snap.maxmemory_policy == "noeviction"
        field(
            " · policy",
            sanitize(snap.maxmemory_policy, max_len=24),
            self._alert(policy_alert and (ratio or 0) >= 0.9, False),
            key="maxmemory_policy",
        )
        out.append("\n")

        frag = snap.mem_fragmentation_ratio
        frag_text = NA if frag is None else f"{frag:.2f}"
        # On a near-empty instance RSS dwarfs the data and the ratio means nothing.
        frag_alert = frag is not None and (frag > 1.5 or frag < 1.0)
        frag_alert = frag_alert and snap.used_memory_rss >= FRAGMENTATION_FLOOR
        field("RSS", human_bytes(snap.used_memory_rss), key="used_memory_rss")
        field(
            " · fragmentation",
            frag_text,
            self._alert(frag_alert, False),
            key="mem_fragmentation_ratio",
        )
        field(" · peak", human_bytes(snap.used_memory_peak), key="used_memory_peak")
        field(" · keys", number(snap.total_keys), key="keyspace")
        out.append("\n")

        if snap.ops_per_sec is not None:
            ops = number(snap.ops_per_sec)
        else:  # first poll: no interval yet, so Redis' own estimate, said as such
            ops = f"~{number(snap.instantaneous_ops_per_sec)} (server estimate)"
        field("ops/s", ops, key="ops_per_sec")
        hits = percent(snap.hit_ratio) if snap.hit_ratio is not None else f"{NA} (no lookups)"
        field(" · hit ratio", hits, key="hit_ratio")
        evicted = snap.evicted_per_sec
        field(
            " · evicted/s",
            number(evicted, 1),
            self._alert(evicted is not None and evicted > 0, False),
            key="evicted_per_sec",
        )
        field(" · expired/s", number(snap.expired_per_sec, 1), key="expired_per_sec")
        out.append("\n")

        field("clients", number(snap.connected_clients), key="connected_clients")
        blocked = snap.blocked_clients
        field(" · blocked", number(blocked), self._alert(blocked > 0, False), key="blocked_clients")
        field(" · role", self._replication(snap.replication), key="replication")
        return out

    # -- internals ------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"redis-summary--{name}", partial=True)

    def _alert(self, warning: bool, critical: bool) -> Style:
        return self._style("critical" if critical else "warning" if warning else "value")

    def _bar(self, ratio: float) -> Text:
        filled = min(BAR_WIDTH, round(ratio * BAR_WIDTH))
        name = "critical" if ratio >= 0.9 else "warning" if ratio >= 0.75 else "bar"
        bar = Text("█" * filled, self._style(name))
        bar.append("░" * (BAR_WIDTH - filled), self._style("bar-empty"))
        bar.append(f" {percent(ratio, 0)}", self._alert(ratio >= 0.75, ratio >= 0.9))
        return bar

    def _replication(self, rep: Replication) -> Text:
        value, muted = self._style("value"), self._style("muted")
        out = Text(end="")
        if rep.role in ("slave", "replica"):
            out.append("replica", value)
            master = f"{sanitize(rep.master_host or '?', max_len=40)}:{rep.master_port or '?'}"
            out.append(f" of {master}", muted)
            link = rep.master_link_status or "?"
            out.append(" · link ", muted)
            out.append(sanitize(link, max_len=10), self._alert(False, link != "up"))
            last_io = rep.master_last_io_seconds_ago
            if last_io is not None and last_io >= 0:
                out.append(" · last I/O ", muted)
                out.append(f"{last_io} s ago", self._alert(last_io > 10, last_io > 60))
            if rep.master_sync_in_progress:
                out.append(" · SYNC in progress", self._style("warning"))
            return out
        out.append(sanitize(rep.role, max_len=12), value)
        if not rep.replicas and not rep.connected_replicas:
            return out
        out.append(f" · {rep.connected_replicas} replica(s)", muted)
        lags = [r.lag for r in rep.replicas if r.lag is not None]
        behind = [r.offset_lag for r in rep.replicas if r.offset_lag is not None]
        if lags:
            worst = max(lags)
            out.append(" · lag ", muted)
            out.append(f"{worst} s", self._alert(worst > 10, worst > 60))
        if behind:
            out.append(f" · {human_bytes(max(behind))} behind", muted)
        offline = sum(1 for r in rep.replicas if r.state != "online")
        if offline:
            out.append(f" · {offline} not online", self._style("warning"))
        return out

    def _show(self) -> None:
        state = self._state
        self.set_class(state is not None and state.stale, "-stale")
        body = self.body_text()
        lines = body.plain.count("\n") + 1
        # Same number of lines as before: a repaint is enough, no layout pass.
        self.query_one(".redis-summary-body", Static).update(body, layout=lines != self._body_lines)
        self._body_lines = lines
        # The sparklines show minutes of history: redrawing them every few seconds is
        # enough, and at a 1 s refresh they were the largest part of the pane's cost.
        self._updates += 1
        if len(self._memory) >= SPARK_EVERY and self._updates % SPARK_EVERY:
            if state is not None:
                self.query_one(Freshness).update_state(state)
            return
        memory, ops = list(self._memory), list(self._ops)
        self.query_one("Sparkline.-memory", Sparkline).data = memory
        self.query_one("Sparkline.-ops", Sparkline).data = ops
        self._label("-memory", f"memory {_range(memory, human_bytes)}")
        self._label("-ops", f"ops/s {_range(ops, number)}")
        if state is not None:
            self.query_one(Freshness).update_state(state)

    def _label(self, which: str, text: str) -> None:
        label = self.query_one(f".redis-summary-spark-label.{which}", Static)
        # The label is `width: auto`: only a change of length needs a layout pass, and
        # skipping it keeps the pane's steady refresh cheap.
        label.update(Text(text, end=""), layout=len(text) != len(str(label.content)))


def _range(series: Sequence[float], fmt: Callable[[float], str]) -> str:
    """Min to max of a series for a sparkline label, so the bars have a scale."""
    if not series:
        return NA
    low, high = min(series), max(series)
    return fmt(low) if low == high else f"{fmt(low)}–{fmt(high)}"
