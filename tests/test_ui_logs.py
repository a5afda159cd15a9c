"""The container log view through Pilot, against the machine's real Docker engine."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from console.app import OpsConsoleApp
from console.config import load_config
from screens.container_logs import ContainerLogsScreen
from screens.containers import ContainersScreen
from tests.docker_situations import Containers
from tests.pg_situations import wait_until
from widgets.container_table import ContainerTable
from widgets.log_view import LogView

pytest_plugins = ("tests.docker_situations",)
pytestmark = pytest.mark.timeout(90)


def docker_app(
    tmp_path: Path, containers: Containers, target: dict[str, Any] | None = None, **docker: Any
) -> OpsConsoleApp:
    """An app whose only source is the local engine, seeing only this test's containers;
    `target` adds keys to the target (read_only, ...), `docker` to its docker section."""
    section = {"name_patterns": [containers.prefix + "*"], **docker}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"t": {"docker": section, **(target or {})}},
            }
        )
    )
    return OpsConsoleApp(load_config(cfg), "t")


async def open_logs(app: OpsConsoleApp, pilot: Any, container: Any) -> ContainerLogsScreen:
    await pilot.press("4")
    await wait_until(lambda: isinstance(app.screen, ContainersScreen), what="containers screen")
    table = app.screen.query_one(ContainerTable)
    key = f"local/{container.id}"
    await wait_until(lambda: table.select_key(key), timeout=20, what="the container row")
    await pilot.press("l")
    await wait_until(lambda: isinstance(app.screen, ContainerLogsScreen), what="the log view")
    return app.screen  # type: ignore[return-value]


def shown(screen: ContainerLogsScreen) -> list[str]:
    return [line.strip() for line in screen.query_one(LogView).visible_lines()]


async def test_follows_and_search_finds_a_line(tmp_path, containers: Containers) -> None:
    c = containers.run(
        command=[
            "sh",
            "-c",
            "i=0; while true; do i=$((i+1)); echo tick $i; "
            "[ $i = 5 ] && echo 'needle in the log' >&2; sleep 0.1; done",
        ],
        name="logs",
    )
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_logs(app, pilot, c)
        view = screen.query_one(LogView)
        await wait_until(lambda: view.line_count >= 10, timeout=20, what="log lines")
        first = view.line_count
        await wait_until(lambda: view.line_count > first + 5, timeout=10, what="more lines")
        assert any(line.startswith("tick ") for line in shown(screen))
        await pilot.press("slash", *"needle", "enter")
        await pilot.pause()
        assert not view.follow  # the match is held on screen
        row = next(line for line in view.visible_lines() if "needle in the log" in line)
        assert row.startswith("▍")  # stderr is marked
        await pilot.press("f")
        assert view.follow
        await pilot.press("t")
        await pilot.pause()
        last = [line for line in shown(screen) if line][-1]
        assert last[2] == "-" and last[5] == " " and last[8] == ":", last  # "MM-DD HH:MM:SS"
        await pilot.press("escape", "escape")  # clear the search, then close the view
        await wait_until(lambda: isinstance(app.screen, ContainersScreen), what="back")
        assert screen.follower is None


async def test_view_still_moves_after_its_buffer_filled(tmp_path, containers: Containers) -> None:
    c = containers.run(
        command=["sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.005; done"],
        name="fill",
        nano_cpus=200_000_000,
    )
    app = docker_app(tmp_path, containers, log_buffer_lines=100)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_logs(app, pilot, c)
        view = screen.query_one(LogView)
        assert view.max_lines == 100
        await wait_until(lambda: view.received > 400, timeout=30, what="the buffer filling")

        def newest() -> int:
            lines = [ln for ln in shown(screen) if ln.startswith("line ")]
            return int(lines[-1].split()[1])

        before = newest()
        await wait_until(lambda: newest() > before + 50, timeout=20, what="the view moving")
        assert view.line_count == 100


async def test_hostile_log_lines_are_inert(tmp_path, containers: Containers) -> None:
    script = (
        r"printf 'clear \033[2J end\n'; printf 'clip \033]52;c;cm0gLXJmIC8=\007 end\n';"
        r"printf 'link \033]8;;http://evil/\033\\click\033]8;;\033\\ end\n';"
        r"printf 'title \033]0;pwned\007 end\n'; printf 'markup [/] [link=http://x]y[/link]\n';"
        r"printf 'bidi \342\200\256gnp.exe end\n'; printf 'bad \377\376 utf8\n'; sleep 600"
    )
    c = containers.run(command=["sh", "-c", script], name="hostile")
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(140, 30)) as pilot:
        screen = await open_logs(app, pilot, c)
        view = screen.query_one(LogView)
        await wait_until(lambda: view.line_count >= 7, timeout=20, what="the hostile lines")
        await pilot.pause()
        text = "\n".join(view.visible_lines())
        for bad in ("\x1b", "\x07", "\u202e"):
            assert bad not in text
        assert "␛[2J" in text and "[link=http://x]y[/link]" in text and "\ufffd" in text
        for y in range(10):
            assert all(s.style is None or s.style.link is None for s in view.render_line(y))
        assert app.internal_errors == []


async def test_save_writes_plain_text(tmp_path, containers: Containers, monkeypatch) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    c = containers.run(
        command=["sh", "-c", r"printf 'hello \033[31mred\033[0m\n'; echo second; sleep 600"],
        name="save",
    )
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_logs(app, pilot, c)
        view = screen.query_one(LogView)
        await wait_until(lambda: view.line_count >= 2, timeout=20, what="two lines")
        await pilot.press("p")
        folder = tmp_path / "state" / "ops-console" / "logs"
        files = await wait_until(lambda: list(folder.glob("*.log")), what="the saved file")
        content = files[0].read_text()
        assert "hello red" in content and "second" in content and "\x1b" not in content
        assert files[0].name.startswith(c.name)
        assert files[0].stat().st_mode & 0o777 == 0o600
        # Saved again at once (same second, same name): a second file, the first intact.
        await pilot.press("p")
        both = await wait_until(
            lambda: sorted(folder.glob("*.log")) if len(list(folder.glob("*.log"))) == 2 else None,
            what="the second saved file",
        )
        assert [f.read_text() for f in both] == [content, content]


async def test_since_cycle_restarts_the_follower_and_quit_is_prompt(
    tmp_path, containers: Containers
) -> None:
    c = containers.run(command=["sh", "-c", "echo only-line; sleep 600"], name="quiet")
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_logs(app, pilot, c)
        view = screen.query_one(LogView)
        await wait_until(lambda: view.line_count >= 1, timeout=20, what="the line")
        old = screen.follower
        await pilot.press("S")  # since 5 m: a new follower, the line is still within
        assert screen.follower is not old
        await wait_until(
            lambda: any("only-line" in ln for ln in shown(screen)), timeout=20, what="re-read"
        )
        assert old.join(5)  # the old follower's thread ended promptly on a quiet stream
        follower = screen.follower
    assert follower.join(5)  # and so did the current one when the app closed
