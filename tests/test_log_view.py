"""The log view widget with hand-built lines: bounded, still moving once full, inert text."""

from __future__ import annotations

from itertools import accumulate

import pytest
from textual.app import App, ComposeResult

from adapters.docker.models import LogLine
from widgets.log_lines import LogEntry
from widgets.log_view import LogView, level_of, short_timestamp, strip_controls

pytestmark = pytest.mark.timeout(60)

HOSTILE = [
    "clear \x1b[2J screen",
    "clip \x1b]52;c;cm0gLXJmIC8=\x07 board",
    "link \x1b]8;;http://evil.example/\x1b\\click\x1b]8;;\x1b\\ here",
    "title \x1b]0;pwned\x07 set",
    "markup [/] [link=http://x]y[/link] [bold]b[/bold]",
    "bidi \u202egnp.exe\u202c end",
    "bad utf8 \udcff\udcfe here",
    "c1 \x9b31m red",
]


class LogApp(App[None]):
    def __init__(self, max_lines: int = 100) -> None:
        super().__init__()
        self.max_lines = max_lines

    def compose(self) -> ComposeResult:
        yield LogView(max_lines=self.max_lines)


def lines(start: int, count: int, stream: str = "stdout") -> list[LogLine]:
    return [
        LogLine(stream, f"line {i}", timestamp=f"2024-05-01T12:00:{i % 60:02d}.123456789Z")
        for i in range(start, start + count)
    ]


async def test_view_keeps_showing_newest_after_the_buffer_filled() -> None:
    app = LogApp(max_lines=50)
    async with app.run_test(size=(80, 12)) as pilot:
        view = app.query_one(LogView)
        for batch in range(20):  # 20 batches of 40: the 50-line buffer fills at batch 2
            view.append_lines(lines(batch * 40, 40))
            await pilot.pause()
            shown = [t.strip() for t in view.visible_lines()]
            assert shown[-1] == f"line {batch * 40 + 39}", shown
        assert view.line_count == 50
        assert view.received == 800


async def test_follow_off_stays_put_then_end_follows_again() -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(80, 12)) as pilot:
        view = app.query_one(LogView)
        view.focus()
        view.append_lines(lines(0, 200))
        await pilot.pause()
        await pilot.press("pageup")
        assert not view.follow
        before = view.visible_lines()
        view.append_lines(lines(200, 100))
        await pilot.pause()
        assert view.visible_lines() == before
        # Old lines fall out of the buffer: the same lines stay on screen.
        view.append_lines(lines(300, 750))
        await pilot.pause()
        assert view.line_count == 1000  # lines 0-49 are gone, the ones shown are not
        assert view.visible_lines() == before
        await pilot.press("end")
        await pilot.pause()
        assert view.follow
        assert view.visible_lines()[-1].strip() == "line 1049"


async def test_bounded_buffer_with_a_huge_batch() -> None:
    app = LogApp(max_lines=100)
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.append_lines(lines(0, 25_000))
        await pilot.pause()
        assert view.line_count == 100
        assert view.skipped == 24_900
        assert view.visible_lines()[-1].strip() == "line 24999"


async def test_hostile_text_is_inert() -> None:
    app = LogApp()
    async with app.run_test(size=(120, 20)) as pilot:
        view = app.query_one(LogView)
        view.append_lines([LogLine("stderr", text) for text in HOSTILE])
        await pilot.pause()
        shown = view.visible_lines()
        joined = "".join(shown)
        assert "\x1b" not in joined and "\x07" not in joined and "\x9b" not in joined
        assert "\u202e" not in joined
        assert "[/]" in joined and "[link=http://x]y[/link]" in joined  # shown, not parsed
        assert "␛[2J" in joined
        for y in range(len(HOSTILE)):
            for segment in view.render_line(y):
                assert segment.style is None or segment.style.link is None
        # Nothing ended up in the app's error list, and rendering still works.
        assert app.screen is not None


