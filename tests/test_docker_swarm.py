"""Swarm services on a real single-node swarm: listing, tasks, and `service rollback`.

The swarm is initialised here only when the engine is not in one already, and left at
the end only if this module created it and no service other than ours remains (other
engineers' tests share the engine).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.docker import swarm
from tests.docker_situations import APP_V1, APP_V2, TEST_LABEL, wait_until

pytest_plugins = ("tests.docker_situations",)

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def swarm_client(docker_client: Any) -> Iterator[Any]:
    state = docker_client.info()["Swarm"]
    created = False
    if state.get("LocalNodeState") == "inactive":
        try:
            docker_client.swarm.init(advertise_addr="127.0.0.1", listen_addr="127.0.0.1:2377")
        except Exception as exc:  # e.g. another test initialised it at the same moment
            if docker_client.info()["Swarm"].get("LocalNodeState") != "active":
                pytest.skip(f"could not initialise a swarm: {exc}")
        else:
            created = True
    elif not state.get("ControlAvailable"):
        pytest.skip("the engine is in a swarm but not a manager")
    try:
        yield docker_client
    finally:
        if created:
            with contextlib.suppress(Exception):
                if not docker_client.api.services():
                    docker_client.swarm.leave(force=True)


def make_service(
    client: Any, image: str, replicas: int = 2, update_monitor_ns: int = 500_000_000
) -> str:
    from docker.types import (
        ContainerSpec,
        Healthcheck,
        Resources,
        RollbackConfig,
        ServiceMode,
        TaskTemplate,
        UpdateConfig,
    )

    spec = ContainerSpec(
        image,
        # app:2's own check fails by design; the swarm would replace its tasks forever.
        healthcheck=Healthcheck(test=["NONE"]),
        labels={TEST_LABEL: "1"},
        stop_grace_period=2_000_000_000,
    )
    template = TaskTemplate(spec, resources=Resources(cpu_limit=100_000_000))
    fast = {"parallelism": 0, "delay": 0, "monitor": 500_000_000}
    update = {**fast, "monitor": update_monitor_ns}
    created = client.api.create_service(
        template,
        name=f"opsc-test-a2-{uuid.uuid4().hex[:6]}",
        labels={TEST_LABEL: "1"},
        mode=ServiceMode("replicated", replicas=replicas),
        update_config=UpdateConfig(**update),
        rollback_config=RollbackConfig(**fast),
    )
    return created["ID"]


@pytest.fixture
def service(swarm_client: Any) -> Iterator[str]:
    sid = make_service(swarm_client, APP_V1)
    try:
        yield sid
    finally:
        with contextlib.suppress(Exception):
            swarm_client.api.remove_service(sid)


def update_image(client: Any, sid: str, image: str, **labels: str) -> None:
    raw = client.api.inspect_service(sid)
    spec = raw["Spec"]
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = image
    spec["Labels"] = {**(spec.get("Labels") or {}), **labels}
    api = client.api
    response = api._post_json(
        api._url("/services/{0}/update", sid),
        data=spec,
        params={"version": raw["Version"]["Index"]},
    )
    api._raise_for_status(response)


def summary_of(client: Any, sid: str) -> Any:
    return next(s for s in swarm.list_services(client, "local") if s.id == sid)


def test_list_services_counts_running_tasks(swarm_client: Any, service: str) -> None:
    wait_until(
        lambda: summary_of(swarm_client, service).replicas_running == 2,
        timeout=60,
        what="2 running tasks",
        every=0.5,
    )
    s = summary_of(swarm_client, service)
    assert s.image == APP_V1 and s.previous_image is None
    assert s.version == swarm_client.api.inspect_service(service)["Version"]["Index"] > 0
    assert s.mode == "replicated" and s.replicas_desired == 2
    assert s.key == f"local/service/{service}" and s.labels[TEST_LABEL] == "1"
    tasks = swarm.service_tasks(swarm_client, service)
    assert len([t for t in tasks if t.state == "running"]) == 2
    assert all(t.image == APP_V1 for t in tasks)


def test_service_without_previous_spec_is_refused(swarm_client: Any, service: str) -> None:
    with pytest.raises(swarm.RollbackRefused, match="no previous spec"):
        swarm.rollback_service(swarm_client, service, timeout=5)


def test_rollback_converges_on_the_previous_image(swarm_client: Any, service: str) -> None:
    update_image(swarm_client, service, APP_V2)
    wait_until(
        lambda: all(
            t.image == APP_V2
            for t in swarm.service_tasks(swarm_client, service)
            if t.state == "running"
        )
        and summary_of(swarm_client, service).replicas_running == 2,
        timeout=90,
        what="the update to app:2",
        every=0.5,
    )
    s = summary_of(swarm_client, service)
    assert (s.image, s.previous_image) == (APP_V2, APP_V1)

    steps: list[str] = []
    result = swarm.rollback_service(swarm_client, service, timeout=90, progress=steps.append)
    assert result.converged, result.message
    assert (result.from_image, result.image) == (APP_V2, APP_V1)
    assert result.running == 2 and result.desired == 2
    assert steps and "rollback requested" in steps[0]
    running = [
        t
        for t in swarm.service_tasks(swarm_client, service)
        if t.state == "running" and t.desired_state == "running"
    ]
    assert len(running) == 2 and {t.image for t in running} == {APP_V1}
    s = summary_of(swarm_client, service)
    assert s.image == APP_V1 and s.update_state == "rollback_completed"


def test_service_rollback_plan_through_the_life_cycle(
    swarm_client: Any, service: str, tmp_path: Path
) -> None:
    import asyncio
    import json

    from adapters.docker.client import DockerHost
    from adapters.docker.discovery import resolve
    from console.actions import ActionPlan, run_action
    from console.audit import AuditLog
    from console.docker_service_actions import service_rollback_plan
    from console.operator import OperatorContext

    update_image(swarm_client, service, APP_V2)
    wait_until(
        lambda: summary_of(swarm_client, service).previous_image == APP_V1,
        timeout=30,
        what="a previous spec",
    )
    host = DockerHost(resolve("local", None, env=dict(os.environ)), timeout=10.0)
    progress: list[str] = []
    plan = service_rollback_plan(
        host,
        summary_of(swarm_client, service),
        target="t1",
        progress=progress.append,
        converge_timeout=90,
    )
    assert plan.preview.startswith("docker service rollback opsc-test-a2-")
    assert plan.confirm_token == plan.params["service"]
    assert dict(plan.details)["rollback"] == f"{APP_V2} -> {APP_V1}"

    async def yes(_plan: ActionPlan) -> bool:
        return True

    operator = OperatorContext(user="oncall", sudo_user=None, ssh_client=None, hostname="h", pid=1)
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        outcome = asyncio.run(
            run_action(plan, confirm=yes, audit=audit, operator=operator, read_only=False, arm=None)
        )
    finally:
        host.close()
    assert outcome.succeeded, outcome.message
    assert progress
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["action"] == "docker.service_rollback" and line["outcome"] == "succeeded"
    assert (line["params"]["from_image"], line["params"]["to_image"]) == (APP_V2, APP_V1)
    execution = line["execution"]
    assert (execution["from_image"], execution["to_image"]) == (APP_V2, APP_V1)
    assert execution["update_state"] == "rollback_completed" and execution["version"] > 0


def _plan_and_run(
    swarm_client: Any, service: str, tmp_path: Path, between: Any = None, seen: Any = None
) -> tuple[Any, list[dict[str, Any]]]:
    """The service rollback plan of what the operator saw (`seen`, else the service now)
    through the life cycle; `between()` runs between the recheck and the execution."""
    import asyncio
    import dataclasses
    import json

    from adapters.docker.client import DockerHost
    from adapters.docker.discovery import resolve
    from console.actions import ActionPlan, run_action
    from console.audit import AuditLog
    from console.docker_service_actions import service_rollback_plan
    from console.operator import OperatorContext

    host = DockerHost(resolve("local", None, env=dict(os.environ)), timeout=10.0)
    plan = service_rollback_plan(
        host,
        seen or summary_of(swarm_client, service),
        target="t1",
        progress=lambda _m: None,
        converge_timeout=60,
    )
    if between is not None:
        checked = plan.recheck

        async def recheck_then_change() -> str | None:
            reason = await checked()
            await asyncio.to_thread(between)
            return reason

        plan = dataclasses.replace(plan, recheck=recheck_then_change)

    async def yes(_plan: ActionPlan) -> bool:
        return True

    operator = OperatorContext(user="oncall", sudo_user=None, ssh_client=None, hostname="h", pid=1)
    audit = AuditLog(tmp_path / "audit.jsonl")
    try:
        outcome = asyncio.run(
            run_action(plan, confirm=yes, audit=audit, operator=operator, read_only=False, arm=None)
        )
    finally:
        host.close()
    lines = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    return outcome, lines


def _updated_to_v2(swarm_client: Any, service: str) -> None:
    update_image(swarm_client, service, APP_V2)
    wait_until(
        lambda: summary_of(swarm_client, service).previous_image == APP_V1,
        timeout=30,
        what="a previous spec",
    )


def test_recheck_refuses_another_previous_image(
    swarm_client: Any, service: str, tmp_path: Path
) -> None:
    _updated_to_v2(swarm_client, service)
    seen = summary_of(swarm_client, service)
    # Same image, but the previous spec is now app:2's: a rollback would go elsewhere.
    update_image(swarm_client, service, APP_V2, note="relabelled")
    wait_until(
        lambda: summary_of(swarm_client, service).previous_image == APP_V2,
        timeout=30,
        what="the new previous spec",
    )
    outcome, (line,) = _plan_and_run(swarm_client, service, tmp_path, seen=seen)
    assert line["outcome"] == "refused-recheck"
    assert outcome.status == "refused-recheck", outcome.message
    assert f"would roll back to {APP_V2} now, not {APP_V1} as shown" in outcome.message
    assert summary_of(swarm_client, service).image == APP_V2


def test_a_service_changed_after_the_recheck_is_not_rolled_back(
    swarm_client: Any, service: str, tmp_path: Path
) -> None:
    _updated_to_v2(swarm_client, service)

    def operator_elsewhere_relabels() -> None:
        update_image(swarm_client, service, APP_V2, note="changed")

    outcome, (line,) = _plan_and_run(swarm_client, service, tmp_path, operator_elsewhere_relabels)
    assert outcome.status == "failed", outcome.message
    assert "the service changed since you confirmed: nothing done" in outcome.message
    raw = swarm_client.api.inspect_service(service)
    assert raw["Spec"]["Labels"]["note"] == "changed"
    assert swarm.strip_digest(raw["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]) == APP_V2
    assert (raw.get("UpdateStatus") or {}).get("State") != "rollback_started"
    assert line["outcome"] == "failed"


def test_the_managers_own_status_writes_after_the_recheck_do_not_refuse(
    swarm_client: Any, tmp_path: Path
) -> None:
    # The manager bumps the spec version when it writes the update status (updating ->
    # completed) without changing the spec: pinning the version alone refused such
    # rollbacks as "changed". A 3 s monitor keeps the update "updating" past the recheck.
    sid = make_service(swarm_client, APP_V1, update_monitor_ns=3_000_000_000)
    try:
        update_image(swarm_client, sid, APP_V2)
        wait_until(
            lambda: summary_of(swarm_client, sid).update_state == "updating",
            timeout=30,
            what="the update under way",
            every=0.2,
        )
        seen = summary_of(swarm_client, sid)
        assert (seen.image, seen.previous_image) == (APP_V2, APP_V1)
        versions: list[int] = []

        def manager_completes_the_update() -> None:
            versions.append(swarm_client.api.inspect_service(sid)["Version"]["Index"])
            wait_until(
                lambda: summary_of(swarm_client, sid).update_state == "completed",
                timeout=90,
                what="the update completed",
                every=0.2,
            )
            versions.append(swarm_client.api.inspect_service(sid)["Version"]["Index"])

        outcome, (line,) = _plan_and_run(
            swarm_client, sid, tmp_path, manager_completes_the_update, seen=seen
        )
        assert versions[1] > versions[0], "the manager's status write did not bump the version"
        assert outcome.succeeded, outcome.message
        assert line["outcome"] == "succeeded"
        assert line["execution"]["version"] <= versions[0] < versions[1]
        assert summary_of(swarm_client, sid).image == APP_V1
    finally:
        with contextlib.suppress(Exception):
            swarm_client.api.remove_service(sid)


def test_recheck_refuses_the_same_images_with_another_spec(
    swarm_client: Any, service: str, tmp_path: Path
) -> None:
    # Shown: app:2, rolling back to app:1. Meanwhile someone deploys app:1 then app:2
    # again with other settings: the image names are the same as shown, the specs are
    # not, and the rollback would go to a spec the operator never saw.
    _updated_to_v2(swarm_client, service)
    seen = summary_of(swarm_client, service)
    update_image(swarm_client, service, APP_V1, note="elsewhere-1")
    update_image(swarm_client, service, APP_V2, note="elsewhere-2")
    wait_until(
        lambda: (
            summary_of(swarm_client, service).labels.get("note") == "elsewhere-2"
            and summary_of(swarm_client, service).previous_image == APP_V1
        ),
        timeout=30,
        what="the redeploy",
    )
    now = summary_of(swarm_client, service)
    assert (now.image, now.previous_image) == (seen.image, seen.previous_image)
    assert now.spec_fingerprint != seen.spec_fingerprint
    outcome, (line,) = _plan_and_run(swarm_client, service, tmp_path, seen=seen)
    assert outcome.status == "refused-recheck", outcome.message
    assert "changed since it was shown" in outcome.message
    assert line["outcome"] == "refused-recheck"
    raw = swarm_client.api.inspect_service(service)
    assert (raw.get("UpdateStatus") or {}).get("State") != "rollback_started"
    assert raw["Spec"]["Labels"]["note"] == "elsewhere-2"


def test_a_redeployed_tag_shows_its_digests_in_the_preview() -> None:
    from console.docker_service_actions import service_rollback_plan

    same = summary_of_fields(
        image="registry/api:prod",
        previous_image="registry/api:prod",
        image_ref="registry/api:prod@sha256:bbb",
        previous_image_ref="registry/api:prod@sha256:aaa",
    )
    plan = service_rollback_plan(
        _NoHost(), same, target="t1", progress=lambda _m: None, converge_timeout=1
    )
    rollback = dict(plan.details)["rollback"]
    assert rollback == "registry/api:prod@sha256:bbb -> registry/api:prod@sha256:aaa"


class _NoHost:
    """The plan is only built here, never run: nothing calls the engine."""

    name = "local"


def summary_of_fields(**fields: Any) -> Any:
    from adapters.docker.models import ServiceSummary

    base: dict[str, Any] = {
        "host": "local",
        "id": "s1" * 6,
        "name": "api",
        "image": "app:2",
        "previous_image": "app:1",
        "mode": "replicated",
        "replicas_running": 2,
        "replicas_desired": 2,
        "update_state": "completed",
        "update_message": "",
        "updated_at": None,
    }
    return ServiceSummary(**{**base, **fields})
