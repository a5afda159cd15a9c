"""The Redis screen through Pilot, against throwaway redis-server processes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from textual.widgets import Input

from console.app import OpsConsoleApp
from console.config import load_config
from screens.confirm import ConfirmScreen
from screens.prompt import PromptScreen
from screens.redis import RedisScreen
from tests.pg_situations import wait_until
from tests.redis_situations import Server
from widgets.big_keys import BigKeysView
from widgets.redis_summary import RedisSummaryPane

pytest_plugins = ("tests.redis_situations",)


def redis_app(
    tmp_path: Path, server: Server, instance: dict[str, object] | None = None, **target: object
) -> OpsConsoleApp:
    cfg = tmp_path / "config.yaml"
    settings = {"name": "cache", "url": server.url, **(instance or {})}
    cfg.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"t": {"redis": [settings], **target}},
            }
        )
    )
    return OpsConsoleApp(load_config(cfg), "t")


async def fill(server: Server, db: int, prefix: bytes, count: int) -> None:
    client = server.raw(db)
    pipe = client.pipeline(transaction=False)
    names = [prefix + str(i).encode() for i in range(count)]
    for i in range(0, count, 1000):
        pipe.mset(dict.fromkeys(names[i : i + 1000], b"v"))
    await pipe.execute()
    await client.aclose()


async def count(server: Server, db: int, match: bytes = b"*") -> int:
    client = server.raw(db)
    n = 0
    async for _ in client.scan_iter(match=match, count=1000):
        n += 1
    await client.aclose()
    return n


async def ready(app: OpsConsoleApp) -> None:
    await wait_until(
        lambda: app.states.get("redis:cache") and app.states["redis:cache"].snapshot,
        what="a first Redis snapshot",
    )


async def open_prompt(app: OpsConsoleApp, pilot, key: str, *answers: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press(key)
    await wait_until(lambda: isinstance(app.screen, PromptScreen), what="the prompt")
    for answer in answers:
        await pilot.press("ctrl+a", "ctrl+k", *answer, "enter")


async def test_dashboard_pane_matches_info(tmp_path, throwaway: Callable[..., Server]) -> None:
    server = throwaway("maxmemory 64mb", "maxmemory-policy allkeys-lru")
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(160, 50)):
        await ready(app)
        client = server.raw()
        info = await client.info("memory")
        await client.aclose()
        snapshot = app.states["redis:cache"].snapshot
        assert snapshot.maxmemory == info["maxmemory"] == 64 * 1024 * 1024
        assert snapshot.maxmemory_policy == "allkeys-lru"
        text = app.screen.query_one(RedisSummaryPane).body_text().plain
        assert "allkeys-lru" in text and "64.0 MiB" in text, text


async def test_clear_by_pattern_touches_only_the_pattern_and_db(
    tmp_path, throwaway: Callable[..., Server]
) -> None:
    server = throwaway()
    await fill(server, 2, b"session:", 10_000)
    await fill(server, 2, b"user:", 500)
    await fill(server, 3, b"session:", 300)
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await wait_until(lambda: isinstance(app.screen, RedisScreen), what="the Redis screen")
        await open_prompt(app, pilot, "x", "2", "session:*")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, timeout=60, what="the clear")
        record = app.audit.recent()[0]
        assert record.outcome == "succeeded" and record.action == "redis.clear", record
        assert record.params["matching"] == 10_000 and record.params["db"] == 2
        assert "deleted 10,000 keys" in (record.result or "")
    assert await count(server, 2, b"session:*") == 0
    assert await count(server, 2, b"user:*") == 500
    assert await count(server, 3, b"session:*") == 300


async def test_flush_needs_the_typed_confirmation(tmp_path, throwaway) -> None:
    server = throwaway()
    await fill(server, 2, b"k:", 100)
    await fill(server, 3, b"k:", 100)
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "F", "2")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y", "enter")  # neither y nor Enter confirms a flush
        await pilot.pause()
        if isinstance(app.screen, ConfirmScreen):
            await pilot.press("escape")
        await wait_until(lambda: not app.action_running, what="the cancellation")
        assert app.audit.recent()[0].outcome == "cancelled"
        assert await count(server, 2) == 100

        await open_prompt(app, pilot, "F", "2")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press(*"t/2", "enter")
        await wait_until(lambda: not app.action_running, what="the flush")
        assert app.audit.recent()[0].outcome == "succeeded"
    assert await count(server, 2) == 0
    assert await count(server, 3) == 100


async def test_bare_star_is_a_flush_and_read_only_refuses(tmp_path, throwaway) -> None:
    server = throwaway()
    await fill(server, 2, b"k:", 50)
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "x", "2", "*")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert app.screen.plan.confirm_token == "t/2"  # flush-level: typed
        await pilot.press("escape")
        await wait_until(lambda: not app.action_running, what="the cancellation")
    assert await count(server, 2) == 50

    assert await count(server, 2) == 50


async def test_read_only_refuses_clear_and_flush_before_asking(tmp_path, throwaway) -> None:
    server = throwaway()
    await fill(server, 2, b"k:", 50)
    app = redis_app(tmp_path, server, {"db": 2}, read_only=True)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await wait_until(lambda: isinstance(app.screen, RedisScreen), what="the Redis screen")
        for key, action, preview in (
            ("x", "redis.clear", "(db 2)"),
            ("F", "redis.flushdb", "FLUSHDB ASYNC (db 2)"),
        ):
            before = len(app.audit.recent())
            await pilot.press(key)
            await wait_until(
                lambda before=before: len(app.audit.recent()) > before, what="the refusal"
            )
            await wait_until(lambda: not app.action_running, what="the flow to end")
            await pilot.pause()
            # Refused at once: no db or pattern asked for, no dialog.
            assert isinstance(app.screen, RedisScreen), app.screen
            record = app.audit.recent()[0]
            assert (record.action, record.outcome) == (action, "refused-read-only"), record
            assert record.params["db"] == 2 and preview in record.preview, record
        assert not app.internal_errors
    assert await count(server, 2) == 50


@pytest.mark.parametrize("form", ["url", "db"])
async def test_prompts_default_to_the_instances_own_db(tmp_path, throwaway, form) -> None:
    """On a shared Redis, db 0 is someone else's: `g`, `x` and `F` start at the db of the
    instance's URL (or its `db:`), and Enter on `F` previews that db."""
    server = throwaway()
    await fill(server, 9, b"mine:", 30)
    await fill(server, 0, b"theirs:", 30)
    instance = {"url": server.url + "/9"} if form == "url" else {"db": 9}
    app = redis_app(tmp_path, server, instance)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await wait_until(lambda: isinstance(app.screen, RedisScreen), what="the screen")
        for key in ("g", "x", "F"):
            await pilot.press(key)
            await wait_until(lambda: isinstance(app.screen, PromptScreen), what="the prompt")
            assert app.screen.query_one("#prompt-0", Input).value == "9", key
            await pilot.press("escape")
            await wait_until(lambda: isinstance(app.screen, RedisScreen), what="closed")
        await pilot.press("F")
        await wait_until(lambda: isinstance(app.screen, PromptScreen), what="the prompt")
        await pilot.press("enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the flush dialog",
        )
        assert dialog.plan.preview == "FLUSHDB ASYNC (db 9)"
        assert dialog.plan.confirm_token == "t/9"
        await pilot.press("escape")
        await wait_until(lambda: not app.action_running, what="the cancellation")
        # The big-keys sample, also from its default, samples db 9.
        await pilot.press("g")
        await wait_until(lambda: isinstance(app.screen, PromptScreen), what="the prompt")
        await pilot.press("enter")
        view = app.screen.query_one(BigKeysView)
        await wait_until(lambda: view.result is not None, what="the sample")
        assert view.result.db == 9 and app.screen.big_keys_db == 9
        assert view.result.scanned == 30
        assert all(k.name.startswith(b"mine:") for k in view.result.largest)
    assert await count(server, 0) == 30 and await count(server, 9) == 30


