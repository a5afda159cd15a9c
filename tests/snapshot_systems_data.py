"""Fixed Docker, health, log and runbook pictures for the systems snapshot tests.

Every time is derived from `snapshot_data.NOW`, so "up 3d", "updated 1 s ago" and the
state-change history read the same on every run (the tests also pin TZ to UTC: several
widgets print local wall-clock times).
"""

from __future__ import annotations

from typing import Any

from adapters.docker.models import (
    ContainerStats,
    ContainerSummary,
    DockerSnapshot,
    HostSnapshot,
    LogLine,
    ServiceSummary,
)
from adapters.health.models import (
    CertInfo,
    CheckResult,
    CheckStatus,
    HealthSnapshot,
    StateChange,
)
from adapters.runbook.output import OutputBatch, OutputLine
from console.state import SourceState
from tests.snapshot_data import CLOCK

MIB = 1024 * 1024
GIB = 1024 * MIB
MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

# -- docker -------------------------------------------------------------------------------

HEALTHY_HOST = "web-1"
STALE_HOST = "web-2"
STALE_SINCE = CLOCK - 42.0


def _stats(
    cpu: float | None,
    mem: int | None,
    limit: int | None,
    *,
    net: tuple[float, float] | None = None,
    blk: tuple[float, float] | None = None,
    pids: int | None = None,
    cpus: int = 4,
) -> ContainerStats:
    return ContainerStats(
        cpu_percent=cpu,
        online_cpus=cpus,
        mem_used=mem,
        mem_limit=limit,
        net_rx_rate=None if net is None else net[0],
        net_tx_rate=None if net is None else net[1],
        blk_read_rate=None if blk is None else blk[0],
        blk_write_rate=None if blk is None else blk[1],
        pids=pids,
        sampled_at=CLOCK - 1.0,
    )


def _container(
    host: str,
    index: int,
    name: str,
    image: str,
    state: str,
    *,
    health: str | None = None,
    started_ago: float | None = None,
    finished_ago: float | None = None,
    exit_code: int | None = None,
    oom: bool = False,
    restarts: int = 0,
    stats: ContainerStats | None = None,
    project: str = "shop",
) -> ContainerSummary:
    # Ids are fixed hex strings: the row key (host/id) and the detail never vary.
    cid = f"{index:02x}" * 32
    return ContainerSummary(
        host=host,
        id=cid,
        name=name,
        image=image,
        image_id="sha256:" + f"{index + 100:03x}" * 21 + "a",
        state=state,
        health=health,
        created_at=CLOCK - 10 * DAY,
        started_at=None if started_ago is None else CLOCK - started_ago,
        finished_at=None if finished_ago is None else CLOCK - finished_ago,
        exit_code=exit_code,
        oom_killed=oom,
        restart_count=restarts,
        labels={"com.docker.compose.project": project},
        ip_addresses=(f"172.18.0.{index + 2}",),
        command="",
        stats=stats,
    )


def web1_containers() -> tuple[ContainerSummary, ...]:
    """The healthy host: every state an operator meets during an incident."""
    h = HEALTHY_HOST
    return (
        _container(
            h, 1, "shop-web-1", "registry.example/shop/web:2.14.1", "running",
            health="healthy", started_ago=3 * DAY + 4 * HOUR,
            stats=_stats(37.4, 412 * MIB, 1 * GIB, net=(1_250_000, 3_400_000),
                         blk=(0, 40_960), pids=23),
        ),
        _container(
            h, 2, "shop-web-2", "registry.example/shop/web:2.14.1", "running",
            health="unhealthy", started_ago=3 * DAY + 4 * HOUR, restarts=2,
            stats=_stats(92.8, 981 * MIB, 1 * GIB, net=(880_000, 120_000),
                         blk=(2_097_152, 524_288), pids=57),
        ),
        _container(
            h, 3, "shop-worker-1", "registry.example/shop/worker:2.14.1", "restarting",
            started_ago=8.0, finished_ago=9.0, exit_code=1, restarts=14,
        ),
        _container(
            h, 4, "shop-migrate", "registry.example/shop/web:2.14.1", "exited",
            started_ago=2 * HOUR + 30.0, finished_ago=2 * HOUR, exit_code=0,
        ),
        _container(
            h, 5, "shop-cron", "registry.example/shop/cron:2.14.1", "exited",
            started_ago=50 * MINUTE, finished_ago=12 * MINUTE, exit_code=137, oom=True,
            restarts=3,
        ),
        _container(h, 6, "shop-backup", "registry.example/ops/backup:1.3", "created"),
        _container(
            h, 7, "redis-cache", "redis:7.2-alpine", "running",
            started_ago=12 * DAY, project="infra",
            stats=_stats(3.1, 158 * MIB, 512 * MIB, net=(45_000, 61_000),
                         blk=(0, 0), pids=6),
        ),
        _container(
            # First sample of a container that has just started: no CPU or rates yet.
            h, 8, "nginx-edge", "nginx:1.27", "running",
            health="healthy", started_ago=40.0, project="infra",
            stats=_stats(None, 24 * MIB, 8 * GIB, pids=5),
        ),
    )  # fmt: skip


