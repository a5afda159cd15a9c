"""widgets/safe_text.py: every class of hostile text comes out inert, visible and bounded."""

from __future__ import annotations

import time

import pytest
from rich.console import Console
from rich.text import Text

from widgets.safe_text import ELLIPSIS, safe_text, sanitize

CONTROL = {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)}
FORMAT = {"\u061c", "\u200b", "\u200e", "\u200f", "\u2028", "\u2029", "\u202a", "\u202e"}
FORMAT |= {"\u2066", "\u2067", "\u2068", "\u2069", "\ufeff", "\U000e0041"}


def inert(text: str) -> bool:
    return not (CONTROL | FORMAT) & set(text)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\x1b[2J", "␛[2J"),  # CSI: clear screen
        ("\x1b]0;title\x07", "␛]0;title␇"),  # OSC 0 (BEL-terminated): window title
        ("\x1b]52;c;SGVsbG8=\x1b\\", "␛]52;c;SGVsbG8=␛\\"),  # OSC 52: set the clipboard
        ("\x1b]8;;http://evil\x1b\\y\x1b]8;;\x1b\\", "␛]8;;http://evil␛\\y␛]8;;␛\\"),  # link
        ("\x9b31m", "\\x9b31m"),  # C1 CSI
        ("\x9d0;t\x9c", "\\x9d0;t\\x9c"),  # C1 OSC and ST
        ("\x85", "\\x85"),  # C1 next line
        ("a\rb", "a␍b"),  # carriage return: would overwrite the line
        ("a\x08b", "a␈b"),  # backspace
        ("\x00\x7f", "␀␡"),
        ("abc\u202edef", "abc<U+202E>def"),  # right-to-left override
        ("\u2066x\u2069", "<U+2066>x<U+2069>"),  # bidi isolates
        ("a\u200bb", "a<U+200B>b"),  # zero-width space
        ("a\ufeffb", "a<U+FEFF>b"),
        ("\U000e0041", "<U+E0041>"),  # tag characters
        ("a\u2028b", "a<U+2028>b"),  # line separator
    ],
)
def test_hostile_classes_become_visible_and_inert(raw: str, expected: str) -> None:
    out = sanitize(raw)
    assert out == expected
    assert inert(out)


@pytest.mark.parametrize(
    "markup",
    ["[red]x[/]", "[/]", "[link=http://evil]y[/link]", "SELECT a[i] FROM t", "[@click=app.quit]"],
)
def test_markup_is_kept_literally_and_never_parsed(markup: str) -> None:
    assert sanitize(markup) == markup
    text = safe_text(markup)
    assert isinstance(text, Text)
    assert text.plain == markup and text.spans == []
    console = Console(width=80, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(text)
    assert console.export_text().rstrip("\n") == markup


def test_printable_unicode_passes_unchanged() -> None:
    for value in ("héllo wörld", "日本語のテキスト", "emoji 😀 ok", "tab-free; (x) {y} <z>"):
        assert sanitize(value) == value


def test_one_line_makes_newlines_and_tabs_visible() -> None:
    assert sanitize("a\nb\tc") == "a⏎b c"
    assert sanitize("a\r\nb") == "a␍⏎b"


def test_multi_line_keeps_newlines_and_expands_tabs() -> None:
    assert sanitize("a\nb\tc", one_line=False) == "a\nb    c"
    assert sanitize("a\n\x1b[2Jb", one_line=False) == "a\n␛[2Jb"
    assert inert(sanitize("x\u202e\x9b\x1b", one_line=False))


def test_max_len_cuts_with_an_ellipsis_and_counts_escapes() -> None:
    assert sanitize("abcdef", max_len=4) == "abc" + ELLIPSIS
    assert sanitize("abcd", max_len=4) == "abcd"
    # Escaping expands text (C1 -> 4 characters): the result still respects max_len.
    out = sanitize("\x9b" * 10, max_len=6)
    assert len(out) == 6 and out.endswith(ELLIPSIS) and inert(out)
    assert sanitize("abc", max_len=1) == ELLIPSIS
    assert sanitize("abc", max_len=0) == ""  # fixed: was "…", longer than the limit
    assert sanitize("abc", max_len=-1) == ""


def test_huge_input_is_cheap_when_capped() -> None:
    hostile = ("\x1b[2J\x9b" + "x" * 98) * 1_000  # 100 KB with 2,000 escapes
    started = time.perf_counter()
    out = sanitize(hostile, max_len=200)
    assert time.perf_counter() - started < 0.05
    assert len(out) == 200 and inert(out)
    full = sanitize(hostile, one_line=False)
    assert inert(full) and len(full) > 100_000


def test_bytes_are_decoded_and_undecodable_bytes_shown() -> None:
    assert sanitize(b"SELECT 1") == "SELECT 1"
    assert sanitize("é".encode()) == "é"
    out = sanitize(b"\xff\xfe\x1b[31mred")
    assert out == "\\xff\\xfe␛[31mred" and inert(out)


def test_lone_surrogates_become_encodable_text() -> None:
    out = sanitize("a\udcffb\ud800")
    assert out == "a\\udcffb\\ud800"
    out.encode("utf-8")  # would raise if a surrogate survived
    assert sanitize("x\udcff", max_len=3) == "x\\" + ELLIPSIS


def test_none_and_non_strings() -> None:
    assert sanitize(None) == ""
    assert sanitize(4242) == "4242"
    assert sanitize(3.5) == "3.5"
    assert safe_text(None).plain == ""


def test_safe_text_style_and_no_trailing_newline() -> None:
    text = safe_text("\x1b[31mred", style="bold", max_len=5)
    assert text.plain == "␛[31" + ELLIPSIS
    assert str(text.style) == "bold" and text.end == ""
