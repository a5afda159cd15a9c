"""The dashboard's PostgreSQL pane: server, connections, throughput, the worst sessions.

It never blanks: a failed poll keeps the last snapshot on screen, dimmed, with the
freshness line saying since when it is stale, why, and when the next retry is.

History for the sparklines: the caller passes any object with `connections` and `tps`
sequences of floats, oldest first (the source's bounded `PgHistory`). Without one, the
pane keeps its own bounded deques (`HISTORY_SAMPLES`), fed once per new snapshot, so it
also works standalone (tests, a screen without a source history).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import ClassVar, Protocol

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from adapters.postgres.models import Backend, PgSnapshot
from console.state import SourceState
from widgets.formatting import NA, duration, human_bytes, number, percent
from widgets.freshness import Freshness
from widgets.safe_text import sanitize

HISTORY_SAMPLES = 180  # own history when the caller passes none: 6 minutes at 2 s
BAR_WIDTH = 20
_STATE_LABELS = {"idle in transaction": "idle in xact", "idle in transaction (aborted)": "aborted"}


class SeriesHistory(Protocol):
    """Recent samples, oldest first; `console.pg_source.PgHistory` is one."""

    @property
    def connections(self) -> Sequence[float]: ...

    @property
    def tps(self) -> Sequence[float]: ...


class PgSummaryPane(Widget):
    """PostgreSQL at a glance: version, uptime, connections vs max, TPS, cache hits,
    database size, the longest query and oldest transaction, lock waits, sparklines."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "pg-summary--label",
        "pg-summary--value",
        "pg-summary--muted",
        "pg-summary--bar",
        "pg-summary--bar-empty",
        "pg-summary--warning",
        "pg-summary--critical",
    }

    DEFAULT_CSS = """
    PgSummaryPane {
        height: auto;
        border: round $border;
        border-title-color: $text-primary;
        padding: 0 1;
        & > .pg-summary--label { color: $text-muted; }
        & > .pg-summary--value { color: $foreground; text-style: bold; }
        & > .pg-summary--muted { color: $text-muted; }
        & > .pg-summary--bar { color: $success; }
        & > .pg-summary--bar-empty { color: $text-disabled; }
        & > .pg-summary--warning { color: $text-warning; text-style: bold; }
        & > .pg-summary--critical { color: $text-error; text-style: bold; }
        &.-stale { border: round $error; }
        &.-stale > #pg-summary-body { text-opacity: 60%; }
        #pg-summary-body { height: auto; }
        #pg-summary-sparks { height: 1; margin-top: 1; }
        .pg-summary-spark-label { width: auto; color: $text-muted; padding: 0 1 0 0; }
        Sparkline { width: 1fr; margin-right: 2; }
    }
    """

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.border_title = "PostgreSQL"  # a constant: data never goes into titles
        self._clock = clock
        self._state: SourceState[PgSnapshot] | None = None
        self._connections: Sequence[float] = ()
        self._tps: Sequence[float] = ()
        self._own_connections: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._own_tps: deque[float] = deque(maxlen=HISTORY_SAMPLES)
        self._sampled_at: float | None = None

    def compose(self) -> ComposeResult:
        yield Static(id="pg-summary-body", markup=False)
        with Horizontal(id="pg-summary-sparks"):
            yield Static(id="pg-summary-conn-label", classes="pg-summary-spark-label")
            yield Sparkline([], id="pg-summary-conn-spark")
            yield Static(id="pg-summary-tps-label", classes="pg-summary-spark-label")
            yield Sparkline([], id="pg-summary-tps-spark")
        yield Freshness(self._state, clock=self._clock, id="pg-summary-freshness")

    def on_mount(self) -> None:
        self._show()

    @property
    def state(self) -> SourceState[PgSnapshot] | None:
        return self._state

    def update_state(
        self, state: SourceState[PgSnapshot], history: SeriesHistory | None = None
    ) -> None:
        """Show `state`; a stale state keeps its last snapshot and says why it is stale."""
        self._state = state
        snapshot = state.snapshot
        if history is not None:
            self._connections, self._tps = list(history.connections), list(history.tps)
        else:
            if snapshot is not None and state.updated_at != self._sampled_at:
                self._sampled_at = state.updated_at
                self._own_connections.append(float(snapshot.summary.total_connections))
                if snapshot.tps is not None:
                    self._own_tps.append(snapshot.tps)
            self._connections, self._tps = list(self._own_connections), list(self._own_tps)
        if self.is_mounted:
            self._show()

    def body_text(self) -> Text:
        """The pane's text lines (what `#pg-summary-body` shows)."""
        state = self._state
        snapshot = state.snapshot if state is not None else None
        if snapshot is None:
            failed = state is not None and state.error is not None
            return Text("No data yet." if failed else "Waiting for the first poll…", end="")
        label, value, muted = (
            self.get_component_rich_style(f"pg-summary--{n}", partial=True)
            for n in ("label", "value", "muted")
        )
        s = snapshot.summary
        out = Text(no_wrap=True, overflow="ellipsis", end="")

        def field(name: str, text: str, style: Style = value) -> None:
            out.append(name + " ", label)
            out.append(text, style)

        field("PostgreSQL", sanitize(s.version, max_len=24))
        field(" · up", duration(s.uptime))
        field(" · database", sanitize(s.database, max_len=40))
        out.append(f" {human_bytes(s.database_size)}", value)
        out.append("\n")
        field("connections", f"{s.total_connections:,} / {s.max_connections:,} ")
        out.append_text(self._bar(s.total_connections, s.max_connections))
        by_state = sorted(s.connections_by_state.items(), key=lambda kv: -kv[1])
        for i, (name, count) in enumerate(by_state):
            label_text = _STATE_LABELS.get(name) or sanitize(name, max_len=24) or "?"
            field(" ·" if i else "  ", f"{count:,}", value)
            out.append(f" {label_text}", muted)
        out.append("\n")
        field("TPS", number(snapshot.tps, 1))
        field(" · cache hit", percent(snapshot.cache_hit_ratio))
        waiting, blocking = snapshot.waiting_count, snapshot.blocking_count
        field(" · waiting on locks", str(waiting), self._alert(waiting > 0, False))
        field(" · blocking", str(blocking), self._alert(False, blocking > 0))
        out.append("\n")
        self._session(out, "longest query ", snapshot.longest_query(), "query")
        out.append("\n")
        self._session(out, "oldest xact   ", snapshot.oldest_transaction(), "xact")
        return out

    # -- internals ------------------------------------------------------------------------

    def _alert(self, warning: bool, critical: bool) -> Style:
        name = "critical" if critical else "warning" if warning else "value"
        return self.get_component_rich_style(f"pg-summary--{name}", partial=True)

    def _bar(self, used: int, maximum: int) -> Text:
        ratio = used / maximum if maximum > 0 else 0.0
        filled = min(BAR_WIDTH, round(ratio * BAR_WIDTH))
        name = "critical" if ratio >= 0.9 else "warning" if ratio >= 0.75 else "bar"
        bar = Text("█" * filled, self.get_component_rich_style(f"pg-summary--{name}", partial=True))
        empty = self.get_component_rich_style("pg-summary--bar-empty", partial=True)
        bar.append("░" * (BAR_WIDTH - filled), empty)
        bar.append(f" {percent(ratio, 0)}", self._alert(ratio >= 0.75, ratio >= 0.9))
        return bar

    def _session(self, out: Text, title: str, backend: Backend | None, age: str) -> None:
        label = self.get_component_rich_style("pg-summary--label", partial=True)
        value = self.get_component_rich_style("pg-summary--value", partial=True)
        out.append(title + " ", label)
        if backend is None:
            out.append(NA, value)
            return
        seconds = backend.query_age if age == "query" else backend.xact_age
        out.append(f"pid {backend.pid} ", value)
        out.append(
            f"{duration(seconds)}  ", self._alert(seconds is not None and seconds > 60, False)
        )
        out.append(sanitize(backend.query, max_len=300))

    def _show(self) -> None:
        state = self._state
        self.set_class(state is not None and state.stale, "-stale")
        self.query_one("#pg-summary-body", Static).update(self.body_text())
        conn, tps = self._connections, self._tps
        self.query_one("#pg-summary-conn-spark", Sparkline).data = conn
        self.query_one("#pg-summary-tps-spark", Sparkline).data = tps
        self.query_one("#pg-summary-conn-label", Static).update(
            Text(f"connections {_range(conn, 0)}", end="")
        )
        self.query_one("#pg-summary-tps-label", Static).update(
            Text(f"TPS {_range(tps, 1)}", end="")
        )
        if state is not None:
            self.query_one(Freshness).update_state(state)


def _range(series: Sequence[float], digits: int) -> str:
    """Min to max of a series for a sparkline label, so the bars have a scale."""
    if not series:
        return NA
    if min(series) == max(series):
        return number(series[0], digits)
    return f"{number(min(series), digits)}–{number(max(series), digits)}"
