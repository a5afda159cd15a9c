"""The runbook screen through Pilot: real commands, the confirm dialog, the audit log."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.app import App, ComposeResult
from textual.geometry import Region

from adapters.runbook.output import OutputBatch, OutputLine
from console.app import OpsConsoleApp
from console.config import load_config
from screens.confirm import ConfirmScreen
from screens.runbook import RunbookScreen
from tests.pg_situations import wait_until
from widgets.command_output import CommandOutput
from widgets.key_bar import KeyBar
from widgets.runbook_list import RunbookList

pytestmark = pytest.mark.timeout(90)


def runbook_app(tmp_path: Path, runbook: list[dict[str, Any]], **target: Any) -> OpsConsoleApp:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"t": {"runbook": runbook, **target}},
            }
        )
    )
    return OpsConsoleApp(load_config(path), "t", autostart=False)


async def open_runbook(app: OpsConsoleApp, pilot: Any) -> RunbookScreen:
    await pilot.press("colon", *"runbook", "enter")
    return await wait_until(
        lambda: app.screen if isinstance(app.screen, RunbookScreen) else None,
        what="the runbook screen",
    )


def panel(app: OpsConsoleApp) -> CommandOutput:
    return app.screen.query_one(CommandOutput)


def status_text(app: OpsConsoleApp) -> str:
    return str(panel(app).query_one("#cmd-status").render())


def held(out: CommandOutput) -> list[tuple[str, str]]:
    """(stream, text) of every line the panel holds, oldest first ("notice" for its own)."""
    return [tuple(line.split(" ", 1)) for line in out.log_view.export_lines()]  # type: ignore[misc]


def texts(out: CommandOutput) -> list[str]:
    """The text of every output line the panel holds."""
    return [text for stream, text in held(out) if stream != "notice"]


def stdout(*lines: str) -> tuple[OutputLine, ...]:
    return tuple(OutputLine(line) for line in lines)


async def test_lists_every_action_inert(tmp_path: Path) -> None:
    app = runbook_app(
        tmp_path,
        [
            {"name": "rollback-web", "argv": ["true"], "kind": "rollback", "description": "undo"},
            {"name": "restart", "argv": ["docker", "restart", "{container}"], "key": "x"},
            {"name": "evil", "argv": ["true"], "description": "[bold]x[/] \x1b]0;pwned\x07 end"},
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        text = app.screen.query_one(RunbookList).render().plain
        assert "rollback-web" in text and "rollback" in text and "high" in text and "undo" in text
        assert "restart" in text and "[needs {container}]" in text
        assert "[bold]x[/]" in text and "␛]0;pwned␇ end" in text  # shown, not interpreted
        assert "\x1b" not in text
        assert not app.internal_errors


async def test_enter_confirm_runs_streams_and_audits(tmp_path: Path) -> None:
    app = runbook_app(
        tmp_path,
        [
            {
                "name": "hello",
                "description": "prints lines",
                "argv": ["sh", "-c", 'for i in 1 2 3; do echo "hello $i"; done; exit 4'],
            }
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the confirmation",
        )
        assert dialog.plan.preview == "sh -c 'for i in 1 2 3; do echo \"hello $i\"; done; exit 4'"
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the run to end")
        await pilot.pause()
        assert texts(panel(app))[-3:] == ["hello 1", "hello 2", "hello 3"]
        assert "exit 4 after" in status_text(app)
        assert panel(app).has_class("-failed")
        (record,) = app.audit.recent()
        assert record.action == "runbook.hello" and record.outcome == "failed"
        assert record.execution is not None and record.execution["exit_code"] == 4
        assert record.execution["last_lines"] == ["hello 1", "hello 2", "hello 3"]
        assert not app.internal_errors


async def test_cursor_keys_pick_the_action_enter_runs(tmp_path: Path) -> None:
    app = runbook_app(
        tmp_path,
        [{"name": n, "argv": ["echo", n]} for n in ("one", "two", "three")],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("down", "down", "up")  # the output panel must not take them
        assert app.screen.query_one(RunbookList).selected.name == "two"
        await pilot.press("j", "enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.action == "runbook.three"
        await pilot.press("n")
        await wait_until(lambda: not app.action_running, what="the flow")


async def test_escape_cancels_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "created"
    app = runbook_app(tmp_path, [{"name": "touch", "argv": ["touch", str(marker)]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("escape")
        await wait_until(lambda: not app.action_running, what="the flow to end")
        (record,) = app.audit.recent()
        assert record.outcome == "cancelled" and record.action == "runbook.touch"
    assert not marker.exists()


async def test_high_risk_needs_the_typed_name(tmp_path: Path) -> None:
    marker = tmp_path / "rolled-back"
    app = runbook_app(
        tmp_path,
        [
            {"name": "other", "argv": ["true"]},
            {"name": "undo", "argv": ["touch", str(marker)], "kind": "rollback"},
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("R")  # the rollback action, whatever the cursor is on
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.high and dialog.plan.confirm_token == "undo"
        await pilot.press("y")  # not a confirmation on HIGH risk: typed into the field
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and not marker.exists()
        await pilot.press("ctrl+a", "ctrl+k", *"undo", "enter")
        await wait_until(lambda: not app.action_running, what="the run")
        assert marker.exists()
        assert app.audit.recent()[0].outcome == "succeeded"


async def test_action_key_runs_that_action(tmp_path: Path) -> None:
    app = runbook_app(
        tmp_path,
        [
            {"name": "first", "argv": ["true"]},
            {"name": "second", "argv": ["echo", "second ran"], "key": "s"},
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("s")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.action == "runbook.second"
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the run")
        await pilot.pause()
        assert "second ran" in texts(panel(app))
        assert app.screen.query_one(RunbookList).selected.name == "second"


async def test_read_only_target_refuses_and_audits(tmp_path: Path) -> None:
    marker = tmp_path / "created"
    app = runbook_app(tmp_path, [{"name": "touch", "argv": ["touch", str(marker)]}], read_only=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: app.audit.recent(), what="the refusal record")
        assert not isinstance(app.screen, ConfirmScreen)
        (record,) = app.audit.recent()
        assert record.outcome == "refused-read-only"
        # The audit is written before the result is shown: the panel's line comes after.
        await wait_until(lambda: "Read-only" in status_text(app), what="the panel's result")
    assert not marker.exists()


async def test_ctrl_c_stops_a_running_command_quickly(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [{"name": "nap", "argv": ["sleep", "60"]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: panel(app).running, what="the command to start")
        await pilot.pause(0.3)
        started = time.monotonic()
        await pilot.press("ctrl+c")
        await wait_until(lambda: not app.action_running, timeout=10, what="the stop")
        assert time.monotonic() - started < 3.0
        (record,) = app.audit.recent()
        # A deliberate stop is no failure: "cancelled" in the audit, as its execution says.
        assert record.outcome == "cancelled" and "stopped by the operator" in (record.error or "")
        assert record.execution["status"] == "cancelled"
        assert record.execution["signal"] == "SIGTERM"
        assert record.execution["exit_code"] is None and record.duration_ms is not None
        await pilot.pause()
        assert status_text(app).startswith("Cancelled: stopped by the operator after ")
        assert panel(app).has_class("-stopped") and not panel(app).has_class("-failed")
        messages = [str(n.message) for n in app._notifications]
        assert any(m.startswith("Cancelled: stopped by the operator") for m in messages)
        assert not any("Failed" in m for m in messages), messages


async def test_missing_parameter_is_refused_with_a_notice(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [{"name": "restart", "argv": ["docker", "restart", "{container}"]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: not app.action_running, what="the flow")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen)
        messages = [n.message for n in app._notifications]
        assert any("needs {container}" in m for m in messages), messages


async def test_command_not_found_is_refused_and_console_keeps_running(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [{"name": "ghost", "argv": ["ops-console-no-such-cmd"]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the flow")
        await pilot.pause()
        (record,) = app.audit.recent()
        assert record.outcome == "refused-recheck"
        assert "command not found: ops-console-no-such-cmd" in (record.error or "")
        assert "command not found" in status_text(app)
        await pilot.press("down", "up")  # still alive
        assert isinstance(app.screen, RunbookScreen) and not app.internal_errors


async def test_empty_runbook_shows_a_config_snippet(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        text = str(app.screen.query_one("#runbook-empty").render())
        assert "No runbook actions are configured for target t" in text
        assert "argv: [kubectl, rollout, undo, deployment/web]" in text
        await pilot.press("enter")  # nothing to run: a notice, no crash
        await pilot.pause()
        assert not app.action_running and not app.internal_errors


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield CommandOutput(max_lines=50)


async def test_output_panel_keeps_moving_after_it_is_full() -> None:
    """Textual's Log(max_lines) froze once full: the view must still show new lines."""
    app = PanelApp()
    async with app.run_test(size=(80, 20)) as pilot:
        out = app.query_one(CommandOutput)
        out.begin("seq")
        total = 0
        for round_ in range(8):
            lines = stdout(*(f"L{total + i:04d}" for i in range(30)))
            total += 30
            out.add_batch(OutputBatch(lines, 0, total, total * 6))
            await pilot.pause()
            shot = app.export_screenshot()
            assert f"L{total - 1:04d}" in shot, f"round {round_}: the newest line is not drawn"
        assert out.log_view.line_count == 50 and texts(out)[-1] == "L0239"
        assert "L0000" not in app.export_screenshot()


