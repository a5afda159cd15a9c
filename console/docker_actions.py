"""Container remediations as `ActionPlan`s: restart, stop/start, roll back.

Each plan is built from what the operator saw (a fresh inspect, `ContainerState`) and
acts on the container id, never on a name. The recheck inspects again right before
executing: a container removed or restarted since it was shown is refused. Every engine
call goes through `DockerHost.call` with its own timeout. The Swarm service plan
(console/docker_service_actions.py) shares `Host`, `engine_call` and `stoppable`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from adapters.docker import actions as ops
from adapters.docker.rollback_run import RESTORED_MESSAGE, execute_rollback
from adapters.errors import SourceError
from console.actions import ActionPlan, ExecResult, Risk
from widgets.formatting import duration

if TYPE_CHECKING:
    import docker

    from adapters.docker.models import (
        ContainerSummary,
        RollbackPreview,
        RollbackResult,
    )

T = TypeVar("T")
Progress = Callable[[str], None]
log = logging.getLogger(__name__)

#: Seconds for one inspect (preview, recheck).
INSPECT_TIMEOUT = 10.0
#: Beyond the engine's own stop wait: the request, the start, the final inspect.
CALL_MARGIN = 20.0
#: A rollback stops, renames, creates, starts and waits: its steps' budgets summed.
ROLLBACK_MARGIN = 60.0
#: Beyond the rollback's budget: the step running when it ran out, then removing the new
#: container and starting the old one (two attempts of up to five engine calls, each
#: bounded by the SDK's socket timeout).
RESTORE_ALLOWANCE = 90.0
#: Longest engine error text kept in an outcome (one line).
ERROR_CHARS = 300
INTERRUPT_MESSAGE = "cannot interrupt a rollback halfway: restoring the old container…"


class Host(Protocol):
    """What a plan needs of `adapters.docker.client.DockerHost`."""

    name: str

    async def call(self, fn: Callable[[docker.DockerClient], T], *, timeout: float) -> T: ...


class RollbackRestored(SourceError):
    """The new container did not hold and the old one runs again: audited as failed."""

    kind = "restored"
    retryable = False


def state_from_summary(summary: ContainerSummary) -> ops.ContainerState:
    """A `ContainerState` from the last poll, for plans built without an inspect
    (read-only: refused before anything touches the engine)."""
    return ops.ContainerState(
        id=summary.id,
        name=summary.name,
        image=summary.image,
        state=summary.state,
        started_at="",
        restart_count=summary.restart_count,
        command=summary.command,
        restart_policy="no",
        health=summary.health,
        stop_wait=ops.DEFAULT_STOP_WAIT,
    )


def _details(host: Host, seen: ops.ContainerState) -> list[tuple[str, str]]:
    up = ops.uptime(seen)
    return [
        ("container", f"{seen.name} ({seen.id[:12]})"),
        ("host", host.name),
        ("image", seen.image),
        ("runs", seen.command or "(image default)"),
        ("state", seen.state + (f", {seen.health}" if seen.health else "")),
        ("uptime", "-" if up is None else duration(up)),
        ("restart count", str(seen.restart_count)),
        ("restart policy", seen.restart_policy),
    ]


def _params(host: Host, seen: ops.ContainerState, **extra: Any) -> dict[str, Any]:
    return {"host": host.name, "container": seen.name, "id": seen.id[:12], **extra}


async def engine_call(host: Host, fn: Callable[[docker.DockerClient], T], *, timeout: float) -> T:
    """`host.call`, its error text cut to one short line: engines answer with OCI dumps
    and stack traces, and the outcome is a notification and one audit line."""
    try:
        return await host.call(fn, timeout=timeout)
    except SourceError as err:
        text = " ".join(str(err).split())
        if text == str(err) and len(text) <= ERROR_CHARS:
            raise
        short = text if len(text) <= ERROR_CHARS else text[: ERROR_CHARS - 1] + "…"
        raise type(err)(short) from err


def _rechecker(host: Host, seen: ops.ContainerState, **kwargs: Any) -> Any:
    async def recheck() -> str | None:
        return await host.call(lambda c: ops.recheck(c, seen, **kwargs), timeout=INSPECT_TIMEOUT)

    return recheck


def restart_plan(
    host: Host,
    seen: ops.ContainerState,
    *,
    target: str,
    stop_wait: int | None = None,
    timeout: float | None = None,
) -> ActionPlan:
    """`docker restart --time N` of the container the operator saw."""
    wait = seen.stop_wait if stop_wait is None else stop_wait
    budget = timeout if timeout is not None else wait + CALL_MARGIN

    async def execute() -> str:
        now = await engine_call(host, lambda c: ops.restart(c, seen.id, wait), timeout=budget)
        return f"Restarted {seen.name} on {host.name}: {now.state}."

    return ActionPlan(
        action="docker.restart",
        target=target,
        title=f"Restart container {seen.name} on host {host.name}",
        preview=f"docker restart --time {wait} {seen.name}  (on host {host.name})",
        recheck=_rechecker(host, seen),
        execute=execute,
        details=tuple(_details(host, seen)),
        risk=Risk.LOW,
        params=_params(host, seen, image=seen.image, stop_wait=wait),
        timeout=budget,
    )


def stop_start_plan(
    host: Host,
    seen: ops.ContainerState,
    *,
    target: str,
    stop_wait: int | None = None,
    timeout: float | None = None,
) -> ActionPlan:
    """`docker stop` of a running container, `docker start` of a stopped one."""
    wait = seen.stop_wait if stop_wait is None else stop_wait
    stopping = seen.running
    budget = timeout if timeout is not None else (wait if stopping else 0) + CALL_MARGIN
    details = _details(host, seen)
    if stopping and seen.restart_policy != "no":
        again = (
            "it stays stopped, also across an engine restart"
            if seen.restart_policy == "unless-stopped"
            else "it stays stopped until the engine itself restarts, then it starts again"
        )
        details.insert(0, ("RESTART POLICY", f"{seen.restart_policy}: {again}"))

    async def execute() -> str:
        if stopping:
            now = await engine_call(host, lambda c: ops.stop(c, seen.id, wait), timeout=budget)
            return f"Stopped {seen.name} on {host.name}: {now.state}."
        now = await engine_call(host, lambda c: ops.start(c, seen.id), timeout=budget)
        return f"Started {seen.name} on {host.name}: {now.state}."

    verb = "stop" if stopping else "start"
    return ActionPlan(
        action=f"docker.{verb}",
        target=target,
        title=f"{verb.capitalize()} container {seen.name} on host {host.name}",
        preview=(
            f"docker stop --time {wait} {seen.name}" if stopping else f"docker start {seen.name}"
        )
        + f"  (on host {host.name})",
        # A stop only needs the same container, still running: a crash-looping one has
        # restarted since it was shown, and stopping it is the point.
        recheck=_rechecker(host, seen, want_running=stopping, same_run=not stopping),
        execute=execute,
        details=tuple(details),
        risk=Risk.LOW,
        params=_params(host, seen, image=seen.image),
        timeout=budget,
    )


def rollback_budget(seen: ops.ContainerState, wait_seconds: float) -> float:
    """Seconds a rollback may take before it must restore: stop, create, start, wait."""
    return seen.stop_wait + wait_seconds + ROLLBACK_MARGIN


async def stoppable(
    task: asyncio.Future[T], cancel: asyncio.Event | None, on_stop: Callable[[], None]
) -> tuple[T, bool]:
    """(the task's result, whether it was asked to stop). `cancel` set, or this
    coroutine cancelled (a second ctrl+c, the life cycle's timeout), calls `on_stop` once
    (it tells the work to stop at its next step) and the result is still awaited: the
    task is bounded by its own timeout and never abandoned halfway."""
    stopped = False
    try:
        if cancel is not None:
            watcher = asyncio.ensure_future(cancel.wait())
            try:
                await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                watcher.cancel()
            if not task.done():
                stopped = True
                on_stop()
        return await asyncio.shield(task), stopped
    except asyncio.CancelledError:
        if not stopped:
            on_stop()
    warned = False
    while True:
        if task.done():  # its own result, or its own cancellation (the loop closing)
            return task.result(), True
        try:
            return await asyncio.shield(task), True
        except asyncio.CancelledError:
            # Cancelled again while the work puts things back: keep waiting for it.
            if not warned and not task.done():
                warned = True
                log.warning("cancelled again: still waiting for the stopped action to finish")


def rollback_plan(
    host: Host,
    seen: ops.ContainerState,
    preview: RollbackPreview,
    *,
    target: str,
    wait_seconds: float,
    progress: Progress,
    timeout: float | None = None,
    cancel: asyncio.Event | None = None,
    warn: Progress | None = None,
) -> ActionPlan:
    """Recreate the container from `preview.target_image`, restoring the old one if the
    new one does not become healthy (HIGH: the container's name is typed).

    `timeout` is the rollback's own budget (default `rollback_budget`): when it runs out
    the old container is restored; the plan's life-cycle timeout adds the restore's
    allowance so that it never fires first. Once started, a rollback is never abandoned:
    `cancel` set (ctrl+c) or the task cancelled stops it between two steps, restores the
    old container when it was already stopped, and the real outcome is what is audited.
    `warn` tells the operator so (a notification)."""
    to_image = preview.target_image or "-"
    budget = timeout if timeout is not None else rollback_budget(seen, wait_seconds)
    call_timeout = budget + RESTORE_ALLOWANCE
    details: list[tuple[str, str]] = [
        ("rollback", f"{preview.current_image} -> {to_image}"),
        ("target image from", preview.target_basis),
    ]
    if preview.target_image_id:
        details.append(("target image id", preview.target_image_id[:19]))
    if preview.refusal:
        details.insert(0, ("REFUSED", preview.refusal))
    details += _details(host, seen)[:1] + [("recreated " + k, v) for k, v in preview.recreated]
    details.append(
        (
            "kept",
            f"the old container is stopped and kept as {preview.name}.ops-rollback-… "
            "with restart policy no",
        )
    )
    details.append(("health wait", f"healthy, or running for {wait_seconds:g} s; else restored"))
    details.append(("ctrl+c", "stops between two steps; once stopped, the old one is restored"))

    async def recheck() -> str | None:
        if preview.refusal:
            return preview.refusal
        # Same id means same image: a container is never re-imaged in place.
        reason = await _rechecker(host, seen)()
        if reason is None and preview.target_image_id:
            now = await host.call(
                lambda c: c.api.inspect_image(to_image)["Id"], timeout=INSPECT_TIMEOUT
            )
            if now != preview.target_image_id:
                reason = f"{preview.target_image} points at another image since the preview"
        return reason

    async def execute() -> ExecResult:
        stop = threading.Event()
        deadline = time.monotonic() + budget

        def run(c: docker.DockerClient) -> RollbackResult:
            return execute_rollback(
                c, preview, wait_seconds, progress, deadline=deadline, stop=stop
            )

        def interrupt() -> None:
            stop.set()
            if warn is not None:
                with contextlib.suppress(Exception):
                    warn(INTERRUPT_MESSAGE)

        task = asyncio.ensure_future(engine_call(host, run, timeout=call_timeout))
        result, interrupted = await stoppable(task, cancel, interrupt)
        if interrupted:  # kept in the log too: a cancelled life cycle audits only that
            log.warning("rollback of %s interrupted: %s", preview.name, result.message)
        facts: dict[str, Any] = {
            "outcome": result.outcome,
            "from_image": result.old_image,
            "to_image": result.new_image,
            "to_image_id": preview.target_image_id,
            "kept_container": result.kept_container,
            "new_container": result.new_container_id,
            "interrupted": interrupted,
        }
        if result.outcome == "rolled-back":
            return ExecResult(f"Rolled back on {host.name}: {result.message}.", facts)
        restored = result.outcome == "restored"
        err = RollbackRestored(result.message) if restored else SourceError(result.message)
        err.audit_execution = facts  # type: ignore[attr-defined]
        raise err

    return ActionPlan(
        action="docker.rollback",
        target=target,
        title=f"Roll back container {preview.name} on host {host.name} to {to_image}",
        preview=f"recreate {preview.name} from {to_image} (was {preview.current_image})"
        f"  (on host {host.name})",
        recheck=recheck,
        execute=execute,
        details=tuple(details),
        risk=Risk.HIGH,
        confirm_token=preview.name or seen.name,
        params=_params(
            host,
            seen,
            from_image=preview.current_image,
            to_image=preview.target_image,
            to_image_id=preview.target_image_id,
            basis=preview.target_basis,
            wait_seconds=wait_seconds,
        ),
        timeout=call_timeout + CALL_MARGIN,
    )


__all__ = [
    "INTERRUPT_MESSAGE",
    "RESTORED_MESSAGE",
    "RollbackRestored",
    "restart_plan",
    "rollback_budget",
    "rollback_plan",
    "state_from_summary",
    "stop_start_plan",
]
