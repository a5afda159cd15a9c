"""Single-host rollback on the real engine: the preview, the recreated configuration,
success (app:2 -> app:1), and the automatic restore when the new one is unhealthy."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.docker import actions as ops
from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve
from adapters.docker.rollback import (
    BASIS_CONFIG,
    BASIS_PREVIOUS,
    KEPT_SUFFIX,
    RESTORED_MESSAGE,
    creation_body,
    execute_rollback,
    preview_rollback,
    repository_of,
)
from console.actions import ActionPlan, run_action
from console.audit import AuditLog
from console.docker_actions import rollback_plan
from console.operator import OperatorContext
from tests.docker_situations import APP_V1, APP_V2, BASE_IMAGE, TEST_LABEL

pytest_plugins = ("tests.docker_situations",)

pytestmark = pytest.mark.timeout(120)

OPERATOR = OperatorContext(user="oncall", sudo_user=None, ssh_client=None, hostname="h", pid=1)


@pytest.fixture
def host(docker_client: Any) -> Iterator[DockerHost]:
    h = DockerHost(resolve("local", None, env=dict(os.environ)), timeout=10.0)
    try:
        yield h
    finally:
        h.close()


@pytest.fixture
def cleanup_prefix(containers: Any, docker_client: Any) -> Iterator[str]:
    """Rollbacks create and rename containers: remove every one under this test's prefix."""
    yield containers.prefix
    for c in docker_client.containers.list(
        all=True, filters={"label": f"{TEST_LABEL}=1", "name": containers.prefix}
    ):
        if c.name.startswith(containers.prefix):
            c.remove(force=True)


@pytest.fixture
def network(docker_client: Any) -> Iterator[Any]:
    net = docker_client.networks.create(
        f"opsc-test-a2-{uuid.uuid4().hex[:6]}", labels={TEST_LABEL: "1"}
    )
    try:
        yield net
    finally:
        net.reload()
        for c in net.containers:
            net.disconnect(c, force=True)
        net.remove()


def app_container(containers: Any, image: str, network: Any, tmp_path: Path) -> Any:
    c = containers.run(
        image,
        environment={"FOO": "bar", "EMPTY": ""},
        labels={"team": "ops"},
        ports={"8080/tcp": None},
        volumes={str(tmp_path): {"bind": "/data", "mode": "rw"}},
        restart_policy={"Name": "unless-stopped"},
    )
    network.connect(c, aliases=["web-alias"])
    return c


def ours(docker_client: Any, prefix: str) -> list[Any]:
    return [
        c
        for c in docker_client.containers.list(all=True, filters={"name": prefix})
        if c.name.startswith(prefix)
    ]


def test_repository_of() -> None:
    assert repository_of("opsc-test/app:2") == "opsc-test/app"
    assert repository_of("registry:5000/app:1.4") == "registry:5000/app"
    assert repository_of("registry:5000/app") == "registry:5000/app"
    assert repository_of("app@sha256:abc") == "app"
    assert repository_of("sha256:abc") is None


def test_preview_picks_the_previous_image_and_lists_what_is_recreated(
    containers: Any, docker_client: Any, network: Any, tmp_path: Path
) -> None:
    c = app_container(containers, APP_V2, network, tmp_path)
    p = preview_rollback(docker_client, c.id, "local", None)
    assert p.refusal is None
    assert (p.current_image, p.target_image, p.target_basis) == (APP_V2, APP_V1, BASIS_PREVIOUS)
    recreated = dict(p.recreated)
    assert recreated["name"] == c.name and recreated["image"] == APP_V1
    assert "FOO" in recreated["env"] and "bar" not in recreated["env"]  # names only
    assert "->8080/tcp" in recreated["ports"]
    assert f"bind {tmp_path} -> /data (rw)" in recreated["mounts"]
    assert f"{network.name} (aliases web-alias)" in recreated["networks"]
    assert "bridge" in recreated["networks"]
    assert recreated["restart policy"] == "unless-stopped"
    assert "team=ops" in recreated["labels"]


def test_no_previous_image_is_refused_in_the_preview(containers: Any, docker_client: Any) -> None:
    c = containers.run(BASE_IMAGE, ["sleep", "600"])
    p = preview_rollback(docker_client, c.id, "local", None)
    assert p.target_image is None
    assert p.refusal == "no earlier image of opsc-test/base is present on this host"


def test_configured_image_missing_or_same_is_refused(containers: Any, docker_client: Any) -> None:
    c = containers.run(APP_V1)
    missing = preview_rollback(docker_client, c.id, "local", "opsc-test/app:404")
    assert missing.refusal == "the configured image opsc-test/app:404 is not present on local"
    same = preview_rollback(docker_client, c.id, "local", APP_V1)
    assert same.refusal == f"{c.name} already runs {APP_V1}"
    other = preview_rollback(docker_client, c.id, "local", APP_V2)
    assert other.refusal is None and other.target_basis == BASIS_CONFIG


