"""What `inspect` says about one container: the detail view, and the inspect-level
fields of the container table (health, start time, restart count, exit code, OOM, IPs).

Environment VALUES are never kept (they hold secrets): only the variable names.
Every other value is kept raw, as the engine returned it; widgets sanitise.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from adapters.docker.client import DockerHost
from adapters.docker.models import ContainerDetail, HealthProbe
from adapters.docker.stats import parse_time

__all__ = ["InspectFields", "inspect", "inspect_fields", "parse_detail"]


@dataclass(frozen=True, slots=True)
class InspectFields:
    """The inspect-level columns of one container, cached by the monitor."""

    health: str | None
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    oom_killed: bool
    restart_count: int
    ip_addresses: tuple[str, ...]
    state: str


def inspect_fields(raw: Mapping[str, Any]) -> InspectFields:
    """The table's inspect-level fields from a raw `inspect_container` answer."""
    state = raw.get("State") or {}
    health = state.get("Health") or {}
    status = str(state.get("Status") or "")
    return InspectFields(
        health=health.get("Status") or None,
        started_at=parse_time(state.get("StartedAt")),
        finished_at=parse_time(state.get("FinishedAt")),
        # Docker keeps the last exit code of a running container too; it only means
        # something once the container has stopped.
        exit_code=state.get("ExitCode") if status in ("exited", "dead", "restarting") else None,
        oom_killed=bool(state.get("OOMKilled")),
        restart_count=int(raw.get("RestartCount") or 0),
        ip_addresses=_ips(raw),
        state=status,
    )


def _ips(raw: Mapping[str, Any]) -> tuple[str, ...]:
    networks = ((raw.get("NetworkSettings") or {}).get("Networks")) or {}
    out: list[str] = []
    for net in networks.values():
        for key in ("IPAddress", "GlobalIPv6Address"):
            ip = (net or {}).get(key)
            if ip and ip not in out:
                out.append(ip)
    return tuple(out)


def _command(parts: Sequence[str] | str | None) -> str:
    if not parts:
        return ""
    if isinstance(parts, str):
        return parts
    return shlex.join(str(p) for p in parts)


def _ports(raw: Mapping[str, Any]) -> tuple[str, ...]:
    ports = ((raw.get("NetworkSettings") or {}).get("Ports")) or {}
    out: list[str] = []
    for container_port, bindings in sorted(ports.items()):
        if not bindings:
            out.append(str(container_port))
            continue
        for b in bindings:
            host_ip = b.get("HostIp") or "0.0.0.0"
            out.append(f"{host_ip}:{b.get('HostPort')}->{container_port}")
    return tuple(out)


def _mounts(raw: Mapping[str, Any]) -> tuple[str, ...]:
    out: list[str] = []
    for m in raw.get("Mounts") or ():
        kind = m.get("Type") or "?"
        source = m.get("Name") if kind == "volume" else m.get("Source")
        mode = "rw" if m.get("RW", True) else "ro"
        out.append(f"{kind} {source or '?'} -> {m.get('Destination')} ({mode})")
    return tuple(out)


def _networks(raw: Mapping[str, Any]) -> tuple[str, ...]:
    networks = ((raw.get("NetworkSettings") or {}).get("Networks")) or {}
    return tuple(
        f"{name} {(net or {}).get('IPAddress') or '-'}".rstrip()
        for name, net in sorted(networks.items())
    )


def _restart_policy(host_config: Mapping[str, Any]) -> str:
    policy = host_config.get("RestartPolicy") or {}
    name = policy.get("Name") or "no"
    retries = policy.get("MaximumRetryCount") or 0
    return f"{name}:{retries}" if name == "on-failure" and retries else name


def parse_detail(host: str, raw: Mapping[str, Any]) -> ContainerDetail:
    """ContainerDetail from a raw `inspect_container` answer (env names only)."""
    config = raw.get("Config") or {}
    host_config = raw.get("HostConfig") or {}
    state = raw.get("State") or {}
    health = state.get("Health") or {}
    fields = inspect_fields(raw)
    env_names = tuple(str(e).split("=", 1)[0] for e in config.get("Env") or ())
    probes = tuple(
        HealthProbe(
            started_at=parse_time(p.get("Start")),
            ended_at=parse_time(p.get("End")),
            exit_code=int(p.get("ExitCode") or 0),
            output=str(p.get("Output") or ""),
        )
        for p in health.get("Log") or ()
    )
    nano_cpus = host_config.get("NanoCpus") or 0
    memory = host_config.get("Memory") or 0
    return ContainerDetail(
        host=host,
        id=str(raw.get("Id", "")),
        name=str(raw.get("Name", "")).lstrip("/"),
        image=str(config.get("Image") or raw.get("Image") or ""),
        image_id=str(raw.get("Image") or ""),
        command=_command(config.get("Cmd")),
        entrypoint=_command(config.get("Entrypoint")),
        env_names=env_names,
        ports=_ports(raw),
        mounts=_mounts(raw),
        networks=_networks(raw),
        labels=dict(config.get("Labels") or {}),
        restart_policy=_restart_policy(host_config),
        state=fields.state,
        health=fields.health,
        health_log=probes,
        exit_code=fields.exit_code,
        oom_killed=fields.oom_killed,
        error=str(state.get("Error") or ""),
        restart_count=fields.restart_count,
        created_at=parse_time(raw.get("Created")),
        started_at=fields.started_at,
        finished_at=fields.finished_at,
        memory_limit=int(memory) if memory else None,
        cpu_limit=nano_cpus / 1e9 if nano_cpus else None,
    )


async def inspect(host: DockerHost, container_id: str) -> ContainerDetail:
    """Inspect one container of `host` (NotFound when it was removed)."""
    raw = await host.call(lambda c: c.api.inspect_container(container_id), timeout=host.timeout)
    return parse_detail(host.name, raw)
