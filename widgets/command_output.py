"""The live output of a runbook command: what runs, its output (bounded, inert), the result.

Output arrives in batches (see `adapters.runbook.output.OutputBatch`), already bounded
by the runner, each line knowing its stream. The lines go into the container log's own
`LogView` (widgets/log_view.py), so a command's stderr looks like a container's: a red
bar in the gutter and a dimmer colour (lines that read as warnings or errors coloured as
such), stdout a blank gutter. That view keeps the last `MAX_LINES` lines, sanitises a
line only when it draws it (escape sequences, control and bidi characters made visible:
a command's output cannot clear the screen or set the clipboard), draws only the rows
on screen, and keeps repainting once full (Textual's `Log(max_lines=N)` does not). Long
lines wrap, as in a terminal.

`export()` gives the lines it holds as plain text for a file (the log view's export:
stream, then text without escape sequences or control characters), with what was not
kept counted: the lines that fell out of the panel, and those a flood skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from adapters.docker.models import LogLine
from adapters.runbook.output import OutputBatch
from widgets.formatting import human_bytes
from widgets.log_view import LogView
from widgets.safe_text import safe_text, sanitize

MAX_LINES = 2000
COMMAND_SHOWN = 500
#: How `LogView.export_lines` starts a line of the view's own (not the command's).
_NOTICE = "notice "


@dataclass(frozen=True, slots=True)
class OutputExport:
    """The panel's lines as a file's lines, and how many of the command's lines it lacks.

    `lines` are the file's lines (a first one saying what was not kept, then each held
    line as "stdout TEXT" / "stderr TEXT", or "notice …" where a flood skipped lines).
    `kept` of them are output lines; `total` lines were printed; `dropped` lines fell
    out of the panel before these (older ones), `skipped` were never shown (a flood).
    """

    lines: tuple[str, ...]
    kept: int
    total: int
    dropped: int
    skipped: int
    action: str
    running: bool


class CommandOutput(Widget):
    """The command line, the live output panel and the status or result line."""

    COMPONENT_CLASSES: ClassVar[set[str]] = set()

    DEFAULT_CSS = """
    CommandOutput { height: 1fr; border-top: solid $secondary; }
    CommandOutput #cmd-title { height: auto; max-height: 3; color: $text; text-style: bold; }
    CommandOutput LogView { height: 1fr; }
    CommandOutput #cmd-status { height: auto; max-height: 3; color: $text-muted; }
    CommandOutput.-ok #cmd-status { color: $text-success; }
    CommandOutput.-failed #cmd-status { color: $text-error; text-style: bold; }
    CommandOutput.-stopped #cmd-status { color: $text-warning; text-style: bold; }
    CommandOutput.-idle LogView { display: none; }
    """

    def __init__(self, *, max_lines: int = MAX_LINES, id: str | None = None) -> None:
        super().__init__(id=id, classes="-idle")
        self.max_lines = max_lines
        self.total_lines = 0
        self.total_bytes = 0
        self.stderr_lines = 0
        self.received = 0  # output lines handed to the panel since `begin`
        self.skipped = 0  # lines a flood left out of the batches since `begin`
        self.running = False
        self.started = False  # a command began here (there is output to save)
        self.action = ""  # the runbook action's name, for a saved file's name

    def compose(self) -> ComposeResult:
        yield Static(Text("Output: nothing run yet."), id="cmd-title")
        view = LogView(max_lines=self.max_lines, id="cmd-log")
        # Wrapped, as in a terminal: the view has no horizontal scrolling, and a long
        # line cut at the edge would hide what the command said.
        view.wrap = True
        yield view
        yield Static(Text(""), id="cmd-status")

    @property
    def log_view(self) -> LogView:
        """The output lines (for tests and focus)."""
        return self.query_one(LogView)

    def begin(self, command: str, action: str = "") -> None:
        """A command starts: clear the panel and show exactly what runs."""
        if not self.is_attached:
            return  # the screen was rebuilt (target switch) while the command ran
        self.running = self.started = True
        self.action = action
        self.total_lines = self.total_bytes = self.stderr_lines = 0
        self.received = self.skipped = 0
        self.set_classes("-running")
        view = self.log_view
        view.clear()
        view.set_follow(True)  # the operator may have scrolled up in the last run
        title = Text("$ ", style="bold")
        title.append(sanitize(command, max_len=COMMAND_SHOWN))
        self.query_one("#cmd-title", Static).update(title)
        self._status("running… ctrl+c stops it (SIGTERM, then SIGKILL)")

    def add_batch(self, batch: OutputBatch) -> None:
        """New output lines; a flood shows how many lines were skipped between batches."""
        if not self.is_attached:
            return
        view = self.log_view
        if batch.skipped:
            self.skipped += batch.skipped
            view.add_notice(f"… {batch.skipped:,} lines not shown (output too fast) …")
        # Raw text: the view sanitises what it draws, and the export strips controls.
        view.append_lines([LogLine(line.stream, line.text, None, line.cut) for line in batch.lines])
        self.received += len(batch.lines)
        self.total_lines, self.total_bytes = batch.total_lines, batch.total_bytes
        self.stderr_lines = batch.stderr_lines
        if self.running:
            self._status(f"running… {self._counts()} · ctrl+c stops it")

    def finish(self, message: str, ok: bool, *, stopped: bool = False) -> None:
        """The command ended (or never started): the result line. `stopped`: the operator
        stopped it on purpose (ctrl+c), drawn as a warning rather than a failure."""
        if not self.is_attached:
            return
        self.running = False
        self.set_classes("-stopped" if stopped else "-ok" if ok else "-failed")
        self._status(message)

    def export(self) -> OutputExport:
        """The lines the panel holds, as plain text for a file, with what it lacks."""
        held = self.log_view.export_lines()
        kept = sum(1 for line in held if not line.startswith(_NOTICE))
        dropped = max(0, self.received - kept)
        lines = list(held)
        if dropped:
            lines.insert(
                0,
                f"{_NOTICE}… {dropped:,} earlier lines were not kept "
                f"(the panel keeps the newest {self.max_lines:,}) …",
            )
        return OutputExport(
            lines=tuple(lines),
            kept=kept,
            total=max(self.total_lines, kept),
            dropped=dropped,
            skipped=self.skipped,
            action=self.action,
            running=self.running,
        )

    def _counts(self) -> str:
        lines = f"{self.total_lines:,} lines"
        if self.stderr_lines:
            lines += f" ({self.stderr_lines:,} on stderr)"
        return f"{lines}, {human_bytes(self.total_bytes)}"

    def _status(self, message: str) -> None:
        self.query_one("#cmd-status", Static).update(
            safe_text(message, one_line=False, max_len=2000)
        )
