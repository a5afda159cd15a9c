"""ActivityTable through a small host app and Pilot: identity cursor, gone rows, sorting,
filtering, idle toggle, narrow and wide terminals, hostile text, 1,100 rows."""

from __future__ import annotations

import time
from collections.abc import Sequence

from textual.app import App, ComposeResult

from adapters.postgres.models import Backend
from widgets.activity_table import ActivityTable, layout

HOSTILE = (
    "[red]x[/]",
    "[/]",
    "[link=http://evil]y[/link]",
    "SELECT a[i] FROM t",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x1b]52;c;SGVsbG8=\x1b\\",
    "\x9b31m",
    "\u202e",
    "\r",
)
FORBIDDEN = {chr(c) for c in range(0x20)} | {chr(c) for c in range(0x7F, 0xA0)} | {"\u202e"}


def backend(
    pid: int,
    *,
    state: str | None = "active",
    query: str | None = "SELECT 1",
    user: str | None = "alice",
    database: str | None = "app",
    application: str | None = "web",
    client: str | None = "10.0.0.7",
    query_age: float | None = 1.0,
    xact_age: float | None = None,
    wait: tuple[str, str] | None = None,
    blocked_by: tuple[int, ...] = (),
) -> Backend:
    return Backend(
        pid=pid,
        user=user,
        database=database,
        application=application,
        client_addr=client,
        state=state,
        wait_event_type=wait[0] if wait else None,
        wait_event=wait[1] if wait else None,
        backend_start=None,
        xact_start=None,
        query_start=None,
        state_change=None,
        xact_age=xact_age,
        query_age=query_age,
        query=query,
        blocked_by=blocked_by,
    )


def actives(pids: Sequence[int], age_of: dict[int, float] | None = None) -> list[Backend]:
    ages = age_of or {}
    return [backend(pid, query_age=ages.get(pid, float(pid)), query=f"q{pid}") for pid in pids]


