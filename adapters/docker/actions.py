"""Container remediations (restart, stop, start) and the rechecks that guard them.

Sync functions on a `docker.DockerClient`: the console runs them through
`DockerHost.call(..., timeout=...)`. Each acts on a container id (the identity the
operator confirmed), never on a name that may point at another container by now, and
lets `docker.errors.NotFound` through for the caller to map.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker


#: Seconds the engine waits after SIGTERM before SIGKILL (`docker restart --time`).
DEFAULT_STOP_WAIT = 10
_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


@dataclass(frozen=True, slots=True)
class ContainerState:
    """What the operator saw of a container when the action was previewed."""

    id: str
    name: str
    image: str
    state: str  # running, exited, restarting, ...
    started_at: str  # the engine's RFC 3339 text: compared exactly, never parsed back
    restart_count: int
    command: str
    restart_policy: str  # "no", "always", "unless-stopped", "on-failure:3"
    health: str | None
    stop_wait: int  # the container's own StopTimeout, else the default

    @property
    def running(self) -> bool:
        return self.state in ("running", "restarting", "paused")


def parse_time(text: str | None) -> float | None:
    """The engine's RFC 3339 (nanoseconds, 'Z') as unix seconds; None for its zero time."""
    match = _RFC3339.match(text or "")
    if match is None or match[1].startswith("0001-"):
        return None
    zone = "+00:00" if match[3] == "Z" else match[3]
    try:
        base = datetime.fromisoformat(match[1] + zone).timestamp()
    except ValueError:
        return None
    return base + (float(f"0.{match[2]}") if match[2] else 0.0)


def command_text(config: dict[str, Any]) -> str:
    """What runs in the container: entrypoint and command, shell-quoted."""
    parts = [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])]
    return shlex.join(str(p) for p in parts)


def restart_policy_text(host_config: dict[str, Any]) -> str:
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    retries = policy.get("MaximumRetryCount") or 0
    return f"{name}:{retries}" if name == "on-failure" and retries else name


def state_of(inspect: dict[str, Any]) -> ContainerState:
    """A `ContainerState` from the engine's inspect data."""
    config = inspect.get("Config") or {}
    state = inspect.get("State") or {}
    health = state.get("Health") or {}
    return ContainerState(
        id=inspect["Id"],
        name=(inspect.get("Name") or "").lstrip("/"),
        image=config.get("Image") or inspect.get("Image", ""),
        state=state.get("Status") or "unknown",
        started_at=state.get("StartedAt") or "",
        restart_count=int(inspect.get("RestartCount") or 0),
        command=command_text(config),
        restart_policy=restart_policy_text(inspect.get("HostConfig") or {}),
        health=health.get("Status") or None,
        stop_wait=int(config.get("StopTimeout") or DEFAULT_STOP_WAIT),
    )


def observe(client: docker.DockerClient, container_id: str) -> ContainerState:
    """Inspect the container now (raises `docker.errors.NotFound` when it is gone)."""
    return state_of(client.api.inspect_container(container_id))


def uptime(state: ContainerState, now: float | None = None) -> float | None:
    """Seconds since the container started, when it runs."""
    started = parse_time(state.started_at)
    if not state.running or started is None:
        return None
    return max(0.0, (time.time() if now is None else now) - started)


def recheck(
    client: docker.DockerClient,
    seen: ContainerState,
    *,
    want_running: bool | None = None,
    same_run: bool = True,
) -> str | None:
    """None when the container is still the one the operator saw (same id and name);
    else the reason to refuse. `want_running` also requires it to run (True) or not.
    `same_run` (the default) also requires the same state and the same run (start time,
    restart count); a stop passes False: a crash-looping container restarts between the
    preview and the confirmation, and stopping it is exactly what is wanted."""
    import docker.errors

    try:
        now = observe(client, seen.id)
    except docker.errors.NotFound:
        return f"the container {seen.name} no longer exists (removed after it was selected)"
    if now.id != seen.id:
        return f"{seen.name} is another container now"
    if now.name != seen.name:
        return f"{seen.name} was renamed to {now.name} since it was shown"
    if want_running is not None and now.running != want_running:
        return f"{seen.name} is {now.state} now, not {seen.state} as shown"
    if not same_run:
        return None
    if now.state != seen.state:
        return f"{seen.name} is {now.state} now, not {seen.state} as shown"
    if now.started_at != seen.started_at or now.restart_count != seen.restart_count:
        return f"{seen.name} was restarted since it was shown (started {now.started_at})"
    return None


def restart(client: docker.DockerClient, container_id: str, stop_wait: int) -> ContainerState:
    """`docker restart --time STOP_WAIT`: the engine waits that long after SIGTERM."""
    client.api.restart(container_id, timeout=stop_wait)
    return observe(client, container_id)


def stop(client: docker.DockerClient, container_id: str, stop_wait: int) -> ContainerState:
    """`docker stop --time STOP_WAIT`."""
    client.api.stop(container_id, timeout=stop_wait)
    return observe(client, container_id)


def start(client: docker.DockerClient, container_id: str) -> ContainerState:
    """`docker start`."""
    client.api.start(container_id)
    return observe(client, container_id)
