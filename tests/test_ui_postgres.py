"""The Postgres screen through Pilot, against real sessions on the real server."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator

import asyncpg
import pytest

from screens.confirm import ConfirmScreen
from tests.pg_situations import (
    Situation,
    fan_out,
    hostile_query,
    lock_chain,
    long_query,
    sessions,
    wait_until,
)
from tests.ui_helpers import make_app, snapshot_pids
from widgets.activity_table import ActivityTable
from widgets.blocking_tree import BlockingTreeView


async def _server_state(dsn: str, pids: list[int]) -> dict[int, asyncpg.Record]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT pid, state, wait_event_type FROM pg_stat_activity WHERE pid = ANY($1)", pids
        )
    finally:
        await conn.close()
    return {r["pid"]: r for r in rows}


async def _open_postgres_screen(app, pilot, pid: int) -> ActivityTable:  # type: ignore[no-untyped-def]
    await pilot.press("2")
    await wait_until(lambda: pid in snapshot_pids(app), what=f"pid {pid} in the snapshot")
    table = app.screen.query_one(ActivityTable)
    await wait_until(lambda: table.select_pid(pid), what=f"pid {pid} in the table")
    return table


async def test_terminate_root_blocker_releases_waiters(tmp_path, pg_dsn) -> None:
    async with fan_out(pg_dsn, n=3) as fan:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(200, 50)) as pilot:
            table = await _open_postgres_screen(app, pilot, fan.root)
            assert table.selected_pid == fan.root
            await pilot.press("K")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            # Terminating a blocker is high risk: Enter alone must not confirm it.
            await pilot.press("enter")
            await wait_until(lambda: not app.action_running, what="the action to end")
            assert app.audit.recent()[0].outcome == "cancelled"
            assert fan.root in (await _server_state(pg_dsn, [fan.root]))

            await pilot.press("K")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            await pilot.press(*str(fan.root), "enter")
            await wait_until(lambda: not app.action_running, what="the action to end")
            record = app.audit.recent()[0]
            assert record.outcome == "succeeded", record
            assert record.action == "pg.terminate" and record.params["pid"] == fan.root
            assert record.params["waiters"] == 3
            assert record.preview == f"SELECT pg_terminate_backend({fan.root})"

            async def released() -> bool:
                rows = await _server_state(pg_dsn, list(fan.pids))
                return fan.root not in rows and all(
                    rows[w]["wait_event_type"] != "Lock" for w in fan.waiters if w in rows
                )

            await wait_until(released, what="the waiters to proceed")
            assert not app.internal_errors


async def test_escape_at_the_dialog_does_nothing(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_postgres_screen(app, pilot, sleeper.root)
            await pilot.press("c")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            await pilot.press("escape")
            await wait_until(lambda: not app.action_running, what="the action to end")
            record = app.audit.recent()[0]
            assert record.outcome == "cancelled" and record.action == "pg.cancel"
            rows = await _server_state(pg_dsn, [sleeper.root])
            assert rows[sleeper.root]["state"] == "active"  # still sleeping


async def test_cancel_with_y_stops_the_query(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_postgres_screen(app, pilot, sleeper.root)
            await pilot.press("c")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            await pilot.press("y")
            await wait_until(lambda: not app.action_running, what="the action to end")
            assert app.audit.recent()[0].outcome == "succeeded"

            async def cancelled() -> bool:
                rows = await _server_state(pg_dsn, [sleeper.root])
                return rows[sleeper.root]["state"] != "active"

            await wait_until(cancelled, what="the query to be cancelled")


async def test_read_only_refuses_and_hides_action_keys(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn, read_only=True)
        async with app.run_test(size=(200, 40)) as pilot:
            await _open_postgres_screen(app, pilot, sleeper.root)
            shown = {b.binding.key for b in app.screen.active_bindings.values() if b.binding.show}
            assert "K" not in shown and "c" not in shown
            for key in ("K", "c"):
                await pilot.press(key)
                await wait_until(lambda: not app.action_running, what="the refusal")
                assert not isinstance(app.screen, ConfirmScreen)
            outcomes = [r.outcome for r in app.audit.recent()]
            assert outcomes == ["refused-read-only", "refused-read-only"]
            assert app.header_info.read_only
            rows = await _server_state(pg_dsn, [sleeper.root])
            assert rows[sleeper.root]["state"] == "active"


async def test_actions_on_an_ended_session_say_it_ended(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(200, 40)) as pilot:
            table = await _open_postgres_screen(app, pilot, sleeper.root)
            conn = await asyncpg.connect(pg_dsn)
            try:
                await conn.execute("SELECT pg_terminate_backend($1)", sleeper.root)
            finally:
                await conn.close()
            await wait_until(lambda: table.selected_gone, what="the row marked gone")
            assert table.selected_pid == sleeper.root
            status = str(app.screen.query_one("#pg-status").render())
            assert re.search(r"\d+ sessions?, \d+ shown, \+\d+ ended", status), status
            for key in ("K", "c", "enter"):
                app._notifications.clear()
                await pilot.press(key)
                await pilot.pause()
                assert not isinstance(app.screen, ConfirmScreen) and not app.action_running
                messages = [n.message for n in app._notifications]
                assert messages == [
                    f"That backend ended: pid {sleeper.root} is gone. Nothing to act on."
                ], (key, messages)
            assert app.audit.recent() == [] and not app.internal_errors


async def test_recheck_refuses_a_backend_that_ended(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_postgres_screen(app, pilot, sleeper.root)
            await pilot.press("c")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            # While the dialog is open, the session goes away.
            conn = await asyncpg.connect(pg_dsn)
            try:
                await conn.execute("SELECT pg_terminate_backend($1)", sleeper.root)
            finally:
                await conn.close()
            await wait_until(lambda: sleeper.root not in snapshot_pids(app) or True, what="the end")
            await pilot.press("y")
            await wait_until(lambda: not app.action_running, what="the action to end")
            record = app.audit.recent()[0]
            assert record.outcome == "refused-recheck"
            assert str(sleeper.root) in (record.error or "")


async def test_production_target_starts_disarmed(tmp_path, pg_dsn) -> None:
    async with long_query(pg_dsn) as sleeper:
        app = make_app(tmp_path, pg_dsn, production=True)
        async with app.run_test(size=(120, 40)) as pilot:
            await _open_postgres_screen(app, pilot, sleeper.root)
            await pilot.press("c")
            await wait_until(lambda: not app.action_running, what="the refusal")
            assert app.audit.recent()[0].outcome == "refused-disarmed"
            await pilot.press("W")
            await pilot.pause()
            await pilot.press(*"incident 42", "enter")
            await wait_until(lambda: app.arm_state.is_armed(app.clock()), what="arming")
            await wait_until(lambda: app.audit.recent()[0].outcome == "armed", what="audit")
            assert app.audit.recent()[0].reason == "incident 42"
            await pilot.press("c")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            await pilot.press("y")  # production: y is not enough, the pid must be typed
            await pilot.pause()
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("backspace", *str(sleeper.root), "enter")
            await wait_until(lambda: not app.action_running, what="the action to end")
            assert app.audit.recent()[0].outcome == "succeeded"


async def test_blocking_tree_and_jump_to_root(tmp_path, pg_dsn) -> None:
    async with lock_chain(pg_dsn, depth=4) as chain:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(200, 50)) as pilot:
            table = await _open_postgres_screen(app, pilot, chain.pids[-1])
            tree = app.screen.query_one(BlockingTreeView)

            def tree_has_chain() -> bool:
                lines = [tree.line_text(i) for i in range(tree.line_count)]
                return all(any(str(p) in line for line in lines) for p in chain.pids)

            await wait_until(tree_has_chain, what="the chain in the tree")
            assert table.select_pid(chain.pids[-1])
            await pilot.press("b")
            await pilot.pause()
            assert table.selected_pid == chain.root


@contextlib.asynccontextmanager
async def behind_a_queued_alter(dsn: str) -> AsyncIterator[Situation]:
    """(holder, alter, writer): the holder keeps a SHARE lock on a table, the ALTER-like
    ACCESS EXCLUSIVE request queues behind it, and an UPDATE waits behind both:
    pg_blocking_pids(writer) = {holder, alter}, and alter itself waits on holder."""
    async with sessions(dsn, "queued") as s:
        table = await s.table(1)
        holder, alter, writer = await s.open(3)
        pids = [c.get_server_pid() for c in (holder, alter, writer)]
        await holder.execute(f"BEGIN; LOCK TABLE {table} IN SHARE MODE")
        s.background(alter, f"BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        await s.wait_state([pids[1]], lambda r: r["wait_event_type"] == "Lock", "the ALTER queued")
        s.background(writer, f"UPDATE {table} SET v = v + 1")
        await s.wait_state(
            [pids[2]],
            lambda r: set(r["blocked_by"]) == {pids[0], pids[1]},
            "the UPDATE blocked by both",
        )
        yield Situation(s.tag, tuple(pids), table)


async def test_a_waiter_names_the_blocker_it_is_not_shown_under(tmp_path, pg_dsn) -> None:
    async with behind_a_queued_alter(pg_dsn) as situation:
        holder, alter, writer = situation.pids
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=(200, 50)) as pilot:
            await _open_postgres_screen(app, pilot, writer)
            tree = app.screen.query_one(BlockingTreeView)

            def writer_lines() -> list[str]:
                lines = [tree.line_text(i) for i in range(tree.line_count)]
                return [ln for ln in lines if ln.lstrip(" │├└─").startswith(f"{writer} ")]

            await wait_until(lambda: writer_lines() and tree.line_count >= 3, what="the tree")
            root = next(
                n for n in app.states["postgres"].snapshot.blocking if n.backend.pid == holder
            )
            assert sorted(w.backend.pid for w in root.waiters) == sorted([alter, writer])
            lines = writer_lines()
            # Shown under the holder only: it must say that 590-like `alter` holds it up too.
            assert len(lines) == 1 and f"also blocked by {alter}" in lines[0], lines
            assert not app.internal_errors


async def test_monitor_connection_killed_recovers(tmp_path, pg_dsn) -> None:
    app = make_app(tmp_path, pg_dsn, refresh=0.5)
    async with app.run_test(size=(120, 40)):
        await wait_until(
            lambda: app.states.get("postgres") and app.states["postgres"].snapshot,
            what="a first snapshot",
        )
        own = set(app.pg.monitor().own_pids)
        conn = await asyncpg.connect(pg_dsn)
        try:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) pid", list(own)
            )
        finally:
            await conn.close()
        await wait_until(lambda: app.states["postgres"].error is not None, what="the failure")
        stale = app.states["postgres"]
        assert stale.snapshot is not None  # the last data is kept
        await wait_until(
            lambda: app.states["postgres"].error is None,
            timeout=5,
            what="recovery within two refresh intervals",
        )
        assert not app.internal_errors


async def test_unreachable_server_shows_why_and_keeps_running(tmp_path) -> None:
    app = make_app(tmp_path, "postgresql://postgres@127.0.0.1:9/postgres", refresh=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            lambda: app.states.get("postgres") and app.states["postgres"].error, what="the failure"
        )
        state = app.states["postgres"]
        assert state.error.kind == "unreachable"
        await pilot.press("2")
        await pilot.pause()
        from widgets.freshness import Freshness

        text = app.screen.query_one(Freshness).text
        assert "refused" in text.lower() or "unreachable" in text.lower(), text
        assert app.is_running


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_hostile_query_renders_inert(tmp_path, pg_dsn, size) -> None:
    async with hostile_query(pg_dsn) as bad:
        app = make_app(tmp_path, pg_dsn)
        async with app.run_test(size=size) as pilot:
            await _open_postgres_screen(app, pilot, bad.root)
            await pilot.pause()
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\u202e" not in svg and "\x07" not in svg
            await pilot.press("enter")  # the detail view shows the whole query
            await pilot.pause(0.5)
            svg = app.export_screenshot()
            assert "\x1b" not in svg and "\u202e" not in svg
            if size == (200, 50):  # at 80x24 the query is below the fold
                assert "␛" in svg and "&lt;U+202E&gt;" in svg  # shown, visibly
                plain = svg.replace("&#160;", " ").replace("&#91;", "[").replace("&#93;", "]")
                assert "[/]" in plain and "[red]x[/]" in plain  # markup shown, not parsed
            assert not app.internal_errors


async def test_hanging_server_never_freezes_the_ui(tmp_path, pg_dsn) -> None:
    from tests.pg_situations import freezable_proxy

    async with freezable_proxy() as proxy:
        dsn = f"postgresql://postgres@127.0.0.1:{proxy.port}/postgres"
        app = make_app(tmp_path, dsn, refresh=0.5)
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_until(
                lambda: app.states.get("postgres") and app.states["postgres"].snapshot,
                what="a first snapshot",
            )
            proxy.freeze()  # the server stops answering mid-conversation
            await wait_until(lambda: app.states["postgres"].error is not None, what="the timeout")
            assert app.states["postgres"].error.kind in ("timeout", "unreachable")
            # The UI answers keys while the poll hangs.
            for key in ("2", "6", "1"):
                await pilot.press(key)
                await pilot.pause()
            assert app.current_mode == "dashboard"
            proxy.thaw()
            await wait_until(
                lambda: app.states["postgres"].error is None, timeout=15, what="recovery"
            )
