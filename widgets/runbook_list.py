"""The target's runbook actions, one per line, with a cursor: name, kind, risk, key, what.

Names and descriptions come from the config file, which may be shared and edited by
many; they are drawn inert like any outside text. The selection is the action's name,
so reloading the list keeps the cursor on the same action.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.geometry import Size
from textual.reactive import reactive
from textual.widget import Widget

from widgets.safe_text import sanitize

NAME_WIDTH = 24
DESCRIPTION_MAX = 300


@dataclass(frozen=True, slots=True)
class RunbookRow:
    """What the list shows of one action."""

    name: str
    kind: str
    risk: str
    key: str | None
    description: str
    params: tuple[str, ...] = ()


class RunbookList(Widget, can_focus=True):
    """A small list (tens of actions at most), drawn as one `Text`. Focused, it lets the
    screen's cursor keys through; the output panel below takes them when it has focus."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "runbook-list--header",
        "runbook-list--cursor",
        "runbook-list--high",
        "runbook-list--muted",
    }

    DEFAULT_CSS = """
    RunbookList { height: auto; max-height: 50%; padding: 0 1; }
    RunbookList:focus { background-tint: $foreground 5%; }
    RunbookList > .runbook-list--header { color: $text-muted; text-style: bold; }
    RunbookList > .runbook-list--cursor { background: $primary 30%; text-style: bold; }
    RunbookList > .runbook-list--high { color: $text-error; }
    RunbookList > .runbook-list--muted { color: $text-muted; }
    """

    cursor: reactive[int] = reactive(0)

    def __init__(self, *, rows: Sequence[RunbookRow] = (), id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows: tuple[RunbookRow, ...] = tuple(rows)

    def set_rows(self, rows: Sequence[RunbookRow]) -> None:
        """Show `rows`, keeping the cursor on the same action name when it is still there."""
        selected = self.selected
        self.rows = tuple(rows)
        names = [row.name for row in self.rows]
        if selected is not None and selected.name in names:
            self.cursor = names.index(selected.name)
        else:
            self.cursor = 0
        self.refresh(layout=True)

    @property
    def selected(self) -> RunbookRow | None:
        """The action under the cursor, if any."""
        if not self.rows:
            return None
        return self.rows[min(self.cursor, len(self.rows) - 1)]

    def move(self, delta: int) -> None:
        """Move the cursor by `delta`, staying inside the list."""
        if self.rows:
            self.cursor = max(0, min(len(self.rows) - 1, self.cursor + delta))

    def select(self, name: str) -> bool:
        """Put the cursor on the action called `name`; False if there is none."""
        for index, row in enumerate(self.rows):
            if row.name == name:
                self.cursor = index
                return True
        return False

    def watch_cursor(self) -> None:
        self.refresh()

    def render(self) -> Text:
        header = self.get_component_rich_style("runbook-list--header")
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        out.append(self._line("", "name", "kind", "risk", "key", "description"), header)
        for index, row in enumerate(self.rows):
            out.append("\n")
            out.append_text(self._row(index, row))
        return out

    def _row(self, index: int, row: RunbookRow) -> Text:
        description = sanitize(row.description, max_len=DESCRIPTION_MAX)
        if row.params:
            needs = " ".join(f"{{{p}}}" for p in row.params)
            description = f"{description}  [needs {needs}]" if description else f"[needs {needs}]"
        line = Text(
            self._line(
                "›" if index == self.cursor else " ",
                sanitize(row.name, max_len=NAME_WIDTH),
                row.kind,
                row.risk,
                row.key or "",
                description,
            ),
            end="",
        )
        # The cursor first, the risk on top: "high" stays red exactly when Enter runs it.
        if index == self.cursor:
            line.stylize(self.get_component_rich_style("runbook-list--cursor"))
        if row.risk == "high":
            style = self.get_component_rich_style("runbook-list--high")
            line.stylize(style, 2 + NAME_WIDTH + 1 + 9, 2 + NAME_WIDTH + 1 + 9 + 4)
        return line

    @staticmethod
    def _line(mark: str, name: str, kind: str, risk: str, key: str, description: str) -> str:
        return f"{mark:1} {name:<{NAME_WIDTH}} {kind:<8} {risk:<4} {key:<3} {description}"

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(self.rows) + 1
