"""The Containers screen, detail and dashboard pane through Pilot, on the real engine."""

from __future__ import annotations

from typing import Any

import pytest
from textual.widgets import Static

from console.app import OpsConsoleApp
from screens.confirm import ConfirmScreen
from screens.container_detail import ContainerDetailScreen
from screens.containers import ContainersScreen
from tests.docker_situations import APP_V1, APP_V2, Containers
from tests.pg_situations import wait_until
from tests.test_ui_logs import docker_app
from widgets.container_detail import ContainerDetailView
from widgets.container_table import ContainerTable
from widgets.containers_summary import ContainersSummaryPane

pytest_plugins = ("tests.docker_situations",)
pytestmark = pytest.mark.timeout(120)

HOSTILE_LABELS = {
    "evil.clear": "a\x1b[2Jb",
    "evil.clip": "c\x1b]52;c;cm0gLXJm\x07d",
    "evil.link": "e\x1b]8;;http://evil/\x1b\\f\x1b]8;;\x1b\\",
    "evil.title": "g\x1b]0;pwned\x07h",
    "evil.markup": "[/] [link=http://x]y[/link] [bold]z",
    "evil.bidi": "i\u202ej",
}


def table(app: OpsConsoleApp) -> ContainerTable:
    return app.screen.query_one(ContainerTable)


async def open_containers(app: OpsConsoleApp, pilot: Any) -> ContainerTable:
    await pilot.press("4")
    await wait_until(lambda: isinstance(app.screen, ContainersScreen), what="containers screen")
    return table(app)


def row(app: OpsConsoleApp, container: Any) -> str:
    return table(app).row_text(f"local/{container.id}")


def started_at(container: Any) -> str:
    container.reload()
    return container.attrs["State"]["StartedAt"]


async def test_table_shows_state_and_health(tmp_path, containers: Containers) -> None:
    healthy = containers.run(APP_V1, name="good")
    sick = containers.run(APP_V2, name="sick")
    crashed = containers.run(command=["sh", "-c", "exit 3"], name="crash")
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(200, 40)) as pilot:
        await open_containers(app, pilot)
        await wait_until(lambda: "running healthy" in row(app, healthy), timeout=30, what="healthy")
        await wait_until(lambda: "running unhealthy" in row(app, sick), timeout=30, what="sick")
        await wait_until(lambda: "exited (3)" in row(app, crashed), timeout=30, what="exit 3")
        assert "opsc-test/app:1" in row(app, healthy)
        keys = table(app).keys_in_order
        assert keys.index(f"local/{sick.id}") < keys.index(f"local/{healthy.id}")  # problems first
        assert table(app).total_count == 3
        await pilot.press("a")  # running only
        assert f"local/{crashed.id}" not in table(app).keys_in_order
        await pilot.press("slash", *"good")
        await pilot.pause()
        assert table(app).keys_in_order == [f"local/{healthy.id}"]
        await pilot.press("escape")
        assert app.internal_errors == []
        await pilot.press("1")
        pane = app.screen.query_one(ContainersSummaryPane)
        await wait_until(lambda: "unhealthy 1" in pane.body_text().plain, what="dashboard")
        assert "exited≠0 1" in pane.body_text().plain


async def test_cursor_keeps_the_container_across_refreshes(
    tmp_path, containers: Containers
) -> None:
    made = [containers.run(name=f"k{i}", command=["sleep", "600"]) for i in range(4)]
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(200, 40)) as pilot:
        t = await open_containers(app, pilot)
        await wait_until(lambda: t.total_count == 4, timeout=30, what="four rows")
        t.focus()
        await pilot.press("down", "down")
        key = t.selected_key
        polls = app.states["docker"].polls
        containers.run(name="a-new", command=["sleep", "600"])  # sorts before the others
        await wait_until(lambda: t.total_count == 5, timeout=30, what="a fifth row")
        await wait_until(lambda: app.states["docker"].polls > polls + 2, timeout=30, what="polls")
        assert t.selected_key == key
        assert len(made) == 4


