"""The application shell: screens, the header, key handling and who polls what
(remediations: `console.app_actions`).

The app owns scheduling: one `Poller` per source, whatever screens show it. Screens
receive `SourceUpdated` messages and pull the latest states when they become current.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import ModalScreen, Screen
from textual.worker import Worker

from console.app_actions import ActionsMixin
from console.bindings import bindings, hide_destructive
from console.config import Config
from console.messages import AuditAppended, SourceUpdated
from console.scheduler import Poller
from console.state import SourceState
from themes import DEFAULT_THEME, STYLESHEET, THEME_NAMES, THEMES
from widgets.header_bar import HeaderBar, HeaderInfo

log = logging.getLogger(__name__)

SCREEN_IDS = ("dashboard", "postgres", "redis", "containers", "health", "audit")
SOURCE_CLOSE_SECONDS = 2.0
BUILT_SCREENS = ("dashboard", "postgres", "redis", "containers", "health", "audit", "runbook")


def _dashboard() -> Screen:
    from screens.dashboard import DashboardScreen

    return DashboardScreen()


def _postgres() -> Screen:
    from screens.postgres import PostgresScreen

    return PostgresScreen()


def _redis() -> Screen:
    from screens.redis import RedisScreen

    return RedisScreen()


def _containers() -> Screen:
    from screens.containers import ContainersScreen

    return ContainersScreen()


def _health() -> Screen:
    from screens.health import HealthScreen

    return HealthScreen()


def _runbook() -> Screen:
    from screens.runbook import RunbookScreen

    return RunbookScreen()


def _audit() -> Screen:
    from screens.audit_log import AuditScreen

    return AuditScreen()


class OpsConsoleApp(ActionsMixin, App[int]):
    """ops-console: live triage of one target (PostgreSQL for now), with audited actions."""

    TITLE = "ops-console"
    CSS_PATH = STYLESHEET
    MODES = {
        "dashboard": _dashboard,
        "postgres": _postgres,
        "redis": _redis,
        "containers": _containers,
        "health": _health,
        "audit": _audit,
        "runbook": _runbook,
    }
    BINDINGS = bindings(
        "screen.dashboard",
        "screen.postgres",
        "screen.redis",
        "screen.containers",
        "screen.health",
        "screen.audit",
        "app.help",
        "app.command",
        "app.quit",
        "app.arm",
        "app.refresh",
        "app.interrupt",
        "app.rollback",
        # Declared here, not left to Textual: it adds its own palette binding in
        # App.__init__, which the per-target binding reset dropped (ctrl+p did nothing).
        "app.palette",
    )

    def __init__(
        self,
        config: Config,
        target_name: str | None = None,
        *,
        clock: Callable[[], float] = time.time,
        autostart: bool = True,
    ) -> None:
        super().__init__()
        from console.arming import ArmState
        from console.audit import AuditLog
        from console.operator import OperatorContext

        self.config = config
        self.target = config.target(target_name)
        self.clock = clock
        self.autostart = autostart
        self.audit = AuditLog(config.audit_log)
        self.operator = OperatorContext.from_env()
        self.arm_state = ArmState(production=self.target.production)
        self.states: dict[str, SourceState[Any]] = {}
        self.pollers: dict[str, Poller[Any]] = {}
        self.pg: Any = None  # PostgresSource, created when sources start
        self.redis: dict[str, Any] = {}  # RedisSource by source name ("redis:cache")
        self.docker: Any = None  # console.docker_source.DockerSource
        self.health: Any = None  # console.health_source.HealthSource
        #: Set by ctrl+c to stop a long action (a paced clear) between two batches.
        self.action_cancel: asyncio.Event | None = None
        self.action_must_finish = False
        self.header_info = self._header_info()
        self.action_worker: Worker[None] | None = None
        #: Errors caught by `survive` (tests assert it stays empty).
        self.internal_errors: list[BaseException] = []
        if config.keymap:
            self.set_keymap(config.keymap)
        self._hide_unusable_bindings()

    def _hide_unusable_bindings(self) -> None:
        # Arming means nothing on a read-only or non-production target, and `R` nothing
        # without a runbook rollback: keep the keys (pressing one says why) but do not
        # offer them in the footer.
        if self._merged_bindings:
            self._bindings = self._merged_bindings.copy()
        hidden: set[str] = set()
        if self.read_only or not self.target.production:
            hidden.add("app.arm")
        if self.read_only or not any(a.kind == "rollback" for a in self.target.runbook):
            hidden.add("app.rollback")
        hide_destructive(self, hidden)

    # ----------------------------------------------------------------- set-up

    @property
    def read_only(self) -> bool:
        return self.config.is_read_only(self.target)

    @property
    def arm_minutes(self) -> float:
        return self.config.arm_minutes_for(self.target)

    def _header_info(self, connection: str = "") -> HeaderInfo:
        return HeaderInfo(
            target=self.target.name,
            connection=connection,
            read_only=self.read_only,
            production=self.target.production,
            armed_until=self.arm_state.armed_until,
        )

    def on_mount(self) -> None:
        for theme in THEMES:
            self.register_theme(theme)
        self.theme = self.config.theme if self.config.theme in THEME_NAMES else DEFAULT_THEME
        self.switch_mode("dashboard")
        self.set_interval(1.0, self._check_arming)
        self._handle_hangups()
        if self.autostart:
            # After the first frame: the drivers are imported only then.
            self.call_after_refresh(self.start_sources)

    def start_sources(self) -> None:
        """Create the target's sources and start one polling loop for each."""
        from console import docker_source, health_source
        from console.pg_source import PostgresSource

        self._start_redis_sources()
        for module in (docker_source, health_source):
            try:
                module.start(self)
            except Exception as exc:  # discovery reads files and env: report, don't crash
                log.exception("%s source failed to start", module.SOURCE_NAME)
                self.notify(f"{module.SOURCE_NAME}: {exc}", severity="error", markup=False)
        pg_config = self.target.postgres
        if pg_config is None:
            return
        refresh = self.config.postgres_refresh(self.target)
        self.pg = PostgresSource(pg_config, refresh)
        try:
            self.update_header(connection=self.pg.describe())
        except Exception as exc:  # discovery reads files and env: report, don't crash
            log.exception("postgres discovery failed")
            self.update_header(connection=f"postgres: {exc}")
        self.add_poller(
            Poller(
                "postgres", self.pg.fetch, interval=refresh, on_state=self.publish, clock=self.clock
            )
        )

    def _start_redis_sources(self) -> None:
        from console.redis_source import RedisSource

        for instance in self.target.redis:
            source = RedisSource(instance, self.config.redis_refresh(self.target, instance))
            self.redis[source.name] = source
            self.add_poller(
                Poller(
                    source.name,
                    source.fetch,
                    interval=source.refresh,
                    on_state=self.publish,
                    clock=self.clock,
                )
            )

    def add_poller(self, poller: Poller[Any]) -> None:
        self.pollers[poller.name] = poller
        self.states[poller.name] = poller.state
        self.run_worker(
            poller.run(), name=f"poll:{poller.name}", group="pollers", exit_on_error=False
        )

    async def stop_sources(self) -> None:
        """Stop polling and close every source's connections and threads (bounded: a
        server that hangs must not hold up a target switch or the exit)."""
        self.workers.cancel_group(self, "pollers")
        self.pollers.clear()
        self.states.clear()
        for source in [self.pg, *self.redis.values(), self.docker, self.health]:
            if source is None:
                continue
            try:
                async with asyncio.timeout(SOURCE_CLOSE_SECONDS):
                    await source.close()
            except Exception:
                log.exception("closing %s connections failed", source.name)
        self.pg = None
        self.redis = {}
        self.docker = None
        self.health = None

    async def on_unmount(self) -> None:
        # At exit: end the stats streams, event watchers and connections cleanly.
        await self.stop_sources()

    # ------------------------------------------------------------ data flow

    def publish(self, state: SourceState[Any]) -> None:
        """Record a source's new state and tell the screens on the current stack."""
        self.states[state.name] = state
        for screen in self.screen_stack:
            if not isinstance(screen, ModalScreen):
                screen.post_message(SourceUpdated(state))

    def update_header(self, connection: str | None = None) -> None:
        self.header_info = self._header_info(
            self.header_info.connection if connection is None else connection
        )
        for header in self.screen.query(HeaderBar):
            header.show(self.header_info)

    def audit_appended(self) -> None:
        for screen in self.screen_stack:
            screen.post_message(AuditAppended())

    # -------------------------------------------------------------- actions

    def action_switch_screen_id(self, screen_id: str) -> None:
        if screen_id not in BUILT_SCREENS:
            self.notify(
                f"The {screen_id} screen is not available in this version.",
                severity="warning",
                markup=False,
            )
            return
        if self.current_mode != screen_id:
            self.switch_mode(screen_id)

    def action_help(self) -> None:
        from screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_command_line(self) -> None:
        from screens.command_line import CommandLineScreen

        self.push_screen(CommandLineScreen(), self.run_command)

    def run_command(self, line: str | None) -> None:
        """Run a `:` command (`pg`, `audit`, `target NAME`, `theme NAME`, `q`)."""
        from console.commands import parse_command

        if not line:
            return
        command = parse_command(line)
        if command.error:
            self.notify(command.error, severity="error", markup=False)
        elif command.screen:
            self.action_switch_screen_id(command.screen)
        elif command.name == "quit":
            self.action_request_quit()
        elif command.name == "theme":
            if command.arg not in THEME_NAMES:
                self.notify(
                    f"Unknown theme {command.arg!r}; themes: {', '.join(THEME_NAMES)}",
                    severity="error",
                    markup=False,
                )
            else:
                self.theme = command.arg
        elif command.name == "target":
            self.run_worker(self.switch_target(command.arg), group="target", exit_on_error=False)

    async def switch_target(self, name: str) -> None:
        """Stop polling the current target and start polling `name`."""
        if name not in self.config.targets:
            known = ", ".join(self.config.targets)
            self.notify(
                f"Unknown target {name!r}; targets: {known}", severity="error", markup=False
            )
            return
        from console.arming import ArmState

        if self.action_running:
            self.notify(
                "An action is still running: switch targets when it has finished.",
                severity="warning",
                markup=False,
            )
            return
        await self.stop_sources()
        self.target = self.config.targets[name]
        self.arm_state = ArmState(production=self.target.production)
        self._hide_unusable_bindings()
        self.update_header(connection="")
        await self._rebuild_screens()
        self.start_sources()
        self.notify(f"Switched to target {name}", markup=False)

    async def _rebuild_screens(self) -> None:
        """Screens are composed for a target (its panes, its read-only keys): build them
        anew for the new one — the others lazily, the current one now."""
        for mode, factory in self.MODES.items():
            if mode != self.current_mode:
                await self.remove_mode(mode)
                self.add_mode(mode, factory)
        screen = self.screen
        if hasattr(screen, "reset_for_target"):
            screen.reset_for_target()
        await screen.recompose()
        ensure_focus = getattr(screen, "ensure_focus", None)
        if callable(ensure_focus):
            ensure_focus()  # its widgets are new: the old focus went with them
        self.refresh_bindings()

    def action_refresh_now(self) -> None:
        for poller in self.pollers.values():
            poller.poke()
