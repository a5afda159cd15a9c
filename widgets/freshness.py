"""How fresh a pane's data is: "updated 2 s ago", or stale since when, why, next retry.

Every pane shows one, so an operator never mistakes a frozen number for a live one.
The text is recomputed once a second from the `SourceState` and an injected clock, so
tests and snapshots can hold time still.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal

from rich.text import Text
from textual import log
from textual.widgets import Static

from console.state import SourceState
from widgets.formatting import ago, clock_time, seconds_short
from widgets.safe_text import sanitize

Kind = Literal["waiting", "ok", "behind", "stale", "failed"]

_ERROR_MAX = 160  # an error message from a driver can be long; the line is one line


def describe(state: SourceState[Any] | None, now: float) -> tuple[str, Kind]:
    """The freshness line for `state` at wall-clock `now`, and its kind (for styling).

    - never polled: "waiting for the first poll"
    - healthy: "updated 2 s ago", plus "behind: last poll took 3.1 s" when polls are slow
    - failing with old data: "STALE since 10:02:03 (42 s): connection refused — retry in 4 s"
    - failing with no data yet: "NO DATA since 10:02:03 (42 s): … — retry in 4 s"
    """
    if state is None or (state.snapshot is None and state.error is None):
        return "waiting for the first poll", "waiting"
    if state.error is None:
        text = ago(None if state.updated_at is None else now - state.updated_at)
        if state.behind and state.last_duration is not None:
            return f"{text} · behind: last poll took {state.last_duration:.1f} s", "behind"
        return text, "ok"
    since = state.failed_since if state.failed_since is not None else now
    head = "STALE" if state.snapshot is not None else "NO DATA"
    reason = sanitize(str(state.error) or state.error.kind, max_len=_ERROR_MAX)
    text = f"{head} since {clock_time(since)} ({seconds_short(now - since)}): {reason}"
    if state.next_retry_at is None:
        text += " — not retrying"
    elif state.next_retry_at <= now:
        text += " — retrying now"
    else:
        text += f" — retry in {seconds_short(state.next_retry_at - now)}"
    if state.snapshot is not None and state.updated_at is not None:
        text += f" (data from {clock_time(state.updated_at)})"
    return text, "stale" if state.snapshot is not None else "failed"


class Freshness(Static):
    """One line saying how old a source's data is and, when it fails, why and what next."""

    DEFAULT_CSS = """
    Freshness {
        height: 1;
        width: 1fr;
        color: $text-muted;
        &.-behind { color: $text-warning; }
        &.-stale, &.-failed { color: $text-error; text-style: bold; }
        &:ansi.-stale, &:ansi.-failed { color: ansi_bright_red; }
    }
    """

    def __init__(
        self,
        state: SourceState[Any] | None = None,
        *,
        clock: Callable[[], float] = time.time,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        self._state = state
        self._clock = clock
        self._text, self._kind = self._describe()
        super().__init__(
            self._content(),
            name=name,
            id=id,
            classes=f"{classes or ''} -{self._kind}".strip(),
            markup=False,
        )

    @property
    def text(self) -> str:
        """The line as last drawn (plain text)."""
        return self._text

    @property
    def kind(self) -> Kind:
        return self._kind

    @property
    def state(self) -> SourceState[Any] | None:
        return self._state

    def update_state(self, state: SourceState[Any] | None) -> None:
        """Show a new state of the source now (the 1 s timer keeps the age moving)."""
        self._state = state
        self._redraw()

    def on_mount(self) -> None:
        self.set_interval(1.0, self._redraw)

    def _describe(self) -> tuple[str, Kind]:
        # Runs in a timer: an exception here would end the app, so a bad state shows as
        # a message instead (and is logged) rather than escaping.
        try:
            return describe(self._state, self._clock())
        except Exception as exc:
            log.error("freshness: %r", exc)
            return "freshness unknown", "failed"

    def _content(self) -> Text:
        return Text(self._text, no_wrap=True, overflow="ellipsis", end="")

    def _redraw(self) -> None:
        text, kind = self._describe()
        if (text, kind) == (self._text, self._kind):
            return  # nothing changed: no repaint
        self._text = text
        if kind != self._kind:
            self.remove_class(f"-{self._kind}")
            self.add_class(f"-{kind}")
        self._kind = kind
        # Fixed size (one line, 1fr wide): no layout pass needed, just a repaint.
        self.update(self._content(), layout=False)
