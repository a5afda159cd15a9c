"""Frozen snapshots of Docker engines, containers, services and logs: raw values only.

Names, labels, images, health-check output and log lines come from outside and are kept
as the engine returned them; widgets sanitise them when rendering.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# -- stats ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerStats:
    """One container's resource use, computed like `docker stats` does.

    `cpu_percent` is % of ONE core (100 = one core busy; `docker stats` convention), from
    our own deltas between two samples of the same container: None on the first sample.
    Memory is what `docker stats` shows: `usage - inactive_file` (cgroup v2) or
    `usage - total_inactive_file` (v1; checked against the CLI, not `usage - cache`).
    Rates are per second, None until two samples exist.
    """

    cpu_percent: float | None
    online_cpus: int
    mem_used: int | None
    mem_limit: int | None
    net_rx_rate: float | None = None
    net_tx_rate: float | None = None
    blk_read_rate: float | None = None
    blk_write_rate: float | None = None
    net_rx_total: int = 0
    net_tx_total: int = 0
    blk_read_total: int = 0
    blk_write_total: int = 0
    pids: int | None = None
    sampled_at: float = 0.0

    @property
    def mem_percent(self) -> float | None:
        """Memory used as % of the limit (the host's memory when unlimited)."""
        if self.mem_used is None or not self.mem_limit:
            return None
        return 100.0 * self.mem_used / self.mem_limit


# -- containers -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContainerSummary:
    """One container on one host, as listed, with its latest stats (running only)."""

    host: str  # the host's name in config
    id: str  # full id
    name: str  # without the leading '/'
    image: str  # as the container was created from (repo:tag, or an id)
    image_id: str
    state: str  # created, running, paused, restarting, removing, exited, dead
    #: starting, healthy, unhealthy; None without a health check, and when the container
    #: is not running or restarting (a stopped one keeps its last status in inspect).
    health: str | None
    created_at: float | None  # unix seconds
    started_at: float | None
    finished_at: float | None
    exit_code: int | None
    oom_killed: bool
    restart_count: int
    labels: Mapping[str, str] = field(default_factory=dict)
    ip_addresses: tuple[str, ...] = ()
    command: str = ""
    stats: ContainerStats | None = None

    @property
    def key(self) -> str:
        """The row identity: a refresh never moves the selection to another container."""
        return f"{self.host}/{self.id}"

    @property
    def compose_project(self) -> str | None:
        return self.labels.get("com.docker.compose.project")

    @property
    def exited_nonzero(self) -> bool:
        return self.state in ("exited", "dead") and (self.exit_code or 0) != 0


@dataclass(frozen=True, slots=True)
class HealthProbe:
    """One entry of a container's health-check log."""

    started_at: float | None
    ended_at: float | None
    exit_code: int
    output: str


@dataclass(frozen=True, slots=True)
class ContainerDetail:
    """What `enter` shows about one container (from `inspect`). Environment values are
    never kept: they hold secrets; only the variable names are."""

    host: str
    id: str
    name: str
    image: str
    image_id: str
    command: str
    entrypoint: str
    env_names: tuple[str, ...]
    ports: tuple[str, ...]  # "0.0.0.0:8080->80/tcp"
    mounts: tuple[str, ...]  # "volume data -> /var/lib/data (rw)"
    networks: tuple[str, ...]  # "bridge 172.17.0.3"
    labels: Mapping[str, str]
    restart_policy: str
    state: str
    health: str | None
    health_log: tuple[HealthProbe, ...]
    exit_code: int | None
    oom_killed: bool
    error: str  # the engine's last error for this container ("" when none)
    restart_count: int
    created_at: float | None
    started_at: float | None
    finished_at: float | None
    memory_limit: int | None
    cpu_limit: float | None  # cores (NanoCpus / 1e9); None when unlimited


# -- swarm ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceSummary:
    """One Docker Swarm service, as a manager sees it."""

    host: str
    id: str
    name: str
    image: str  # the current spec's image (digest suffix removed)
    previous_image: str | None  # the previous spec's, None when there is none
    mode: str  # replicated | global
    replicas_running: int
    replicas_desired: int | None  # None for global services
    update_state: str | None  # updating, completed, paused, rollback_started, ...
    update_message: str
    updated_at: float | None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: The spec's `Version.Index`: an update posted with it is refused once it changed.
    version: int = 0
    #: `swarm.spec_fingerprint` of what was listed: a rollback confirmed on this row is
    #: sent only while the spec and previous spec are still exactly these.
    spec_fingerprint: str = ""
    #: the images as the specs pin them (with their digests): a redeployed tag shows.
    image_ref: str = ""
    previous_image_ref: str | None = None

    @property
    def key(self) -> str:
        return f"{self.host}/service/{self.id}"


# -- hosts and the whole source ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HostSnapshot:
    """One engine's containers (and services when it is a swarm manager).

    When this host failed and others did not, `error` says why and `containers` are the
    host's last good ones (shown stale): one failing host never blanks the others.
    """

    host: str
    endpoint: str  # where it is, never with secrets
    taken_at: float
    engine_version: str = ""
    api_version: str = ""
    cgroup_version: int | None = None
    host_cpus: int | None = None
    host_memory: int | None = None
    swarm_manager: bool = False
    containers: tuple[ContainerSummary, ...] = ()
    services: tuple[ServiceSummary, ...] = ()
    error: str | None = None
    error_kind: str | None = None  # SourceError.kind of `error`
    stale_since: float | None = None


@dataclass(frozen=True, slots=True)
class DockerSnapshot:
    """Every watched host of the target, at one refresh."""

    hosts: tuple[HostSnapshot, ...]
    taken_at: float
    duration: float  # seconds the whole refresh took
    stats_failed: int = 0  # containers whose stats call failed or timed out this round

    @property
    def containers(self) -> tuple[ContainerSummary, ...]:
        return tuple(c for h in self.hosts for c in h.containers)

    @property
    def services(self) -> tuple[ServiceSummary, ...]:
        return tuple(s for h in self.hosts for s in h.services)

    def container(self, key: str) -> ContainerSummary | None:
        return next((c for c in self.containers if c.key == key), None)

    def container_by_ip(self) -> dict[str, ContainerSummary]:
        """IP address -> container, for naming database clients."""
        return {ip: c for c in self.containers for ip in c.ip_addresses}


# -- events -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DockerEvent:
    """A container event from the engine's stream (die, oom, restart, health_status...)."""

    host: str
    container_id: str
    action: str  # "die", "oom", "start", "health_status: unhealthy", ...
    name: str
    time: float
    exit_code: int | None = None
    image: str = ""
    #: the container's labels (the engine sends them with every container event)
    labels: Mapping[str, str] = field(default_factory=dict)


# -- logs -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LogLine:
    """One line of a container's log. `text` is decoded (invalid UTF-8 replaced) but not
    sanitised; a line longer than the limit is cut and `truncated` says so."""

    stream: str  # stdout | stderr
    text: str
    timestamp: str | None = None  # the engine's RFC 3339 timestamp, when asked for
    truncated: bool = False


# -- actions ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RollbackPreview:
    """What a single-host rollback would do, or why it cannot (`refusal`)."""

    host: str
    container_id: str
    name: str
    current_image: str
    target_image: str | None
    target_basis: str  # "previous image of the repository by creation time" / "config"
    recreated: tuple[tuple[str, str], ...]  # (what, value): name, env (names), ports...
    refusal: str | None = None
    #: The image id `target_image` named at preview time: the rollback is refused if the
    #: tag points elsewhere by then, and the new container must run exactly this id.
    target_image_id: str | None = None


@dataclass(frozen=True, slots=True)
class RollbackResult:
    """How a rollback ended: `outcome` is rolled-back, restored (new one failed and the
    old container runs again), aborted (stopped before anything changed) or failed (and
    `message` says what state is left)."""

    outcome: str
    old_image: str
    new_image: str
    message: str
    kept_container: str | None = None  # the old container's new name, kept for restore
    new_container_id: str | None = None  # the container created by the rollback, if kept
