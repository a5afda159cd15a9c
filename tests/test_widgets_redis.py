"""RedisSummaryPane, RedisDetailView, BigKeysView and ProgressLine through small host apps
and Pilot, fed with the real model dataclasses (widgets do no I/O: synthetic data)."""

from __future__ import annotations

import sys
import time
from dataclasses import replace
from typing import Any

from rich.console import Console
from textual.app import App, ComposeResult
from textual.widgets import Sparkline, Static

from adapters.errors import Unreachable
from adapters.redis.models import (
    BigKey,
    BigKeysResult,
    ClientsSummary,
    KeyspaceDb,
    LatencyEvent,
    PrefixStat,
    RedisSnapshot,
    ReplicaLink,
    Replication,
    SlowlogEntry,
)
from console.state import SourceState
from widgets.big_keys import EMPTY_TEXT, NO_SEPARATOR, BigKeysView
from widgets.freshness import Freshness
from widgets.progress_line import HINT, ProgressLine
from widgets.redis_detail import (
    COMMAND_MAX,
    RedisDetailView,
    clients_section,
    command_text,
    keyspace_section,
    latency_section,
    memory_section,
    notes_section,
    replication_section,
    slowlog_section,
)
from widgets.redis_summary import HISTORY_SAMPLES, RedisSummaryPane

NOW = 1_700_000_000.0
MiB = 1024 * 1024
#: Hostile bytes: screen clear, OSC title (BEL-terminated), CR/LF, invalid UTF-8, a bidi
#: override encoded as UTF-8, Rich markup, and a bare closing tag that crashes the parser.
HOSTILE_KEYS = (
    b"clear\x1b[2Jkey",
    b"title\x1b]0;t\x07key",
    b"line\r\nbreak",
    b"bin\xff\xfe",
    "rtl\u202eabc".encode(),
    b"[red]x[/]",
    b"[/]",
)
FORBIDDEN = {chr(c) for c in range(0x20) if c != 0x0A} | {chr(c) for c in range(0x7F, 0xA0)}
FORBIDDEN |= {"\u202e"}


def clean(text: str) -> bool:
    return not FORBIDDEN & set(text.replace("\n", ""))


