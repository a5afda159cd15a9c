"""`4`: containers of every host of the target, swarm services, and their actions.

One table for all hosts (the cursor is a container identity, `host/id`, kept across
refreshes), a second for swarm services when a host is a manager (`tab` moves between
them). `enter` shows a container's detail, `l` its logs; `r`, `s` and `R` go through the
action life cycle (preview, confirm, recheck, execute, audit) in console/docker_flows.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Input, Static

from adapters.docker.models import ContainerSummary, DockerSnapshot, ServiceSummary
from console.bindings import bindings
from console.guard import survive
from console.state import SourceState
from screens.base import ConsoleScreen
from widgets.container_table import ContainerTable, KeyedTable
from widgets.containers_summary import counts
from widgets.freshness import Freshness
from widgets.progress_line import ProgressLine
from widgets.safe_text import safe_text, sanitize
from widgets.service_table import ServiceTable

SOURCE = "docker"
CONTAINER_BINDINGS = (
    "containers.logs",
    "containers.restart",
    "containers.stop_start",
    "containers.rollback",
    "table.filter",
    "table.details",
    "table.sort",
    "table.reverse",
    "containers.toggle_all",
    "containers.switch_table",
    "containers.runbook",
)


class ContainersScreen(ConsoleScreen):
    """Containers (all hosts) and swarm services, with restart/stop/start/rollback."""

    BINDINGS = [
        *bindings(*CONTAINER_BINDINGS),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    DEFAULT_CSS = """
    ContainersScreen #containers-status { height: auto; max-height: 4; color: $foreground 70%; }
    ContainersScreen #containers-filter { display: none; height: 1; border: none; padding: 0 1; }
    ContainersScreen #containers-filter.-shown { display: block; }
    ContainersScreen ContainerTable { height: 1fr; }
    ContainersScreen #services-box { display: none; height: auto; max-height: 40%; }
    ContainersScreen #services-box.-shown { display: block; border-top: solid $secondary; }
    ContainersScreen #services-title { color: $primary; text-style: bold; }
    ContainersScreen ServiceTable { height: auto; max-height: 14; }
    """

    def __init__(self) -> None:
        super().__init__()
        self.snapshot: DockerSnapshot | None = None
        self._failed = False  # the source failed and has no data (no snapshot)

    def reset_for_target(self) -> None:
        """Another target: nothing of the old one's containers may be counted or shown."""
        super().reset_for_target()
        self.snapshot = None
        self._failed = False

    def body(self) -> ComposeResult:
        yield Freshness(clock=self.console().clock, id="containers-freshness")
        yield Static(id="containers-status")
        yield Input(
            placeholder="filter: host, name, image, state (Esc clears)", id="containers-filter"
        )
        yield ContainerTable(id="containers-table")
        yield ProgressLine(id="containers-progress")
        with Vertical(id="services-box"):
            yield Static(Text("Swarm services (tab: focus)"), id="services-title")
            yield ServiceTable(id="services-table")

    def on_mount(self) -> None:
        self.query_one(ContainerTable).focus()
        self._show_status()

    # -------------------------------------------------------------- data

    @survive
    def show_state(self, state: SourceState[Any]) -> None:
        if state.name != SOURCE:
            return
        self.query_one(Freshness).update_state(state)
        snapshot = state.snapshot
        self._failed = snapshot is None and state.error is not None
        if snapshot is not self.snapshot:
            # None: no data (yet) from this source, e.g. just after a target switch.
            self.snapshot = snapshot
            now = self.console().clock()
            hosts = snapshot.hosts if snapshot is not None else ()
            stale = frozenset(h.host for h in hosts if h.error)
            containers = snapshot.containers if snapshot is not None else ()
            self.query_one(ContainerTable).update_containers(containers, now, stale)
            managers = any(h.swarm_manager for h in hosts)
            self.query_one("#services-box").set_class(managers, "-shown")
            services = snapshot.services if snapshot is not None else ()
            self.query_one(ServiceTable).update_services(services, now)
        self._show_status()

    def _show_status(self) -> None:
        table = self.query_one(ContainerTable)
        snapshot = self.snapshot
        if self.console().target.docker is None:
            line = Text("No Docker configured for this target.")
        elif snapshot is None:
            line = Text("No data yet." if self._failed else "waiting for the first poll…")
        else:
            n = counts(snapshot)
            line = safe_text(
                f"{table.total_count:,} containers on {len(snapshot.hosts)} host(s),"
                f" {table.visible_count:,} shown"
                f"{'' if table.show_stopped else ' (stopped hidden: a)'}"
                f" · {n['running']} running"
                f" · {n['unhealthy']} unhealthy"
                f" · {n['exited_nonzero']} exited≠0"
                f" · CPU is % of one core"
            )
            filter_text = self.query_one("#containers-filter", Input).value
            if filter_text:
                line.append(" · filter: ")
                line.append_text(safe_text(filter_text, max_len=40, style="bold"))
            if snapshot.stats_failed:
                line.append(f" · stats missing for {snapshot.stats_failed}", "italic")
            for host in snapshot.hosts:
                if host.error:
                    line.append("\nhost ", "bold")
                    line.append(sanitize(host.host, max_len=40), "bold")
                    line.append(": " + sanitize(host.error, max_len=160) + " (last data shown)")
        self.query_one("#containers-status", Static).update(line)

    # ----------------------------------------------------------- selection

    def selected_container(self) -> ContainerSummary | None:
        item = self.query_one(ContainerTable).selected_item
        return item if isinstance(item, ContainerSummary) else None

    def selected_service(self) -> ServiceSummary | None:
        item = self.query_one(ServiceTable).selected_item
        return item if isinstance(item, ServiceSummary) else None

    def _focused_table(self) -> KeyedTable:
        services = self.query_one(ServiceTable)
        return services if services.has_focus else self.query_one(ContainerTable)

    def action_runbook(self) -> None:
        """`!`: a runbook action on the selected container (or Swarm service)."""
        from console.runbook_flows import pick_and_run

        if self.query_one(ServiceTable).has_focus:
            service = self.selected_service()
            selection = {"service": service.name} if service is not None else {}
        else:
            container = self.selected_container()
            selection = {}
            if container is not None:
                same_name = [
                    c
                    for c in (self.snapshot.containers if self.snapshot else ())
                    if c.name == container.name
                ]
                if len({c.host for c in same_name}) > 1:
                    # A runbook command names a container, not a host: refuse the ambiguity.
                    self.notify(
                        f"{sanitize(container.name, max_len=60)} exists on several hosts: a "
                        "runbook action could reach the wrong one. Nothing offered.",
                        severity="warning",
                        markup=False,
                    )
                    return
                selection["container"] = container.name
                compose_service = container.labels.get("com.docker.compose.service")
                if compose_service:
                    selection["service"] = compose_service
        pick_and_run(self.console(), selection)

    def _need_container(self) -> ContainerSummary | None:
        container = self.selected_container()
        if container is None:
            self.notify("Select a container first.", markup=False)
        return container

    # -------------------------------------------------------------- actions

    def action_filter(self) -> None:
        field = self.query_one("#containers-filter", Input)
        field.add_class("-shown")
        field.focus()

    @on(Input.Changed, "#containers-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self.query_one(ContainerTable).set_filter(event.value)
        self.query_one(ServiceTable).set_filter(event.value)
        self._show_status()

    @on(Input.Submitted, "#containers-filter")
    def _filter_done(self) -> None:
        self.query_one(ContainerTable).focus()

    def action_clear_filter(self) -> None:
        field = self.query_one("#containers-filter", Input)
        field.value = ""
        field.remove_class("-shown")
        self.query_one(ContainerTable).set_filter("")
        self.query_one(ServiceTable).set_filter("")
        self.query_one(ContainerTable).focus()
        self._show_status()

    def action_cycle_sort(self) -> None:
        self._focused_table().action_cycle_sort()

    def action_reverse_sort(self) -> None:
        self._focused_table().action_reverse_sort()

    def action_toggle_all(self) -> None:
        table = self.query_one(ContainerTable)
        table.set_show_stopped(not table.show_stopped)
        self._show_status()

    def action_switch_table(self) -> None:
        services = self.query_one(ServiceTable)
        if services.has_focus or not self.query_one("#services-box").has_class("-shown"):
            self.query_one(ContainerTable).focus()
        else:
            services.focus()

    def action_details(self) -> None:
        container = self._need_container()
        if container is None:
            return
        from screens.container_detail import ContainerDetailScreen

        self.app.push_screen(ContainerDetailScreen(container))

    @on(KeyedTable.Activated, "#containers-table")
    def _activated(self) -> None:
        self.action_details()

    def action_logs(self) -> None:
        container = self._need_container()
        if container is None:
            return
        from screens.container_logs import ContainerLogsScreen

        self.app.push_screen(ContainerLogsScreen(container))

    def _start(self, flow: Coroutine[Any, Any, Any], name: str) -> None:
        self.console().start_action(flow, name)

    def action_restart(self) -> None:
        container = self._need_container()
        if container is not None:
            from console.docker_flows import restart_flow

            self._start(restart_flow(self.console(), container.key), "containers.restart")

    def action_stop_start(self) -> None:
        container = self._need_container()
        if container is not None:
            from console.docker_flows import stop_start_flow

            self._start(stop_start_flow(self.console(), container.key), "containers.stop_start")

    def action_rollback(self) -> None:
        if self.query_one(ServiceTable).has_focus:
            service = self.selected_service()
            if service is None:
                self.notify("Select a service first.", markup=False)
                return
            # ctrl+c then stops waiting for convergence (the manager goes on), cleanly.
            cancel = asyncio.Event()
            self.console().start_action(
                self._service_rollback(service, cancel), "containers.service_rollback", cancel
            )
            return
        container = self._need_container()
        if container is not None:
            from console.docker_flows import start_rollback

            # With its own cancel event: ctrl+c restores the old container instead of
            # abandoning a rollback halfway.
            start_rollback(self.console(), container.key)

    async def _service_rollback(self, service: ServiceSummary, cancel: asyncio.Event) -> None:
        from console.docker_flows import service_rollback_flow

        line = self.query_one(ProgressLine)
        label = f"Rolling back service {sanitize(service.name, max_len=60)}"

        last = ["started"]

        def progress(text: str) -> None:
            last[0] = text
            line.update_progress(label, None, text)

        try:
            await service_rollback_flow(self.console(), service.key, progress, cancel)
        finally:
            if line.running:  # the flow's own notification gives the outcome
                line.finish(f"{label}: {last[0]}")