async def test_cancel_mid_clear_reports_an_honest_count(tmp_path, throwaway) -> None:
    server = throwaway()
    await fill(server, 2, b"big:", 200_000)
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(160, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "x", "2", "big:*")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), what="the start")
        await pilot.pause(0.5)
        await pilot.press("ctrl+c")
        await wait_until(lambda: not app.action_running, timeout=10, what="the stop")
        record = app.audit.recent()[0]
        # Stopped on purpose: cancelled, with the exact count of what was done.
        assert record.outcome == "cancelled" and "cancelled" in (record.error or ""), record
        deleted = int(record.error.split("deleted ")[1].split(" keys")[0].replace(",", ""))
    remaining = await count(server, 2, b"big:*")
    assert 0 < deleted < 200_000
    assert deleted + remaining == 200_000


async def test_restart_mid_run_recovers(tmp_path, throwaway) -> None:
    server = throwaway()
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(app)
        await pilot.press("3")
        server.kill()
        await wait_until(lambda: app.states["redis:cache"].error is not None, what="the outage")
        assert app.states["redis:cache"].snapshot is not None  # last data kept
        server.start()
        await wait_until(
            lambda: app.states["redis:cache"].error is None, timeout=5, what="recovery"
        )
        assert app.is_running and not app.internal_errors