async def test_stderr_is_marked_and_timestamps_toggle() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.append_lines(lines(0, 1) + lines(1, 1, "stderr"))
        await pilot.pause()
        out, err = view.visible_lines()[:2]
        assert out.startswith(" line 0") and err.startswith("▍line 1")
        view.set_timestamps(True)
        await pilot.pause()
        assert view.visible_lines()[0].startswith("05-01 12:00:00.123  line 0")


async def test_search_highlights_and_moves_between_matches() -> None:
    app = LogApp(max_lines=1000)
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        batch = lines(0, 300)
        batch[17] = LogLine("stdout", "needle one")
        batch[250] = LogLine("stdout", "a NEEDLE two")
        view.append_lines(batch)
        await pilot.pause()
        view.set_search("needle")
        assert view.next_match(backwards=True)
        await pilot.pause()
        assert not view.follow
        assert any("NEEDLE two" in t for t in view.visible_lines())
        assert view.next_match(backwards=True)
        await pilot.pause()
        assert any("needle one" in t for t in view.visible_lines())
        assert not view.next_match(backwards=True)  # none before the first
        line = next(y for y, t in enumerate(view.visible_lines()) if "needle one" in t)
        styles = [s.style for s in view.render_line(line) if s.text == "needle"]
        assert styles and styles[0] is not None and styles[0].bgcolor is not None


async def test_level_filter_and_wrap_and_truncated_marker() -> None:
    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        view.append_lines(
            [
                LogLine("stdout", "INFO all good"),
                LogLine("stdout", "WARN disk 91%"),
                LogLine("stderr", "ERROR boom"),
                LogLine("stdout", "x" * 100, truncated=True),
            ]
        )
        await pilot.pause()
        view.set_level("warn")
        await pilot.pause()
        shown = [t.strip() for t in view.visible_lines() if t.strip()]
        assert shown == ["WARN disk 91%", "▍ERROR boom"]
        view.set_level("error")
        await pilot.pause()
        assert [t.strip() for t in view.visible_lines() if t.strip()] == ["▍ERROR boom"]
        view.set_level("all")
        await pilot.pause()
        assert view.visible_lines()[3].rstrip().endswith("…[cut]")  # the cut stays visible
        view.set_wrap(True)
        await pilot.pause()
        rows = [t.rstrip() for t in view.visible_lines() if t.strip()]
        assert rows[-1].endswith("…[cut]"), rows
        assert sum("x" in r for r in rows) == 3  # 100 x + marker at 39 cells a row


async def test_notice_for_dropped_lines() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 10)) as pilot:
        view = app.query_one(LogView)
        view.append_lines(lines(0, 2), dropped=1234)
        await pilot.pause()
        assert "1,234 lines dropped" in view.visible_lines()[0]


def test_helpers() -> None:
    assert level_of("2024 [error] x") == "error"
    assert level_of('{"level":"warning"}') == "warn"
    assert level_of("errors: 0") == "info"
    assert short_timestamp("2024-05-01T12:34:56.123456789Z").strip() == "05-01 12:34:56.123"
    assert strip_controls("a\x1b[2Jb\x1b]52;c;xx\x07c\x07d\u202ee\tf") == "abcde\tf"
    assert strip_controls("\x1b]8;;http://e/\x1b\\x\x1b]8;;\x1b\\") == "x"


