"""The one sanitiser for text that comes from outside (queries, names, log lines, bodies).

Rich and Textual only strip BEL/BS/VT/FF/CR themselves; an ESC, a C1 control or a bidi
override in data would otherwise reach the terminal (clear the screen, set the title or
the clipboard, reorder what the operator reads). Everything that is not plainly printable
is turned into visible, inert text here, and the result is wrapped in `rich.text.Text`
so it is never parsed as markup.
"""

from __future__ import annotations

import re

from rich.text import Text

ELLIPSIS = "…"

# C0 controls and DEL are shown as their Unicode "control pictures" (ESC -> ␛), so an
# operator still sees that the data held an escape sequence.
_C0_PICTURES = {code: chr(0x2400 + code) for code in range(0x20)}
_C0_PICTURES[0x7F] = "␡"

_UNSAFE = re.compile(
    "[\x00-\x1f\x7f-\x9f"  # C0, DEL, C1
    "\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"  # bidi, zero-width
    "\U000e0000-\U000e007f]"  # tag characters
)

_SURROGATE = re.compile("[\ud800-\udfff]")


def _escape_char(ch: str, one_line: bool) -> str:
    code = ord(ch)
    if ch == "\n":
        return "⏎" if one_line else "\n"
    if ch == "\t":
        return " " if one_line else "    "
    if code in _C0_PICTURES:
        return _C0_PICTURES[code]
    if 0x80 <= code <= 0x9F:
        return f"\\x{code:02x}"
    return f"<U+{code:04X}>"


def sanitize(value: object, *, one_line: bool = True, max_len: int | None = None) -> str:
    """Return `value` as a string safe to draw: no control or format characters remain.

    `one_line` makes newlines visible (⏎) instead of breaking the line. `max_len` cuts
    the result (in characters) and ends it with an ellipsis; the cut happens before
    escaping as well, so 100 KB of text costs no more than the visible part.
    """
    if value is None or (max_len is not None and max_len <= 0):
        return ""  # no room: even the ellipsis would overflow the limit
    if isinstance(value, bytes):
        text = value.decode("utf-8", errors="backslashreplace")
    else:
        text = str(value)
    cut = max_len is not None and len(text) > max_len
    if cut:
        text = text[:max_len]
    if _UNSAFE.search(text):
        text = _UNSAFE.sub(lambda m: _escape_char(m.group(), one_line), text)
    if _SURROGATE.search(text):
        # Lone surrogates (from undecodable bytes) cannot be encoded for the terminal.
        text = text.encode("utf-8", errors="backslashreplace").decode("utf-8")
    if max_len is not None and (cut or len(text) > max_len):
        text = text[: max(0, max_len - 1)] + ELLIPSIS
    return text


def safe_text(
    value: object,
    *,
    style: str = "",
    one_line: bool = True,
    max_len: int | None = None,
) -> Text:
    """`sanitize` wrapped in a `Text`: never parsed as markup, safe in any widget."""
    return Text(sanitize(value, one_line=one_line, max_len=max_len), style=style, end="")