def test_creation_body_drops_what_came_from_the_old_image(
    containers: Any, docker_client: Any
) -> None:
    default = containers.run(APP_V2)
    custom = containers.run(APP_V2, ["sh", "-c", "echo custom; exec sleep 600"])
    image = docker_client.api.inspect_image(APP_V2)

    body, _ = creation_body(docker_client.api.inspect_container(default.id), image, APP_V1)
    assert "Cmd" not in body and "Healthcheck" not in body  # app:1's own apply
    assert "opsc-test.version" not in body["Labels"] and body["Labels"][TEST_LABEL] == "1"
    assert not any(e.startswith("PATH=") for e in body["Env"] or ())

    body, _ = creation_body(docker_client.api.inspect_container(custom.id), image, APP_V1)
    assert body["Cmd"] == ["sh", "-c", "echo custom; exec sleep 600"]


def test_execute_rollback_succeeds_and_keeps_the_old_container(
    containers: Any,
    docker_client: Any,
    network: Any,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    old = app_container(containers, APP_V2, network, tmp_path)
    p = preview_rollback(docker_client, old.id, "local", None)
    steps: list[str] = []
    result = execute_rollback(docker_client, p, 15, steps.append)
    assert result.outcome == "rolled-back", result.message
    assert (result.old_image, result.new_image) == (APP_V2, APP_V1)
    assert result.kept_container and result.kept_container.startswith(old.name + KEPT_SUFFIX)

    kept = docker_client.containers.get(old.id)
    assert kept.name == result.kept_container and kept.status == "exited"
    new = docker_client.containers.get(old.name)
    assert new.id != old.id
    attrs = new.attrs
    assert attrs["Config"]["Image"] == APP_V1 and attrs["State"]["Health"]["Status"] == "healthy"
    assert attrs["Config"]["Labels"]["opsc-test.version"] == "1"  # app:1's, not app:2's
    assert attrs["Config"]["Labels"]["team"] == "ops"
    assert "FOO=bar" in attrs["Config"]["Env"] and "EMPTY=" in attrs["Config"]["Env"]
    assert attrs["HostConfig"]["RestartPolicy"]["Name"] == "unless-stopped"
    assert f"{tmp_path}:/data:rw" in attrs["HostConfig"]["Binds"]
    assert "8080/tcp" in attrs["HostConfig"]["PortBindings"]
    nets = attrs["NetworkSettings"]["Networks"]
    assert "web-alias" in nets[network.name]["Aliases"] and "bridge" in nets
    assert b"app v1 started" in new.logs()  # app:1's CMD runs, not app:2's
    assert any("creating" in s for s in steps)


def _run(plan: ActionPlan, audit: AuditLog) -> Any:
    async def yes(_plan: ActionPlan) -> bool:
        return True

    return asyncio.run(
        run_action(plan, confirm=yes, audit=audit, operator=OPERATOR, read_only=False, arm=None)
    )


def test_unhealthy_new_container_restores_the_old_one_audited_as_failed(
    containers: Any,
    docker_client: Any,
    host: DockerHost,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    old = containers.run(APP_V1, environment={"FOO": "bar"})
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", APP_V2)  # app:2 is unhealthy
    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=20, progress=lambda _m: None)
    assert plan.confirm_token == old.name and plan.risk.value == "high"
    assert dict(plan.details)["rollback"] == f"{APP_V1} -> {APP_V2}"

    audit = AuditLog(tmp_path / "audit.jsonl")
    outcome = _run(plan, audit)
    assert outcome.status == "failed"
    assert RESTORED_MESSAGE in outcome.message

    restored = docker_client.containers.get(old.name)
    assert restored.id == old.id and restored.status == "running"
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]  # new one removed
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["action"] == "docker.rollback" and line["outcome"] == "failed"
    assert line["error"].startswith(RESTORED_MESSAGE)
    assert (line["params"]["from_image"], line["params"]["to_image"]) == (APP_V1, APP_V2)


def test_rollback_plan_success_is_audited_with_both_images(
    containers: Any,
    docker_client: Any,
    host: DockerHost,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    old = containers.run(APP_V2)
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", None)
    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=15, progress=lambda _m: None)
    outcome = _run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.succeeded, outcome.message
    assert docker_client.containers.get(old.name).attrs["Config"]["Image"] == APP_V1
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["outcome"] == "succeeded"
    assert (line["params"]["from_image"], line["params"]["to_image"]) == (APP_V2, APP_V1)
    assert "ops-rollback-" in line["result"]


def test_refused_preview_never_executes(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path
) -> None:
    c = containers.run(BASE_IMAGE, ["sleep", "600"])
    seen = ops.observe(docker_client, c.id)
    p = preview_rollback(docker_client, c.id, "local", None)
    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=5, progress=lambda _m: None)
    assert dict(plan.details)["REFUSED"] == p.refusal
    outcome = _run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.status == "refused-recheck" and "no earlier image" in outcome.message
    assert docker_client.api.inspect_container(c.id)["State"]["Status"] == "running"