async def test_detail_shows_labels_inert(tmp_path, containers: Containers) -> None:
    probe = r"printf 'h\033]52;c;eA==\007 \033[2J [/] \342\200\256x'; exit 1"
    c = containers.run(
        APP_V1,
        name="detail",
        labels=HOSTILE_LABELS,
        healthcheck={"test": ["CMD-SHELL", probe], "interval": 500_000_000, "retries": 1},
    )
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(200, 60)) as pilot:
        t = await open_containers(app, pilot)
        await wait_until(lambda: t.select_key(f"local/{c.id}"), timeout=30, what="the row")
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ContainerDetailScreen), what="detail")
        body = app.screen.query_one("#detail-body")
        await wait_until(lambda: "evil.link" in str(body.render()), timeout=20, what="labels")
        await pilot.press("escape")  # the health log fills in a few probes: open it again
        await wait_until(lambda: "unhealthy" in row(app, c), timeout=30, what="unhealthy")
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ContainerDetailScreen), what="detail")
        body = app.screen.query_one("#detail-body")
        await wait_until(lambda: "␛[2J [/]" in str(body.render()), timeout=20, what="probes")
        text = str(body.render())
        for bad in ("\x1b", "\x07", "\u202e"):
            assert bad not in text
        assert "[link=http://x]y[/link]" in text and "opsc-test/app:1" in text
        assert app.screen.query_one(ContainerDetailView) is not None
        await pilot.press("escape")
        assert isinstance(app.screen, ContainersScreen)
        assert app.internal_errors == []


async def _restart(tmp_path: Any, containers: Containers, answer: str) -> tuple[Any, Any, str]:
    c = containers.run(command=["sleep", "600"], name="restart")
    before = started_at(c)
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(200, 40)) as pilot:
        t = await open_containers(app, pilot)
        await wait_until(lambda: t.select_key(f"local/{c.id}"), timeout=30, what="the row")
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=20, what="dialog")
        await pilot.press(answer)
        await wait_until(lambda: not app.action_running, timeout=60, what="the action")
        record = app.audit.recent()[0]
    return c, record, before


async def test_restart_confirmed(tmp_path, containers: Containers) -> None:
    c, record, before = await _restart(tmp_path, containers, "y")
    assert record.outcome == "succeeded", record
    assert "restart" in record.action
    assert started_at(c) != before


async def test_restart_cancelled_with_escape(tmp_path, containers: Containers) -> None:
    c, record, before = await _restart(tmp_path, containers, "escape")
    assert record.outcome == "cancelled", record
    assert started_at(c) == before
    assert c.attrs["RestartCount"] == 0


async def test_read_only_refuses_restart(tmp_path, containers: Containers) -> None:
    c = containers.run(command=["sleep", "600"], name="ro")
    before = started_at(c)
    app = docker_app(tmp_path, containers, target={"read_only": True})
    async with app.run_test(size=(200, 40)) as pilot:
        t = await open_containers(app, pilot)
        await wait_until(lambda: t.select_key(f"local/{c.id}"), timeout=30, what="the row")
        restart = app.screen._bindings.key_to_bindings["r"]
        assert restart and not any(b.show for b in restart)  # not offered in the footer
        await pilot.press("r")
        await wait_until(lambda: app.audit.recent(), timeout=20, what="the audit record")
        await wait_until(lambda: not app.action_running, timeout=20, what="the refusal")
        assert not isinstance(app.screen, ConfirmScreen)
        assert app.audit.recent()[0].outcome == "refused-read-only"
    assert started_at(c) == before


async def test_stop_then_start(tmp_path, containers: Containers) -> None:
    c = containers.run(command=["sleep", "600"], name="stop")
    app = docker_app(tmp_path, containers)
    async with app.run_test(size=(200, 40)) as pilot:
        t = await open_containers(app, pilot)
        key = f"local/{c.id}"
        await wait_until(lambda: t.select_key(key), timeout=30, what="the row")
        for expected in ("exited", "running"):
            await pilot.press("s")
            await wait_until(lambda: isinstance(app.screen, ConfirmScreen), timeout=20)
            await pilot.press("y")
            await wait_until(lambda: not app.action_running, timeout=60, what="the action")
            assert app.audit.recent()[0].outcome == "succeeded", app.audit.recent()[0]
            await wait_until(
                lambda e=expected: row(app, c).split()[3].startswith(e), timeout=30, what=expected
            )
            assert t.selected_key == key
        c.reload()
        assert c.status == "running"


