"""The target's runbook actions, one per line, with a cursor: name, kind, risk, key, what.

Names and descriptions come from the config file, which may be shared and edited by
many; they are drawn inert like any outside text. The selection is the action's name,
so reloading the list keeps the cursor on the same action.

The list takes the height it needs, up to what its container allows; when it is given
fewer lines than it has actions, it shows a window of them that always holds the cursor
(scrolled as the cursor moves, as little as possible), and the header says how many are
above and below.
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
        self._top = 0  # the first row shown when they do not all fit

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

    def window(self) -> tuple[int, int]:
        """(first row shown, rows shown): every row when they fit, else as many as the
        height allows below the header, the cursor's row always among them."""
        count = len(self.rows)
        room = self.content_size.height - 1  # below the header
        if not self.is_mounted or room >= count:
            self._top = 0
            return 0, count
        room = max(1, room)  # one line only: the cursor's row rather than the header
        cursor = min(self.cursor, count - 1)
        top = min(self._top, count - room)
        if cursor < top:
            top = cursor
        elif cursor >= top + room:
            top = cursor - room + 1
        self._top = top
        return top, room

    def render(self) -> Text:
        top, shown = self.window()
        out = Text(no_wrap=True, overflow="ellipsis", end="")
        if shown < self.content_size.height or shown == len(self.rows):
            above, below = top, len(self.rows) - top - shown
            more = [
                f"↑ {above} more above" if above else "",
                f"↓ {below} more below" if below else "",
            ]
            title = "  ·  ".join(m for m in more if m)
            description = f"description   {title}" if title else "description"
            header = self.get_component_rich_style("runbook-list--header")
            out.append(self._line("", "name", "kind", "risk", "key", description), header)
        for index in range(top, top + shown):
            if index > top or out.plain:
                out.append("\n")
            out.append_text(self._row(index, self.rows[index]))
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
