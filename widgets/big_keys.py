"""A big-keys sample: the largest keys (selectable), the biggest prefixes, and what was
covered, said honestly ("sampled 100,000 of 2,000,000 keys · stopped: time budget").

Key names are bytes from outside: each is shown inert through `show_bytes` (the one
sanitiser underneath), and the selection is the key's name, never a row index, so a new
sample keeps the cursor on the same key and an action acts on the name that was shown.
"""

from __future__ import annotations

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widget import Widget
from textual.widgets import DataTable, Static

from adapters.redis.models import BigKey, BigKeysResult
from widgets.formatting import NA, duration, human_bytes, percent
from widgets.redis_detail import show_bytes
from widgets.safe_text import sanitize

EMPTY_TEXT = "Press {key} to sample the biggest keys"
KEY_MAX = 200  # characters of a key name in a cell; the table crops to its width anyway
NARROW = 100  # below this width the two lists stack instead of standing side by side
NO_SEPARATOR = "(no separator)"


def size_text(size: int, key_type: str, measure: str) -> str:
    """A key's size in the sample's unit: bytes, or an element count when MEMORY USAGE
    was unavailable and the key is an aggregate."""
    if measure == "unavailable":
        return NA
    if measure == "memory usage" or key_type == "string":
        return human_bytes(size)
    return f"{size:,} items"


def summary_text(result: BigKeysResult) -> Text:
    """What the sample covered, why it stopped, and what its sizes mean."""
    out = Text(f"db {result.db} · ", end="")
    if result.complete:
        out.append(f"scanned all {result.scanned:,} keys", style="bold")
    elif result.dbsize:
        share = percent(result.scanned / result.dbsize, 1)
        out.append(f"sampled {result.scanned:,} of {result.dbsize:,} keys ({share})", "bold")
    else:
        out.append(f"sampled {result.scanned:,} keys", style="bold")
    out.append(f" in {duration(result.elapsed)}")
    if result.stopped_reason and not result.complete:
        out.append(" · stopped: ")
        out.append(sanitize(result.stopped_reason, max_len=120), style="bold")
    out.append("\n")
    if result.measure == "memory usage":
        out.append("sizes: MEMORY USAGE (Redis samples nested values: estimates)", "dim")
    elif result.measure == "length":
        out.append("sizes: lengths (STRLEN bytes for strings, element counts otherwise)", "dim")
    else:
        out.append("sizes: unavailable", style="dim")
    if result.note:
        out.append(f" · {sanitize(result.note, max_len=120)}", style="italic")
    if not result.complete:
        out.append(" · the largest among the sampled keys, not necessarily of the db", "dim")
    return out