def web2_containers() -> tuple[ContainerSummary, ...]:
    """The stale host's last good containers."""
    h = STALE_HOST
    return (
        _container(
            h, 9, "shop-web-3", "registry.example/shop/web:2.14.1", "running",
            health="healthy", started_ago=3 * DAY + 3 * HOUR,
            stats=_stats(28.0, 388 * MIB, 1 * GIB, net=(1_100_000, 2_900_000),
                         blk=(0, 12_288), pids=21),
        ),
        _container(
            h, 10, "shop-api", "registry.example/shop/api:5.2.0", "running",
            health="starting", started_ago=25.0, restarts=1,
            stats=_stats(64.5, 310 * MIB, 2 * GIB, net=(300_000, 95_000),
                         blk=(1_048_576, 0), pids=34),
        ),
        _container(
            h, 11, "pg-exporter", "prometheuscommunity/postgres-exporter:0.15", "exited",
            started_ago=6 * HOUR, finished_ago=5 * HOUR, exit_code=1, project="infra",
        ),
        _container(
            h, 12, "shop-search", "registry.example/shop/search:1.9.4", "running",
            started_ago=26 * HOUR,
            stats=_stats(215.0, 3 * GIB + 200 * MIB, 4 * GIB, net=(2_500_000, 8_800_000),
                         blk=(12_582_912, 3_145_728), pids=112, cpus=8),
        ),
    )  # fmt: skip


def services() -> tuple[ServiceSummary, ...]:
    """Swarm services on the manager: converged, updating, paused, global."""

    def service(index: int, name: str, image: str, **values: Any) -> ServiceSummary:
        fields: dict[str, Any] = {
            "host": HEALTHY_HOST,
            "id": f"svc{index:02d}" + "0" * 20,
            "name": name,
            "image": image,
            "previous_image": None,
            "mode": "replicated",
            "replicas_running": 3,
            "replicas_desired": 3,
            "update_state": "completed",
            "update_message": "update completed",
            "updated_at": CLOCK - 2 * DAY,
            "version": 100 + index,
        }
        fields.update(values)
        return ServiceSummary(**fields)

    return (
        service(
            1,
            "shop_web",
            "registry.example/shop/web:2.14.1",
            previous_image="registry.example/shop/web:2.14.0",
        ),
        service(
            2,
            "shop_api",
            "registry.example/shop/api:5.2.0",
            previous_image="registry.example/shop/api:5.1.3",
            replicas_running=1,
            update_state="updating",
            update_message="update in progress",
            updated_at=CLOCK - 3 * MINUTE,
        ),
        service(
            3,
            "shop_worker",
            "registry.example/shop/worker:2.14.1",
            previous_image="registry.example/shop/worker:2.13.9",
            replicas_running=0,
            replicas_desired=2,
            update_state="paused",
            update_message="update paused due to failure or early termination of task x1",
            updated_at=CLOCK - 11 * MINUTE,
        ),
        service(
            4,
            "monitoring_node-exporter",
            "prom/node-exporter:1.8.2",
            mode="global",
            replicas_running=2,
            replicas_desired=None,
            update_state=None,
            update_message="",
            updated_at=CLOCK - 9 * DAY,
        ),
    )


def docker_snapshot() -> DockerSnapshot:
    web1 = HostSnapshot(
        host=HEALTHY_HOST,
        endpoint="ssh://ops@web-1.example",
        taken_at=CLOCK - 1.0,
        engine_version="27.3.1",
        api_version="1.47",
        cgroup_version=2,
        host_cpus=8,
        host_memory=32 * GIB,
        swarm_manager=True,
        containers=web1_containers(),
        services=services(),
    )
    web2 = HostSnapshot(
        host=STALE_HOST,
        endpoint="ssh://ops@web-2.example",
        taken_at=STALE_SINCE - 2.0,
        engine_version="27.3.1",
        api_version="1.47",
        cgroup_version=2,
        host_cpus=8,
        host_memory=32 * GIB,
        containers=web2_containers(),
        error="cannot reach the engine at ssh://ops@web-2.example: connection timed out",
        error_kind="unreachable",
        stale_since=STALE_SINCE,
    )
    return DockerSnapshot(hosts=(web1, web2), taken_at=CLOCK - 1.0, duration=0.42, stats_failed=1)


