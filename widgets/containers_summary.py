"""The dashboard's Containers pane: counts by state and the top containers by CPU and
memory, across every host of the target.

Like the other panes it never blanks: a failed poll keeps the last snapshot, dimmed, and
the freshness line says since when, why, and when it retries. A host that failed while
others answered (`HostSnapshot.error`) is named with its error on a line of its own; its
containers are its last good ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from adapters.docker.models import ContainerSummary, DockerSnapshot
from console.state import SourceState
from widgets.formatting import clock_time, human_bytes, number
from widgets.freshness import Freshness
from widgets.safe_text import sanitize

TOP_N = 3
_NAME_MAX = 32
_ERROR_MAX = 160


def counts(snapshot: DockerSnapshot) -> dict[str, int]:
    """Containers by what an operator looks for: running, restarting, unhealthy, crashed."""
    cs = snapshot.containers
    return {
        "total": len(cs),
        "running": sum(c.state == "running" for c in cs),
        "restarting": sum(c.state == "restarting" for c in cs),
        "unhealthy": sum(c.health == "unhealthy" for c in cs),
        "exited_nonzero": sum(c.exited_nonzero for c in cs),
        "oom": sum(c.oom_killed for c in cs),
    }


def top_by(
    snapshot: DockerSnapshot, value: Callable[[ContainerSummary], float | None], n: int = TOP_N
) -> list[tuple[ContainerSummary, float]]:
    """The `n` containers with the highest known `value`, highest first."""
    known = [(c, v) for c in snapshot.containers if (v := value(c)) is not None]
    known.sort(key=lambda cv: (-cv[1], cv[0].key))
    return known[:n]


def _cpu(c: ContainerSummary) -> float | None:
    return c.stats.cpu_percent if c.stats is not None else None


def _mem(c: ContainerSummary) -> float | None:
    return float(c.stats.mem_used) if c.stats is not None and c.stats.mem_used is not None else None


class ContainersSummaryPane(Widget):
    """Containers at a glance; `update_state` is called with the `docker` source's state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "containers-summary--label",
        "containers-summary--value",
        "containers-summary--muted",
        "containers-summary--warning",
        "containers-summary--critical",
    }

    DEFAULT_CSS = """
    ContainersSummaryPane {
        height: auto;
        border: round $border;
        border-title-color: $text-primary;
        padding: 0 1;
        & > .containers-summary--label { color: $text-muted; }
        & > .containers-summary--value { color: $foreground; text-style: bold; }
        & > .containers-summary--muted { color: $text-muted; }
        & > .containers-summary--warning { color: $text-warning; text-style: bold; }
        & > .containers-summary--critical { color: $text-error; text-style: bold; }
        &.-stale { border: round $error; }
        &.-stale > .containers-summary-body { text-opacity: 60%; }
        .containers-summary-body { height: auto; text-wrap: nowrap; text-overflow: ellipsis; }
    }
    """

    def __init__(self, *, clock: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Containers"
        self.clock = clock
        self._state: SourceState[Any] | None = None
        self._body_lines = 0

    def compose(self) -> ComposeResult:
        yield Static(classes="containers-summary-body", markup=False)
        yield Freshness(self._state, clock=self.clock)

    def on_mount(self) -> None:
        self._show()

    @property
    def state(self) -> SourceState[Any] | None:
        return self._state

    def update_state(self, state: SourceState[Any]) -> None:
        """Show the source's latest state (a stale one keeps its last snapshot)."""
        if state is self._state:
            return
        self._state = state
        if self.is_mounted:
            self._show()

    def body_text(self) -> Text:
        """What the pane's body shows (plain-testable through `.plain`)."""
        state = self._state
        snap: DockerSnapshot | None = state.snapshot if state is not None else None
        if snap is None:
            failed = state is not None and state.error is not None
            return Text("No data yet." if failed else "Waiting for the first poll…", end="")
        label, value, muted = self._style("label"), self._style("value"), self._style("muted")
        warning, critical = self._style("warning"), self._style("critical")
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        n = counts(snap)
        hosts = len(snap.hosts)
        out.append(f"{number(n['total'])} containers", value)
        out.append(f" on {hosts} host{'s' if hosts != 1 else ''}", muted)
        out.append(" · running ", label)
        out.append(number(n["running"]), value)
        for key, name, style in (
            ("restarting", "restarting", warning),
            ("unhealthy", "unhealthy", critical),
            ("exited_nonzero", "exited≠0", critical),
            ("oom", "OOM-killed", critical),
        ):
            out.append(f" · {name} ", label)
            out.append(number(n[key]), style if n[key] else value)
        out.append("\n")
        out.append("top CPU (% of one core) ", label)
        tops = top_by(snap, _cpu)
        if not tops:
            out.append("no samples yet", muted)
        for i, (c, cpu) in enumerate(tops):
            out.append(" · " if i else "", muted)
            out.append(sanitize(c.name, max_len=_NAME_MAX), value)
            out.append(f" {cpu:.1f}%", warning if cpu >= 90 else muted)
        out.append("\n")
        out.append("top memory ", label)
        tops = top_by(snap, _mem)
        if not tops:
            out.append("no samples yet", muted)
        for i, (c, used) in enumerate(tops):
            out.append(" · " if i else "", muted)
            out.append(sanitize(c.name, max_len=_NAME_MAX), value)
            pct = c.stats.mem_percent if c.stats is not None else None
            tail = f" {human_bytes(used)}" + (f" ({pct:.0f}% of limit)" if pct is not None else "")
            out.append(tail, warning if pct is not None and pct >= 90 else muted)
        for host in snap.hosts:
            if host.error is None:
                continue
            out.append("\n")
            out.append(f"host {sanitize(host.host, max_len=40)}: ", critical)
            since = f"stale since {clock_time(host.stale_since)}: " if host.stale_since else ""
            out.append(since + sanitize(host.error, max_len=_ERROR_MAX), critical)
        return out

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"containers-summary--{name}", partial=True)

    def _show(self) -> None:
        state = self._state
        self.set_class(state is not None and state.stale, "-stale")
        body = self.body_text()
        lines = body.plain.count("\n") + 1
        self.query_one(".containers-summary-body", Static).update(
            body, layout=lines != self._body_lines
        )
        self._body_lines = lines
        if state is not None:
            self.query_one(Freshness).update_state(state)
