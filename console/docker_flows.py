"""What the Containers screen calls: restart, stop/start, roll back, service rollback,
and the log follower of a container.

Each action flow is a coroutine for `app.start_action(flow, name)` (a rollback gives a
cancel event too, see `start_rollback`): it inspects the container afresh (the preview
shows what runs now, not what the last poll saw), builds the plan
(console/docker_actions.py, console/docker_service_actions.py) and hands it to
`app.run_plan` (confirm, recheck, execute with a timeout, audit). In read-only mode
nothing touches the engine: a plan is built from the last poll so the life cycle
refuses and audits it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from adapters.docker import actions as ops
from adapters.docker.models import RollbackPreview
from adapters.errors import SourceError
from console.docker_actions import (
    INSPECT_TIMEOUT,
    restart_plan,
    rollback_plan,
    state_from_summary,
    stop_start_plan,
)
from console.docker_service_actions import service_rollback_plan

if TYPE_CHECKING:
    from adapters.docker.client import DockerHost
    from adapters.docker.models import ContainerSummary, ServiceSummary
    from console.app import OpsConsoleApp

Progress = Callable[[str], None]
log = logging.getLogger(__name__)

#: The log view's `since` choices: label -> seconds back (None: the whole log).
#: A rollback preview lists the images of a repository: allow it more than one inspect.
PREVIEW_TIMEOUT = 2 * INSPECT_TIMEOUT


def _error(app: OpsConsoleApp, message: str) -> None:
    app.notify(message, severity="error", markup=False, timeout=8)


def _container(app: OpsConsoleApp, key: str) -> tuple[DockerHost, ContainerSummary] | None:
    """The host and last-polled summary of `key`, or None (told to the operator)."""
    source = app.docker
    if source is None:
        _error(app, "Docker is not configured for this target.")
        return None
    snapshot = source.last()
    summary = snapshot.container(key) if snapshot is not None else None
    if summary is None:
        _error(app, "That container is no longer listed: nothing done.")
        return None
    return source.host(summary.host), summary


async def _observe(
    app: OpsConsoleApp, host: DockerHost, summary: ContainerSummary
) -> ops.ContainerState | None:
    try:
        return await host.call(lambda c: ops.observe(c, summary.id), timeout=INSPECT_TIMEOUT)
    except SourceError as err:
        if err.kind == "not-found":
            _error(app, f"The container {summary.name} no longer exists: nothing done.")
        else:
            _error(app, f"Could not inspect {summary.name} on {host.name}: {err}")
        return None


def _on_loop(progress: Progress | None) -> Progress:
    """`progress` made safe to call from the host's worker threads: it never raises into
    the caller, also once the loop is closed (the app quit while a rollback restores)."""
    if progress is None:
        return lambda _message: None
    loop = asyncio.get_running_loop()

    def deliver(message: str) -> None:
        try:
            progress(message)
        except Exception:  # a widget gone with its screen must not break the action
            log.debug("progress report failed", exc_info=True)

    def report(message: str) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed
            loop.call_soon_threadsafe(deliver, message)

    return report


def _warner(app: OpsConsoleApp) -> Progress:
    def warn(message: str) -> None:
        app.notify(message, severity="warning", markup=False, timeout=10)

    return warn


async def restart_flow(app: OpsConsoleApp, key: str) -> None:
    """`r`: restart the selected container."""
    found = _container(app, key)
    if found is None:
        return
    host, summary = found
    seen = state_from_summary(summary) if app.read_only else await _observe(app, host, summary)
    if seen is not None:
        await app.run_plan(restart_plan(host, seen, target=app.target.name))


async def stop_start_flow(app: OpsConsoleApp, key: str) -> None:
    """`s`: stop the selected container when it runs, else start it."""
    found = _container(app, key)
    if found is None:
        return
    host, summary = found
    seen = state_from_summary(summary) if app.read_only else await _observe(app, host, summary)
    if seen is not None:
        await app.run_plan(stop_start_plan(host, seen, target=app.target.name))


def configured_image(app: OpsConsoleApp, summary: ContainerSummary) -> str | None:
    """The config's rollback image for this container (by name, or compose service)."""
    images = app.docker.config.rollback_images
    service = summary.labels.get("com.docker.compose.service")
    return images.get(summary.name) or (images.get(service) if service else None)


async def rollback_flow(
    app: OpsConsoleApp,
    key: str,
    progress: Progress | None = None,
    cancel: asyncio.Event | None = None,
) -> None:
    """`R` on a container: preview the rollback (refused with the reason when there is no
    image to go back to), confirm by typing the name, recreate, wait, restore on failure.
    `cancel` is the event given to `app.start_action` (ctrl+c sets it): it stops the
    rollback between two steps, restoring the old container once it was stopped."""
    from adapters.docker.rollback import preview_rollback

    found = _container(app, key)
    if found is None:
        return
    host, summary = found
    wait = app.docker.config.rollback_wait
    if app.read_only:
        seen = state_from_summary(summary)
        preview = RollbackPreview(
            host.name, summary.id, summary.name, summary.image, None, "not previewed", ()
        )
    else:
        seen = await _observe(app, host, summary)
        if seen is None:
            return
        configured = configured_image(app, summary)
        try:
            preview = await host.call(
                lambda c: preview_rollback(c, summary.id, host.name, configured),
                timeout=PREVIEW_TIMEOUT,
            )
        except SourceError as err:
            _error(app, f"Could not prepare the rollback of {summary.name}: {err}")
            return
        if preview.refusal:
            _error(app, f"Rollback of {summary.name} refused: {preview.refusal}.")
            return
    plan = rollback_plan(
        host,
        seen,
        preview,
        target=app.target.name,
        wait_seconds=wait,
        progress=_on_loop(progress),
        cancel=cancel,
        warn=_warner(app),
    )
    await app.run_plan(plan)


def start_rollback(app: OpsConsoleApp, key: str, progress: Progress | None = None) -> bool:
    """Start `rollback_flow` as the app's running action with its own cancel event, so
    that ctrl+c stops the rollback safely instead of cancelling it halfway."""
    cancel = asyncio.Event()
    return app.start_action(
        rollback_flow(app, key, progress, cancel), "docker.rollback", cancel, must_finish=True
    )


def _service(app: OpsConsoleApp, key: str) -> tuple[DockerHost, ServiceSummary] | None:
    source = app.docker
    if source is None:
        _error(app, "Docker is not configured for this target.")
        return None
    snapshot = source.last()
    service = next((s for s in snapshot.services if s.key == key), None) if snapshot else None
    if service is None:
        _error(app, "That service is no longer listed: nothing done.")
        return None
    return source.host(service.host), service


async def service_rollback_flow(
    app: OpsConsoleApp,
    service_key: str,
    progress: Progress,
    cancel: asyncio.Event | None = None,
) -> None:
    """`R` on a Swarm service: `docker service rollback`, showing its tasks converge.
    `cancel` (ctrl+c) stops waiting for convergence; the manager goes on."""
    found = _service(app, service_key)
    if found is None:
        return
    host, service = found
    if not app.read_only and service.previous_image is None:
        _error(app, f"Rollback of {service.name} refused: it has no previous spec.")
        return
    plan = service_rollback_plan(
        host, service, target=app.target.name, progress=_on_loop(progress), cancel=cancel
    )
    await app.run_plan(plan)
