"""Who blocks whom: root blockers with their lock waiters nested, on the Line API.

A Line API widget rather than `textual.widgets.Tree`: Tree labels given as `str` are
parsed as markup, and Tree keys its cursor by line, not by pid. Here each update
flattens the (small) forest into lines once, with the sanitised text precomputed, and
`render_line` only fits a line to the width.

The cursor is a tree path of pids (a waiter blocked by two sessions appears under
both): after an update it stays on the same path, else on the same pid elsewhere in
the tree. If that pid has left the tree (its lock was granted, its blocker ended) the
selection is cleared (`Selected(None)`) rather than moved to another session, so an
action never lands on a pid the operator did not pick; the next cursor key resumes at
the same line.

A waiter with more blockers than the tree shows it under says so on its line ("also
blocked by 590"): clearing the blocker above does not release it. A waiter shown under
two blockers lists its own waiters once; the other line says they are shown elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from adapters.postgres.models import Backend, BlockingNode
from console.bindings import bindings
from widgets.formatting import duration
from widgets.safe_text import ELLIPSIS, sanitize

_STATE_LABELS = {
    "idle in transaction": "idle in xact",
    "idle in transaction (aborted)": "xact aborted",
}
_QUERY_MAX = 500
#: Pids named in "also blocked by …" (a long lock queue gives its last waiter hundreds).
ALSO_SHOWN = 3


class _Line(NamedTuple):
    path: tuple[int, ...]  # pids from the root down to this line's backend
    guide: str  # tree guides ("│  ├─ ") drawn before the text
    text: str  # sanitised, one line
    root: bool


def also_blocked(pids: Sequence[int]) -> str:
    """The other blockers named: "also blocked by 590", "… by 3, 4, 5 and 45 more"."""
    shown = ", ".join(map(str, pids[:ALSO_SHOWN]))
    more = len(pids) - ALSO_SHOWN
    return f"also blocked by {shown}" + (f" and {more} more" if more > 0 else "")


def describe(
    backend: Backend,
    waiters: int,
    root: bool,
    also: Sequence[int] = (),
    repeat: bool = False,
) -> str:
    """The one-line text of a tree node (sanitised): pid, user, state, lock, wait, the
    other blockers it waits on, the sessions it holds up, query."""
    b = backend
    state = _STATE_LABELS.get(b.state or "") or sanitize(b.state, max_len=24) or "?"
    parts = [str(b.pid), sanitize(b.user, max_len=24) or "?", state]
    if not root:
        lock = sanitize(b.waiting_lock_mode, max_len=40) or "lock"
        target = b.waiting_relation or b.waiting_locktype
        if target:
            lock += f" on {sanitize(target, max_len=64)}"
        wait = b.wait_age if b.wait_age is not None else b.query_age
        parts.append(f"waits {lock} {duration(wait)}")
    if also:
        parts.append(also_blocked(also))
    if root and b.xact_age is not None:
        parts.append(f"xact {duration(b.xact_age)}")
    if waiters:
        parts.append(f"blocks {waiters}")
    elif repeat:
        parts.append("(its waiters are shown elsewhere in the tree)")
    parts.append(sanitize(b.query, max_len=_QUERY_MAX))
    return "  ".join(parts)


def flatten(roots: Sequence[BlockingNode]) -> list[_Line]:
    """Depth-first lines with guides; iterative, and safe against a cycle in the data."""
    lines: list[_Line] = []
    # (node, path of ancestors, guide of ancestors, is last sibling, is root)
    stack = [(node, (), "", False, True) for node in reversed(roots)]
    while stack:
        node, parents, guide, last, root = stack.pop()
        pid = node.backend.pid
        if pid in parents:  # a cycle would recurse forever: show it once and stop
            continue
        branch = "" if root else ("└─ " if last else "├─ ")
        path = (*parents, pid)
        text = describe(node.backend, node.count(), root, node.also_blocked_by, node.repeat)
        lines.append(_Line(path, guide + branch, text, root))
        child_guide = guide if root else guide + ("   " if last else "│  ")
        # Pushed in reverse so the first waiter pops first; i == 0 is the last sibling.
        for i, waiter in enumerate(reversed(node.waiters)):
            stack.append((waiter, path, child_guide, i == 0, False))
    return lines


class BlockingTreeView(ScrollView, can_focus=True):
    """The blocking forest: each root blocker, then its waiters nested, as deep as it goes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor_up", "Up", show=False),
        Binding("down", "cursor_down", "Down", show=False),
        Binding("pageup", "cursor_page_up", "Page up", show=False),
        Binding("pagedown", "cursor_page_down", "Page down", show=False),
        Binding("home", "cursor_first", "First", show=False),
        Binding("end", "cursor_last", "Last", show=False),
        *bindings("table.details"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "blocking-tree--root",
        "blocking-tree--waiter",
        "blocking-tree--guide",
        "blocking-tree--cursor",
        "blocking-tree--empty",
    }

    DEFAULT_CSS = """
    BlockingTreeView {
        height: auto;
        max-height: 16;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        & > .blocking-tree--root { color: $text-error; text-style: bold; }
        & > .blocking-tree--waiter { color: $text-warning; }
        & > .blocking-tree--guide { color: $text-muted; }
        & > .blocking-tree--empty { color: $text-muted; text-style: italic; }
        & > .blocking-tree--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .blocking-tree--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
        }
    }
    """

    class Selected(Message):
        """The cursor moved to another session (`pid` None: the selection left the tree)."""

        def __init__(self, tree: BlockingTreeView, pid: int | None) -> None:
            super().__init__()
            self.tree = tree
            self.pid = pid

        @property
        def control(self) -> BlockingTreeView:
            return self.tree

    class Activated(Message):
        """Enter was pressed on a session."""

        def __init__(self, tree: BlockingTreeView, pid: int) -> None:
            super().__init__()
            self.tree = tree
            self.pid = pid

        @property
        def control(self) -> BlockingTreeView:
            return self.tree

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._lines: list[_Line] = []
        self._cursor: int | None = None  # index into _lines
        self._resume = 0  # where the cursor comes back after its pid left the tree
        self._auto = True  # select the first line by itself (not after a cleared selection)
        self._strips: dict[tuple[int, int, bool], Strip] = {}

    @property
    def selected_pid(self) -> int | None:
        return self._lines[self._cursor].path[-1] if self._cursor is not None else None

    @property
    def selected_path(self) -> tuple[int, ...] | None:
        """Pids from the root blocker down to the selected session."""
        return self._lines[self._cursor].path if self._cursor is not None else None

    @property
    def line_count(self) -> int:
        return len(self._lines)

    def line_text(self, index: int) -> str:
        """The full (unfitted) text of a line, guides included: for tests and copy."""
        line = self._lines[index]
        return line.guide + line.text

    def update_tree(self, roots: Sequence[BlockingNode]) -> None:
        """Show a new blocking forest, keeping the cursor on the same session."""
        old_path = self.selected_path
        old_index = self._cursor
        self._lines = flatten(roots)
        self._strips.clear()
        self._cursor = None
        if old_path is not None:
            by_path = {line.path: i for i, line in enumerate(self._lines)}
            index = by_path.get(old_path)
            if index is None:
                index = next(
                    (i for i, line in enumerate(self._lines) if line.path[-1] == old_path[-1]),
                    None,
                )
            if index is None:
                self._resume, self._auto = old_index or 0, False
                self.post_message(self.Selected(self, None))
            else:
                self._cursor = index
        if not self._lines:
            self._auto = True  # nothing left to confuse: the next incident starts fresh
        self.virtual_size = Size(self.scrollable_content_region.width, max(1, len(self._lines)))
        if self._cursor is None and self._auto and self._lines:
            self._set_cursor(0)
        else:
            self._show_cursor()
        self.refresh()

    def select_pid(self, pid: int) -> bool:
        """Move the cursor to the first line showing `pid`; False if it is not in the tree."""
        for index, line in enumerate(self._lines):
            if line.path[-1] == pid:
                self._set_cursor(index)
                return True
        return False

    # -- cursor ---------------------------------------------------------------------------

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height)

    def _move(self, delta: int) -> None:
        if not self._lines:
            return
        if self._cursor is None:  # resume where the vanished selection was
            start = min(self._resume, len(self._lines) - 1)
            self._set_cursor(start)
            return
        self._set_cursor(max(0, min(len(self._lines) - 1, self._cursor + delta)))

    def _set_cursor(self, index: int) -> None:
        old = self.selected_pid
        self._cursor = index
        self._show_cursor()
        self.refresh()
        if self.selected_pid != old:
            self.post_message(self.Selected(self, self.selected_pid))

    def _show_cursor(self) -> None:
        if self._cursor is None or not self.is_mounted:
            return  # before mount, the first resize brings the cursor into view
        top, page = round(self.scroll_y), self._page()
        if self._cursor < top:
            self.scroll_to(y=self._cursor, animate=False, force=True)
        elif self._cursor >= top + page:
            self.scroll_to(y=self._cursor - page + 1, animate=False, force=True)

    def action_cursor_up(self) -> None:
        self._move(-1)

    def action_cursor_down(self) -> None:
        self._move(1)

    def action_cursor_page_up(self) -> None:
        self._move(-self._page())

    def action_cursor_page_down(self) -> None:
        self._move(self._page())

    def action_cursor_first(self) -> None:
        self._move(-len(self._lines))

    def action_cursor_last(self) -> None:
        self._move(len(self._lines))

    def action_details(self) -> None:
        pid = self.selected_pid
        if pid is not None:
            self.post_message(self.Activated(self, pid))

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        index = round(self.scroll_y) + offset.y
        if 0 <= index < len(self._lines):
            self._set_cursor(index)
            if event.chain >= 2:
                self.action_details()

    # -- rendering ------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def on_resize(self, event: events.Resize) -> None:
        self._strips.clear()
        self.virtual_size = Size(self.scrollable_content_region.width, max(1, len(self._lines)))
        self._show_cursor()

    def on_focus(self, event: events.Focus) -> None:
        self._strips.clear()

    def on_blur(self, event: events.Blur) -> None:
        self._strips.clear()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        if not self._lines:
            if index == 0:
                style = self.get_component_rich_style("blocking-tree--empty")
                return Strip([Segment(set_cell_size("No blocking sessions", width), style)], width)
            return Strip.blank(width, self.rich_style)
        if index >= len(self._lines):
            return Strip.blank(width, self.rich_style)
        key = (index, width, index == self._cursor)
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._build(self._lines[index], width, key[2])
        return strip

    def _build(self, line: _Line, width: int, cursor: bool) -> Strip:
        get = self.get_component_rich_style
        text_style = get("blocking-tree--root" if line.root else "blocking-tree--waiter")
        guide_style = get("blocking-tree--guide")
        if cursor:
            cursor_style = get("blocking-tree--cursor", partial=True)
            text_style, guide_style = text_style + cursor_style, guide_style + cursor_style
        guide = set_cell_size(line.guide, min(width, cell_len(line.guide)))
        room = width - cell_len(guide)
        text = line.text
        if cell_len(text) > room:
            text = set_cell_size(text, max(0, room - 1)) + (ELLIPSIS if room > 0 else "")
        text = set_cell_size(text, room)
        return Strip([Segment(guide, guide_style), Segment(text, text_style)], width)