async def test_flood_batches_mark_skipped_lines() -> None:
    app = PanelApp()
    async with app.run_test(size=(80, 20)) as pilot:
        out = app.query_one(CommandOutput)
        out.begin("flood")
        out.add_batch(OutputBatch(stdout("a\x1b[2Jb"), 9999, 10000, 123456))
        await pilot.pause()
        assert [row.rstrip() for row in out.log_view.visible_lines()[:2]] == [
            " … 9,999 lines not shown (output too fast) …",
            " a␛[2Jb",
        ]


FLOOD_50MB = (
    "import sys\n"
    "block = (b'f' * 1023 + b'\\n') * 1024\n"
    "for _ in range(50): sys.stdout.buffer.write(block)\n"
)


async def test_50_mb_flood_gives_a_clear_result_and_the_console_keeps_running(
    tmp_path: Path,
) -> None:
    import sys

    app = runbook_app(tmp_path, [{"name": "flood", "argv": [sys.executable, "-c", FLOOD_50MB]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, timeout=60, what="the flood to end")
        await pilot.pause()
        assert "51,200 lines, 52,428,800 bytes of output" in status_text(app)
        assert panel(app).log_view.line_count <= 2000  # bounded
        (record,) = app.audit.recent()
        assert record.outcome == "succeeded"
        assert record.execution["output_bytes"] == 52_428_800
        await pilot.press("down")
        assert isinstance(app.screen, RunbookScreen) and not app.internal_errors


async def test_started_from_another_screen_shows_output_on_the_runbook_screen(
    tmp_path: Path,
) -> None:
    """What `R` bound app-wide (or a Containers action) does: flow without a panel."""
    from console.runbook_flows import rollback_action, start_runbook_action

    app = runbook_app(
        tmp_path,
        [{"name": "undo", "argv": ["echo", "rolled back"], "kind": "rollback"}],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.pause()
        assert not isinstance(app.screen, RunbookScreen)
        action = rollback_action(app)
        assert action is not None and action.name == "undo"
        assert start_runbook_action(app, action)
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("escape")
        await wait_until(lambda: not app.action_running, what="the cancel")
        # The same through the key: `R` on the dashboard, which has no rollback of its own.
        await pilot.press("1", "R")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press(*"undo", "enter")  # a rollback: its name is typed
        await wait_until(lambda: not app.action_running, what="the run")
        await pilot.pause()
        assert isinstance(app.screen, RunbookScreen)
        assert "rolled back" in texts(panel(app))
        assert [r.outcome for r in app.audit.recent()] == ["succeeded", "cancelled"]


async def test_R_without_a_runbook_rollback_says_how_to_add_one(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [{"name": "other", "argv": ["true"]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await pilot.press("R")
        await pilot.pause()
        assert not isinstance(app.screen, ConfirmScreen) and not app.action_running
        assert any("kind: rollback" in str(n.message) for n in app._notifications)
        assert app.audit.recent() == [] and not app.internal_errors


async def test_renders_at_small_sizes_and_help_lists_keys(tmp_path: Path) -> None:
    from screens.help import HelpScreen

    app = runbook_app(
        tmp_path,
        [{"name": "a-rather-long-action-name-here", "argv": ["echo", "x" * 300], "key": "e"}],
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("e")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the run")
        for size in ((80, 24), (40, 10), (20, 5), (200, 50)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            app.export_screenshot()
        await pilot.press("question_mark")
        help_screen = await wait_until(
            lambda: app.screen if isinstance(app.screen, HelpScreen) else None, what="help"
        )
        assert help_screen is not None
        await pilot.press("escape")
        assert not app.internal_errors


async def test_env_secret_never_reaches_the_panel_or_the_audit(tmp_path: Path) -> None:
    app = runbook_app(
        tmp_path,
        [
            {
                "name": "leaky",
                "argv": ["sh", "-c", "echo token=$TOKEN; echo plain $TOKEN"],
                "env": {"TOKEN": "s3cr3t-value"},
            }
        ],
    )
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the run")
        await pilot.pause()
        assert texts(panel(app)) == ["token=********", "plain ********"]
        assert "s3cr3t-value" not in app.export_screenshot()
        (record,) = app.audit.recent()
        assert record.outcome == "succeeded"
    assert "s3cr3t-value" not in (tmp_path / "audit.jsonl").read_text()


async def test_a_second_ctrl_c_kills_and_the_panel_says_so(tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    app = runbook_app(
        tmp_path,
        [
            {
                "name": "stubborn",
                # `$$$$`: the config reads `$$` as a literal `$`.
                "argv": ["sh", "-c", f"trap '' TERM; echo $$$$ > {pidfile}; sleep 60"],
            }
        ],
    )
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await open_runbook(app, pilot)
            await pilot.press("enter")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
            await pilot.press("y")
            await wait_until(lambda: pidfile.exists() and pidfile.read_text(), what="the start")
            await pilot.press("ctrl+c")  # SIGTERM: ignored, the grace (5 s) begins
            await pilot.pause(0.3)
            assert app.action_running
            started = time.monotonic()
            await pilot.press("ctrl+c")  # SIGKILL now
            await wait_until(lambda: not app.action_running, what="the kill")
            assert time.monotonic() - started < 3.0
            await pilot.pause()
            assert "killed (SIGKILL) by a second ctrl+c" in status_text(app)
            assert panel(app).has_class("-failed") and not panel(app).running
            (record,) = app.audit.recent()
            assert record.outcome == "failed" and record.error == "interrupted by operator"
            shell = int(pidfile.read_text())
            await wait_until(lambda: not Path(f"/proc/{shell}").exists() or _zombie(shell))
    finally:
        if pidfile.exists() and pidfile.read_text().strip():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(pidfile.read_text()), signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


async def test_a_detached_panel_ignores_late_output() -> None:
    """The screen may be rebuilt while a command runs: late calls must not raise."""
    app = PanelApp()
    async with app.run_test(size=(80, 20)) as pilot:
        out = app.query_one(CommandOutput)
        out.begin("seq")
        await out.remove()
        await pilot.pause()
        out.add_batch(OutputBatch(stdout("late"), 0, 1, 5))
        out.finish("exit 0", True)
        out.begin("again")
        assert out.running  # the state of the run it saw begin, untouched since


async def test_target_switch_refreshes_the_list_and_the_keys(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "t": {"runbook": [{"name": "old-one", "argv": ["true"], "key": "o"}]},
                    "u": {
                        "runbook": [
                            {"name": "new-one", "argv": ["true"], "key": "n"},
                            {"name": "new-two", "argv": ["true"]},
                        ]
                    },
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(path), "t", autostart=False)
    async with app.run_test(size=(140, 40)) as pilot:
        screen = await open_runbook(app, pilot)
        assert [r.name for r in screen.query_one(RunbookList).rows] == ["old-one"]
        await pilot.press("colon", *"target u", "enter")
        await wait_until(lambda: app.target.name == "u", what="the switch")
        await wait_until(
            lambda: [r.name for r in app.screen.query_one(RunbookList).rows]
            == ["new-one", "new-two"],
            what="the new target's actions",
        )
        title = str(app.screen.query_one("#runbook-title").render())
        assert "target u" in title and "2 actions" in title
        await pilot.press("o")  # the old target's key: nothing to run here
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen) and not app.action_running
        await pilot.press("n")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.action == "runbook.new-one" and dialog.plan.target == "u"
        await pilot.press("n")
        await wait_until(lambda: not app.action_running, what="the cancel")
        assert not app.internal_errors


async def test_bang_on_the_health_screen_runs_an_action_on_the_selected_service(
    tmp_path: Path,
) -> None:
    from screens.health import HealthScreen
    from screens.runbook_picker import RunbookPicker

    work = tmp_path / "work"
    work.mkdir()
    app = runbook_app(
        tmp_path,
        [
            {"name": "mark", "argv": ["touch", "{service}"], "cwd": str(work)},
            {"name": "other", "argv": ["true"]},
            {
                "name": "undo",
                "kind": "rollback",
                "argv": ["sh", "-c", 'touch "undo-$1"', "sh", "{service}"],
                "cwd": str(work),
            },
        ],
        # A TCP check on a closed port: it exists (and is selectable) whatever it answers.
        health=[{"name": "billing-api", "host": "127.0.0.1", "port": 9, "timeout": 1}],
    )
    async with app.run_test(size=(160, 40)) as pilot:
        app.start_sources()
        await pilot.press("5")
        await wait_until(
            lambda: isinstance(app.screen, HealthScreen) and app.screen.table.selected,
            what="the check selected",
        )
        await pilot.press("exclamation_mark")
        await wait_until(lambda: isinstance(app.screen, RunbookPicker), what="the picker")
        await pilot.press("escape")  # closes, runs nothing
        await pilot.pause()
        assert isinstance(app.screen, HealthScreen) and app.audit.recent() == []
        await pilot.press("exclamation_mark")
        await wait_until(lambda: isinstance(app.screen, RunbookPicker), what="the picker")
        await pilot.press("enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert "touch billing-api" in dialog.plan.preview
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, what="the run")
        assert (work / "billing-api").exists()
        # `R` there runs the rollback action with the same selection.
        await pilot.press("5", "R")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the rollback dialog",
        )
        assert dialog.plan.preview.endswith(" sh billing-api")
        await pilot.press(*"undo", "enter")
        await wait_until(lambda: not app.action_running, what="the rollback")
    assert (work / "undo-billing-api").exists()
    records = app.audit.recent()
    assert [(r.action, r.outcome) for r in records] == [
        ("runbook.undo", "succeeded"),
        ("runbook.mark", "succeeded"),
    ]


def shown_rows(listing: RunbookList) -> list[str]:
    """The list's lines as drawn on screen: cut to the height it was given."""
    size = listing.outer_size
    return [strip.text.rstrip() for strip in listing.render_lines(Region(0, 0, *size))]


def cursor_row(listing: RunbookList) -> str | None:
    return next((row for row in shown_rows(listing) if row.lstrip().startswith("›")), None)


async def open_picker(app: OpsConsoleApp, pilot: Any) -> RunbookList:
    from screens.health import HealthScreen
    from screens.runbook_picker import RunbookPicker

    app.start_sources()
    await pilot.press("5")
    await wait_until(
        lambda: isinstance(app.screen, HealthScreen) and app.screen.table.selected,
        what="the check selected",
    )
    await pilot.press("exclamation_mark")
    await wait_until(lambda: isinstance(app.screen, RunbookPicker), what="the picker")
    await pilot.pause()
    return app.screen.query_one(RunbookList)


#: A TCP check on a closed port: it exists (and is selectable) whatever it answers.
CLOSED_PORT_CHECK = [{"name": "billing-api", "host": "127.0.0.1", "port": 9, "timeout": 1}]


async def test_picker_shows_all_four_actions_and_the_cursor(tmp_path: Path) -> None:
    names = ["restart", "drain", "flush-cache", "page-owner"]
    app = runbook_app(
        tmp_path,
        [{"name": n, "argv": ["echo", n, "{service}"]} for n in names],
        health=CLOSED_PORT_CHECK,
    )
    async with app.run_test(size=(160, 40)) as pilot:
        listing = await open_picker(app, pilot)
        rows = shown_rows(listing)
        assert [r.split()[0] for r in rows[1:]] == ["›", *names[1:]], rows
        await pilot.press("down", "down")
        await pilot.pause()
        assert (cursor_row(listing) or "").split()[1] == "flush-cache", shown_rows(listing)
        await pilot.press("enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.preview == "echo flush-cache billing-api"
        await pilot.press("n")
        await wait_until(lambda: not app.action_running, what="the cancel")
        assert not app.internal_errors


async def test_picker_longer_than_the_screen_scrolls_to_the_cursor(tmp_path: Path) -> None:
    names = [f"action-{i:02d}" for i in range(30)]
    app = runbook_app(
        tmp_path,
        [{"name": n, "argv": ["echo", n, "{service}"]} for n in names],
        health=CLOSED_PORT_CHECK,
    )
    async with app.run_test(size=(120, 24)) as pilot:
        listing = await open_picker(app, pilot)
        hint = app.screen.query_one("#picker-hint")
        box = hint.parent.region
        assert hint.region.height and box.contains_region(hint.region)  # not pushed out
        assert len(shown_rows(listing)) > 3  # as many as fit, not a fixed few
        for index in range(1, 30):
            await pilot.press("down")
            await pilot.pause()
            assert (cursor_row(listing) or "").split()[1:2] == [names[index]], index
        assert "more above" in shown_rows(listing)[0]
        for index in range(28, -1, -1):
            await pilot.press("up")
            await pilot.pause()
            assert (cursor_row(listing) or "").split()[1:2] == [names[index]], index
        await pilot.press("down", "enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.action == "runbook.action-01"
        await pilot.press("n")
        await wait_until(lambda: not app.action_running, what="the cancel")


async def test_runbook_screen_list_keeps_the_cursor_in_view(tmp_path: Path) -> None:
    names = [f"step-{i:02d}" for i in range(40)]
    app = runbook_app(tmp_path, [{"name": n, "argv": ["true"]} for n in names])
    async with app.run_test(size=(120, 30)) as pilot:
        await open_runbook(app, pilot)
        listing = app.screen.query_one(RunbookList)
        assert len(shown_rows(listing)) < 41  # half the screen: the panel keeps the rest
        await pilot.press(*["down"] * 39)
        await pilot.pause()
        assert (cursor_row(listing) or "").split()[1:2] == ["step-39"], shown_rows(listing)


# -- stdout and stderr told apart; saving the output ---------------------------------------

INTERLEAVED = (
    "echo 'out one'; sleep 0.15; echo 'err one' >&2; sleep 0.15; echo 'out two'; sleep 0.15; "
    "echo 'err two' >&2; sleep 0.15; echo 'out three'"
)
INTERLEAVED_SHOWN = [
    ("stdout", "out one"),
    ("stderr", "err one"),
    ("stdout", "out two"),
    ("stderr", "err two"),
    ("stdout", "out three"),
]


async def run_confirmed(app: OpsConsoleApp, pilot: Any, key: str = "enter") -> None:
    await pilot.press(key)
    await wait_until(lambda: isinstance(app.screen, ConfirmScreen), what="the dialog")
    await pilot.press("y")
    await wait_until(lambda: not app.action_running, what="the run")
    await pilot.pause()


def row_of(out: CommandOutput, text: str) -> Any:
    """The drawn strip of the row showing `text`."""
    view = out.log_view
    for y, row in enumerate(view.visible_lines()):
        if text in row:
            return view.render_line(y)
    raise AssertionError(f"{text!r} is not on screen: {view.visible_lines()}")


async def test_interleaved_stdout_and_stderr_show_in_order_with_stderr_marked(
    tmp_path: Path,
) -> None:
    app = runbook_app(tmp_path, [{"name": "mixed", "argv": ["sh", "-c", INTERLEAVED]}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await run_confirmed(app, pilot)
        out = panel(app)
        assert held(out) == INTERLEAVED_SHOWN
        rows = [row.rstrip() for row in out.log_view.visible_lines()[:5]]
        # The log view's gutter: a bar on stderr rows, blank on stdout rows.
        assert rows == [" out one", "▍err one", " out two", "▍err two", " out three"]
        out_row, err_row = row_of(out, "out two"), row_of(out, "err two")
        _, out_text = list(out_row)[:2]
        err_mark, err_text = list(err_row)[:2]
        assert err_mark.text == "▍" and err_mark.style.color is not None
        assert err_text.style.color != out_text.style.color  # stderr text drawn apart
        assert "5 lines, 42 bytes of output; 2 of the lines on stderr" in status_text(app)
        (record,) = app.audit.recent()
        execution = record.execution
        assert execution is not None and execution["output_lines"] == 5
        assert (execution["stdout_lines"], execution["stderr_lines"]) == (3, 2)
        assert (execution["stdout_bytes"], execution["stderr_bytes"]) == (26, 16)
        assert execution["last_lines"] == [
            "out one",
            "stderr: err one",
            "out two",
            "stderr: err two",
            "out three",
        ]
        assert not app.internal_errors


HOSTILE_STDERR = (
    "printf 'fine\\n'; sleep 0.1; "
    "printf '[bold red]x[/] \\033]0;pwned\\007 \\033]52;c;aGk=\\007 \\033[2J"
    "\\342\\200\\256gnp.exe end\\n' >&2"
)


async def test_hostile_bytes_on_stderr_stay_inert(tmp_path: Path) -> None:
    app = runbook_app(tmp_path, [{"name": "evil", "argv": ["sh", "-c", HOSTILE_STDERR]}])
    async with app.run_test(size=(160, 40)) as pilot:
        await open_runbook(app, pilot)
        await run_confirmed(app, pilot)
        rows = [row.rstrip() for row in panel(app).log_view.visible_lines()[:2]]
        assert rows == [
            " fine",
            "▍[bold red]x[/] ␛]0;pwned␇ ␛]52;c;aGk=␇ ␛[2J<U+202E>gnp.exe end",
        ]
        shot = app.export_screenshot()
        assert "\x1b" not in shot and "\u202e" not in shot and "pwned" in shot
        (record,) = app.audit.recent()
        assert record.execution["last_lines"][-1].startswith("stderr: [bold red]x[/] ␛]0;pwned␇")
        assert not app.internal_errors


async def test_p_saves_the_output_to_a_private_file(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    script = INTERLEAVED + "; printf 'tail \\033[31mred\\033[0m\\tend\\n' >&2"
    app = runbook_app(tmp_path, [{"name": "mixed", "argv": ["sh", "-c", script]}])
    folder = tmp_path / "state" / "ops-console" / "logs"
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        bar = app.screen.query_one(KeyBar).build_line().plain
        assert " p Save " in bar
        await pilot.press("p")  # nothing run yet: nothing to save, no file
        await pilot.pause()
        assert any("No output to save" in str(n.message) for n in app._notifications)
        await run_confirmed(app, pilot)
        await pilot.press("p")
        (saved,) = await wait_until(lambda: list(folder.glob("*.log")), what="the saved file")
        assert saved.name.startswith("runbook-mixed-") and saved.suffix == ".log"
        assert saved.stat().st_mode & 0o777 == 0o600
        assert saved.read_text().splitlines() == [
            *(f"{stream} {text}" for stream, text in INTERLEAVED_SHOWN),
            "stderr tail red\tend",  # escape sequences stripped, the tab kept
        ]
        message = await wait_until(
            lambda: next((n.message for n in app._notifications if "Saved" in n.message), None),
            what="the notice",
        )
        assert message == f"Saved 6 lines of output to {saved}."
        await pilot.press("p")  # the same second: a second file, never overwritten
        await wait_until(lambda: len(list(folder.glob("*.log"))) == 2, what="the second file")
        assert not app.internal_errors


async def test_p_after_a_run_without_output_saves_nothing(tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    app = runbook_app(tmp_path, [{"name": "quiet", "argv": ["true"]}])
    folder = tmp_path / "state" / "ops-console" / "logs"
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await run_confirmed(app, pilot)
        assert "exit 0" in status_text(app)
        await pilot.press("p")
        await pilot.pause(0.3)
        messages = [str(n.message) for n in app._notifications]
        assert "Nothing to save: quiet printed no output." in messages, messages
        assert not any(m.startswith("Saved") for m in messages)
        assert not folder.exists() or not list(folder.iterdir())
        assert not app.internal_errors


async def test_export_says_what_the_panel_did_not_keep() -> None:
    app = PanelApp()  # a panel of 50 lines
    async with app.run_test(size=(80, 20)) as pilot:
        out = app.query_one(CommandOutput)
        out.begin("seq", "count")
        out.add_batch(OutputBatch(stdout(*(f"L{i}" for i in range(40))), 0, 40, 200))
        # A flood: 500 lines skipped before the next 30 (10 of them on stderr).
        lines = stdout(*(f"L{i}" for i in range(540, 560))) + tuple(
            OutputLine(f"E{i}", "stderr") for i in range(10)
        )
        out.add_batch(OutputBatch(lines, 500, 570, 3000, stderr_lines=10))
        await pilot.pause()
        export = out.export()
        assert (export.kept, export.total, export.skipped, export.action) == (49, 570, 500, "count")
        assert export.dropped == 21 and export.running
        assert (
            export.lines[0]
            == "notice … 21 earlier lines were not kept (the panel keeps the newest 50) …"
        )
        assert export.lines[1:20] == tuple(f"stdout L{i}" for i in range(21, 40))
        assert export.lines[20] == "notice … 500 lines not shown (output too fast) …"
        assert export.lines[-1] == "stderr E9"
        from screens.runbook import saved_message

        text = saved_message(Path("/x/runbook-count.log"), export)
        assert text.startswith("Saved 49 lines of output to /x/runbook-count.log of 570; ")
        assert "the 21 lines before them were not kept" in text
        assert "500 lines were skipped in a flood" in text
        assert "still running" in text


async def test_an_action_key_on_p_gives_way_to_save_with_a_warning(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    app = runbook_app(tmp_path, [{"name": "touchy", "argv": ["touch", str(marker)], "key": "p"}])
    async with app.run_test(size=(140, 40)) as pilot:
        await open_runbook(app, pilot)
        await pilot.pause()
        assert any("not bound: p" in str(n.message) for n in app._notifications)
        await pilot.press("p")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, ConfirmScreen) and not marker.exists()
        assert not app.action_running and not app.internal_errors


async def test_a_long_line_wraps_instead_of_being_cut() -> None:
    app = PanelApp()
    async with app.run_test(size=(40, 20)) as pilot:
        out = app.query_one(CommandOutput)
        out.begin("long")
        out.add_batch(OutputBatch((OutputLine("a" * 70 + "END", "stderr"),), 0, 1, 74))
        await pilot.pause()
        rows = [row.rstrip() for row in out.log_view.visible_lines()]
        assert rows[0].startswith("▍aaa") and any(row.endswith("END") for row in rows[1:3])