async def test_level_words_in_colour_are_seen() -> None:
    # The `m` ending an escape sequence stuck to the word defeated `\b`: a coloured
    # WARN was "info" and the `e` filter hid it.
    assert level_of("\x1b[31mWARN colored\x1b[0m") == "warn"
    assert level_of("12:00:01 \x1b[1;31mERROR\x1b[0m: boom") == "error"
    assert level_of("\x1b]0;title\x07\x1b[33mwarning\x1b[0m x") == "warn"
    assert level_of("\x1b[32mINFO\x1b[0m all good") == "info"
    assert level_of("\x1b[1m" * 200 + "ERROR late but in the first words") == "error"
    app = LogApp()
    async with app.run_test(size=(40, 10)) as pilot:
        view = app.query_one(LogView)
        view.append_lines(
            [
                LogLine("stdout", "\x1b[32mINFO\x1b[0m fine"),
                LogLine("stdout", "\x1b[31mWARN colored\x1b[0m"),
                LogLine("stderr", "\x1b[1;31mERROR\x1b[0m boom"),
            ]
        )
        view.set_level("warn")
        await pilot.pause()
        assert view.shown_count == 2


def test_export_is_plain() -> None:
    view = LogView(max_lines=10)
    view.append_lines([LogLine("stderr", "a\x1b[31mred\x1b[0m", timestamp="T1")])
    assert view.export_lines() == ["T1 stderr ared"]


def varied(start: int, count: int) -> list[LogLine]:
    """Lines of 1 to 4 rows at 40 cells, some warnings, some with wide characters."""
    out = []
    for i in range(start, start + count):
        word = "WARN" if i % 5 == 0 else "info"
        filler = ("数" if i % 7 == 0 else "x") * (i * 13 % 120)
        out.append(LogLine("stdout", f"{word} line {i} {filler}"))
    return out


@pytest.mark.parametrize("level", ["all", "warn"])
async def test_wrapped_row_index_stays_exact_while_the_full_buffer_moves(level: str) -> None:
    # The row index is updated per batch (not rebuilt): it must always equal a rebuild,
    # with the buffer full (lines leaving the front) and with the level filter on.
    app = LogApp(max_lines=60)
    async with app.run_test(size=(40, 12)) as pilot:
        view = app.query_one(LogView)
        view.set_wrap(True)
        view.set_level(level)  # type: ignore[arg-type]
        for batch in range(30):
            view.append_lines(varied(batch * 23, 23))
            await pilot.pause()
            width = view._text_width()
            index = view._lines.rows_index(width)
            expected = list(accumulate(e.rows(width) for e in view._lines.view))
            assert len(index) == len(view._lines.view)
            assert [index.start_of(i + 1) for i in range(len(index) - 1)] == expected[:-1]
            assert index.total() == (expected[-1] if expected else 0) == view.virtual_size.height
            # Following: the last row on screen is the last row of the newest line.
            height = view.scrollable_content_region.height
            assert round(view.scroll_y) == max(0, index.total() - height)
            assert view._bottom_index() == len(view._lines.view) - 1


@pytest.mark.parametrize("wrap", [False, True])
async def test_a_drain_does_not_walk_the_buffer(wrap: bool) -> None:
    # With the buffer full, adding a batch touches only the new lines: no line already
    # buffered is measured again; unwrapped, a line is sanitised only when drawn.
    app = LogApp(max_lines=5000)
    async with app.run_test(size=(80, 12)) as pilot:
        view = app.query_one(LogView)
        view.set_wrap(wrap)
        view.append_lines(lines(0, 4900))
        await pilot.pause()
        view.append_lines(lines(4900, 100))  # the scrollbar came: the width is settled
        await pilot.pause()
        old = list(view._lines.view)
        calls = 0
        original = LogEntry.rows

        def counting(entry: LogEntry, width: int) -> int:
            nonlocal calls
            calls += 1
            return original(entry, width)

        LogEntry.rows = counting  # type: ignore[method-assign]
        try:
            view.append_lines(lines(5000, 100))
            await pilot.pause()
        finally:
            LogEntry.rows = original  # type: ignore[method-assign]
        assert calls <= (100 if wrap else 0)  # the new lines' rows, once each
        if not wrap:
            assert sum(e._text is not None for e in old) <= 2 * 12  # only what was drawn
        assert view.visible_lines()[-1].strip() == "line 5099"