def docker_state() -> SourceState[DockerSnapshot]:
    empty: SourceState[DockerSnapshot] = SourceState("docker")
    return empty.succeeded(docker_snapshot(), CLOCK - 1.0, 0.42, 2.0)


# -- health -------------------------------------------------------------------------------

SELECTED_CHECK = "search"
_JSON_HEADERS = (
    ("content-type", "application/json"),
    ("content-length", "187"),
    ("cache-control", "no-store"),
    ("server", "envoy"),
    ("x-request-id", "7f3c2a9e-51b0-4c1d-9d2e-0a8f6b1c3d4e"),
)


def _cert(days: float, subject: str) -> CertInfo:
    return CertInfo(
        subject=f"CN={subject}",
        issuer="CN=R11,O=Let's Encrypt,C=US",
        not_after=CLOCK + days * DAY,
    )


def _result(name: str, ok: bool, latency: float | None, **values: Any) -> CheckResult:
    return CheckResult(name, CLOCK - 3.0, ok, latency, **values)


def _latencies(base: float, spread: float, n: int = 40) -> tuple[float, ...]:
    # A fixed wave (no randomness): the sparkline has a shape and never changes.
    pattern = (0.0, 0.3, 0.1, 0.6, 0.2, 0.9, 0.4, 0.05, 0.7, 0.25)
    return tuple(round(base + spread * pattern[i % len(pattern)], 4) for i in range(n))


def _status(name: str, kind: str, target: str, **values: Any) -> CheckStatus:
    fields: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "target": target,
        "insecure": False,
        "interval": 10.0,
        "results": 360,
    }
    fields.update(values)
    return CheckStatus(**fields)


def _flapping_history() -> tuple[StateChange, ...]:
    reasons = {
        "up": "ok",
        "degraded": "failing (1/3): timed out after 5 s reading https://search.example/health",
    }
    changes = [StateChange(CLOCK - 2 * HOUR, "up", "ok")]
    for i in range(7):
        state = "degraded" if i % 2 == 0 else "up"
        changes.append(StateChange(CLOCK - 250.0 + 30.0 * i, state, reasons[state]))  # type: ignore[arg-type]
    return tuple(changes)


