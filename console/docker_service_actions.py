"""Swarm service remediation as an `ActionPlan`: `docker service rollback`.

The plan is built from the service the operator saw, with a fingerprint of its spec and
previous spec taken when it was listed. The recheck refuses when the service's specs are
no longer those; the rollback is sent only while they still are, posted at the version
just inspected, so the manager itself refuses it if the service changed in between.
(The version index alone is not enough: the manager bumps it for its own update-status
writes, which would refuse a rollback of an unchanged service.) Container plans, and
the helpers both share (`Host`, `engine_call`, `stoppable`), are in
console/docker_actions.py.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from adapters.errors import SourceError
from console.actions import ActionPlan, ExecResult, Risk
from console.docker_actions import (
    CALL_MARGIN,
    INSPECT_TIMEOUT,
    Host,
    Progress,
    engine_call,
    stoppable,
)

if TYPE_CHECKING:
    import docker

    from adapters.docker.models import ServiceSummary

SERVICE_CONVERGE_TIMEOUT = 120.0


def service_rollback_plan(
    host: Host,
    service: ServiceSummary,
    *,
    target: str,
    progress: Progress,
    converge_timeout: float = SERVICE_CONVERGE_TIMEOUT,
    cancel: asyncio.Event | None = None,
) -> ActionPlan:
    """`docker service rollback NAME` of the spec the operator confirmed, then wait for
    the manager to complete it (HIGH). The recheck verifies that the spec and previous
    spec are still exactly the ones listed (`service.spec_fingerprint`; a redeployed tag
    or changed settings under the same image names are refused), and the rollback is
    sent only while they still are. `cancel` (ctrl+c) only stops the waiting: the
    manager goes on."""
    from adapters.docker import swarm

    previous = service.previous_image or "-"
    rollback = f"{service.image} -> {previous}"
    if service.image == service.previous_image:  # a tag redeployed: only digests differ
        rollback = f"{service.image_ref} -> {service.previous_image_ref}"
    replicas = (
        f"{service.replicas_running}/{service.replicas_desired}"
        if service.replicas_desired is not None
        else f"{service.replicas_running} (global)"
    )
    details = (
        ("service", f"{service.name} ({service.id[:12]})"),
        ("host", host.name),
        ("rollback", rollback),
        ("replicas", replicas),
        ("update status", f"{service.update_state or '-'} {service.update_message}".strip()),
    )
    verified: list[tuple[int, str]] = []

    async def recheck() -> str | None:
        def check(c: docker.DockerClient) -> str | None:
            import docker.errors

            try:
                raw = c.api.inspect_service(service.id)
            except docker.errors.NotFound:
                return f"the service {service.name} no longer exists"
            if not raw.get("PreviousSpec"):
                return f"the service {service.name} has no previous spec to roll back to"
            now = swarm.inspected_summary(raw)
            if now.image != service.image:
                return f"{service.name} runs {now.image} now, not {service.image} as shown"
            if now.previous_image != service.previous_image:
                return (
                    f"{service.name} would roll back to {now.previous_image} now, "
                    f"not {service.previous_image} as shown"
                )
            fingerprint = swarm.spec_fingerprint(raw)
            if service.spec_fingerprint and fingerprint != service.spec_fingerprint:
                # Same image names, other spec: a tag redeployed, settings changed.
                return (
                    f"the service {service.name} changed since it was shown (its spec or "
                    "the spec it would roll back to): look at it again"
                )
            verified[:] = [(now.version, fingerprint)]
            return None

        return await host.call(check, timeout=INSPECT_TIMEOUT)

    async def execute() -> ExecResult:
        if not verified:
            raise SourceError("the service was not rechecked: nothing done")
        stop = threading.Event()

        def run(c: docker.DockerClient) -> Any:
            try:
                return swarm.rollback_service(
                    c,
                    service.id,
                    expect=verified[0][1],
                    timeout=converge_timeout,
                    progress=progress,
                    stop=stop,
                )
            except swarm.RollbackRefused as err:
                raise SourceError(str(err)) from None

        # The request is one call: stopping only ends the wait for convergence.
        task = asyncio.ensure_future(engine_call(host, run, timeout=converge_timeout + CALL_MARGIN))
        result, _stopped = await stoppable(task, cancel, stop.set)
        facts = {
            "from_image": result.from_image,
            "to_image": result.image,
            "version": verified[0][0],
            "converged": result.converged,
            "update_state": result.update_state,
        }
        if not result.converged:
            err = SourceError(result.message)
            err.audit_execution = facts  # type: ignore[attr-defined]
            raise err
        return ExecResult(f"{result.message}.", facts)

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


__all__ = ["SERVICE_CONVERGE_TIMEOUT", "service_rollback_plan"]
