"""The Docker action flows through the real app (its Docker source, the confirm dialog,
the audit log) against real containers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.docker.rollback_run import RESTORED_MESSAGE
from console.app import OpsConsoleApp
from console.config import load_config
from console.docker_actions import INTERRUPT_MESSAGE
from console.docker_flows import (
    _on_loop,
    restart_flow,
    rollback_flow,
    start_rollback,
)
from tests.docker_situations import APP_V1, APP_V2, BASE_IMAGE

pytest_plugins = ("tests.docker_situations",)

pytestmark = pytest.mark.timeout(120)


def make_app(
    tmp_path: Path, prefix: str, docker: dict[str, Any] | None = None, **target: Any
) -> OpsConsoleApp:
    data = {
        "refresh": 0.5,
        "audit_log": str(tmp_path / "audit.jsonl"),
        "log_file": str(tmp_path / "console.log"),
        "targets": {
            "t": {
                "docker": {
                    "hosts": [{"name": "local"}],
                    "name_patterns": [f"{prefix}*"],
                    **(docker or {}),
                },
                **target,
            }
        },
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return OpsConsoleApp(load_config(path), "t")


def audit(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "audit.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def until(check: Any, pilot: Any, timeout: float = 15.0, what: str = "state") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


async def key_of(app: OpsConsoleApp, pilot: Any, container: Any) -> str:
    def listed() -> bool:
        snap = app.docker.last() if app.docker else None
        return snap is not None and any(c.id == container.id for c in snap.containers)

    await until(listed, pilot, what="the container in the snapshot")
    return f"local/{container.id}"


def confirm_open(app: OpsConsoleApp) -> bool:
    return type(app.screen).__name__ == "ConfirmScreen"


def action_done(app: OpsConsoleApp) -> bool:
    return not app.action_running


async def test_restart_flow_confirmed_with_y(containers: Any, tmp_path: Path) -> None:
    c = containers.run(APP_V1)
    c.reload()
    started = c.attrs["State"]["StartedAt"]
    assert not started.startswith("0001")
    app = make_app(tmp_path, containers.prefix)
    async with app.run_test() as pilot:
        key = await key_of(app, pilot, c)
        app.start_action(restart_flow(app, key), "docker.restart")
        await until(lambda: confirm_open(app), pilot, what="the confirm dialog")
        await pilot.press("y")
        await until(lambda: action_done(app), pilot, timeout=30, what="the restart")
    c.reload()
    assert c.attrs["State"]["StartedAt"] != started
    (line,) = audit(tmp_path)
    assert (line["action"], line["outcome"]) == ("docker.restart", "succeeded")


async def test_container_removed_while_the_dialog_is_open(containers: Any, tmp_path: Path) -> None:
    c = containers.run(APP_V1)
    app = make_app(tmp_path, containers.prefix)
    async with app.run_test() as pilot:
        key = await key_of(app, pilot, c)
        app.start_action(restart_flow(app, key), "docker.restart")
        await until(lambda: confirm_open(app), pilot, what="the confirm dialog")
        await asyncio.to_thread(c.remove, force=True)
        await pilot.press("y")
        await until(lambda: action_done(app), pilot, timeout=30, what="the refusal")
    (line,) = audit(tmp_path)
    assert line["outcome"] == "refused-recheck" and "no longer exists" in line["error"]


async def test_read_only_restart_is_refused_and_audited(containers: Any, tmp_path: Path) -> None:
    c = containers.run(APP_V1)
    c.reload()
    started = c.attrs["State"]["StartedAt"]
    assert not started.startswith("0001")
    app = make_app(tmp_path, containers.prefix, read_only=True)
    async with app.run_test() as pilot:
        key = await key_of(app, pilot, c)
        app.start_action(restart_flow(app, key), "docker.restart")
        await until(lambda: action_done(app), pilot, what="the refusal")
        assert not confirm_open(app)
    c.reload()
    assert c.attrs["State"]["StartedAt"] == started
    (line,) = audit(tmp_path)
    assert line["outcome"] == "refused-read-only"


async def test_rollback_without_previous_image_is_refused_before_any_dialog(
    containers: Any, tmp_path: Path
) -> None:
    c = containers.run(BASE_IMAGE, ["sleep", "600"])
    app = make_app(tmp_path, containers.prefix)
    notes: list[str] = []
    async with app.run_test() as pilot:
        original = app.notify

        def record(message: str, **kwargs: Any) -> None:
            notes.append(message)
            original(message, **kwargs)

        app.notify = record  # type: ignore[method-assign]
        key = await key_of(app, pilot, c)
        app.start_action(rollback_flow(app, key), "docker.rollback")
        await until(lambda: action_done(app), pilot, what="the refusal")
        assert not confirm_open(app)
    assert any("no earlier image of opsc-test/base" in n for n in notes), notes
    assert audit(tmp_path) == []
    assert c.status in ("running", "created")


async def test_ctrl_c_during_a_rollback_restores_the_old_container(
    containers: Any, docker_client: Any, tmp_path: Path
) -> None:
    # No health check: the new app:2 container is waited on for the whole rollback_wait.
    c = containers.run(APP_V1, healthcheck={"test": ["NONE"]})
    app = make_app(
        tmp_path,
        containers.prefix,
        docker={"rollback_wait": 60, "rollback_images": {c.name: APP_V2}},
    )
    notes: list[str] = []
    try:
        async with app.run_test() as pilot:
            original = app.notify

            def record(message: str, **kwargs: Any) -> None:
                notes.append(message)
                original(message, **kwargs)

            app.notify = record  # type: ignore[method-assign]
            key = await key_of(app, pilot, c)
            assert start_rollback(app, key)
            assert app.action_cancel is not None  # ctrl+c sets it, never cancels halfway
            await until(lambda: confirm_open(app), pilot, what="the confirm dialog")
            await pilot.press(*c.name, "enter")

            def new_one_runs() -> bool:
                found = docker_client.containers.list(filters={"name": c.name})
                return any(x.id != c.id and x.name == c.name for x in found)

            await until(new_one_runs, pilot, timeout=30, what="the new container")
            await pilot.press("ctrl+c")
            # A second ctrl+c (by reflex) must not abandon the restore halfway either.
            await pilot.press("ctrl+c")
            assert app.action_running
            await until(lambda: action_done(app), pilot, timeout=60, what="the restore")
    finally:
        for x in docker_client.containers.list(all=True, filters={"name": containers.prefix}):
            if x.id != c.id:
                x.remove(force=True)
    assert INTERRUPT_MESSAGE in notes
    assert any("cannot be interrupted halfway" in n for n in notes)
    restored = docker_client.api.inspect_container(c.id)
    assert restored["Name"] == "/" + c.name and restored["State"]["Running"]
    (line,) = audit(tmp_path)
    assert (line["action"], line["outcome"]) == ("docker.rollback", "failed")
    assert line["error"].startswith(RESTORED_MESSAGE) and "stopped by the operator" in line["error"]
    assert line["execution"]["interrupted"] is True


@pytest.mark.parametrize("quit_key", ["q", "ctrl+q"])
async def test_quitting_during_a_rollback_stops_it_restores_then_exits(
    containers: Any, docker_client: Any, tmp_path: Path, quit_key: str
) -> None:
    # Quitting must neither kill the rollback halfway (its work runs on a thread of the
    # console's process) nor hang: it is stopped like ctrl+c, puts the old container
    # back, the real outcome is audited, then the console exits.
    c = containers.run(APP_V1, healthcheck={"test": ["NONE"]})
    app = make_app(
        tmp_path,
        containers.prefix,
        docker={"rollback_wait": 60, "rollback_images": {c.name: APP_V2}},
    )
    started = time.monotonic()
    try:
        async with app.run_test() as pilot:
            key = await key_of(app, pilot, c)
            assert start_rollback(app, key)
            await until(lambda: confirm_open(app), pilot, what="the confirm dialog")
            await pilot.press(*c.name, "enter")

            def new_one_runs() -> bool:
                found = docker_client.containers.list(filters={"name": c.name})
                return any(x.id != c.id and x.name == c.name for x in found)

            await until(new_one_runs, pilot, timeout=30, what="the new container")
            await pilot.press(quit_key)
            await until(
                lambda: type(app.screen).__name__ == "QuestionScreen", pilot, what="the question"
            )
            assert app.is_running and app.action_running
            await pilot.press("y")
            deadline = time.monotonic() + 60
            while app.is_running:
                assert time.monotonic() < deadline, "the console did not exit"
                await pilot.pause(0.1)
    finally:
        for x in docker_client.containers.list(all=True, filters={"name": containers.prefix}):
            if x.id != c.id:
                x.remove(force=True)
    assert app.return_code == 0
    assert time.monotonic() - started < 60  # well before the 60 s rollback_wait ran out
    restored = docker_client.api.inspect_container(c.id)
    assert restored["Name"] == "/" + c.name and restored["State"]["Running"]
    (line,) = audit(tmp_path)
    assert (line["action"], line["outcome"]) == ("docker.rollback", "failed")
    assert line["error"].startswith(RESTORED_MESSAGE) and "stopped by the operator" in line["error"]


async def test_ctrl_q_at_the_rollback_dialog_cancels_it_and_quits(
    containers: Any, docker_client: Any, tmp_path: Path
) -> None:
    # Nothing has been done while the dialog is open: quitting answers it "no"
    # (cancelled at the dialog) and quits; it used to ask to "stop the rollback" and
    # stay on the dialog.
    c = containers.run(APP_V1, healthcheck={"test": ["NONE"]})
    app = make_app(tmp_path, containers.prefix, docker={"rollback_images": {c.name: APP_V2}})
    async with app.run_test() as pilot:
        key = await key_of(app, pilot, c)
        assert start_rollback(app, key)
        await until(lambda: confirm_open(app), pilot, what="the confirm dialog")
        await pilot.press("ctrl+q")
        deadline = time.monotonic() + 15
        while app.is_running:
            assert time.monotonic() < deadline, "the console did not quit"
            await pilot.pause(0.1)
    (line,) = audit(tmp_path)
    assert (line["action"], line["outcome"]) == ("docker.rollback", "cancelled")
    same = docker_client.api.inspect_container(c.id)
    assert same["Name"] == "/" + c.name and same["State"]["Running"]


async def test_stoppable_ends_when_the_work_itself_is_cancelled() -> None:
    # The loop closing cancels the work itself: waiting for it must end, not spin.
    from console.docker_actions import stoppable

    work = asyncio.ensure_future(asyncio.sleep(30))
    stops: list[bool] = []
    waiter = asyncio.ensure_future(stoppable(work, None, lambda: stops.append(True)))
    await asyncio.sleep(0.01)
    waiter.cancel()  # a second ctrl+c: keeps waiting for the work
    await asyncio.sleep(0.05)
    assert not waiter.done() and stops == [True]
    work.cancel()
    done, _ = await asyncio.wait({waiter}, timeout=2)
    assert done, "stoppable kept waiting for work that was cancelled"
    assert waiter.cancelled()


def test_progress_after_the_loop_closed_never_raises() -> None:
    seen: list[str] = []

    def broken(message: str) -> None:
        seen.append(message)
        raise RuntimeError("widget gone")

    loop = asyncio.new_event_loop()
    try:
        report = loop.run_until_complete(_make_reporter(broken))
        report("delivered, and raising inside the loop")
        loop.run_until_complete(asyncio.sleep(0.01))
    finally:
        loop.close()
    report("the loop is closed")  # the app quit while a rollback restores: no raise
    assert seen == ["delivered, and raising inside the loop"]


async def _make_reporter(progress: Any) -> Any:
    return _on_loop(progress)
