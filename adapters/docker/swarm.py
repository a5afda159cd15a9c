"""Docker Swarm services as a manager sees them, and `docker service rollback`.

Sync functions on a `docker.DockerClient` (run through `DockerHost.call`). Replica counts
come from the tasks, not from the spec: "3/3" means three tasks are running now.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.docker.actions import parse_time
from adapters.docker.models import ServiceSummary

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker

Progress = Callable[[str], None]
_POLL = 0.5
#: Posts refused as out of sequence (the manager wrote the service meanwhile) retried.
_POST_ATTEMPTS = 5


class RollbackRefused(Exception):
    """The service cannot be rolled back (no previous spec): nothing was sent."""


class ServiceChanged(RollbackRefused):
    """The service's spec changed since the operator confirmed: nothing was done."""


CHANGED_MESSAGE = "the service changed since you confirmed: nothing done"
#: Update states in which the manager stopped rolling back: waiting longer cannot help.
_STUCK = ("rollback_paused", "paused")


@dataclass(frozen=True, slots=True)
class TaskSummary:
    """One task of a service (what `docker service ps` lists)."""

    id: str
    slot: int | None
    node_id: str
    image: str  # digest suffix removed
    state: str  # running, starting, shutdown, failed, rejected...
    desired_state: str
    message: str
    error: str
    updated_at: float | None


@dataclass(frozen=True, slots=True)
class ServiceRollbackResult:
    """How a service rollback ended: `converged` when every desired task runs `image`."""

    service: str
    from_image: str
    image: str
    converged: bool
    running: int
    desired: int | None
    update_state: str | None
    message: str


def strip_digest(image: str) -> str:
    """`app:1@sha256:...` -> `app:1` (swarm pins digests into the spec)."""
    return image.split("@", 1)[0]


def _image_of(spec: Mapping[str, Any] | None) -> str | None:
    ref = _image_ref(spec)
    return strip_digest(ref) if ref else None


def _image_ref(spec: Mapping[str, Any] | None) -> str | None:
    """The spec's image as pinned, digest included."""
    if not spec:
        return None
    image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image")
    return str(image) if image else None


def _task(raw: Mapping[str, Any]) -> TaskSummary:
    status = raw.get("Status") or {}
    spec = (raw.get("Spec") or {}).get("ContainerSpec") or {}
    return TaskSummary(
        id=raw.get("ID", ""),
        slot=raw.get("Slot"),
        node_id=raw.get("NodeID", ""),
        image=strip_digest(spec.get("Image") or ""),
        state=status.get("State") or "",
        desired_state=raw.get("DesiredState") or "",
        message=status.get("Message") or "",
        error=status.get("Err") or "",
        updated_at=parse_time(raw.get("UpdatedAt")),
    )


def _summary(host: str, raw: Mapping[str, Any], running: int) -> ServiceSummary:
    spec = raw.get("Spec") or {}
    mode = spec.get("Mode") or {}
    update = raw.get("UpdateStatus") or {}
    replicated = "Replicated" in mode
    return ServiceSummary(
        host=host,
        id=raw["ID"],
        name=spec.get("Name", ""),
        image=_image_of(spec) or "",
        previous_image=_image_of(raw.get("PreviousSpec")),
        mode="replicated" if replicated else "global",
        replicas_running=running,
        replicas_desired=int((mode.get("Replicated") or {}).get("Replicas") or 0)
        if replicated
        else None,
        update_state=update.get("State") or None,
        update_message=update.get("Message") or "",
        updated_at=parse_time(update.get("CompletedAt") or raw.get("UpdatedAt")),
        labels=dict(spec.get("Labels") or {}),
        version=int((raw.get("Version") or {}).get("Index") or 0),
        spec_fingerprint=spec_fingerprint(raw),
        image_ref=_image_ref(spec) or "",
        previous_image_ref=_image_ref(raw.get("PreviousSpec")),
    )


def list_services(client: docker.DockerClient, host: str) -> tuple[ServiceSummary, ...]:
    """Every service of the swarm, with its running task count (one tasks call)."""
    services = client.api.services()
    if not services:
        return ()
    running = Counter(
        t.get("ServiceID")
        for t in client.api.tasks(filters={"desired-state": "running"})
        if (t.get("Status") or {}).get("State") == "running"
    )
    summaries = [_summary(host, s, running.get(s["ID"], 0)) for s in services]
    return tuple(sorted(summaries, key=lambda s: s.name))


def service_tasks(client: docker.DockerClient, service_id: str) -> tuple[TaskSummary, ...]:
    """The service's tasks, newest first (to show convergence)."""
    tasks = [_task(t) for t in client.api.tasks(filters={"service": service_id})]
    return tuple(sorted(tasks, key=lambda t: t.updated_at or 0.0, reverse=True))


def inspect_service(client: docker.DockerClient, service_id: str) -> ServiceSummary:
    """One service now (raises `docker.errors.NotFound` when it is gone)."""
    raw = client.api.inspect_service(service_id)
    running = sum(1 for t in service_tasks(client, raw["ID"]) if _counts(t))
    return _summary("", raw, running)


def inspected_summary(raw: Mapping[str, Any]) -> ServiceSummary:
    """The summary of one `inspect_service` answer (no task count: 0 running)."""
    return _summary("", raw, 0)


def _counts(task: TaskSummary) -> bool:
    return task.state == "running" and task.desired_state == "running"


