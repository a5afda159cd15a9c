"""The shell through Pilot: keys, help, command line, keymap, themes, targets, audit."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from console.app import OpsConsoleApp
from console.config import load_config
from screens.audit_log import AuditScreen
from screens.help import HelpScreen
from tests.pg_situations import wait_until
from tests.ui_helpers import make_app

DOWN = "postgresql://postgres@127.0.0.1:9/postgres"  # nothing listens on port 9


async def test_ctrl_c_never_quits_and_q_does(tmp_path) -> None:
    app = make_app(tmp_path, DOWN)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("ctrl+c")
        await pilot.pause()
        assert app.is_running
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.press("ctrl+c")  # closes the modal
        await wait_until(lambda: not isinstance(app.screen, HelpScreen), what="help closed")
        assert app.is_running
        await pilot.press("q")
        await pilot.pause()
    assert app.return_code == 0


async def test_help_lists_bindings_in_force_after_remap(tmp_path, pg_dsn) -> None:
    app = make_app(tmp_path, pg_dsn, top={"keymap": {"pg.toggle_idle": "z"}})
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        await pilot.press("question_mark")
        await wait_until(lambda: isinstance(app.screen, HelpScreen), what="help")
        svg = app.export_screenshot()
        assert "pg.toggle_idle" in svg and "pg.terminate" in svg and "Terminate" in svg
        await pilot.press("escape")
        await pilot.pause()
        await pilot.press("ctrl+p")  # the palette, as the README says
        await wait_until(lambda: type(app.screen).__name__ == "CommandPalette", what="the palette")
        await pilot.press("escape")
        await wait_until(lambda: type(app.screen).__name__ != "CommandPalette", what="closed")
        await pilot.press("escape")
        await pilot.pause()
        from widgets.activity_table import ActivityTable

        table = app.screen.query_one(ActivityTable)
        before = table.show_idle
        await pilot.press("z")  # the remapped key works
        await pilot.pause()
        assert table.show_idle is not before
        await pilot.press("i")  # the old key no longer does
        await pilot.pause()
        assert table.show_idle is not before


async def test_command_line_switches_screens_themes_and_targets(tmp_path, pg_dsn) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "one": {"postgres": {"dsn": pg_dsn}},
                    "two": {"postgres": {"dsn": DOWN}, "read_only": True},
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(cfg), "one")
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(
            lambda: app.states.get("postgres") and app.states["postgres"].snapshot,
            what="data from target one",
        )
        await pilot.press("colon", *"audit", "enter")
        await wait_until(lambda: isinstance(app.screen, AuditScreen), what="the audit screen")
        await pilot.press("colon", *"theme ops-light", "enter")
        await wait_until(lambda: app.theme == "ops-light", what="the light theme")
        await pilot.press("colon", *"nonsense", "enter")
        await pilot.pause()
        assert app.is_running
        await pilot.press("colon", *"target two", "enter")
        await wait_until(lambda: app.target.name == "two", what="target two")
        await wait_until(
            lambda: app.states.get("postgres") and app.states["postgres"].error,
            what="target two's (unreachable) state",
        )
        assert app.read_only and app.header_info.read_only
        assert app.header_info.target == "two"


async def test_after_a_target_switch_keys_work_and_never_go_to_a_hidden_field(
    tmp_path,
) -> None:
    # Textual's auto-focus ignores `display: none`: after `:target`, the Containers
    # screen came back with its hidden filter box focused and swallowed the next keys.
    from widgets.container_table import ContainerTable

    closed = {"hosts": [{"name": "h", "url": "tcp://127.0.0.1:9"}]}
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "one": {"postgres": {"dsn": DOWN}, "docker": closed},
                    "two": {"postgres": {"dsn": DOWN}, "docker": closed},
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(cfg), "one")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.focused, ContainerTable)
        await pilot.press("colon", *"target two", "enter")
        await wait_until(lambda: app.target.name == "two", what="target two")
        await pilot.pause()
        assert isinstance(app.focused, ContainerTable)
        await pilot.press("3")
        await pilot.pause()
        await pilot.press("4")
        await pilot.pause()
        assert isinstance(app.focused, ContainerTable), app.focused
        await pilot.press("2")  # a screen key still switches screens
        await wait_until(lambda: type(app.screen).__name__ == "PostgresScreen", what="screen 2")


async def test_audit_screen_lists_newest_first(tmp_path) -> None:
    app = make_app(tmp_path, DOWN)
    async with app.run_test(size=(160, 40)) as pilot:
        from console.actions import arm_record

        for reason in ("first", "second [/] \x1b[2J"):
            app.audit.append(arm_record(app.operator, "t", "armed", reason=reason, minutes=5))
        await pilot.press("6")
        await wait_until(lambda: isinstance(app.screen, AuditScreen), what="the audit screen")
        await pilot.pause(0.3)
        lines = (tmp_path / "audit.jsonl").read_text().splitlines()
        assert [json.loads(x)["reason"] for x in lines] == ["first", "second [/] \x1b[2J"]
        svg = app.export_screenshot()
        assert "\x1b" not in svg and "armed" in svg
        assert app.screen.query_one("#audit-table").row_count == 2


async def test_target_without_postgres_says_so(tmp_path: Path) -> None:
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump({"audit_log": str(tmp_path / "a.jsonl"), "targets": {"bare": {}}})
    )
    app = OpsConsoleApp(load_config(cfg))
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "No PostgreSQL configured" in app.export_screenshot().replace("&#160;", " ")
        await pilot.press("3")  # a screen that is not built yet: a message, no crash
        await pilot.pause()
        assert app.is_running