class TableApp(App[None]):
    """Hosts one ActivityTable and records the messages it posts."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, int | None]] = []

    def compose(self) -> ComposeResult:
        yield ActivityTable()

    def on_mount(self) -> None:
        self.query_one(ActivityTable).focus()

    def on_activity_table_selected(self, message: ActivityTable.Selected) -> None:
        self.messages.append(("selected", message.pid))

    def on_activity_table_activated(self, message: ActivityTable.Activated) -> None:
        self.messages.append(("activated", message.pid))


def lines(table: ActivityTable) -> list[str]:
    return [table.render_line(y).text for y in range(table.size.height)]


def shown_pids(table: ActivityTable) -> list[int]:
    """Pids of the rows on screen, top to bottom (the first cell of each data line)."""
    out = []
    for text in lines(table)[1:]:
        first = text.split(maxsplit=1)
        if first and first[0].isdigit():
            out.append(int(first[0]))
    return out


def screen_row(table: ActivityTable, pid: int) -> int:
    return next(y for y, text in enumerate(lines(table)) if text.split()[:1] == [str(pid)])


def is_cursor_line(table: ActivityTable, y: int) -> bool:
    cursor = table.get_component_rich_style("activity-table--cursor", partial=True)
    return table.render_line(y)._segments[0].style.bgcolor == cursor.bgcolor


async def test_cursor_stays_on_pid_when_rows_added_removed_reordered() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives(range(1, 41)))
        await pilot.pause()
        assert table.selected_pid == 40  # default sort: longest running query first
        await pilot.press("down", "down", "down")
        assert table.selected_pid == 37
        y = screen_row(table, 37)
        assert is_cursor_line(table, y)
        app.messages.clear()

        # Reordered (ages reversed, 37 moves from 4th to 11th), 5 new rows, 10 others gone.
        ages = {pid: 100.0 - pid for pid in range(1, 46)}
        ages[37] = 89.5
        table.update_snapshot(actives([p for p in range(1, 46) if not 20 <= p <= 29], ages))
        await pilot.pause()
        assert table.selected_pid == 37
        assert table.selected_backend is not None and table.selected_backend.query_age == 89.5
        assert screen_row(table, 37) == y  # the cursor row keeps its place on screen
        assert is_cursor_line(table, y)
        assert app.messages == []  # nothing moved the selection


async def test_vanished_pid_is_marked_gone_not_replaced() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives(range(1, 11)))
        await pilot.pause()
        await pilot.press("down")
        assert table.selected_pid == 9
        app.messages.clear()

        table.update_snapshot(actives([p for p in range(1, 11) if p not in (9, 5)]))
        await pilot.pause()
        assert table.selected_pid == 9
        assert table.selected_gone
        y = screen_row(table, 9)
        assert "gone" in lines(table)[y]
        assert is_cursor_line(table, y)
        assert table.total_count == 8
        gone_style = table.render_line(screen_row(table, 5))._segments[0].style
        assert gone_style.strike
        assert app.messages == []

        # The next update keeps both gone rows; the one after drops 5 but not the cursor's.
        table.update_snapshot(actives([1, 2, 3, 4, 6, 7, 8, 10]))
        await pilot.pause()
        assert {5, 9} <= set(shown_pids(table))
        table.update_snapshot(actives([1, 2, 3, 4, 6, 7, 8, 10]))
        await pilot.pause()
        assert 5 not in shown_pids(table)
        assert 9 in shown_pids(table) and table.selected_pid == 9

        # Once the cursor leaves it, the gone row goes at the next update.
        await pilot.press("down")
        assert table.selected_pid == 8
        table.update_snapshot(actives([1, 2, 3, 4, 6, 7, 8, 10]))
        await pilot.pause()
        assert 9 not in shown_pids(table)
        assert table.selected_pid == 8


async def test_status_counts_ended_rows_apart() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives([1, 2]))
        await pilot.pause()
        assert table.status_text() == "2 sessions, 2 shown, idle hidden"
        assert table.selected_pid == 2
        table.update_snapshot(actives([2]))  # 1 ended: still listed, struck through
        await pilot.pause()
        assert table.visible_count == 2 and table.ended_count == 1
        assert table.counts_text() == "1 session, 1 shown, +1 ended"
        table.update_snapshot(actives([2]))
        table.update_snapshot(actives([2]))  # dropped at the next-but-one update
        await pilot.pause()
        assert table.counts_text() == "1 session, 1 shown"


async def test_pid_that_comes_back_is_live_again() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives([1, 2]))
        table.update_snapshot(actives([1]))
        table.update_snapshot([*actives([1]), backend(2, query="reused pid")])
        await pilot.pause()
        text = lines(table)[screen_row(table, 2)]
        assert "gone" not in text and "reused pid" in text


async def test_reused_pid_under_the_cursor_is_announced() -> None:
    from dataclasses import replace
    from datetime import UTC, datetime

    first = replace(backend(1), backend_start=datetime(2024, 1, 1, tzinfo=UTC))
    second = replace(backend(1, query="other"), backend_start=datetime(2024, 1, 2, tzinfo=UTC))
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot([first])
        table.update_snapshot([first])
        await pilot.pause()
        assert app.messages == [("selected", 1)]
        table.update_snapshot([second])
        await pilot.pause()
        assert app.messages == [("selected", 1), ("selected", 1)]
        assert table.selected_backend == second


async def test_cursor_row_is_not_hidden_by_a_refresh() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives([1, 2, 3]))
        await pilot.pause()
        assert table.selected_pid == 3
        # pid 3 turns idle while idle sessions are hidden: it stays under the cursor.
        table.update_snapshot([*actives([1, 2]), backend(3, state="idle")])
        await pilot.pause()
        assert table.selected_pid == 3
        assert 3 in shown_pids(table)
        # The operator's own toggle does hide it; the cursor moves and says so.
        await pilot.press("i", "i")
        await pilot.pause()
        assert table.selected_pid in (1, 2)
        assert ("selected", table.selected_pid) in app.messages


async def test_sorting_cycles_and_reverses() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ActivityTable)
        rows = [
            backend(30, user="carol", query_age=5.0),
            backend(10, user="bob", state="idle in transaction", query_age=50.0, xact_age=60),
            backend(20, user="alice", query_age=9.0),
            backend(40, user=None, query_age=1.0),
        ]
        table.update_snapshot(rows)
        await pilot.pause()
        # Default: active sessions first, longest query first; then idle in transaction.
        assert table.sort_key == "activity"
        assert shown_pids(table) == [20, 30, 40, 10]
        assert "qtime▼" in lines(table)[0]

        await pilot.press("o")  # pid
        assert table.sort_key == "pid"
        assert shown_pids(table) == [10, 20, 30, 40]
        assert "pid▲" in lines(table)[0]
        await pilot.press("O")
        assert shown_pids(table) == [40, 30, 20, 10]

        await pilot.press("o")  # user: unknown values last in either direction
        assert table.sort_key == "user"
        assert shown_pids(table) == [20, 10, 30, 40]
        await pilot.press("O")
        assert shown_pids(table) == [30, 10, 20, 40]

        while table.sort_key != "xact_age":
            await pilot.press("o")
        assert table.sort_descending
        assert shown_pids(table)[0] == 10
        assert table.selected_pid == 20  # sorting never moves the selection


async def test_filter_matches_fields_case_insensitively() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 20)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(
            [
                backend(1, user="Alice", query="SELECT * FROM orders"),
                backend(2, user="bob", application="Billing-Worker"),
                backend(3, user="carol", database="Reports", state="idle in transaction"),
                backend(4, user="dave", query="UPDATE ledger SET x = 1"),
            ]
        )
        await pilot.pause()
        for needle, expected in [
            ("ALICE", {1}),
            ("billing", {2}),
            ("reports", {3}),
            ("IN TRANS", {3}),
            ("ledger", {4}),
            ("", {1, 2, 3, 4}),
        ]:
            table.set_filter(needle)
            await pilot.pause()
            assert set(shown_pids(table)) == expected, needle
            assert table.visible_count == len(expected)
        table.set_filter("no-such-thing")
        await pilot.pause()
        assert table.visible_count == 0 and table.selected_pid is None
        assert "No sessions match" in lines(table)[1]
        assert table.status_text() == "4 sessions, 0 shown (filter: no-such-thing), idle hidden"
        assert ("selected", None) in app.messages


async def test_idle_sessions_hidden_until_toggled() -> None:
    app = TableApp()
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.query_one(ActivityTable)
        rows = [*actives([1, 2]), *(backend(p, state="idle") for p in range(10, 20))]
        table.update_snapshot(rows)
        await pilot.pause()
        assert not table.show_idle
        assert set(shown_pids(table)) == {1, 2}
        assert table.status_text() == "12 sessions, 2 shown, idle hidden"
        await pilot.press("i")
        assert table.show_idle and table.visible_count == 12
        assert shown_pids(table)[:2] == [2, 1]  # active sessions still first
        await pilot.press("i")
        assert table.visible_count == 2


async def test_keys_move_the_cursor_and_enter_activates() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives(range(1, 101)))
        await pilot.pause()
        await pilot.press("end")
        assert table.selected_pid == 1
        assert 1 in shown_pids(table)  # scrolled to the bottom
        await pilot.press("home")
        assert table.selected_pid == 100 and table.scroll_y == 0
        await pilot.press("pagedown")
        assert table.selected_pid == 100 - 11  # one page: 12 lines minus the header
        await pilot.press("up", "enter")
        await pilot.pause()
        assert ("activated", 90) in app.messages
        assert app.messages[0] == ("selected", 100)


async def test_select_pid_scrolls_to_it() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot([*actives(range(1, 51)), backend(999, state="idle")])
        await pilot.pause()
        assert table.select_pid(7)
        await pilot.pause()
        assert table.selected_pid == 7 and table.scroll_y > 0
        assert is_cursor_line(table, screen_row(table, 7))
        assert table.select_pid(999)  # hidden by the idle filter, shown when jumped to
        await pilot.pause()
        assert 999 in shown_pids(table)
        assert not table.select_pid(123456)
        assert table.selected_pid == 999


async def test_header_stays_while_scrolling() -> None:
    app = TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(actives(range(1, 201)))
        await pilot.pause()
        await pilot.press("pagedown", "pagedown", "pagedown")
        assert table.scroll_y > 0
        assert lines(table)[0].split()[:2] == ["pid", "user"]


async def test_80_columns_drops_low_priority_columns() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot([backend(1234567, wait=("Lock", "transactionid"), xact_age=4000)])
        await pilot.pause()
        header, row = lines(table)[:2]
        for label in ("pid", "user", "state", "wait", "xact", "qtime", "query"):
            assert label in header
        for label in ("database", "application", "client"):
            assert label not in header
        assert "1234567" in row and "Lock:tran" in row and "1h06m" in row and "SELECT 1" in row
        query_width = dict((c.key, w) for c, w in layout(table.scrollable_content_region.width))
        assert query_width["query"] >= 20
        assert len(row) == table.size.width


async def test_200_columns_shows_every_column() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 24)) as pilot:
        table = app.query_one(ActivityTable)
        long_query = "SELECT " + ", ".join(f"col{i}" for i in range(100)) + " FROM t"
        table.update_snapshot([backend(1, query=long_query)])
        await pilot.pause()
        header, row = lines(table)[:2]
        for column in ("pid", "user", "database", "application", "client", "state", "wait"):
            assert column in header
        assert "10.0.0.7" in row and row.rstrip().endswith("…")
        assert len(row) == 200


def test_layout_degrades_without_errors_at_tiny_widths() -> None:
    for width in (0, 1, 10, 20, 40, 57, 80, 120, 400):
        columns = layout(width)
        assert columns[0][0].key == "pid" and columns[-1][0].key == "query"
        assert all(w >= 0 for _, w in columns)


async def test_hostile_text_renders_inert() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 30)) as pilot:
        table = app.query_one(ActivityTable)
        table.show_idle = True
        rows = []
        for i, payload in enumerate(HOSTILE, start=1):
            rows.append(
                backend(
                    i,
                    query=f"q{i} {payload} end",
                    user=payload,
                    application=payload,
                    database=payload,
                    client=payload,
                    state=payload,
                    wait=(payload, payload),
                )
            )
        rows.append(backend(99, query="SELECT 1 -- " + "x" * 100_000, user="[/]"))
        started = time.perf_counter()
        table.update_snapshot(rows)
        assert time.perf_counter() - started < 0.5
        await pilot.pause()
        rendered = [table.render_line(y) for y in range(table.size.height)]
        text = "\n".join(strip.text for strip in rendered)
        assert "a[i]" in text
        assert "[/]" in text
        assert "[red]x[/]" in text
        assert "[link=http://evil]y[/link]" in text
        assert "␛[2J" in text  # visible, inert
        for strip in rendered:
            for segment in strip:
                assert not FORBIDDEN & set(segment.text), repr(segment.text)
                assert segment.style is None or segment.style.link is None
        assert len(rendered[1].text) == 200
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\u202e" not in screenshot


async def test_1100_rows_update_cheaply_and_render_only_visible_lines() -> None:
    app = TableApp()
    async with app.run_test(size=(160, 40)) as pilot:
        table = app.query_one(ActivityTable)
        table.show_idle = True

        def snapshot(tick: int) -> list[Backend]:
            return [
                backend(
                    pid,
                    state="active" if pid % 11 == 0 else "idle",
                    query_age=float((pid * 7 + tick) % 500),
                    query=f"SELECT * FROM t{pid % 50} WHERE id = $1",
                )
                for pid in range(1000, 2100)
            ]

        table.update_snapshot(snapshot(0))
        await pilot.pause()
        timings = []
        for tick in range(1, 6):
            started = time.perf_counter()
            table.update_snapshot(snapshot(tick))
            timings.append(time.perf_counter() - started)
        await pilot.pause()
        assert table.total_count == 1100 and table.visible_count == 1100
        # Generous bound for shared CI machines; measured at ~5 ms here.
        assert min(timings) < 0.05
        assert len(table._strips) <= table.size.height  # only visible rows were built


async def test_data_given_before_mount_shows_the_cursor_after_mount() -> None:
    table = ActivityTable()
    table.update_snapshot(actives(range(1, 101)))
    assert table.select_pid(5)

    class EarlyApp(App[None]):
        def compose(self) -> ComposeResult:
            yield table

    async with EarlyApp().run_test(size=(100, 12)) as pilot:
        await pilot.pause()
        assert table.selected_pid == 5
        assert is_cursor_line(table, screen_row(table, 5))


async def test_clients_on_watched_docker_hosts_show_their_container_name() -> None:
    app = TableApp()
    async with app.run_test(size=(200, 10)) as pilot:
        table = app.query_one(ActivityTable)
        table.update_snapshot(
            [backend(1, client="172.17.0.5"), backend(2, client="10.9.9.9", user="bob")]
        )
        table.set_client_names({"172.17.0.5": "billing-1"})
        await pilot.pause()
        row = lines(table)[screen_row(table, 1)]
        assert "billing-1" in row and "172.17.0.5" not in row
        assert "10.9.9.9" in lines(table)[screen_row(table, 2)]
        assert table.client_name("172.17.0.5") == "billing-1"
        table.set_filter("billing-1")  # "which service holds the lock?"
        await pilot.pause()
        assert shown_pids(table) == [1]
        table.set_filter("")
        # The container went away: the address is shown again, never a stale name.
        table.set_client_names({"172.17.0.5": "[/]\x1b]52;c;SGVsbG8=\x07evil"})
        await pilot.pause()
        hostile = lines(table)[screen_row(table, 1)]
        assert not set(hostile) & FORBIDDEN and "⬢ [/]" in hostile
        table.set_client_names({})
        await pilot.pause()
        assert "172.17.0.5" in lines(table)[screen_row(table, 1)]