def checks() -> tuple[CheckStatus, ...]:
    """Eight checks: up, slow, refused, TLS expired, flapping, unknown, insecure, cert soon."""
    web_lat = _latencies(0.035, 0.03)
    api_lat = _latencies(1.2, 0.9)
    search_lat = _latencies(0.08, 0.4)
    admin_lat = _latencies(0.02, 0.01)
    cdn_lat = _latencies(0.015, 0.02)
    search_body = (
        '{\n  "status": "ok",\n  "version": "1.9.4",\n  "cluster": "green",\n'
        '  "nodes": 3,\n  "indices": {"products": "green", "orders": "yellow"}\n}'
    )
    return (
        _status(
            "shop-web", "http", "https://shop.example/healthz", state="up", reason="ok",
            last=_result("shop-web", True, 0.042, status_code=200, reason_phrase="OK",
                         version="2.14.1", cert=_cert(84.2, "shop.example")),
            latencies=web_lat, p95=0.061,
            changes=(StateChange(CLOCK - 3 * DAY, "up", "ok"),),
        ),
        _status(
            "shop-api", "http", "https://api.shop.example/v1/health", state="degraded",
            reason="slow: 1,842 ms > 800 ms",
            last=_result("shop-api", True, 1.842, status_code=200, reason_phrase="OK",
                         version="5.2.0", cert=_cert(61.0, "api.shop.example")),
            latencies=api_lat, p95=1.91,
            changes=(StateChange(CLOCK - 3 * DAY, "up", "ok"),
                     StateChange(CLOCK - 4 * MINUTE, "degraded", "slow: 1,210 ms > 800 ms")),
        ),
        _status(
            "payments", "http", "https://payments.internal.example:8443/health", state="down",
            reason="connection refused by payments.internal.example:8443",
            consecutive_failures=7,
            last=_result("payments", False, None, error_kind="refused",
                         error="connection refused by payments.internal.example:8443"),
            latencies=_latencies(0.05, 0.02, 20), p95=0.068,
            changes=(StateChange(CLOCK - DAY, "up", "ok"),
                     StateChange(CLOCK - 70.0, "degraded",
                                 "failing (1/3): connection refused by "
                                 "payments.internal.example:8443"),
                     StateChange(CLOCK - 50.0, "down",
                                 "connection refused by payments.internal.example:8443")),
        ),
        _status(
            "legacy-portal", "http", "https://portal.example/status", state="down",
            reason="TLS: the certificate of portal.example:443 has expired",
            consecutive_failures=360,
            last=_result("legacy-portal", False, None, error_kind="tls-expired",
                         error="TLS: the certificate of portal.example:443 has expired",
                         cert=_cert(-3.5, "portal.example")),
            changes=(StateChange(CLOCK - 3 * DAY, "down", "certificate expired"),),
        ),
        _status(
            SELECTED_CHECK, "http", "https://search.example/health", state="up", reason="ok",
            flapping=True,
            last=_result(SELECTED_CHECK, True, 0.118, status_code=200, reason_phrase="OK",
                         version="1.9.4", headers=_JSON_HEADERS, body=search_body,
                         body_bytes=len(search_body), cert=_cert(47.0, "search.example")),
            latencies=search_lat, p95=0.44,
            changes=_flapping_history(), results=118,
        ),
        _status("queue", "tcp", "mq.internal.example:5672", results=0),
        _status(
            "admin", "http", "https://admin.internal.example/ping", insecure=True, state="up",
            reason="ok",
            last=_result("admin", True, 0.021, status_code=204, reason_phrase="No Content",
                         cert=CertInfo(subject="CN=admin.internal.example",
                                       issuer="CN=admin.internal.example",
                                       not_after=CLOCK + 400 * DAY,
                                       error="self-signed certificate")),
            latencies=admin_lat, p95=0.029,
            changes=(StateChange(CLOCK - DAY, "up", "ok"),),
        ),
        _status(
            "cdn", "http", "https://static.shop.example/health.txt", state="degraded",
            reason="certificate expires in 5 days",
            last=_result("cdn", True, 0.019, status_code=200, reason_phrase="OK",
                         cert=_cert(5.4, "static.shop.example")),
            latencies=cdn_lat, p95=0.033,
            changes=(StateChange(CLOCK - 5 * DAY, "up", "ok"),
                     StateChange(CLOCK - 9 * HOUR, "degraded",
                                 "certificate expires in 6 days")),
        ),
    )  # fmt: skip


def health_state() -> SourceState[HealthSnapshot]:
    empty: SourceState[HealthSnapshot] = SourceState("health")
    return empty.succeeded(HealthSnapshot(checks(), CLOCK - 1.0), CLOCK - 1.0, 0.01, 1.0)


#: What makes the states above the ones the real thresholds would give.
_THRESHOLDS: dict[str, dict[str, Any]] = {
    "shop-api": {"latency_warn_ms": 800},
    "cdn": {"cert_critical_days": 3},
}


def health_config() -> list[dict[str, Any]]:
    """The `health:` section matching `checks()` (the dashboard pane needs one)."""
    out: list[dict[str, Any]] = []
    for check in checks():
        if check.kind == "tcp":
            host, _, port = check.target.rpartition(":")
            out.append({"name": check.name, "host": host, "port": int(port)})
        else:
            entry: dict[str, Any] = {"name": check.name, "url": check.target}
            if check.insecure:
                entry["verify"] = False
            entry.update(_THRESHOLDS.get(check.name, {}))
            out.append(entry)
    return out


# -- container log ------------------------------------------------------------------------

SEARCH = "timeout"
LOGGED = web1_containers()[1]  # shop-web-2, the unhealthy one


