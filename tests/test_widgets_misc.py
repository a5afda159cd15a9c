"""BlockingTreeView, PgSummaryPane, Freshness, BackendDetailView and the formatting
helpers, through small host apps and Pilot (widgets do no I/O: synthetic data)."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime

from rich.console import Console
from textual.app import App, ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Sparkline

from adapters.errors import AuthFailed, Unreachable
from adapters.postgres.models import (
    Backend,
    BackendDetail,
    BlockingNode,
    LockRow,
    PgSnapshot,
    ServerSummary,
)
from console.state import SourceState
from widgets import formatting as fmt
from widgets.backend_detail import QUERY_CAP, BackendDetailView, detail_renderable
from widgets.blocking_tree import BlockingTreeView
from widgets.freshness import Freshness, describe
from widgets.pg_summary import PgSummaryPane

HOSTILE = "[red]x[/] [/] [link=http://evil]y[/link] SELECT a[i] FROM t \x1b[2J \x1b]0;title\x07"
HOSTILE += " \x1b]52;c;SGVsbG8=\x1b\\ \x9b31m \u202e \r end"
FORBIDDEN = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)}
FORBIDDEN.add("\u202e")
NOW = 1_700_000_000.0


def backend(pid: int, **changes: object) -> Backend:
    values: dict[str, object] = dict(
        pid=pid,
        user="alice",
        database="app",
        application="web",
        client_addr="10.0.0.7",
        state="active",
        wait_event_type=None,
        wait_event=None,
        backend_start=None,
        xact_start=None,
        query_start=None,
        state_change=None,
        xact_age=None,
        query_age=1.0,
        query=f"SELECT {pid}",
    )
    values.update(changes)
    return Backend(**values)  # type: ignore[arg-type]


def waiter(pid: int, *below: BlockingNode, **changes: object) -> BlockingNode:
    lock = dict(
        wait_event_type="Lock",
        wait_event="relation",
        waiting_lock_mode="AccessExclusiveLock",
        waiting_relation="public.accounts",
        wait_age=12.5,
    )
    return BlockingNode(backend(pid, **{**lock, **changes}), tuple(below))


def clean(text: str) -> bool:
    return not FORBIDDEN & set(text)


# -- blocking tree ---------------------------------------------------------------------


class TreeApp(App[None]):
    CSS = "BlockingTreeView { height: 1fr; max-height: 100%; }"

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[tuple[str, int | None]] = []

    def compose(self) -> ComposeResult:
        yield BlockingTreeView()

    def on_mount(self) -> None:
        self.query_one(BlockingTreeView).focus()

    def on_blocking_tree_view_selected(self, message: BlockingTreeView.Selected) -> None:
        self.messages.append(("selected", message.pid))

    def on_blocking_tree_view_activated(self, message: BlockingTreeView.Activated) -> None:
        self.messages.append(("activated", message.pid))


def deep_forest() -> BlockingNode:
    """A root blocker with 50 direct waiters; the first heads a chain five levels deep."""
    chain = waiter(105)
    for pid in (104, 103, 102):
        chain = waiter(pid, chain)
    first = waiter(101, chain)
    others = [waiter(200 + i) for i in range(49)]
    root = backend(1, state="idle in transaction", xact_age=300.0, query="UPDATE accounts")
    return BlockingNode(root, (first, *others))


async def test_tree_renders_fan_out_50_and_depth_5() -> None:
    app = TreeApp()
    async with app.run_test(size=(120, 70)) as pilot:
        tree = app.query_one(BlockingTreeView)
        tree.update_tree((deep_forest(),))
        await pilot.pause()
        assert tree.line_count == 1 + 50 + 4
        expected_depth = {1: 0, 101: 1, 102: 2, 103: 3, 104: 4, 105: 5}
        expected_depth.update({200 + i: 1 for i in range(49)})
        rendered = [tree.render_line(y).text for y in range(tree.line_count)]
        for index, text in enumerate(rendered):
            assert text.rstrip() == tree.line_text(index).rstrip()
            guide_len = len(text) - len(text.lstrip(" │├└─"))
            pid = int(text.lstrip(" │├└─").split()[0])
            assert guide_len == 3 * expected_depth.pop(pid), text
        assert expected_depth == {}
        assert rendered[0].startswith("1  alice  idle in xact  xact 5m00s  blocks 54  UPDATE")
        assert rendered[1].startswith("├─ 101 ") and "blocks 4" in rendered[1]
        assert rendered[5].startswith("│           └─ 105  alice  active  waits AccessExclusive")
        assert "on public.accounts 12s  SELECT 105" in rendered[5]
        assert rendered[-1].startswith("└─ 248 ")


async def test_tree_cursor_follows_pid_and_clears_when_it_leaves() -> None:
    app = TreeApp()
    async with app.run_test(size=(120, 30)) as pilot:
        tree = app.query_one(BlockingTreeView)
        tree.update_tree((deep_forest(),))
        await pilot.pause()
        assert tree.selected_pid == 1 and app.messages == [("selected", 1)]
        await pilot.press("down", "down", "down")
        assert tree.selected_pid == 103
        app.messages.clear()

        # Another root blocker appears first: the cursor stays on 103, now further down.
        other = BlockingNode(backend(7), (waiter(8), waiter(9)))
        tree.update_tree((other, deep_forest()))
        await pilot.pause()
        assert tree.selected_pid == 103 and tree.selected_path == (1, 101, 102, 103)
        assert app.messages == []

        # 103's lock is granted: the selection is cleared, never moved to another pid.
        pruned = BlockingNode(backend(1), (waiter(101, waiter(102)),))
        tree.update_tree((other, pruned))
        await pilot.pause()
        assert tree.selected_pid is None
        assert app.messages == [("selected", None)]
        tree.update_tree((other, pruned))  # later updates do not pick a pid by themselves
        await pilot.pause()
        assert tree.selected_pid is None and len(app.messages) == 1
        await pilot.press("down")
        assert tree.selected_pid is not None
        await pilot.press("enter")
        await pilot.pause()
        assert ("activated", tree.selected_pid) in app.messages


async def test_tree_hostile_text_and_cycles_are_harmless() -> None:
    app = TreeApp()
    async with app.run_test(size=(400, 20)) as pilot:
        tree = app.query_one(BlockingTreeView)
        evil = backend(2, query=HOSTILE + "x" * 100_000, user="[/]", waiting_relation=HOSTILE)
        inner = BlockingNode(backend(1), ())
        cycle = BlockingNode(backend(1), (BlockingNode(evil, (inner,)),))
        tree.update_tree((cycle,))
        await pilot.pause()
        assert tree.line_count == 2  # the repeated pid 1 under itself is not followed
        for y in range(tree.size.height):
            strip = tree.render_line(y)
            for segment in strip:
                assert clean(segment.text), repr(segment.text)
        text = tree.render_line(1).text
        assert "a[i]" in text and "[/]" in text and "[link=http://evil]y[/link]" in text


async def test_tree_names_other_blockers_and_repeats() -> None:
    app = TreeApp()
    async with app.run_test(size=(200, 20)) as pilot:
        tree = app.query_one(BlockingTreeView)
        also = replace(waiter(1011, query="UPDATE t"), also_blocked_by=(590,))
        queue = replace(waiter(6), also_blocked_by=(2, 3, 4, 5, 7))
        first = waiter(3, waiter(4))
        again = BlockingNode(first.backend, repeat=True)
        tree.update_tree(
            (
                BlockingNode(backend(438), (waiter(590), also, queue, first)),
                BlockingNode(backend(9), (again,)),
            )
        )
        await pilot.pause()
        lines = [tree.line_text(i) for i in range(tree.line_count)]
        assert (
            "waits AccessExclusiveLock on public.accounts 12s  also blocked by 590  UPDATE t"
            in (lines[2])
        )
        assert "also blocked by 2, 3, 4 and 2 more" in lines[3]
        assert lines[0].startswith("438  alice  active  blocks 5  ")
        assert lines[-1].startswith("└─ 3 ") and "(its waiters are shown elsewhere" in lines[-1]
        assert "(its waiters" not in lines[4] and "blocks 1" in lines[4]


async def test_tree_empty_state() -> None:
    app = TreeApp()
    async with app.run_test(size=(80, 10)) as pilot:
        tree = app.query_one(BlockingTreeView)
        tree.update_tree(())
        await pilot.pause()
        assert tree.render_line(0).text.startswith("No blocking sessions")
        assert tree.selected_pid is None


# -- freshness -------------------------------------------------------------------------


def test_freshness_strings_with_a_fixed_clock() -> None:
    state: SourceState[int] = SourceState("postgres")
    assert describe(state, NOW) == ("waiting for the first poll", "waiting")
    ok = state.succeeded(1, now=NOW - 2, duration=0.1, interval=2.0)
    assert describe(ok, NOW) == ("updated 2 s ago", "ok")
    assert describe(ok, NOW + 190)[0] == "updated 3m12s ago"
    slow = state.succeeded(1, now=NOW - 1, duration=3.14, interval=2.0)
    assert describe(slow, NOW) == ("updated 1 s ago · behind: last poll took 3.1 s", "behind")

    failing = ok.failed(Unreachable("connection refused"), now=NOW - 42, retry_in=46, duration=5)
    since = time.strftime("%H:%M:%S", time.localtime(NOW - 42))
    data_from = time.strftime("%H:%M:%S", time.localtime(NOW - 2))
    assert describe(failing, NOW) == (
        f"STALE since {since} (42 s): connection refused — retry in 4 s (data from {data_from})",
        "stale",
    )
    assert "retrying now" in describe(failing, NOW + 10)[0]

    never = state.failed(AuthFailed("password authentication failed"), NOW - 5, 30, 0.1)
    text, kind = describe(never, NOW)
    assert kind == "failed" and text.startswith("NO DATA since") and "retry in 25 s" in text


def test_freshness_error_text_is_sanitised() -> None:
    state: SourceState[int] = SourceState("redis").failed(Unreachable(HOSTILE), NOW, 5, 0.1)
    text, _ = describe(state, NOW)
    assert clean(text) and "[/]" in text and "␛]0;title" in text


class FreshApp(App[None]):
    def __init__(self, freshness: Freshness) -> None:
        super().__init__()
        self.freshness = freshness

    def compose(self) -> ComposeResult:
        yield self.freshness


async def test_freshness_widget_ticks_with_its_clock() -> None:
    clock = [NOW]
    state = SourceState("postgres").succeeded(1, now=NOW, duration=0.1, interval=2.0)
    widget = Freshness(state, clock=lambda: clock[0])
    app = FreshApp(widget)
    async with app.run_test(size=(80, 5)) as pilot:
        assert widget.text == "updated 0 s ago" and widget.has_class("-ok")
        clock[0] = NOW + 7
        await pilot.pause(1.2)  # the widget's own 1 s timer redraws it
        assert widget.text == "updated 7 s ago"
        widget.update_state(state.failed(Unreachable("refused"), NOW + 7, 3, 0.1))
        await pilot.pause()
        assert widget.text.startswith("STALE since") and widget.has_class("-stale")
        assert not widget.has_class("-ok")


# -- PostgreSQL summary pane -----------------------------------------------------------


def snapshot(**changes: object) -> PgSnapshot:
    summary = ServerSummary(
        version="16.4",
        server_version_num=160004,
        started_at=None,
        uptime=3 * 86400 + 4 * 3600 + 60,
        max_connections=100,
        connections_by_state={"active": 12, "idle": 70, "idle in transaction": 3},
        total_connections=85,
        xact_commit=10,
        xact_rollback=0,
        blks_hit=99,
        blks_read=1,
        database="appdb",
        database_size=int(1.2 * 1024**3),
    )
    backends = (
        backend(4242, query_age=192.0, xact_age=200.0, query="SELECT pg_sleep(600)"),
        backend(4243, state="idle in transaction", query_age=5.0, xact_age=7500.0, query=HOSTILE),
        backend(4244, wait_event_type="Lock", wait_event="relation", blocked_by=(4243,)),
    )
    values: dict[str, object] = dict(
        taken_at=datetime.fromtimestamp(NOW, UTC),
        summary=summary,
        backends=backends,
        tps=1234.5,
        cache_hit_ratio=0.992,
    )
    values.update(changes)
    return PgSnapshot(**values)  # type: ignore[arg-type]


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield PgSummaryPane(clock=lambda: NOW + 3)


async def test_summary_shows_server_sessions_and_sparklines() -> None:
    app = PaneApp()
    async with app.run_test(size=(140, 20)) as pilot:
        pane = app.query_one(PgSummaryPane)
        assert pane.body_text().plain == "Waiting for the first poll…"
        state: SourceState[PgSnapshot] = SourceState("postgres")
        for i, tps in enumerate((100.0, 200.0, 150.0)):
            state = state.succeeded(snapshot(tps=tps), now=NOW + i, duration=0.1, interval=2.0)
            pane.update_state(state)
        pane.update_state(state)  # the same state again adds no sample
        await pilot.pause()
        text = pane.body_text().plain
        for expected in (
            "PostgreSQL 16.4 · up 3d4h · database appdb 1.2 GiB",
            "connections 85 / 100 ",
            "85%",
            "12 active",
            "3 idle in xact",
            "TPS 150.0 · cache hit 99.2%",
            "waiting on locks 1 · blocking 1",
            "longest query  pid 4242 3m12s  SELECT pg_sleep(600)",
            "oldest xact    pid 4243 2h05m  [red]x[/] [/]",
        ):
            assert expected in text, expected
        assert clean(text.replace("\n", ""))
        sparks = list(pane.query(Sparkline))
        assert [list(s.data or []) for s in sparks] == [[85.0] * 3, [100.0, 200.0, 150.0]]
        assert pane.query_one(Freshness).text == "updated 1 s ago"

        # A caller-supplied history wins over the pane's own samples.
        class History:
            connections = (1.0, 2.0)
            tps = (3.0,)

        pane.update_state(state, History())
        await pilot.pause()
        assert [list(s.data or []) for s in pane.query(Sparkline)] == [[1.0, 2.0], [3.0]]


async def test_summary_keeps_data_when_stale_and_says_why() -> None:
    app = PaneApp()
    async with app.run_test(size=(140, 20)) as pilot:
        pane = app.query_one(PgSummaryPane)
        empty: SourceState[PgSnapshot] = SourceState("postgres")
        good = empty.succeeded(snapshot(), NOW - 10, 0.1, 2.0)
        pane.update_state(good)
        stale = good.failed(Unreachable("connection refused"), now=NOW - 5, retry_in=9, duration=1)
        pane.update_state(stale)
        await pilot.pause()
        assert pane.has_class("-stale")
        assert "PostgreSQL 16.4" in pane.body_text().plain  # never blank
        freshness = pane.query_one(Freshness).text
        assert freshness.startswith("STALE since") and "(8 s)" in freshness
        assert "connection refused" in freshness and "retry in 1 s" in freshness

        never = empty.failed(AuthFailed("bad password"), NOW, 5, 0)
        pane.update_state(never)
        await pilot.pause()
        assert pane.body_text().plain == "No data yet."
        assert pane.query_one(Freshness).text.startswith("NO DATA since")


# -- backend detail --------------------------------------------------------------------


def detail(query: str | None) -> BackendDetail:
    started = datetime(2024, 5, 1, 10, 2, 3, tzinfo=UTC)
    return BackendDetail(
        backend=backend(
            4242,
            query=query,
            user="[/]",
            application=HOSTILE,
            backend_start=started,
            xact_start=started,
            xact_age=61.0,
            wait_event_type="Lock",
            wait_event="transactionid",
            waiting_lock_mode="ShareLock",
            waiting_locktype="transactionid",
            blocked_by=(7, 8),
        ),
        backend_type="client backend",
        client_hostname=None,
        client_port=50432,
        backend_xid="1234",
        backend_xmin="1200",
        locks=(
            LockRow("relation", "RowExclusiveLock", True, "public.accounts", None),
            LockRow("transactionid", "ShareLock", False, None, "xid 1201 [/]"),
        ),
    )


def render_plain(renderable: object, width: int = 120) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def test_detail_shows_every_column_query_and_locks() -> None:
    query = "SELECT a[i]\n  FROM t\r\n WHERE x = '[/]' \x1b[2J\x9b31m\u202e"
    text = render_plain(detail_renderable(detail(query)))
    for expected in (
        "pid",
        "4242",
        "client             10.0.0.7:50432",
        "backend start      2024-05-01 10:02:03+00:00",
        "transaction age    1m01s",
        "ShareLock transactionid",
        "blocked by         7, 8",
        "backend xmin       1200",
        "SELECT a[i]\n  FROM t",
        "WHERE x = '[/]'",
        "Locks: 1 held, 1 awaited",
        "xid 1201 [/]",
    ):
        assert expected in text, expected
    assert text.index("AWAITED") < text.index("held     relation")
    assert clean(text.replace("\n", ""))


def test_detail_with_huge_query_is_capped_and_fast() -> None:
    started = time.perf_counter()
    text = render_plain(detail_renderable(detail("SELECT 1 -- " + "y" * 100_000)), width=200)
    assert time.perf_counter() - started < 3.0
    assert "query truncated" not in text
    huge = "x" * (QUERY_CAP + 50_000)
    text = render_plain(detail_renderable(detail(huge)), width=200)
    assert f"query truncated: {len(huge):,} characters" in text


async def test_detail_view_mounts_in_a_scroll_container() -> None:
    class DetailApp(App[None]):
        def compose(self) -> ComposeResult:
            with VerticalScroll():
                yield BackendDetailView()

    app = DetailApp()
    async with app.run_test(size=(100, 30)) as pilot:
        view = app.query_one(BackendDetailView)
        view.show(detail(HOSTILE))
        await pilot.pause()
        assert view.detail is not None and view.size.height > 20
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\u202e" not in screenshot


# -- formatting ------------------------------------------------------------------------


def test_formatting_helpers() -> None:
    assert [fmt.duration(s) for s in (0, 4.25, 9.99, 42, 192, 7500, 273600)] == [
        "0.0s",
        "4.2s",
        "9.9s",
        "42s",
        "3m12s",
        "2h05m",
        "3d4h",
    ]
    assert fmt.duration(None) == fmt.NA and fmt.duration(-3) == "0.0s"
    assert fmt.human_bytes(512) == "512 B"
    assert fmt.human_bytes(int(1.2 * 1024**3)) == "1.2 GiB"
    assert fmt.human_bytes(None) == fmt.NA
    assert fmt.percent(0.934) == "93.4%" and fmt.percent(None) == fmt.NA
    assert fmt.number(1100) == "1,100" and fmt.number(1234.56, 1) == "1,234.6"
    assert fmt.ago(2.4) == "updated 2 s ago" and fmt.ago(192) == "updated 3m12s ago"
    assert fmt.ago(None) == "not updated yet"
    moment = datetime.fromtimestamp(NOW - 30, UTC)
    assert fmt.age_of(moment, NOW) == 30 and fmt.age_of(None, NOW) is None


# -- small terminals -------------------------------------------------------------------


async def test_all_widgets_survive_small_terminals_and_resizes() -> None:
    from widgets.activity_table import ActivityTable

    class AllApp(App[None]):
        def compose(self) -> ComposeResult:
            yield PgSummaryPane(clock=lambda: NOW)
            yield ActivityTable()
            yield BlockingTreeView()
            yield Freshness(clock=lambda: NOW)

    app = AllApp()
    async with app.run_test(size=(80, 24)) as pilot:
        state: SourceState[PgSnapshot] = SourceState("postgres")
        state = state.succeeded(snapshot(), NOW, 0.1, 2.0)
        app.query_one(PgSummaryPane).update_state(state)
        app.query_one(ActivityTable).update_snapshot(snapshot().backends)
        app.query_one(BlockingTreeView).update_tree((deep_forest(),))
        for size in ((40, 10), (20, 5), (1, 1), (200, 50), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            screenshot = app.export_screenshot()
            assert "\x1b" not in screenshot
        tree = app.query_one(BlockingTreeView)
        assert 1 <= tree.size.height <= 16  # auto height, capped by max-height
        assert tree.selected_pid == 1