async def test_hostile_key_names_render_inert(tmp_path, throwaway) -> None:
    server = throwaway()
    client = server.raw(2)
    for name in (b"\x1b]0;pwned\x07", b"\x1b[2J[red]x[/]", b"a\r\nb\xff", "\u202eevil".encode()):
        await client.set(name, b"x" * 5000)
    await client.aclose()
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "g", "2")
        view = app.screen.query_one(BigKeysView)
        await wait_until(lambda: view.result is not None, what="the big-keys sample")
        await pilot.pause()
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "\u202e" not in svg and "\x07" not in svg
        assert "␛" in svg
        assert not app.internal_errors


async def test_delete_one_big_key(tmp_path, throwaway) -> None:
    server = throwaway()
    client = server.raw(2)
    await client.set(b"huge:1", b"x" * 200_000)
    await client.set(b"small:1", b"x")
    await client.aclose()
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "g", "2")
        view = app.screen.query_one(BigKeysView)
        await wait_until(lambda: view.selected_key == b"huge:1", what="the biggest key")
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the delete")
        record = app.audit.recent()[0]
        assert record.action == "redis.delete" and record.outcome == "succeeded", record
    assert await count(server, 2, b"huge:*") == 0
    assert await count(server, 2, b"small:*") == 1


async def test_big_keys_of_one_instance_are_never_deleted_on_another(tmp_path, throwaway) -> None:
    # `n` moves to the next instance: a key of the same name there is another key.
    server = throwaway()
    for db in (2, 3):
        client = server.raw(db)
        await client.set(b"huge:1", b"x" * 200_000)
        await client.aclose()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "t": {
                        "redis": [
                            {"name": "cache", "url": server.url, "db": 2},
                            {"name": "other", "url": server.url, "db": 3},
                        ]
                    }
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(cfg), "t")
    notes: list[str] = []
    async with app.run_test(size=(200, 50)) as pilot:
        original = app.notify

        def record(message: str, **kwargs: object) -> None:
            notes.append(message)
            original(message, **kwargs)  # type: ignore[arg-type]

        app.notify = record  # type: ignore[method-assign]
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "g", "2")
        view = app.screen.query_one(BigKeysView)
        await wait_until(lambda: view.selected_key == b"huge:1", what="the biggest key")
        await pilot.press("n")
        await pilot.pause()
        assert view.selected_key is None  # the other instance's sample is not shown here
        await pilot.press("d")
        await pilot.pause(0.3)
        assert not isinstance(app.screen, ConfirmScreen)
        assert any("Sample the big keys" in n or "not sampled" in n for n in notes), notes
    assert await count(server, 2, b"huge:*") == 1 and await count(server, 3, b"huge:*") == 1


async def test_a_sample_that_never_came_back_does_not_move_d_to_its_db(tmp_path, throwaway) -> None:
    # Keys of db 2 shown; `g` for db 3 refused (another action runs): `d` must still act
    # on db 2, where the key shown lives, never on a same-named key of db 3.
    server = throwaway()
    for db, value in ((2, b"x" * 200_000), (3, b"precious")):
        client = server.raw(db)
        await client.set(b"huge:1", value)
        await client.aclose()
    app = redis_app(tmp_path, server)
    async with app.run_test(size=(200, 50)) as pilot:
        await ready(app)
        await pilot.press("3")
        await open_prompt(app, pilot, "g", "2")
        view = app.screen.query_one(BigKeysView)
        await wait_until(lambda: view.selected_key == b"huge:1", what="the biggest key")
        await wait_until(lambda: not app.action_running, what="the sample's end")
        release = asyncio.Event()

        async def another_action() -> None:
            await release.wait()

        assert app.start_action(another_action(), "busy")
        await open_prompt(app, pilot, "g", "3")  # refused: another action runs
        await pilot.pause(0.2)
        release.set()
        await wait_until(lambda: not app.action_running, what="the other action's end")
        await pilot.press("d")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        assert "db 2" in app.screen.plan.title, app.screen.plan.title
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the delete")
    assert await count(server, 2, b"huge:*") == 0 and await count(server, 3, b"huge:*") == 1
