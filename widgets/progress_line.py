"""One line of progress for a long action (a big-keys sample, a pattern clear).

"Clearing session:* in db 2 ███████░░░░░ 58%  deleted 12,345 · matched 40,000 · ctrl+c to
stop". With no fraction (a clear cannot know its total in advance) the bar is a block that
moves one step per update, so it moves exactly when work is done and freezes visibly when
the server stops answering — no timer is spent animating it.

The line is drawn by `render()` at the width it has: when narrow, the detail gives way
before the bar and the stop hint, which is what an operator needs most. Labels and
details can carry a pattern or key typed by someone else, so they go through the
sanitiser like all outside text.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from widgets.formatting import percent
from widgets.safe_text import ELLIPSIS, sanitize

BAR_WIDTH = 24
PULSE = 4  # cells of the moving block of an indeterminate bar
HINT = "ctrl+c to stop"
_TEXT_MAX = 300

Phase = Literal["idle", "running", "done", "failed"]


class ProgressLine(Widget):
    """A label, a bar (a fraction, or indeterminate), counts and the stop hint; then the
    final message once the action ends. Hidden until the first update."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "progress-line--label",
        "progress-line--bar",
        "progress-line--bar-empty",
        "progress-line--detail",
        "progress-line--hint",
    }

    DEFAULT_CSS = """
    ProgressLine {
        height: 1;
        width: 1fr;
        padding: 0 1;
        background: $panel;
        color: $foreground;
        &.-idle { display: none; }
        &.-done { color: $text-success; }
        &.-failed { color: $text-error; text-style: bold; }
        & > .progress-line--label { text-style: bold; }
        & > .progress-line--bar { color: $primary; }
        & > .progress-line--bar-empty { color: $text-disabled; }
        & > .progress-line--detail { color: $foreground; }
        & > .progress-line--hint { color: $text-muted; text-style: italic; }
    }
    """

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=f"{classes or ''} -idle".strip())
        self._phase: Phase = "idle"
        self._label = ""
        self._fraction: float | None = None
        self._detail = ""
        self._message = ""
        self._tick = 0  # steps of the indeterminate block, one per update

    @property
    def phase(self) -> Phase:
        return self._phase

    @property
    def running(self) -> bool:
        return self._phase == "running"

    @property
    def fraction(self) -> float | None:
        return self._fraction

    @property
    def text(self) -> str:
        """The line as drawn at the current width (plain text): for tests and logs."""
        return self.render().plain

    def update_progress(self, label: str, fraction: float | None, detail: str) -> None:
        """Show progress: `fraction` in 0..1, or None when the total is unknown."""
        self._label = sanitize(label, max_len=_TEXT_MAX)
        self._detail = sanitize(detail, max_len=_TEXT_MAX)
        if fraction is not None and fraction == fraction:  # NaN: treat as unknown
            self._fraction = min(1.0, max(0.0, fraction))
        else:
            self._fraction = None
        self._tick += 1
        self._set_phase("running")
        self.refresh()  # one line, fixed size: a repaint, never a layout pass

    def finish(self, message: str, *, failed: bool = False) -> None:
        """The action ended: show `message` (with the final counts) instead of the bar."""
        self._message = sanitize(message, max_len=_TEXT_MAX)
        self._set_phase("failed" if failed else "done")
        self.refresh()

    def reset(self) -> None:
        """Hide the line again (until the next action)."""
        self._tick = 0
        self._set_phase("idle")

    def render(self) -> Text:
        if self._phase in ("done", "failed"):
            return Text(self._message, no_wrap=True, overflow="ellipsis", end="")
        if self._phase == "idle":
            return Text("", end="")
        width = max(0, self.content_region.width) or 80
        bar_width = max(6, min(BAR_WIDTH, width // 5))
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(self._label, self._style("label"))
        out.append(" ")
        out.append_text(self._bar(bar_width))
        if self._fraction is not None:
            out.append(f" {percent(self._fraction, 0):>4}")
        tail = f" · {HINT}"
        room = width - out.cell_len - len(tail) - 2
        detail = self._detail
        if len(detail) > room:  # the counts give way before the bar and the hint
            detail = detail[: max(0, room - 1)] + ELLIPSIS if room > 1 else ""
        if detail:
            out.append("  ")
            out.append(detail, self._style("detail"))
        out.append(tail, self._style("hint"))
        return out

    # -- internals ------------------------------------------------------------------------

    def _style(self, name: str) -> Style:
        return self.get_component_rich_style(f"progress-line--{name}", partial=True)

    def _bar(self, width: int) -> Text:
        full, empty = self._style("bar"), self._style("bar-empty")
        if self._fraction is not None:
            filled = min(width, round(self._fraction * width))
            bar = Text("█" * filled, full, end="")
            bar.append("░" * (width - filled), empty)
            return bar
        # Indeterminate: a block bouncing between the ends, one cell per update.
        span = max(1, width - PULSE)
        step = self._tick % (2 * span)
        start = step if step < span else 2 * span - step
        bar = Text("░" * start, empty, end="")
        bar.append("█" * PULSE, full)
        bar.append("░" * (width - start - PULSE), empty)
        return bar

    def _set_phase(self, phase: Phase) -> None:
        if phase != self._phase:
            self.remove_class(f"-{self._phase}")
            self.add_class(f"-{phase}")
            self._phase = phase
