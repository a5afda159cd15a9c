"""The selected health check in detail: latency sparkline, state history, certificate,
and the last response's headers and body.

Every string that came from the endpoint (headers, body, version, certificate names,
error messages quoting them) is sanitised and shown as inert `Text`, bounded: at most
`BODY_LINES` lines of the body, `HEADER_LINES` headers.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import ClassVar

from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import Sparkline, Static

from adapters.health.models import CheckStatus
from widgets.formatting import NA
from widgets.health_table import STATE_MARKS, cert_days, millis, state_label
from widgets.safe_text import sanitize

BODY_LINES = 40
BODY_CHARS = 4096
HEADER_LINES = 30
HISTORY_LINES = 20
#: Plain styles for tests and snapshots; the widget passes its themed component styles.
PLAIN_STYLES: dict[str, Style | str] = {
    "up": "green",
    "degraded": "yellow bold",
    "down": "red bold",
    "unknown": "dim",
    "muted": "dim",
    "heading": "bold",
}


def _when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(epoch))


def detail_text(
    check: CheckStatus,
    now: float,
    show_body: bool = True,
    styles: Mapping[str, Style | str] = PLAIN_STYLES,
) -> Text:
    """Everything about one check, as inert text."""
    out = Text(end="")
    head = Text(end="")
    head.append(f"{sanitize(check.name, max_len=64)}  ", style=styles["heading"])
    head.append(state_label(check), style=styles[check.state])
    head.append(f"  {sanitize(check.reason, max_len=300)}\n")
    out.append_text(head)
    target = sanitize(check.target, max_len=200)
    out.append(f"{check.kind.upper()} {target}  every {check.interval:g} s")
    if check.insecure:
        out.append("  INSECURE: TLS certificate not verified", style=styles["down"])
    out.append("\n")
    last = check.last
    p95 = millis(check.p95)
    out.append(
        f"results {check.results:,} · failures in a row {check.consecutive_failures} · "
        f"p95 {p95} over {len(check.latencies)} answers"
        + (" · running now" if check.running else "")
        + "\n"
    )
    if last is not None:
        out.append(f"last check {_when(last.at)}: ")
        if last.ok:
            out.append("ok", style=styles["up"])
        else:
            out.append(
                f"{last.error_kind}: {sanitize(last.error, max_len=500)}", style=styles["down"]
            )
        out.append(f" · latency {millis(last.latency)}")
        if last.status_code is not None:
            phrase = sanitize(last.reason_phrase, max_len=40)
            out.append(f" · HTTP {last.status_code} {phrase}")
        if last.version:
            out.append(f" · version {sanitize(last.version, max_len=64)}")
        if last.final_url:
            out.append(f" · redirected to {sanitize(last.final_url, max_len=200)}")
        out.append("\n")
    out.append_text(_history(check, styles))
    out.append_text(_cert(check, now, styles))
    if last is not None and show_body and (last.headers or last.body is not None):
        out.append_text(_response(check, styles))
    return out


def _history(check: CheckStatus, styles: Mapping[str, Style | str]) -> Text:
    # append, not Text(..., style=): a Text's own style covers everything appended later
    out = Text(end="")
    out.append("\nState changes", style=styles["heading"])
    if check.flapping:
        out.append("  FLAPPING: the state keeps changing", style=styles["degraded"])
    out.append("\n")
    if not check.changes:
        out.append("  none yet\n", style=styles["muted"])
    for change in list(check.changes)[-HISTORY_LINES:][::-1]:
        out.append(f"  {_when(change.at)}  ")
        out.append(f"{STATE_MARKS[change.state]} {change.state:<9}", style=styles[change.state])
        out.append(f" {sanitize(change.reason, max_len=200)}\n")
    return out


def _cert(check: CheckStatus, now: float, styles: Mapping[str, Style | str]) -> Text:
    cert = check.last.cert if check.last is not None else None
    if cert is None:
        return Text("")
    out = Text(end="")
    out.append("\nCertificate\n", style=styles["heading"])
    if cert.error:
        out.append(f"  {sanitize(cert.error, max_len=300)}\n", style=styles["degraded"])
    out.append(f"  subject  {sanitize(cert.subject, max_len=300) or 'unknown'}\n")
    out.append(f"  issuer   {sanitize(cert.issuer, max_len=300) or 'unknown'}\n")
    days = cert.days_left(now)
    expiry = NA if cert.not_after is None else _when(cert.not_after)
    out.append(f"  expires  {expiry} ({cert_days(days)})\n")
    return out


def _response(check: CheckStatus, styles: Mapping[str, Style | str]) -> Text:
    last = check.last
    assert last is not None
    out = Text(end="")
    out.append("\nResponse headers\n", style=styles["heading"])
    for name, value in last.headers[:HEADER_LINES]:
        out.append(f"  {sanitize(name, max_len=60)}: ", style=styles["muted"])
        out.append(f"{sanitize(value, max_len=300)}\n")
    if len(last.headers) > HEADER_LINES:
        out.append(f"  … {len(last.headers) - HEADER_LINES} more\n", style=styles["muted"])
    size = f"{last.body_bytes:,} bytes read"
    if last.body_truncated:
        size += ", truncated (only the first 64 KB are read)"
    out.append(f"\nBody ({size})\n", style=styles["heading"])
    body = last.body or ""
    shown = sanitize(body[:BODY_CHARS], one_line=False)
    lines = shown.splitlines()
    for line in lines[:BODY_LINES]:
        out.append(f"  {sanitize(line, max_len=300)}\n")
    if len(lines) > BODY_LINES or len(body) > BODY_CHARS:
        out.append("  … (more not shown)\n", style=styles["muted"])
    return out


class HealthDetail(VerticalScroll):
    """The selected check: sparkline of its latency, history, certificate, response."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"health-detail--{k}" for k in PLAIN_STYLES}

    DEFAULT_CSS = """
    HealthDetail {
        height: 1fr;
        border-top: solid $secondary;
        padding: 0 1;
        .health-detail-spark { height: 2; }
        .health-detail-spark-label { width: auto; color: $text-muted; padding: 0 1 0 0; }
        Sparkline { width: 1fr; height: 2; }
        .health-detail-body { height: auto; }
        & > .health-detail--up { color: $text-success; }
        & > .health-detail--degraded { color: $text-warning; text-style: bold; }
        & > .health-detail--down { color: $text-error; text-style: bold; }
        & > .health-detail--unknown { color: $text-muted; }
        & > .health-detail--muted { color: $text-muted; }
        & > .health-detail--heading { color: $text-primary; text-style: bold; }
    }
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, id: str | None = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._check: CheckStatus | None = None
        self.show_body = True

    def compose(self) -> ComposeResult:
        with Horizontal(classes="health-detail-spark"):
            yield Static(Text("latency"), classes="health-detail-spark-label", markup=False)
            yield Sparkline([], id="health-spark")
        yield Static(Text("Select a check."), classes="health-detail-body", markup=False)

    @property
    def check(self) -> CheckStatus | None:
        return self._check

    def text(self) -> Text:
        """What the body shows (plain text in tests)."""
        if self._check is None:
            return Text("Select a check.")
        styles: Mapping[str, Style | str] = PLAIN_STYLES
        if self.is_mounted:
            styles = {k: self.get_component_rich_style(f"health-detail--{k}") for k in PLAIN_STYLES}
        return detail_text(self._check, self._clock(), self.show_body, styles)

    def show_check(self, check: CheckStatus | None) -> None:
        """Show `check` (None: nothing selected); the same status object is not redrawn."""
        if check is self._check:
            return
        self._check = check
        self._redraw()

    def toggle_body(self) -> None:
        self.show_body = not self.show_body
        self._redraw()

    def _redraw(self) -> None:
        if not self.is_mounted:
            return
        check = self._check
        data = [v * 1000 for v in check.latencies] if check is not None else []
        spark = self.query_one(Sparkline)
        spark.data = data
        # An empty sparkline draws a flat baseline, which reads as 0 ms: say it instead.
        spark.display = bool(data)
        label = "latency" if data or check is None else "latency: no answers yet"
        self.query_one(".health-detail-spark-label", Static).update(Text(label))
        self.query_one(".health-detail-body", Static).update(self.text())

    def on_mount(self) -> None:
        self._redraw()