class BigKeysView(Widget):
    """The big-keys sample of one db: a cursor list of the largest keys and the biggest
    prefixes side by side (stacked when narrow), under a summary of the sample."""

    DEFAULT_CSS = """
    BigKeysView {
        height: 1fr;
        layout: vertical;
        & > .big-keys-summary { height: auto; color: $foreground; padding: 0 1; }
        & > .big-keys-lists { height: 1fr; }
        &.-empty > .big-keys-summary { color: $text-muted; text-style: italic; }
        &.-empty > .big-keys-lists { display: none; }
        &.-narrow > .big-keys-lists { layout: vertical; }
        DataTable { height: 1fr; width: 1fr; background: $surface; }
        .big-keys-largest { width: 3fr; }
        .big-keys-prefixes { width: 2fr; margin-left: 1; }
        &.-narrow .big-keys-prefixes { margin-left: 0; margin-top: 1; }
    }
    """

    class Selected(Message):
        """The cursor moved to another key (`key` None: the list is empty)."""

        def __init__(self, view: BigKeysView, key: bytes | None) -> None:
            super().__init__()
            self.view = view
            self.key = key

        @property
        def control(self) -> BigKeysView:
            return self.view

    def __init__(
        self,
        *,
        sample_key: str = "g",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        """`sample_key`: the key bound to sampling (keymap-remappable), for the empty state."""
        super().__init__(name=name, id=id, classes=classes)
        self._empty = EMPTY_TEXT.format(key=sanitize(sample_key, max_len=20))
        self._result: BigKeysResult | None = None
        self._keys: list[BigKey] = []
        self._posted: bytes | None = None

    def compose(self) -> ComposeResult:
        yield Static(Text(self._empty, end=""), classes="big-keys-summary", markup=False)
        with Horizontal(classes="big-keys-lists"):
            yield DataTable(cursor_type="row", classes="big-keys-largest")
            prefixes: DataTable[Text] = DataTable(cursor_type="none", classes="big-keys-prefixes")
            prefixes.can_focus = False  # a read-only summary: the cursor lives in the keys
            yield prefixes

    def on_mount(self) -> None:
        self._show()

    @property
    def result(self) -> BigKeysResult | None:
        return self._result

    @property
    def selected(self) -> BigKey | None:
        if not self._keys or not self.is_mounted:
            return None
        row = self._table.cursor_row
        return self._keys[row] if 0 <= row < len(self._keys) else None

    @property
    def selected_key(self) -> bytes | None:
        """The name of the key under the cursor, exactly as the server returned it."""
        key = self.selected
        return key.name if key is not None else None

    @property
    def selected_size(self) -> int | None:
        """The selected key's size, in the unit of `result.measure`."""
        key = self.selected
        return key.size if key is not None else None

    def update_result(self, result: BigKeysResult | None) -> None:
        """Show a new sample (None: none taken yet), keeping the cursor on the same key."""
        self._result = result
        if self.is_mounted:
            self._show()

    def forget_key(self, name: bytes) -> None:
        """Drop a key that was deleted; the cursor stays at the same place in the list."""
        if any(k.name == name for k in self._keys):
            row = self._table.cursor_row
            self._keys = [k for k in self._keys if k.name != name]
            self._fill_keys(min(row, len(self._keys) - 1))

    def focus_list(self) -> None:
        """Give the keyboard to the list of keys."""
        self._table.focus()

    # -- internals ------------------------------------------------------------------------

    @property
    def _table(self) -> DataTable[Text]:
        return self.query_one(".big-keys-largest", DataTable)

    def _show(self) -> None:
        result = self._result
        self.set_class(result is None, "-empty")
        summary = self.query_one(".big-keys-summary", Static)
        if result is None:
            summary.update(Text(self._empty, end=""))
            self._keys = []
            self._fill_keys(0)
            return
        summary.update(summary_text(result))
        old = self.selected_key
        self._keys = list(result.largest)
        row = next((i for i, k in enumerate(self._keys) if k.name == old), 0)
        self._fill_keys(row)
        self._fill_prefixes(result)

    def _fill_keys(self, row: int) -> None:
        table = self._table
        measure = self._result.measure if self._result is not None else "memory usage"
        table.clear(columns=True)
        table.add_column(Text("key", style="bold"), key="key")
        table.add_column(Text("type", style="bold"), key="type")
        unit = "memory" if measure == "memory usage" else "length"
        table.add_column(Text(unit, style="bold", justify="right"), key="size")
        for i, key in enumerate(self._keys):
            table.add_row(
                Text(show_bytes(key.name, max_len=KEY_MAX), end=""),
                Text(sanitize(key.type, max_len=12), end=""),
                Text(size_text(key.size, key.type, measure), justify="right", end=""),
                key=str(i),
            )
        if self._keys:
            table.move_cursor(row=max(0, row), animate=False)
        self._post_selected()

    def _fill_prefixes(self, result: BigKeysResult) -> None:
        table: DataTable[Text] = self.query_one(".big-keys-prefixes", DataTable)
        table.clear(columns=True)
        total = "total memory" if result.measure == "memory usage" else "total length"
        for header in ("prefix", "keys", total):
            justify = "left" if header == "prefix" else "right"
            table.add_column(Text(header, style="bold", justify=justify), key=header)
        for stat in result.prefixes:
            if stat.prefix:
                name = Text(show_bytes(stat.prefix, max_len=KEY_MAX), end="")
            else:
                name = Text(NO_SEPARATOR, style="dim italic", end="")
            size = NA
            if result.measure == "memory usage":
                size = human_bytes(stat.size)
            elif result.measure == "length":
                size = f"{stat.size:,}"
            table.add_row(
                name,
                Text(f"{stat.keys:,}", justify="right", end=""),
                Text(size, justify="right", end=""),
            )

    def _post_selected(self) -> None:
        key = self.selected_key
        if key != self._posted:  # DataTable repeats highlights on refill: say it once
            self._posted = key
            self.post_message(self.Selected(self, key))

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()  # the screen hears `Selected` with the key's name, not a row index
        self._post_selected()

    def on_resize(self, event: events.Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")