async def test_services_table_shown_for_a_manager_and_tab_moves_focus(
    tmp_path, containers: Containers
) -> None:
    """Hand-built snapshot (no swarm on the test engine): the screen's own wiring."""
    from adapters.docker.models import DockerSnapshot, HostSnapshot, ServiceSummary
    from console.state import SourceState
    from widgets.service_table import ServiceTable

    services = tuple(
        ServiceSummary(
            "local", f"s{i}", f"svc{i}", "app:2", "app:1", "replicated", i, 2, None, "", None
        )
        for i in range(3)
    )
    snapshot = DockerSnapshot(
        hosts=(HostSnapshot("local", "unix://", 0.0, swarm_manager=True, services=services),),
        taken_at=0.0,
        duration=0.1,
    )
    app = docker_app(tmp_path, containers)
    app.autostart = False
    async with app.run_test(size=(200, 40)) as pilot:
        await open_containers(app, pilot)
        screen = app.screen
        assert not screen.query_one("#services-box").has_class("-shown")
        app.publish(SourceState("docker").succeeded(snapshot, 1.0, 0.1, 2.0))
        await pilot.pause()
        assert screen.query_one("#services-box").has_class("-shown")
        service_table = screen.query_one(ServiceTable)
        assert service_table.total_count == 3
        await pilot.press("tab")
        assert service_table.has_focus
        await pilot.press("o")  # sorts the focused table
        assert service_table.sort_key == "host" and table(app).sort_key == "status"
        await pilot.press("tab")
        assert table(app).has_focus
        assert app.internal_errors == []


async def test_bang_runs_a_runbook_action_on_the_selected_container(
    tmp_path, containers: Containers, docker_client: Any
) -> None:
    from screens.runbook_picker import RunbookPicker

    c = containers.run(command=["sleep", "600"], name="rb")
    # The action restarts the container by name with the real CLI, the name filled in as
    # a whole argv element from the selection.
    action = {"name": "kick", "argv": ["docker", "restart", "-t", "1", "{container}"]}
    before = started_at(c)
    app = docker_app(tmp_path, containers, target={"runbook": [action]})
    async with app.run_test(size=(200, 40)) as pilot:
        t = await open_containers(app, pilot)
        await wait_until(lambda: t.select_key(f"local/{c.id}"), timeout=30, what="the row")
        await pilot.press("exclamation_mark")
        await wait_until(lambda: isinstance(app.screen, RunbookPicker), what="the picker")
        await pilot.press("enter")
        dialog = await wait_until(
            lambda: app.screen if isinstance(app.screen, ConfirmScreen) else None,
            what="the dialog",
        )
        assert dialog.plan.preview.endswith(f"docker restart -t 1 {c.name}")
        await pilot.press("y")
        await wait_until(lambda: not app.action_running, timeout=60, what="the run")
        record = app.audit.recent()[0]
    assert (record.action, record.outcome) == ("runbook.kick", "succeeded"), record
    assert started_at(c) != before


async def test_a_target_switch_leaves_no_counts_of_the_old_target(
    tmp_path, containers: Containers
) -> None:
    # `:target` on the Containers screen kept the old target's counts in the header
    # ("0 containers on 1 host(s), 0 shown · 1 running · 1 unhealthy …") under the new
    # target's error, across polls and re-entry.
    import yaml

    from console.config import load_config

    containers.run(APP_V2, name="sick")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "t": {"docker": {"name_patterns": [containers.prefix + "*"]}},
                    "down": {"docker": {"hosts": [{"name": "far", "url": "tcp://127.0.0.1:9"}]}},
                },
            }
        )
    )
    app = OpsConsoleApp(load_config(cfg), "t")

    def status() -> str:
        return str(app.screen.query_one("#containers-status", Static).content)

    async with app.run_test(size=(200, 40)) as pilot:
        await open_containers(app, pilot)
        await wait_until(lambda: "1 unhealthy" in status(), timeout=30, what="t's counts")
        await pilot.press("colon", *"target down", "enter")
        await wait_until(lambda: app.target.name == "down", what="target down")
        await wait_until(
            lambda: app.states["docker"].error is not None, timeout=30, what="down's error"
        )
        polls = app.states["docker"].polls
        await wait_until(lambda: app.states["docker"].polls > polls, timeout=30, what="a poll")
        await pilot.pause()
        assert isinstance(app.screen, ContainersScreen)
        assert status() == "No data yet.", status()
        assert table(app).total_count == 0
        await pilot.press("1")
        await pilot.press("4")
        await wait_until(lambda: isinstance(app.screen, ContainersScreen), what="re-entry")
        await pilot.pause()
        assert status() == "No data yet.", status()
        assert app.internal_errors == []
