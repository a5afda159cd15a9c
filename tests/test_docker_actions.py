"""Restart, stop and start of real containers: the adapter calls, the rechecks, and the
plans through the action life cycle with a real audit file."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.docker import actions as ops
from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve
from console.actions import ActionPlan, run_action
from console.audit import AuditLog
from console.docker_actions import restart_plan, state_from_summary, stop_start_plan
from console.operator import OperatorContext
from tests.docker_situations import APP_V1, wait_until

pytest_plugins = ("tests.docker_situations",)

pytestmark = pytest.mark.timeout(90)

OPERATOR = OperatorContext(user="oncall", sudo_user=None, ssh_client=None, hostname="h", pid=1)
#: PID 1 without a TERM handler: the kernel drops SIGTERM, so a stop waits its full time.
IGNORES_TERM = ["sleep", "600"]


@pytest.fixture
def host(docker_client: Any) -> Iterator[DockerHost]:
    h = DockerHost(resolve("local", None, env=dict(os.environ)), timeout=10.0)
    try:
        yield h
    finally:
        h.close()


def audit_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def run(plan: ActionPlan, audit: AuditLog, *, confirm: bool = True, read_only: bool = False) -> Any:
    async def answer(_plan: ActionPlan) -> bool:
        return confirm

    return asyncio.run(
        run_action(
            plan, confirm=answer, audit=audit, operator=OPERATOR, read_only=read_only, arm=None
        )
    )


# -- adapter functions ------------------------------------------------------------------


def test_observe_reads_what_runs_and_uptime(containers: Any, docker_client: Any) -> None:
    c = containers.run(APP_V1, restart_policy={"Name": "on-failure", "MaximumRetryCount": 3})
    seen = ops.observe(docker_client, c.id)
    assert seen.id == c.id and seen.name == c.name and seen.image == APP_V1
    assert seen.state == "running" and seen.restart_count == 0
    assert seen.command.startswith("/bin/sh -c 'echo app v1 started")
    assert seen.restart_policy == "on-failure:3"
    up = ops.uptime(seen)
    assert up is not None and 0 <= up < 30


def test_restart_stop_start_and_the_rechecks_they_trip(containers: Any, docker_client: Any) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    assert ops.recheck(docker_client, seen) is None

    after = ops.restart(docker_client, c.id, stop_wait=5)
    assert after.state == "running" and after.started_at != seen.started_at
    reason = ops.recheck(docker_client, seen)
    assert reason is not None and "restarted since" in reason

    stopped = ops.stop(docker_client, c.id, stop_wait=5)
    assert stopped.state == "exited"
    assert "exited now" in (ops.recheck(docker_client, after) or "")
    started = ops.start(docker_client, c.id)
    assert started.state == "running"


def test_recheck_refuses_a_container_removed_after_selection(
    containers: Any, docker_client: Any
) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    c.remove(force=True)
    reason = ops.recheck(docker_client, seen)
    assert reason == f"the container {seen.name} no longer exists (removed after it was selected)"


def test_actions_on_a_missing_container_raise_not_found(docker_client: Any) -> None:
    import docker.errors

    with pytest.raises(docker.errors.NotFound):
        ops.restart(docker_client, "opsc-test-a2-missing", stop_wait=1)


# -- plans through the life cycle --------------------------------------------------------


def test_restart_plan_preview_and_audit(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    plan = restart_plan(host, seen, target="t1")
    assert plan.preview == f"docker restart --time 10 {c.name}  (on host local)"
    details = dict(plan.details)
    assert details["image"] == APP_V1 and "echo app v1 started" in details["runs"]
    assert details["restart count"] == "0" and details["uptime"] != "-"

    audit = AuditLog(tmp_path / "audit.jsonl")
    outcome = run(plan, audit)
    assert outcome.succeeded, outcome.message
    c.reload()
    assert c.attrs["State"]["StartedAt"] != seen.started_at
    (line,) = audit_lines(tmp_path / "audit.jsonl")
    assert line["action"] == "docker.restart" and line["outcome"] == "succeeded"
    assert line["params"]["container"] == c.name and line["params"]["image"] == APP_V1


def test_cancelled_restart_does_nothing(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    audit = AuditLog(tmp_path / "audit.jsonl")
    outcome = run(restart_plan(host, seen, target="t1"), audit, confirm=False)
    assert outcome.status == "cancelled"
    assert ops.observe(docker_client, c.id).started_at == seen.started_at
    assert audit_lines(tmp_path / "audit.jsonl")[0]["outcome"] == "cancelled"


def test_container_removed_before_confirmation_is_refused(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    plan = restart_plan(host, seen, target="t1")

    async def confirm_after_removal(_plan: ActionPlan) -> bool:
        c.remove(force=True)  # while the dialog is open
        return True

    audit = AuditLog(tmp_path / "audit.jsonl")
    outcome = asyncio.run(
        run_action(
            plan,
            confirm=confirm_after_removal,
            audit=audit,
            operator=OPERATOR,
            read_only=False,
            arm=None,
        )
    )
    assert outcome.status == "refused-recheck"
    assert "no longer exists" in outcome.message
    (line,) = audit_lines(tmp_path / "audit.jsonl")
    assert line["outcome"] == "refused-recheck" and "removed" in line["error"]


def test_restart_already_done_since_shown_is_refused(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    c.restart(timeout=5)
    outcome = run(restart_plan(host, seen, target="t1"), AuditLog(tmp_path / "a.jsonl"))
    assert outcome.status == "refused-recheck" and "restarted since" in outcome.message


def test_restart_that_times_out(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(command=IGNORES_TERM)
    seen = ops.observe(docker_client, c.id)
    # The engine waits 8 s after SIGTERM (ignored) before SIGKILL; the plan allows 2 s.
    plan = restart_plan(host, seen, target="t1", stop_wait=8, timeout=2.0)
    outcome = run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.status == "timeout", outcome.message
    assert "may still have happened" in outcome.message
    (line,) = audit_lines(tmp_path / "audit.jsonl")
    assert line["outcome"] == "timeout" and line["params"]["stop_wait"] == 8
    # The engine goes on with it: the container is killed after 8 s and started again.
    wait_until(
        lambda: ops.observe(docker_client, c.id).started_at != seen.started_at,
        timeout=20,
        what="the engine to finish the restart",
    )


def test_stop_then_start_plans(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1, restart_policy={"Name": "always"})
    audit = AuditLog(tmp_path / "audit.jsonl")
    seen = ops.observe(docker_client, c.id)
    plan = stop_start_plan(host, seen, target="t1")
    assert plan.action == "docker.stop"
    assert plan.preview.startswith(f"docker stop --time 10 {c.name}")
    assert "always" in dict(plan.details)["RESTART POLICY"]
    assert run(plan, audit).succeeded
    assert ops.observe(docker_client, c.id).state == "exited"

    seen = ops.observe(docker_client, c.id)
    plan = stop_start_plan(host, seen, target="t1")
    assert plan.action == "docker.start" and plan.preview.startswith(f"docker start {c.name}")
    assert run(plan, audit).succeeded
    assert ops.observe(docker_client, c.id).state == "running"
    assert [x["action"] for x in audit_lines(tmp_path / "audit.jsonl")] == [
        "docker.stop",
        "docker.start",
    ]


def test_read_only_refuses_without_touching_the_engine(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    from adapters.docker.models import ContainerSummary

    c = containers.run(APP_V1)
    summary = ContainerSummary(
        host="local",
        id=c.id,
        name=c.name,
        image=APP_V1,
        image_id="",
        state="running",
        health=None,
        created_at=None,
        started_at=None,
        finished_at=None,
        exit_code=None,
        oom_killed=False,
        restart_count=0,
    )
    seen = state_from_summary(summary)
    before = ops.observe(docker_client, c.id)
    outcome = run(
        restart_plan(host, seen, target="t1"), AuditLog(tmp_path / "a.jsonl"), read_only=True
    )
    assert outcome.status == "refused-read-only"
    assert ops.observe(docker_client, c.id).started_at == before.started_at
    assert audit_lines(tmp_path / "a.jsonl")[0]["outcome"] == "refused-read-only"


def test_recheck_refuses_a_renamed_container(containers: Any, docker_client: Any) -> None:
    c = containers.run(APP_V1)
    seen = ops.observe(docker_client, c.id)
    c.rename(c.name + "-other")
    reason = ops.recheck(docker_client, seen)
    assert reason == f"{c.name} was renamed to {c.name}-other since it was shown"


def test_stop_of_a_crash_looping_container_is_not_refused(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(command=["sh", "-c", "sleep 1; exit 3"], restart_policy={"Name": "always"})
    seen = ops.observe(docker_client, c.id)
    wait_until(
        lambda: (now := ops.observe(docker_client, c.id)).restart_count > seen.restart_count
        and now.running,
        timeout=30,
        what="a restart of the crash loop",
    )
    # The strict recheck (restart, rollback) refuses it; a stop must not.
    assert ops.recheck(docker_client, seen) is not None
    plan = stop_start_plan(host, seen, target="t1")
    outcome = run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.succeeded, outcome.message
    assert ops.observe(docker_client, c.id).state == "exited"


def test_start_of_a_container_started_meanwhile_is_refused(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(APP_V1)
    c.stop(timeout=5)
    seen = ops.observe(docker_client, c.id)
    c.start()
    outcome = run(stop_start_plan(host, seen, target="t1"), AuditLog(tmp_path / "a.jsonl"))
    assert outcome.status == "refused-recheck" and "running now" in outcome.message


def test_an_engine_error_is_one_short_line_in_the_outcome(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    import io
    import uuid

    tag = f"opsc-test/app:bad-{uuid.uuid4().hex[:8]}"
    docker_client.images.build(
        fileobj=io.BytesIO(b'FROM opsc-test/base:1\nCMD ["/nonexistent"]\n'),
        tag=tag,
        rm=True,
        pull=False,
        labels={"opsc-test": "1"},
    )
    try:
        c = containers.create(tag)
        seen = ops.observe(docker_client, c.id)
        outcome = run(stop_start_plan(host, seen, target="t1"), AuditLog(tmp_path / "a.jsonl"))
    finally:
        containers.cleanup()
        docker_client.images.remove(tag, force=True)
    assert outcome.status == "failed" and "/nonexistent" in outcome.message
    assert "\n" not in outcome.message and len(outcome.message) < 400
