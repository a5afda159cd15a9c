"""Columns of the Line-API tables (`KeyedTable` and its subclasses): what a column is,
a cell fitted to its width, and which columns fit a terminal width."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size

from widgets.safe_text import ELLIPSIS


@dataclass(frozen=True, slots=True)
class Column:
    """A column: its width, and when it is dropped at narrow widths."""

    key: str
    label: str
    width: int
    drop_rank: int = 0  # 0: never dropped; 1 goes first on a narrow terminal
    right: bool = False
    grow: bool = False  # takes the spare width (`layout`)
    # How far a layout that widens columns one by one (the activity table's) may widen
    # this one; None: not at all.
    max_width: int | None = None


ColumnLayout = Sequence[tuple[Column, int]]
"""The columns shown at some width, each with the width it gets there."""


def fit(text: str, width: int, right: bool = False) -> str:
    """Pad or cut `text` to exactly `width` cells, marking a cut with an ellipsis."""
    if width <= 0:
        return ""
    size = cell_len(text)
    if size <= width:
        pad = " " * (width - size)
        return pad + text if right else text + pad
    return set_cell_size(text, width - 1) + ELLIPSIS


def layout(columns: Sequence[Column], width: int) -> list[tuple[Column, int]]:
    """The columns shown at `width` cells and their widths (drop ranks first)."""
    shown = list(columns)
    for rank in sorted({c.drop_rank for c in columns if c.drop_rank}):
        if sum(c.width + 1 for c in shown) <= width:
            break
        shown = [c for c in shown if c.drop_rank != rank]
    spare = max(0, width - sum(c.width + 1 for c in shown))
    growers = [c for c in shown if c.grow] or shown[:1]
    out = []
    for c in shown:
        extra = spare // len(growers) if c in growers else 0
        out.append((c, c.width + extra))
    return out


__all__ = ["Column", "ColumnLayout", "fit", "layout"]
