"""The one-line header: target, what we are connected to, safety badges and the clock."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.text import Text
from textual.widget import Widget

from widgets.safe_text import sanitize


@dataclass(frozen=True, slots=True)
class HeaderInfo:
    """What the header shows; the app replaces it whenever any part changes."""

    target: str = ""
    connection: str = ""  # e.g. "postgres@127.0.0.1:5432/postgres"
    read_only: bool = False
    production: bool = False
    #: Wall-clock time until which writes are armed (production targets only).
    armed_until: float | None = None


class HeaderBar(Widget):
    """Top line of every screen. The countdown and the clock tick once a second."""

    COMPONENT_CLASSES = {
        "header-bar--title",
        "header-bar--read-only",
        "header-bar--production",
        "header-bar--armed",
        "header-bar--disarmed",
    }

    DEFAULT_CSS = """
    HeaderBar {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    HeaderBar > .header-bar--title { color: $primary; text-style: bold; }
    HeaderBar > .header-bar--read-only {
        background: $secondary; color: $background; text-style: bold;
    }
    HeaderBar > .header-bar--production {
        background: $error; color: $background; text-style: bold;
    }
    HeaderBar > .header-bar--armed {
        background: $warning; color: $background; text-style: bold;
    }
    HeaderBar > .header-bar--disarmed { color: $success; text-style: bold; }
    """

    def __init__(self, clock: Callable[[], float] = time.time, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._clock = clock
        self._info = HeaderInfo()

    def on_mount(self) -> None:
        self._shown: tuple[int, int] | None = None
        self.set_interval(1.0, self._tick)

    def _tick(self) -> None:
        # The clock shows minutes, so the header repaints once a minute, or once a second
        # only while an arming countdown runs: one repaint a second costs ~0.15 % of a core.
        now = self._clock()
        until = self._info.armed_until
        countdown = int(until - now) if until and until > now else -1
        shown = (int(now // 60), countdown)
        if shown != self._shown:
            self._shown = shown
            self.refresh()

    def show(self, info: HeaderInfo) -> None:
        self._info = info
        self.refresh()

    def _style(self, name: str) -> object:
        return self.get_component_rich_style(f"header-bar--{name}")

    def render(self) -> Text:
        info = self._info
        now = self._clock()
        line = Text(no_wrap=True, overflow="ellipsis", end="")
        line.append(" ops-console ", self._style("title"))
        line.append(f" {sanitize(info.target, max_len=24)} ")
        if info.connection:
            line.append(f"│ {sanitize(info.connection, max_len=60)} ")
        if info.read_only:
            line.append(" READ-ONLY ", self._style("read-only"))
            line.append(" ")
        if info.production:
            line.append(" PRODUCTION ", self._style("production"))
            line.append(" ")
            if not info.read_only:
                remaining = (info.armed_until or 0) - now
                if remaining > 0:
                    minutes, seconds = divmod(int(remaining), 60)
                    line.append(f" ARMED {minutes:02d}:{seconds:02d} ", self._style("armed"))
                else:
                    line.append("DISARMED", self._style("disarmed"))
        clock = time.strftime("%H:%M UTC", time.gmtime(now))
        pad = self.size.width - line.cell_len - len(clock) - 1
        if pad > 0:
            line.append(" " * pad)
            line.append(clock)
        return line