def log_lines() -> list[LogLine]:
    """stdout and stderr, warnings and errors, one search word, one line cut by the reader."""
    base = "2026-11-23T03:13:{:02d}.{:03d}000000Z"
    texts: list[tuple[str, str]] = [
        ("stdout", "INFO  gunicorn booting worker pid=41"),
        ("stdout", "INFO  listening on 0.0.0.0:8000 (4 workers)"),
        ("stdout", 'INFO  127.0.0.1 "GET /healthz HTTP/1.1" 200 2 0.004s'),
        ("stdout", 'INFO  10.1.2.3 "GET /cart HTTP/1.1" 200 5120 0.081s'),
        ("stderr", "WARNING pool: 18 of 20 database connections in use"),
        ("stdout", 'INFO  10.1.2.7 "POST /checkout HTTP/1.1" 200 812 0.412s'),
        ("stderr", "WARNING slow query (2.3 s): UPDATE orders SET status = $1 WHERE id = $2"),
        ("stdout", 'INFO  10.1.2.3 "GET /product/7 HTTP/1.1" 200 9311 0.064s'),
        ("stderr", "ERROR upstream timeout after 5.0 s calling payments.internal.example:8443"),
        ("stderr", "Traceback (most recent call last):"),
        ("stderr", '  File "/app/shop/payments.py", line 88, in charge'),
        ("stderr", "    response = client.post(url, json=body, timeout=5.0)"),
        ("stderr", "httpx.ConnectTimeout: timeout while connecting to payments.internal:8443"),
        ("stdout", 'INFO  10.1.2.9 "POST /checkout HTTP/1.1" 502 64 5.013s'),
        ("stdout", 'INFO  127.0.0.1 "GET /healthz HTTP/1.1" 503 31 0.002s'),
        ("stderr", "ERROR health: database pool exhausted (20/20), failing readiness"),
        ("stdout", 'INFO  10.1.2.3 "GET /cart HTTP/1.1" 200 5120 0.093s'),
        ("stdout", "DEBUG cart payload " + "{'sku': 'A-1042', 'qty': 1} " * 40),
        ("stderr", "WARNING retrying payments call (attempt 2/3) after timeout"),
        ("stdout", 'INFO  10.1.2.11 "GET /search?q=lamp HTTP/1.1" 200 20480 0.210s'),
        ("stdout", 'INFO  127.0.0.1 "GET /healthz HTTP/1.1" 503 31 0.003s'),
        ("stderr", "ERROR worker pid=44 timed out (no heartbeat for 30 s), restarting it"),
        ("stdout", "INFO  gunicorn booting worker pid=52"),
    ]
    lines = []
    for i, (stream, text) in enumerate(texts):
        # The payload line is the one the reader cut at its limit (16 KiB in real life).
        truncated = text.startswith("DEBUG cart payload")
        stamp = base.format(10 + i * 2, (i * 137) % 1000)
        lines.append(LogLine(stream, text, timestamp=stamp, truncated=truncated))
    return lines


# -- runbook ------------------------------------------------------------------------------

RUNBOOK: list[dict[str, Any]] = [
    {
        "name": "rollback-web",
        "description": "Undo the last rollout of shop_web (swarm service rollback)",
        "argv": ["docker", "service", "rollback", "shop_web"],
        "kind": "rollback",
    },
    {
        "name": "drain-worker",
        "description": "Stop taking new jobs on the worker queue",
        "argv": ["./scripts/queue.sh", "drain", "{container}"],
        "key": "d",
    },
    {
        "name": "flush-cdn",
        "description": "Purge the CDN cache of the storefront",
        "argv": ["./scripts/cdn-purge.sh", "--all"],
        "key": "u",
    },
]
RUNBOOK_COMMAND = "docker service rollback shop_web"
RUNBOOK_OUTPUT = OutputBatch(
    lines=tuple(
        OutputLine(text, stream)
        for text, stream in (
            ("shop_web", "stdout"),
            ("rollback: manually requested rollback", "stdout"),
            ("overall progress: rolling back update: 0 out of 3 tasks", "stdout"),
            ("1/3: running   [>                                                  ]", "stdout"),
            (
                "image registry.example/shop/web:1.41 could not be accessed on a registry "
                "to record its digest",
                "stderr",
            ),
            ("overall progress: rolling back update: 3 out of 3 tasks", "stdout"),
            ("1/3: running   [==================================================>]", "stdout"),
            ("2/3: running   [==================================================>]", "stdout"),
            ("3/3: running   [==================================================>]", "stdout"),
            ("verify: Service shop_web converged", "stdout"),
            ("rollback: rollback completed \x1b[32m(ok)\x1b[0m", "stdout"),
        )
    ),
    skipped=0,
    total_lines=11,
    total_bytes=594,
    stderr_lines=1,
)
RUNBOOK_RESULT = (
    "rollback-web: exit 0 after 14.2 s (11 lines, 594 bytes of output; 1 of the lines on stderr)"
)
