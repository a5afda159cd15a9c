"""The live output of a runbook command: what runs, its output (bounded, inert), the result.

Output arrives in batches (see `adapters.runbook.output.OutputBatch`), already bounded
by the runner; this widget sanitises every line (escape sequences, control and bidi
characters made visible: a command's output cannot clear the screen or set the
clipboard) and keeps the last `MAX_LINES` of them in a `Log`.

Textual 8.2.8's `Log(max_lines=N)` stops repainting once it holds N lines: `write_lines`
refreshes the line range computed before pruning, and the scroll position, already at
the end, does not change. `BoundedLog` repaints the whole view after a write that pruned.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Log, Static

from adapters.runbook.output import OutputBatch
from widgets.formatting import human_bytes
from widgets.safe_text import safe_text, sanitize

MAX_LINES = 2000
LINE_SHOWN = 1000  # characters of one output line drawn (the runner keeps 4 KB)
COMMAND_SHOWN = 500


class BoundedLog(Log):
    """A `Log` with `max_lines` that keeps repainting once it is full."""

    def write_lines(self, lines: Iterable[str], scroll_end: bool | None = None) -> BoundedLog:
        batch = list(lines)
        full = self.max_lines is not None and len(self._lines) + len(batch) > self.max_lines
        super().write_lines(batch, scroll_end)
        if full:
            # Pruning shifted every line up: the whole visible region is stale.
            self.refresh()
        return self


class CommandOutput(Widget):
    """The command line, the live output panel and the status or result line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set()

    DEFAULT_CSS = """
    CommandOutput { height: 1fr; border-top: solid $secondary; }
    CommandOutput #cmd-title { height: auto; max-height: 3; color: $text; text-style: bold; }
    CommandOutput BoundedLog { height: 1fr; }
    CommandOutput #cmd-status { height: auto; max-height: 3; color: $text-muted; }
    CommandOutput.-ok #cmd-status { color: $text-success; }
    CommandOutput.-failed #cmd-status { color: $text-error; text-style: bold; }
    CommandOutput.-idle BoundedLog { display: none; }
    """

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(id=id, classes="-idle")
        self.max_lines = max_lines
        self.total_lines = 0
        self.total_bytes = 0
        self.running = False

    def compose(self) -> ComposeResult:
        yield Static(Text("Output: nothing run yet."), id="cmd-title")
        yield BoundedLog(max_lines=self.max_lines, auto_scroll=True, id="cmd-log")
        yield Static(Text(""), id="cmd-status")

    @property
    def log_view(self) -> BoundedLog:
        """The output lines (for tests and focus)."""
        return self.query_one(BoundedLog)

    def begin(self, command: str) -> None:
        """A command starts: clear the panel and show exactly what runs."""
        if not self.is_attached:
            return  # the screen was rebuilt (target switch) while the command ran
        self.running = True
        self.total_lines = self.total_bytes = 0
        self.set_classes("-running")
        self.log_view.clear()
        title = Text("$ ", style="bold")
        title.append(sanitize(command, max_len=COMMAND_SHOWN))
        self.query_one("#cmd-title", Static).update(title)
        self._status("running… ctrl+c stops it (SIGTERM, then SIGKILL)")

    def add_batch(self, batch: OutputBatch) -> None:
        """New output lines; a flood shows how many lines were skipped between batches."""
        if not self.is_attached:
            return
        lines: list[str] = []
        if batch.skipped:
            lines.append(f"… {batch.skipped:,} lines not shown (output too fast) …")
        lines.extend(sanitize(line, max_len=LINE_SHOWN) for line in batch.lines)
        self.log_view.write_lines(lines)
        self.total_lines, self.total_bytes = batch.total_lines, batch.total_bytes
        if self.running:
            self._status(
                f"running… {batch.total_lines:,} lines, {human_bytes(batch.total_bytes)}"
                " · ctrl+c stops it"
            )

    def finish(self, message: str, ok: bool) -> None:
        """The command ended (or never started): the result line."""
        if not self.is_attached:
            return
        self.running = False
        self.set_classes("-ok" if ok else "-failed")
        self._status(message)

    def _status(self, message: str) -> None:
        self.query_one("#cmd-status", Static).update(
            safe_text(message, one_line=False, max_len=2000)
        )
