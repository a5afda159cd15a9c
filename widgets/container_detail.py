"""What `enter` shows about one container: config summary, ports, mounts, networks,
labels, the health-check log, the last exit (code, OOM, engine error), and sparklines of
its CPU (% of one core) and memory from the source's bounded history.

Every value here can come from whoever built the image or ran the container (labels,
command, health output), so all of it goes through the sanitiser into `Text`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widget import Widget
from textual.widgets import Sparkline, Static

from adapters.docker.models import ContainerDetail
from widgets.formatting import NA, human_bytes
from widgets.safe_text import sanitize

_VALUE_MAX = 300
_LABELS_MAX = 60
_HEALTH_SHOWN = 5


def _when(epoch: float | None) -> str:
    if not epoch:
        return NA
    return datetime.fromtimestamp(epoch).strftime("%Y-%m-%d %H:%M:%S")


def detail_text(d: ContainerDetail) -> Text:
    """The detail as text lines (sanitised; a heading per section)."""
    out = Text(end="")

    def head(title: str) -> None:
        out.append(f"\n{title}\n", "bold underline")

    def field(name: str, value: object, style: str = "") -> None:
        out.append(f"  {name:<14}", "dim")
        out.append(sanitize(value, max_len=_VALUE_MAX), style)
        out.append("\n")

    out.append(sanitize(d.name, max_len=120), "bold")
    out.append(f"  on {sanitize(d.host, max_len=40)}  {d.id[:12]}\n", "dim")
    state = d.state + (f" ({d.health})" if d.health else "")
    bad = d.health == "unhealthy" or d.oom_killed or (d.exit_code or 0) != 0
    field("state", state, "bold red" if bad else "bold")
    field("image", d.image)
    field("image id", d.image_id[:19])
    field("command", d.command or NA)
    field("entrypoint", d.entrypoint or NA)
    field("restart", f"{d.restart_policy} · restarted {d.restart_count} times")
    field("created", _when(d.created_at))
    field("started", _when(d.started_at))
    field("finished", _when(d.finished_at))
    exit_line = NA if d.exit_code is None else str(d.exit_code)
    if d.oom_killed:
        exit_line += " · OOM-killed (memory limit reached)"
    field("last exit", exit_line, "bold red" if d.oom_killed or (d.exit_code or 0) else "")
    if d.error:
        field("engine error", d.error, "red")
    limits = f"memory {human_bytes(d.memory_limit) if d.memory_limit else 'unlimited'}"
    limits += f" · cpu {d.cpu_limit:g} cores" if d.cpu_limit else " · cpu unlimited"
    field("limits", limits)

    head("Ports")
    for port in d.ports or ("none published",):
        field("", port)
    head("Mounts")
    for mount in d.mounts or ("none",):
        field("", mount)
    head("Networks")
    for network in d.networks or ("none",):
        field("", network)
    head(f"Environment (names only, {len(d.env_names)})")
    field("", " ".join(d.env_names) or NA)
    head(f"Labels ({len(d.labels)})")
    for i, (key, value) in enumerate(sorted(d.labels.items())):
        if i == _LABELS_MAX:
            field("", f"… {len(d.labels) - _LABELS_MAX} more")
            break
        out.append("  ")
        out.append(sanitize(key, max_len=80), "cyan")
        out.append("=")
        out.append(sanitize(value, max_len=_VALUE_MAX))
        out.append("\n")
    head("Health checks" + ("" if d.health_log else ": none configured or none run yet"))
    for probe in d.health_log[-_HEALTH_SHOWN:]:
        style = "green" if probe.exit_code == 0 else "red"
        out.append(f"  {_when(probe.started_at)}  exit {probe.exit_code}  ", style)
        out.append(sanitize(probe.output.strip(), max_len=_VALUE_MAX))
        out.append("\n")
    return out


def _range(series: Sequence[float], fmt: str) -> str:
    if not series:
        return NA
    low, high = min(series), max(series)
    if fmt == "bytes":
        return human_bytes(low) if low == high else f"{human_bytes(low)}–{human_bytes(high)}"
    return f"{low:.1f}%" if low == high else f"{low:.1f}–{high:.1f}%"


class ContainerDetailView(Widget):
    """The detail text and two sparklines; `show(detail)`, `show_history(cpu, mem)`."""

    DEFAULT_CSS = """
    ContainerDetailView { height: auto; }
    ContainerDetailView .detail-sparks { height: 1; margin-bottom: 1; }
    ContainerDetailView .detail-spark-label { width: 34; color: $text-muted; }
    ContainerDetailView Sparkline { width: 1fr; margin-right: 2; }
    ContainerDetailView #detail-body { height: auto; }
    """

    def compose(self) -> ComposeResult:
        with Horizontal(classes="detail-sparks"):
            yield Static(classes="detail-spark-label -cpu", markup=False)
            yield Sparkline([], classes="-cpu")
        with Horizontal(classes="detail-sparks"):
            yield Static(classes="detail-spark-label -mem", markup=False)
            yield Sparkline([], classes="-mem")
        yield Static(id="detail-body", markup=False)

    def show(self, detail: ContainerDetail) -> None:
        self.query_one("#detail-body", Static).update(detail_text(detail))

    def show_history(self, cpu: Sequence[float], memory: Sequence[float]) -> None:
        self.query_one("Sparkline.-cpu", Sparkline).data = list(cpu)
        self.query_one("Sparkline.-mem", Sparkline).data = list(memory)
        cpu_label = f"CPU % of one core {_range(cpu, 'pct')}"
        self.query_one(".detail-spark-label.-cpu", Static).update(Text(cpu_label, end=""))
        mem_label = f"memory {_range(memory, 'bytes')}"
        self.query_one(".detail-spark-label.-mem", Static).update(Text(mem_label, end=""))


__all__ = ["ContainerDetailView", "detail_text"]
