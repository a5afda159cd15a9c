"""Container and Swarm remediations as `ActionPlan`s: restart, stop/start, roll back.

Each plan is built from what the operator saw (a fresh inspect, `ContainerState`) and
acts on the container id, never on a name. The recheck inspects again right before
executing: a container removed or restarted since it was shown is refused. Every engine
call goes through `DockerHost.call` with its own timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from adapters.docker import actions as ops
from adapters.docker.rollback import RESTORED_MESSAGE, execute_rollback
from adapters.errors import SourceError
from console.actions import ActionPlan, Risk
from widgets.formatting import duration

if TYPE_CHECKING:
    import docker

    from adapters.docker.models import ContainerSummary, RollbackPreview, ServiceSummary

T = TypeVar("T")
Progress = Callable[[str], None]

#: Seconds for one inspect (preview, recheck).
INSPECT_TIMEOUT = 10.0
#: Beyond the engine's own stop wait: the request, the start, the final inspect.
CALL_MARGIN = 20.0
#: A rollback stops, renames, creates, starts and waits: its steps' budgets summed.
ROLLBACK_MARGIN = 60.0
SERVICE_CONVERGE_TIMEOUT = 120.0


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
        now = await host.call(lambda c: ops.restart(c, seen.id, wait), timeout=budget)
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
            now = await host.call(lambda c: ops.stop(c, seen.id, wait), timeout=budget)
            return f"Stopped {seen.name} on {host.name}: {now.state}."
        now = await host.call(lambda c: ops.start(c, seen.id), timeout=budget)
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
        recheck=_rechecker(host, seen, want_running=stopping),
        execute=execute,
        details=tuple(details),
        risk=Risk.LOW,
        params=_params(host, seen, image=seen.image),
        timeout=budget,
    )


def rollback_plan(
    host: Host,
    seen: ops.ContainerState,
    preview: RollbackPreview,
    *,
    target: str,
    wait_seconds: float,
    progress: Progress,
    timeout: float | None = None,
) -> ActionPlan:
    """Recreate the container from `preview.target_image`, restoring the old one if the
    new one does not become healthy (HIGH: the container's name is typed)."""
    to_image = preview.target_image or "-"
    budget = timeout if timeout is not None else seen.stop_wait + wait_seconds + ROLLBACK_MARGIN
    details: list[tuple[str, str]] = [
        ("rollback", f"{preview.current_image} -> {to_image}"),
        ("target image from", preview.target_basis),
    ]
    if preview.refusal:
        details.insert(0, ("REFUSED", preview.refusal))
    details += _details(host, seen)[:1] + [("recreated " + k, v) for k, v in preview.recreated]
    details.append(
        ("kept", f"the old container is stopped and kept as {preview.name}.ops-rollback-…")
    )
    details.append(("health wait", f"healthy, or running for {wait_seconds:g} s; else restored"))

    async def recheck() -> str | None:
        if preview.refusal:
            return preview.refusal
        # Same id means same image: a container is never re-imaged in place.
        return await _rechecker(host, seen)()

    async def execute() -> str:
        result = await host.call(
            lambda c: execute_rollback(c, preview, wait_seconds, progress), timeout=budget
        )
        if result.outcome == "restored":
            raise RollbackRestored(result.message)
        if result.outcome != "rolled-back":
            raise SourceError(result.message)
        return f"Rolled back on {host.name}: {result.message}."

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
            basis=preview.target_basis,
            wait_seconds=wait_seconds,
        ),
        timeout=budget,
    )


def service_rollback_plan(
    host: Host,
    service: ServiceSummary,
    *,
    target: str,
    progress: Progress,
    converge_timeout: float = SERVICE_CONVERGE_TIMEOUT,
) -> ActionPlan:
    """`docker service rollback NAME`, then wait for its tasks to converge (HIGH)."""
    from adapters.docker import swarm

    previous = service.previous_image or "-"
    replicas = (
        f"{service.replicas_running}/{service.replicas_desired}"
        if service.replicas_desired is not None
        else f"{service.replicas_running} (global)"
    )
    details = (
        ("service", f"{service.name} ({service.id[:12]})"),
        ("host", host.name),
        ("rollback", f"{service.image} -> {previous}"),
        ("replicas", replicas),
        ("update status", f"{service.update_state or '-'} {service.update_message}".strip()),
    )

    async def recheck() -> str | None:
        def check(c: docker.DockerClient) -> str | None:
            import docker.errors

            try:
                raw = c.api.inspect_service(service.id)
            except docker.errors.NotFound:
                return f"the service {service.name} no longer exists"
            if not raw.get("PreviousSpec"):
                return f"the service {service.name} has no previous spec to roll back to"
            now = swarm.strip_digest(
                raw["Spec"]["TaskTemplate"]["ContainerSpec"].get("Image") or ""
            )
            if now != service.image:
                return f"{service.name} runs {now} now, not {service.image} as shown"
            return None

        return await host.call(check, timeout=INSPECT_TIMEOUT)

    async def execute() -> str:
        def run(c: docker.DockerClient) -> Any:
            try:
                return swarm.rollback_service(
                    c, service.id, timeout=converge_timeout, progress=progress
                )
            except swarm.RollbackRefused as err:
                raise SourceError(str(err)) from None

        result = await host.call(run, timeout=converge_timeout + CALL_MARGIN)
        if not result.converged:
            raise SourceError(result.message)
        return f"{result.message}."

    return ActionPlan(
        action="docker.service_rollback",
        target=target,
        title=f"Roll back service {service.name} to its previous spec ({previous})",
        preview=f"docker service rollback {service.name}  (on host {host.name})",
        recheck=recheck,
        execute=execute,
        details=details,
        risk=Risk.HIGH,
        confirm_token=service.name,
        params={
            "host": host.name,
            "service": service.name,
            "id": service.id[:12],
            "from_image": service.image,
            "to_image": service.previous_image,
        },
        timeout=converge_timeout + CALL_MARGIN + INSPECT_TIMEOUT,
    )


__all__ = [
    "RESTORED_MESSAGE",
    "RollbackRestored",
    "restart_plan",
    "rollback_plan",
    "service_rollback_plan",
    "state_from_summary",
    "stop_start_plan",
]
