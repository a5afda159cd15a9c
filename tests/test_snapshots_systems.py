"""SVG snapshots of the Containers, Health, container log and runbook screens, and of the
dashboard with its Containers and Health panes.

Nothing here talks to a server: the app is built with a fixed clock and no pollers, and
fixed snapshots (tests/snapshot_systems_data.py) are published as if polled. The log
view gets its lines from a stand-in follower (the screen pulls `follower.drain()`), the
runbook panel its output through the calls a run makes. TZ is pinned to UTC because
several widgets print local wall-clock times. Input cursors do not blink.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.widgets import Input

from adapters.docker.logs import LogBatch
from adapters.docker.models import LogLine
from console.app import OpsConsoleApp
from console.config import load_config
from tests import snapshot_data
from tests import snapshot_systems_data as data

SIZES = [(80, 24), (200, 50)]
WIDE = (200, 50)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is UTC for the test (clock_time and the detail panes use localtime)."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app(tmp_path: Path) -> OpsConsoleApp:
    cfg = tmp_path / "config.yaml"
    target = {
        "postgres": {"host": "db.example"},
        "docker": {
            "hosts": [
                {"name": data.HEALTHY_HOST, "url": "ssh://ops@web-1.example"},
                {"name": data.STALE_HOST, "url": "ssh://ops@web-2.example"},
            ]
        },
        "health": data.health_config(),
        "runbook": data.RUNBOOK,
    }
    cfg.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"shop-prod": target},
            }
        )
    )
    return OpsConsoleApp(load_config(cfg), clock=lambda: snapshot_data.CLOCK, autostart=False)


def _publish_all(app: OpsConsoleApp) -> None:
    app.publish(snapshot_data.state())
    app.publish(data.docker_state())
    app.publish(data.health_state())


async def _still(pilot: Any) -> None:
    """No blinking cursor in any input of the current screen."""
    await pilot.pause()
    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


async def _open(pilot: Any, *keys: str) -> None:
    """Publish every source, press `keys`, publish again (the new screen pulls them)."""
    app: OpsConsoleApp = pilot.app
    app.update_header(connection="app@db.example:5432/shop")
    _publish_all(app)
    await pilot.pause()
    if keys:
        await pilot.press(*keys)
        _publish_all(app)
    await _still(pilot)


class FixedFollower:
    """Stands in for `LogFollower`: hands its lines over on the first drain, then none."""

    def __init__(self, lines: list[LogLine]) -> None:
        self._lines = lines
        self.lines_dropped = 0
        self.stopped = False

    def drain(self, limit: int) -> LogBatch:
        lines, self._lines = self._lines[:limit], self._lines[limit:]
        return LogBatch(lines=lines, dropped=0, ended=False, error=None)

    def stop(self) -> None:
        self.stopped = True


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_containers_screen(snap_compare, tmp_path, size) -> None:
    async def run_before(pilot: Any) -> None:
        from widgets.container_table import ContainerTable

        await _open(pilot, "4")
        table = pilot.app.screen.query_one(ContainerTable)
        assert table.total_count == 12  # the stale host's last containers are still shown

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run_before)


def test_dashboard_systems(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Any) -> None:
        from widgets.containers_summary import ContainersSummaryPane
        from widgets.health_summary import HealthSummaryPane

        await _open(pilot)
        screen = pilot.app.screen
        assert "12 containers" in screen.query_one(ContainersSummaryPane).body_text().plain
        assert "down 2" in screen.query_one(HealthSummaryPane).body_text().plain

    assert snap_compare(_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_health_screen(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Any) -> None:
        from screens.health import HealthScreen

        await _open(pilot, "5")
        screen = pilot.app.screen
        assert isinstance(screen, HealthScreen)
        assert screen.table.select(data.SELECTED_CHECK)
        await pilot.pause()
        assert screen.detail.check is not None
        assert screen.detail.check.name == data.SELECTED_CHECK
        await _still(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_container_logs(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Any) -> None:
        from screens.container_logs import ContainerLogsScreen
        from widgets.container_table import ContainerTable
        from widgets.log_view import LogView

        await _open(pilot, "4")
        assert pilot.app.screen.query_one(ContainerTable).select_key(data.LOGGED.key)
        await pilot.press("l")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, ContainerLogsScreen)
        view = screen.query_one(LogView)
        # With no Docker source started the screen says so; the fixed lines replace that.
        view.clear()
        screen.follower = FixedFollower(data.log_lines())
        screen.drain()
        assert view.line_count == len(data.log_lines())
        # Timestamps on; wrapped, so the reader's cut marker at the end of the long
        # line is on screen (without wrap the screen's own clipping hides it).
        await pilot.press("t", "w")
        await pilot.press("slash", *data.SEARCH, "enter")
        await pilot.pause()
        assert not view.follow  # the search holds the match on screen
        await _still(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=WIDE, run_before=run_before)


def test_runbook_screen(snap_compare, tmp_path) -> None:
    async def run_before(pilot: Any) -> None:
        from screens.runbook import RunbookScreen

        await _open(pilot)
        await pilot.press("colon", *"runbook", "enter")
        await pilot.pause()
        screen = pilot.app.screen
        assert isinstance(screen, RunbookScreen)
        # What a finished run leaves in the panel, through the calls the run makes.
        panel = screen.output_panel()
        panel.begin(data.RUNBOOK_COMMAND)
        panel.add_batch(data.RUNBOOK_OUTPUT)
        panel.finish(data.RUNBOOK_RESULT, True)
        await _still(pilot)

    assert snap_compare(_app(tmp_path), terminal_size=WIDE, run_before=run_before)