def screen_text(app: App[None]) -> str:
    """What the terminal shows, as plain text (lines of the composited screen)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def when(epoch: int) -> str:
    return time.strftime("%m-%d %H:%M:%S", time.localtime(epoch))


def render_plain(renderable: object, width: int = 160) -> str:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def snapshot(**changes: Any) -> RedisSnapshot:
    values: dict[str, Any] = dict(
        taken_at=NOW,
        target="redis://10.0.0.5:6379/0",
        version="7.2.4",
        mode="standalone",
        role="master",
        uptime=273_600,
        loading=False,
        used_memory=768 * MiB,
        used_memory_rss=900 * MiB,
        used_memory_peak=800 * MiB,
        maxmemory=1024 * MiB,
        maxmemory_policy="allkeys-lru",
        mem_fragmentation_ratio=1.17,
        evicted_keys=1_000,
        expired_keys=5_000,
        keyspace_hits=9_000,
        keyspace_misses=1_000,
        total_commands_processed=1_000_000,
        instantaneous_ops_per_sec=1_500,
        connected_clients=42,
        blocked_clients=3,
        replication=Replication(
            role="master",
            connected_replicas=2,
            replicas=(
                ReplicaLink("10.0.0.6:6379", "online", 990, 1, 10 * 1024),
                ReplicaLink("10.0.0.7:6379", "online", 1000, 4, 0),
            ),
            master_repl_offset=1000,
        ),
        keyspace=(KeyspaceDb(0, 1_200, 300, 65_000), KeyspaceDb(3, 10, 0, 0)),
        info={"memory": {"used_memory": str(768 * MiB), "used_memory_lua": "31744"}},
        interval=1.0,
        ops_per_sec=1_234.0,
        evicted_per_sec=12.5,
        expired_per_sec=3.0,
        hit_ratio=0.934,
    )
    values.update(changes)
    return RedisSnapshot(**values)


def state_of(*snaps: RedisSnapshot) -> SourceState[RedisSnapshot]:
    state: SourceState[RedisSnapshot] = SourceState("redis")
    for i, snap in enumerate(snaps):
        state = state.succeeded(snap, now=NOW + i, duration=0.01, interval=1.0)
    return state


# -- dashboard pane --------------------------------------------------------------------


class PaneApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RedisSummaryPane("cache [/]", clock=lambda: NOW + 3, source_name="redis:a", id="a")
        yield RedisSummaryPane("sessions", clock=lambda: NOW + 3, id="b")


async def test_pane_shows_the_snapshot_figures_and_sparklines() -> None:
    app = PaneApp()
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one("#a", RedisSummaryPane)
        assert pane.source_name == "redis:a"
        assert pane.body_text().plain == "Waiting for the first poll…"
        snaps = [snapshot(used_memory=m * MiB, ops_per_sec=o) for m, o in ((700, 1e3), (768, 2e3))]
        state: SourceState[RedisSnapshot] = SourceState("redis")
        for i, snap in enumerate(snaps):
            state = state.succeeded(snap, now=NOW + i, duration=0.01, interval=1.0)
            pane.update_state(state)
        pane.update_state(replace(state))  # the same poll again (a copy) adds no sample
        await pilot.pause()
        text = pane.body_text().plain
        for expected in (
            "Redis 7.2.4 · standalone · up 3d4h · redis://10.0.0.5:6379/0",
            "memory 768.0 MiB / 1.0 GiB " + "█" * 15 + "░" * 5 + " 75%",
            "policy allkeys-lru",
            "RSS 900.0 MiB · fragmentation 1.17 · peak 800.0 MiB · keys 1,210",
            "ops/s 2,000 · hit ratio 93.4% · evicted/s 12.5 · expired/s 3.0",
            "clients 42 · blocked 3 · role master · 2 replica(s) · lag 4 s · 10.0 KiB behind",
        ):
            assert expected in text, expected
        assert "LOADING" not in text and "no limit" not in text
        memory, ops = (list(s.data or []) for s in pane.query(Sparkline))
        assert memory == [700.0 * MiB, 768.0 * MiB] and ops == [1000.0, 2000.0]
        assert pane.query_one(Freshness).text == "updated 2 s ago"
        assert "Redis cache [/]" in screen_text(app)  # title is literal text

        # The history is bounded: one sample per new poll, at most HISTORY_SAMPLES.
        for i in range(HISTORY_SAMPLES + 20):
            state = state.succeeded(snaps[0], now=NOW + 10 + i, duration=0.01, interval=1.0)
            pane.update_state(state)
        assert len(pane.memory_history) == HISTORY_SAMPLES == len(pane.ops_history)


async def test_pane_no_limit_first_poll_replica_and_loading() -> None:
    app = PaneApp()
    async with app.run_test(size=(160, 30)) as pilot:
        pane = app.query_one("#a", RedisSummaryPane)
        replica = Replication(
            role="slave",
            master_host="10.0.0.1",
            master_port=6380,
            master_link_status="down",
            master_last_io_seconds_ago=75,
            master_sync_in_progress=True,
        )
        first = snapshot(
            maxmemory=0,
            maxmemory_policy="noeviction",
            loading=True,
            replication=replica,
            ops_per_sec=None,
            evicted_per_sec=None,
            expired_per_sec=None,
            hit_ratio=None,
            interval=None,
        )
        pane.update_state(state_of(first))
        await pilot.pause()
        text = pane.body_text().plain
        for expected in (
            "LOADING dataset",
            "memory 768.0 MiB · no limit (maxmemory 0) · policy noeviction",
            "ops/s ~1,500 (server estimate) · hit ratio — (no lookups) · evicted/s —",
            "role replica of 10.0.0.1:6380 · link down · last I/O 75 s ago · SYNC in progress",
        ):
            assert expected in text, expected
        assert "█" not in text  # no bar against a limit that does not exist
        assert list(pane.query("Sparkline.-ops").first(Sparkline).data or []) == []


async def test_pane_notes_replace_fields_and_stale_keeps_data() -> None:
    app = PaneApp()
    async with app.run_test(size=(200, 30)) as pilot:
        pane = app.query_one("#a", RedisSummaryPane)
        notes = {
            "hit_ratio": "keyspace stats unavailable: \x1b[2J no permission",
            "mem_fragmentation_ratio": "not reported by this server",
        }
        good = state_of(snapshot(notes=notes))
        pane.update_state(good)
        await pilot.pause()
        text = pane.body_text().plain
        assert "hit ratio keyspace stats unavailable: ␛[2J no permission" in text
        assert "fragmentation not reported by this server · peak" in text
        assert "93.4%" not in text and "1.17" not in text and clean(text)

        stale = good.failed(Unreachable("connection refused"), now=NOW + 1, retry_in=9, duration=1)
        pane.update_state(stale)
        await pilot.pause()
        assert pane.has_class("-stale")
        assert "memory 768.0 MiB / 1.0 GiB" in pane.body_text().plain  # never blanks
        fresh = pane.query_one(Freshness).text
        assert fresh.startswith("STALE since") and "connection refused" in fresh
        assert "retry in 7 s" in fresh

        never: SourceState[RedisSnapshot] = SourceState("redis")
        pane.update_state(never.failed(Unreachable("refused"), NOW, 5, 0))
        await pilot.pause()
        assert pane.body_text().plain == "No data yet."


# -- detail view -----------------------------------------------------------------------


def detail_snapshot(**changes: Any) -> RedisSnapshot:
    slowlog = (
        SlowlogEntry(7, int(NOW) - 192, 12_345, (b"SET", *HOSTILE_KEYS), "10.0.0.9:5000", "web"),
        SlowlogEntry(6, int(NOW) - 5, 850, (b"GET", b"a b", b""), None, None),
        SlowlogEntry(5, int(NOW) - 5, 2_500_000, (b"MSET", *[b"k" * 100] * 50), None, "[/]"),
    )
    values: dict[str, Any] = dict(
        info={
            "memory": {
                "used_memory": str(768 * MiB),
                "used_memory_human": "768.00M",
                "used_memory_lua": "31744",
                "mem_allocator": "jemalloc-5.3.0",
                "lazyfree_pending_objects": "12",
                "allocator_frag_ratio": "1.02",
            }
        },
        memory_stats={
            "peak.allocated": 800 * MiB,
            "keys.count": 1210,
            "dataset.percentage": 87.25,
            "fragmentation": 1.17,
            "db.0": {"overhead.hashtable.main": 2048},
        },
        slowlog=slowlog,
        slowlog_threshold_us=10_000,
        latency=(LatencyEvent("command", int(NOW) - 60, 250, 1200),),
        latency_threshold_ms=100,
        clients=ClientsSummary(
            total=45,
            by_name=(("web", 30), ("", 10), ("evil\x1b]0;t\x07", 5)),
            by_addr=(("10.0.0.9", 40), ("(unix socket)", 5)),
            idle_max=192,
            blocked=3,
            pubsub=2,
        ),
    )
    values.update(changes)
    return snapshot(**values)


def test_detail_sections_show_memory_keyspace_slowlog_latency_clients() -> None:
    snap = detail_snapshot()
    memory = render_plain(memory_section(snap))
    for expected in (
        "used_memory",
        "768.0 MiB",
        "maxmemory",
        "1.0 GiB",
        "used_memory_lua",
        "31.0 KiB",
        "jemalloc-5.3.0",
        "lazyfree_pending_objects",
        "peak.allocated",
        "800.0 MiB",
        "keys.count",
        "1,210",
        "87.2%",
        "db.0 overhead.hashtable.main",
        "2.0 KiB",
    ):
        assert expected in memory, expected
    assert "used_memory_human" not in memory  # the raw figure is shown once
    keyspace = render_plain(keyspace_section(snap))
    assert "1,210 keys in 2 db(s)" in keyspace
    assert "db0" in keyspace and "1,200" in keyspace and "300 (25%)" in keyspace
    assert "1m05s" in keyspace and "db3" in keyspace
    slow = render_plain(slowlog_section(snap), width=200)
    assert "3 latest · logs commands slower than 10.0 ms" in slow
    assert "12.3 ms" in slow and "850 µs" in slow and "2.50 s" in slow
    assert when(int(NOW) - 192) in slow and "10.0.0.9:5000 web" in slow
    assert 'GET "a b" ""' in slow  # argument boundaries stay visible
    latency = render_plain(latency_section(snap))
    assert "records events over 100 ms" in latency and "command" in latency
    assert "1,200" in latency and when(int(NOW) - 60) in latency
    clients = render_plain(clients_section(snap))
    assert "45 clients · longest idle 3m12s · 3 blocked · 2 pub/sub" in clients
    assert "(unnamed)" in clients and "evil␛]0;t␇" in clients and "(unix socket)" in clients
    replication = render_plain(replication_section(snap))
    assert "2 replica(s) · offset 1,000" in replication and "10.0.0.6:6379" in replication
    for text in (memory, keyspace, slow, latency, clients, replication):
        assert clean(text)


def test_detail_long_commands_are_truncated_and_hostile_args_inert() -> None:
    long = command_text((b"MSET", *[b"k" * 100] * 50))
    assert len(long.plain) == COMMAND_MAX and long.plain.endswith("…")
    hostile = command_text((b"SET", *HOSTILE_KEYS)).plain
    assert clean(hostile) and "\\xff\\xfe" in hostile and "<U+202E>" in hostile
    assert "␛[2J" in hostile and "␛]0;t␇" in hostile and "␍⏎" in hostile
    assert "[red]x[/] [/]" in hostile


def notes_snapshot() -> RedisSnapshot:
    return detail_snapshot(
        memory_stats=None,
        slowlog=None,
        slowlog_threshold_us=None,
        latency=None,
        clients=None,
        keyspace=(),
        notes={
            "memory_stats": "MEMORY STATS unavailable: unknown command (renamed or disabled)",
            "slowlog": "SLOWLOG unavailable: no permission (ACL)",
            "slowlog_threshold_us": "CONFIG unavailable: no permission (ACL)",
            "latency": "LATENCY unavailable: server is loading its dataset",
            "clients": "CLIENT LIST skipped: 9,000 clients (more than 5,000)",
            "something_new": "FUTURE unavailable: \x1b[2J[/]",
        },
    )


def test_detail_notes_replace_unavailable_sections() -> None:
    snap = notes_snapshot()
    text = render_plain(memory_section(snap))
    assert "MEMORY STATS unavailable: unknown command (renamed or disabled)" in text
    text = render_plain(slowlog_section(snap))
    assert "SLOWLOG unavailable: no permission (ACL)" in text
    assert "threshold unknown (CONFIG unavailable: no permission (ACL))" in text
    assert "server is loading" in render_plain(latency_section(snap))
    assert "9,000 clients" in render_plain(clients_section(snap))
    rest = render_plain(notes_section(snap))
    assert "something_new: FUTURE unavailable: ␛[2J[/]" in rest and "SLOWLOG" not in rest
    off = render_plain(latency_section(detail_snapshot(latency=(), latency_threshold_ms=0)))
    assert "monitor off (latency-monitor-threshold 0)" in off and "No events." in off


async def test_detail_view_scrolls_and_renders_hostile_text_inert() -> None:
    class DetailApp(App[None]):
        def compose(self) -> ComposeResult:
            yield RedisDetailView()

    app = DetailApp()
    async with app.run_test(size=(120, 30)) as pilot:
        view = app.query_one(RedisDetailView)
        assert "Waiting for the first poll" in screen_text(app)
        view.update_snapshot(detail_snapshot())
        await pilot.pause()
        assert view.snapshot is not None and view.virtual_size.height > 30
        view.scroll_end(animate=False)
        await pilot.pause()
        screenshot = app.export_screenshot()
        assert "\x1b" not in screenshot and "\u202e" not in screenshot
        text = screen_text(app)
        assert "[/]" in text and clean(text)  # shown literally, never parsed

        # A new poll with the same slowlog does not rebuild (or repaint) that section.
        slowlog = view.query_one(".redis-detail-section.-slowlog", Static)
        memory = view.query_one(".redis-detail-section.-memory", Static)
        drawn = slowlog.content, memory.content
        view.update_snapshot(detail_snapshot(used_memory=900 * MiB))
        await pilot.pause()
        assert slowlog.content is drawn[0] and memory.content is not drawn[1]

        # Notes shown in place of the sections on screen too (last lines included).
        view.update_snapshot(notes_snapshot())
        await pilot.pause()
        view.scroll_home(animate=False)
        await pilot.pause()
        text = " ".join(screen_text(app).split())
        for expected in (
            "MEMORY STATS unavailable: unknown command",
            "No keys in any db.",
            "SLOWLOG unavailable: no permission (ACL)",
            "LATENCY unavailable: server is loading its dataset",
            "CLIENT LIST skipped: 9,000 clients",
        ):
            assert expected in text, expected
        view.scroll_end(animate=False)
        await pilot.pause()
        assert "something_new: FUTURE unavailable: ␛[2J[/]" in screen_text(app)


# -- big keys --------------------------------------------------------------------------


def big_result(**changes: Any) -> BigKeysResult:
    largest = tuple(
        BigKey(name, kind, size)
        for name, kind, size in (
            (b"session:big", "hash", 64 * MiB),
            *[(k, "string", 1024 * (9 - i)) for i, k in enumerate(HOSTILE_KEYS)],
            (b"queue:jobs", "list", 512),
        )
    )
    values: dict[str, Any] = dict(
        db=2,
        largest=largest,
        prefixes=(PrefixStat(b"session:", 1_000, 80 * MiB), PrefixStat(b"", 20, 4096)),
        scanned=100_000,
        dbsize=2_000_000,
        complete=False,
        stopped_reason="key budget",
        elapsed=4.2,
    )
    values.update(changes)
    return BigKeysResult(**values)


class KeysApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.selected: list[bytes | None] = []

    def compose(self) -> ComposeResult:
        yield BigKeysView()

    def on_big_keys_view_selected(self, message: BigKeysView.Selected) -> None:
        self.selected.append(message.key)


async def test_big_keys_cursor_selection_and_summary() -> None:
    app = KeysApp()
    async with app.run_test(size=(160, 40)) as pilot:
        view = app.query_one(BigKeysView)
        assert view.has_class("-empty") and view.selected_key is None
        assert EMPTY_TEXT.format(key="g") in screen_text(app)
        assert "Press g to sample the biggest keys" in screen_text(app)
        view.update_result(big_result())
        view.focus_list()
        await pilot.pause()
        assert view.selected_key == b"session:big" and app.selected[-1] == b"session:big"
        assert view.selected_size == 64 * MiB
        await pilot.press("down", "down")
        await pilot.pause()
        assert view.selected_key == HOSTILE_KEYS[1] and app.selected[-1] == HOSTILE_KEYS[1]
        await pilot.press("up")
        await pilot.pause()
        assert view.selected_key == HOSTILE_KEYS[0]

        assert "\x1b" not in app.export_screenshot()
        screenshot = screen_text(app)
        for expected in (
            "db 2 · sampled 100,000 of 2,000,000 keys (5.0%) in 4.2s · stopped: key budget",
            "MEMORY USAGE",
            "not necessarily of the db",
            "session:big",
            "64.0 MiB",
            "session:",
            "80.0 MiB",
            NO_SEPARATOR,
            "clear␛[2Jkey",
            "\\xff\\xfe",
            "<U+202E>",
            "[red]x[/]",
        ):
            assert expected in screenshot, expected
        assert clean(screenshot)

        # A new sample keeps the cursor on the same key, wherever it moved in the list.
        reordered = big_result(largest=tuple(reversed(big_result().largest)), complete=True)
        view.update_result(reordered)
        await pilot.pause()
        assert view.selected_key == HOSTILE_KEYS[0]
        assert "scanned all 100,000 keys" in screen_text(app)
        view.forget_key(HOSTILE_KEYS[0])
        await pilot.pause()
        assert view.selected_key != HOSTILE_KEYS[0] and view.selected_key is not None
        assert len(view.result.largest if view.result else ()) == 9  # the result is untouched


async def test_big_keys_length_measure_and_empty_db() -> None:
    app = KeysApp()
    async with app.run_test(size=(90, 30)) as pilot:
        view = app.query_one(BigKeysView)
        view.update_result(big_result(measure="length", note="MEMORY unavailable: \x1b[2J"))
        await pilot.pause()
        assert view.has_class("-narrow")  # the lists stack on a narrow screen
        screenshot = " ".join(screen_text(app).split())  # the summary wraps when narrow
        assert "lengths (STRLEN bytes" in screenshot and "MEMORY unavailable: ␛[2J" in screenshot
        assert "512 items" in screenshot and "total length" in screenshot
        view.update_result(big_result(largest=(), prefixes=(), scanned=0, dbsize=0))
        await pilot.pause()
        assert view.selected_key is None and app.selected[-1] is None


# -- progress line ---------------------------------------------------------------------


async def test_progress_line_fraction_indeterminate_and_finish() -> None:
    class ProgressApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ProgressLine()

    app = ProgressApp()
    async with app.run_test(size=(120, 5)) as pilot:
        line = app.query_one(ProgressLine)
        assert line.phase == "idle" and not line.display  # takes no room until used
        line.update_progress("Sampling big keys in db 2", 0.5, "scanned 50,000 of 100,000")
        await pilot.pause()
        text = line.text
        assert text.startswith("Sampling big keys in db 2 ") and " 50%" in text
        assert "scanned 50,000 of 100,000" in text and text.endswith(HINT)
        assert text.count("█") == 12 and line.running and line.display

        positions = []
        for i in range(3):
            line.update_progress("Clearing \x1b[2J[/]", None, f"deleted {i:,} · scanned 40,000")
            positions.append(line.text.index("█"))
        assert positions == sorted(set(positions))  # the block moves once per update
        assert line.fraction is None and "%" not in line.text and "␛[2J[/]" in line.text
        await pilot.pause()
        assert "\x1b[2J" not in app.export_screenshot()

        await pilot.resize_terminal(40, 5)
        await pilot.pause()
        narrow = line.text
        assert narrow.endswith(HINT) and "█" in narrow  # the detail gives way first

        line.finish("Deleted 12,345 keys matching session:* in db 2 (cancelled)")
        await pilot.pause()
        assert line.phase == "done" and not line.running and line.has_class("-done")
        assert line.text.startswith("Deleted 12,345 keys") and HINT not in line.text
        line.finish("connection lost", failed=True)
        assert line.has_class("-failed") and not line.has_class("-done")
        line.reset()
        assert line.phase == "idle" and line.has_class("-idle")
        await pilot.pause()
        assert not line.display


# -- sizes, and import hygiene ---------------------------------------------------------


async def test_all_redis_widgets_render_at_80x24_and_200x50() -> None:
    class AllApp(App[None]):
        CSS = "RedisDetailView { height: 12; } BigKeysView { height: 12; }"

        def compose(self) -> ComposeResult:
            yield ProgressLine()
            yield RedisSummaryPane("cache", clock=lambda: NOW)
            yield RedisDetailView()
            yield BigKeysView()

    app = AllApp()
    async with app.run_test(size=(80, 24)) as pilot:
        app.query_one(RedisSummaryPane).update_state(state_of(detail_snapshot()))
        app.query_one(RedisDetailView).update_snapshot(detail_snapshot())
        app.query_one(BigKeysView).update_result(big_result())
        app.query_one(ProgressLine).update_progress("Clearing", 0.25, "deleted 1 · scanned 2")
        for size in ((80, 24), (200, 50), (40, 10), (20, 5), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            screenshot = app.export_screenshot()
            assert "\x1b" not in screenshot and "\u202e" not in screenshot
            assert clean(screen_text(app))
        assert "memory 768.0 MiB" in app.query_one(RedisSummaryPane).body_text().plain


def test_widgets_do_not_import_the_driver() -> None:
    import subprocess

    code = (
        "import sys, widgets.redis_summary, widgets.redis_detail, widgets.big_keys, "
        "widgets.progress_line; print(any(m == 'redis' or m.startswith('redis.') "
        "for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
