"""SVG snapshots of the dashboard, the Postgres screen and the confirm dialog.

Data, clocks and the cursor blink are held still: the app is built with a fixed clock,
its pollers are not started, and a fixed snapshot is published as if polled.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from textual.widgets import Input

from console.app import OpsConsoleApp
from console.config import load_config
from tests import snapshot_data

SIZES = [(80, 24), (200, 50)]


def _app(tmp_path: Path, **target: object) -> OpsConsoleApp:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"shop-prod": {"postgres": {"host": "db.example"}, **target}},
            }
        )
    )
    return OpsConsoleApp(load_config(cfg), clock=lambda: snapshot_data.CLOCK, autostart=False)


async def _publish(pilot, *keys: str) -> None:  # type: ignore[no-untyped-def]
    app: OpsConsoleApp = pilot.app
    app.update_header(connection="app@db.example:5432/shop")
    app.publish(snapshot_data.state())
    await pilot.pause()
    if keys:
        await pilot.press(*keys)
        app.publish(snapshot_data.state())
    await pilot.pause()
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare, tmp_path, size) -> None:
    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=_publish)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_postgres_screen(snap_compare, tmp_path, size) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _publish(pilot, "2", "i")  # idle sessions shown

    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_confirm_terminate_dialog(snap_compare, tmp_path, size) -> None:
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        from console.pg_source import PostgresSource
        from widgets.activity_table import ActivityTable

        app: OpsConsoleApp = pilot.app
        # A source that is never polled: the dialog opens before anything connects.
        app.pg = PostgresSource(app.target.postgres, 2.0)
        app.arm_state.arm("snapshot", 15, snapshot_data.CLOCK - 60)
        await _publish(pilot, "2")
        app.screen.query_one(ActivityTable).select_pid(4242)
        await pilot.press("K")
        await pilot.pause(0.3)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False
        await pilot.pause()

    assert snap_compare(_app(tmp_path, production=True), terminal_size=size, run_before=run_before)