def spec_fingerprint(raw: Mapping[str, Any]) -> str:
    """What a rollback acts on, as one comparable value: the service's spec and the
    previous spec it would go back to. The spec version index is not enough: the manager
    bumps it for its own update-status writes, while the spec stays the same."""
    canonical = json.dumps(
        [raw.get("Spec"), raw.get("PreviousSpec")], sort_keys=True, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def request_rollback(
    client: docker.DockerClient,
    service_id: str,
    expect: str | None = None,
    *,
    attempts: int = _POST_ATTEMPTS,
) -> tuple[str, str, str | None]:
    """Ask the manager to roll the service back to its previous spec, as
    `docker service rollback` does (an update with `rollback=previous`; the body is the
    current spec, which the manager ignores). With `expect` (a `spec_fingerprint` taken
    when the operator confirmed) it is sent only while the spec and previous spec are
    still those: else `ServiceChanged` and nothing is sent. Returns (from image, to image,
    the update status's start time before the request)."""
    import docker.errors

    api = client.api
    for _attempt in range(attempts):
        raw = api.inspect_service(service_id)
        previous = raw.get("PreviousSpec")
        name = (raw.get("Spec") or {}).get("Name", service_id)
        if not previous:
            raise RollbackRefused(f"the service {name} has no previous spec to roll back to")
        if expect is not None and spec_fingerprint(raw) != expect:
            raise ServiceChanged(CHANGED_MESSAGE)
        # Posted at the version just inspected: the manager refuses it atomically if
        # anything was written since, and the loop looks again. The SDK's
        # update_service has no `rollback` parameter: post as the CLI does.
        response = api._post_json(
            api._url("/services/{0}/update", raw["ID"]),
            data=raw["Spec"],
            params={"version": int(raw["Version"]["Index"]), "rollback": "previous"},
        )
        try:
            api._raise_for_status(response)
        except docker.errors.APIError as err:
            if "out of sequence" in str(err.explanation or err):
                continue  # an update-status write, or a real change: the next look tells
            raise
        started = (raw.get("UpdateStatus") or {}).get("StartedAt")
        return _image_of(raw.get("Spec")) or "", _image_of(previous) or "", started
    raise ServiceChanged(f"the service kept changing ({attempts} tries): nothing done; try again")


def wait_converged(
    client: docker.DockerClient,
    service_id: str,
    image: str,
    timeout: float,
    progress: Progress,
    *,
    started_before: str | None = None,
    stop: threading.Event | None = None,
) -> tuple[bool, ServiceSummary]:
    """Poll (at most `timeout` s, or until `stop`) until the manager reports THIS
    rollback completed (`rollback_completed`, with an update start time other than
    `started_before`), every desired task runs `image` and the replica count is met."""
    stop = stop or threading.Event()
    deadline = time.monotonic() + timeout
    while True:
        raw = client.api.inspect_service(service_id)
        tasks = service_tasks(client, service_id)
        live = [t for t in tasks if t.desired_state == "running"]
        running = [t for t in live if t.state == "running"]
        summary = _summary("", raw, len(running))
        desired = summary.replicas_desired
        on_image = [t for t in running if t.image == image]
        state = summary.update_state or "-"
        ours = (raw.get("UpdateStatus") or {}).get("StartedAt") != started_before
        progress(
            f"{summary.name}: {len(on_image)}/{desired if desired is not None else len(live)} "
            f"tasks on {image}, update {state}"
        )
        converged = (
            ours
            and state == "rollback_completed"
            and summary.image == image
            and all(t.image == image for t in live)
            and (len(on_image) >= desired if desired is not None else bool(on_image))
        )
        if converged:
            return True, summary
        if (ours and state in _STUCK) or stop.is_set() or time.monotonic() >= deadline:
            return False, summary
        stop.wait(_POLL)


def rollback_service(
    client: docker.DockerClient,
    service_id: str,
    *,
    expect: str | None = None,
    timeout: float = 60.0,
    progress: Progress = lambda _msg: None,
    stop: threading.Event | None = None,
) -> ServiceRollbackResult:
    """Roll the service back to its previous spec (only while its spec is the one
    fingerprinted as `expect`, when given) and wait (bounded; `stop` ends the wait
    early) for the manager to complete it on the previous image. Raises
    `RollbackRefused` without a previous spec and `ServiceChanged` when the spec is no
    longer the expected one: nothing is sent then."""
    report = _quiet(progress)
    from_image, to_image, started = request_rollback(client, service_id, expect)
    report(f"rollback requested: {from_image} -> {to_image}")
    converged, summary = wait_converged(
        client, service_id, to_image, timeout, report, started_before=started, stop=stop
    )
    done = f"{summary.replicas_running}/{summary.replicas_desired or '-'} running"
    if converged:
        message = f"{summary.name} rolled back to {to_image} ({done})"
    else:
        stopped = stop is not None and stop.is_set()
        lead = (
            f"stopped waiting for {summary.name} to roll back to {to_image}"
            if stopped
            else f"{summary.name} did not converge on {to_image} within {timeout:g} s"
        )
        detail = " ".join(summary.update_message.split())[:200]
        message = (
            f"{lead} ({done}, update {summary.update_state or '-'}: {detail}); "
            "the manager may still be rolling it back: check the service"
        )
    return ServiceRollbackResult(
        service=summary.name,
        from_image=from_image,
        image=to_image,
        converged=converged,
        running=summary.replicas_running,
        desired=summary.replicas_desired,
        update_state=summary.update_state,
        message=message,
    )


def _quiet(progress: Progress) -> Progress:
    """`progress` that can never break the rollback (a closed loop, a failing widget)."""

    def report(message: str) -> None:
        with contextlib.suppress(Exception):
            progress(message)

    return report
