"""Single-host rollback on the real engine: the preview, the recreated configuration,
success (app:2 -> app:1), and the automatic restore when the new one is unhealthy."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from adapters.docker import actions as ops
from adapters.docker.actions import restart_policy_text
from adapters.docker.client import DockerHost
from adapters.docker.discovery import resolve
from adapters.docker.rollback import (
    BASIS_CONFIG,
    BASIS_PREVIOUS,
    argv_text,
    creation_body,
    healthcheck_text,
    port_bindings_text,
    preview_rollback,
    repository_of,
)
from adapters.docker.rollback_run import KEPT_SUFFIX, RESTORED_MESSAGE, execute_rollback
from console.actions import ActionPlan, run_action
from console.audit import AuditLog
from console.docker_actions import (
    INTERRUPT_MESSAGE,
    RESTORE_ALLOWANCE,
    RollbackRestored,
    rollback_budget,
    rollback_plan,
)
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


@pytest.fixture
def bad_image(docker_client: Any) -> Iterator[str]:
    """An image whose CMD does not exist: a container from it fails to `start`."""
    tag = f"opsc-test/app:bad-{uuid.uuid4().hex[:8]}"
    dockerfile = b'FROM opsc-test/base:1\nCMD ["/nonexistent"]\n'
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, pull=False, labels={TEST_LABEL: "1"}
    )
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


@pytest.fixture
def moving_tag(docker_client: Any) -> Iterator[str]:
    """A tag of app:1 that a test may point elsewhere."""
    repository, tag = "opsc-test/app", f"moving-{uuid.uuid4().hex[:8]}"
    docker_client.images.get(APP_V1).tag(repository, tag)
    try:
        yield f"{repository}:{tag}"
    finally:
        docker_client.images.remove(f"{repository}:{tag}")


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

    # With an entrypoint of its own, a command equal to the old image's CMD was asked
    # for (the engine never fills in CMD then): it is kept, not app:1's CMD.
    own_entry = containers.create(APP_V2, image["Config"]["Cmd"], entrypoint=["/bin/env"])
    body, _ = creation_body(docker_client.api.inspect_container(own_entry.id), image, APP_V1)
    assert (body["Entrypoint"], body["Cmd"]) == (["/bin/env"], image["Config"]["Cmd"])


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


_SOURCE = re.compile(r"\((?:the container's own|from [^)]+)\) ")
#: Items whose value is a list, possibly in two parts (the container's own; the image's).
_LISTS = ("env", "labels", "exposed ports", "mounts")


def _previewed(value: str, item: str) -> Any:
    """A preview value without its "(the container's own) " / "(from X) " markers."""
    plain = _SOURCE.sub("", value)
    if item in _LISTS:
        if plain == "(none)":
            return []
        return sorted(v for part in plain.split("; ") for v in part.split(", ") if v)
    return plain


def _created(new: dict[str, Any], item: str) -> Any:
    """What the created container has for a preview item, from its inspect."""
    config, host_config = new["Config"], new["HostConfig"]
    short = new["Id"][:12]
    networks = new["NetworkSettings"]["Networks"]
    values: dict[str, Any] = {
        "name": new["Name"].lstrip("/"),
        "image": config["Image"],
        "entrypoint": argv_text(config.get("Entrypoint")),
        "command": argv_text(config.get("Cmd")),
        "health check": healthcheck_text(config.get("Healthcheck")),
        "user": config.get("User") or "(none: root)",
        "working dir": config.get("WorkingDir") or "(none: /)",
        "stop signal": config.get("StopSignal") or "(none: SIGTERM)",
        "env": sorted(e.split("=", 1)[0] for e in config.get("Env") or ()),
        "labels": sorted(f"{k}={v}" for k, v in (config.get("Labels") or {}).items()),
        "exposed ports": sorted(config.get("ExposedPorts") or {}),
        "ports": port_bindings_text(host_config),
        "mounts": sorted(
            f"{m['Type']} {m.get('Name') or m.get('Source')} -> {m['Destination']}"
            f" ({'rw' if m.get('RW') else 'ro'})"
            for m in new.get("Mounts") or ()
        ),
        "networks": ", ".join(
            net
            + (
                f" (aliases {', '.join(a for a in ep['Aliases'] if a != short)})"
                if [a for a in ep.get("Aliases") or () if a != short]
                else ""
            )
            for net, ep in sorted(networks.items())
        ),
        "restart policy": restart_policy_text(host_config),
    }
    return values[item]


@pytest.mark.parametrize("custom", [False, True], ids=["image-defaults", "own-settings"])
def test_every_previewed_item_is_what_the_created_container_gets(
    custom: bool,
    containers: Any,
    docker_client: Any,
    network: Any,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    """The preview never lies: for app:2 -> app:1, each item it lists (command, labels,
    health check...) is what `docker inspect` then shows of the new container, and says
    whether it is the container's own or app:1's."""
    if custom:
        old = containers.run(
            APP_V2,
            ["-c", 'echo custom; trap "exit 0" TERM; while true; do sleep 1; done'],
            entrypoint=["/bin/sh"],
            environment={"PATH": "/bin:/usr/bin", "FOO": "bar"},
            labels={"opsc-test.version": "pinned", "team": "ops"},
            user="65534:65534",
            working_dir="/tmp",
            stop_signal="SIGTERM",
            # only the test and its interval: the rest is filled in from the image
            healthcheck={"test": ["CMD", "/bin/true"], "interval": 1_000_000_000},
            volumes={str(tmp_path): {"bind": "/data", "mode": "ro"}},
        )
    else:
        old = app_container(containers, APP_V2, network, tmp_path)
    p = preview_rollback(docker_client, old.id, "local", None)
    previewed = dict(p.recreated)
    for item in ("command", "entrypoint", "labels", "env", "health check", "user"):
        assert item in previewed, item
    result = execute_rollback(docker_client, p, 15, lambda _m: None)
    assert result.outcome == "rolled-back", result.message
    new = docker_client.api.inspect_container(old.name)
    for item, value in p.recreated:
        if item == "compose":
            continue
        assert _previewed(value, item) == _created(new, item), item
    if custom:
        assert previewed["command"].startswith("(the container's own) -c 'echo custom;")
        assert previewed["entrypoint"] == "(the container's own) /bin/sh"
        assert previewed["user"] == "(the container's own) 65534:65534"
        assert previewed["labels"] == (
            f"(the container's own) {TEST_LABEL}=1, opsc-test.version=pinned, team=ops"
        )
        assert previewed["health check"].startswith("(the container's own) /bin/true;")
    else:
        assert previewed["command"] == (
            f'(from {APP_V1}) /bin/sh -c \'echo app v1 started; trap "exit 0" TERM; '
            "while true; do sleep 1; done'"
        )
        own, image = f"{TEST_LABEL}=1, team=ops", "opsc-test.version=1"
        assert previewed["labels"] == f"(the container's own) {own}; (from {APP_V1}) {image}"
        assert previewed["health check"] == (
            f"(from {APP_V1}) /bin/true; every 1s, timeout 1s, start period 1s, retries 2"
        )
        assert previewed["env"] == f"(the container's own) FOO, EMPTY; (from {APP_V1}) PATH"


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


def _no_health(containers: Any, **kwargs: Any) -> Any:
    """An app:1 container with its health check switched off: a container made from it
    for app:2 has none either, so the rollback waits its whole `wait_seconds`."""
    return containers.run(APP_V1, healthcheck={"test": ["NONE"]}, **kwargs)


def policy_of(docker_client: Any, cid: str) -> str:
    return docker_client.api.inspect_container(cid)["HostConfig"]["RestartPolicy"]["Name"]


def test_successful_rollback_keeps_the_old_one_with_restart_policy_no(
    containers: Any, docker_client: Any, cleanup_prefix: str
) -> None:
    old = containers.run(APP_V2, restart_policy={"Name": "always"})
    p = preview_rollback(docker_client, old.id, "local", None)
    assert p.target_image_id == docker_client.images.get(APP_V1).id
    result = execute_rollback(docker_client, p, 15, lambda _m: None)
    assert result.outcome == "rolled-back", result.message
    assert policy_of(docker_client, old.id) == "no"  # never starts beside the new one
    new = docker_client.containers.get(old.name)
    assert result.new_container_id == new.id and new.image.id == p.target_image_id
    assert new.attrs["HostConfig"]["RestartPolicy"]["Name"] == "always"


def test_failed_start_restores_the_old_container_and_is_audited_failed(
    containers: Any,
    docker_client: Any,
    host: DockerHost,
    bad_image: str,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    old = containers.run(APP_V1, restart_policy={"Name": "unless-stopped"})
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", bad_image)
    assert p.refusal is None

    def broken_progress(_message: str) -> None:
        raise RuntimeError("the progress widget is gone")  # must not break the rollback

    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=10, progress=broken_progress)
    outcome = _run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.status == "failed"
    assert "starting the new container failed" in outcome.message
    assert "/nonexistent" in outcome.message and "\n" not in outcome.message

    restored = docker_client.containers.get(old.name)
    assert restored.id == old.id and restored.status == "running"
    assert policy_of(docker_client, old.id) == "unless-stopped"
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["outcome"] == "failed" and line["error"].startswith(RESTORED_MESSAGE)
    assert line["execution"]["outcome"] == "restored"
    assert line["execution"]["to_image"] == bad_image


def test_a_restore_that_fails_is_loud_and_names_what_is_left(
    containers: Any, docker_client: Any, host: DockerHost, bad_image: str, tmp_path: Path
) -> None:
    old = containers.run(APP_V1)
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", bad_image)
    squatter: list[Any] = []

    def race(message: str) -> None:
        # Someone (compose up, another operator) takes the name while we restore.
        if "restoring" in message and not squatter:
            docker_client.containers.get(old.name).remove(force=True)
            squatter.append(
                docker_client.containers.run(
                    BASE_IMAGE,
                    ["sleep", "600"],
                    name=old.name,
                    labels={TEST_LABEL: "1"},
                    detach=True,
                )
            )

    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=10, progress=race)
    try:
        outcome = _run(plan, AuditLog(tmp_path / "audit.jsonl"))
        assert outcome.status == "failed"
        assert outcome.message.startswith("Failed: ROLLBACK FAILED AND THE RESTORE FAILED TOO")
        kept = docker_client.containers.get(old.id)
        assert kept.status == "exited" and kept.name.startswith(old.name + KEPT_SUFFIX)
        assert f"old container {old.id[:12]} named {kept.name} (exited" in outcome.message
        assert "no new container" in outcome.message
        # What is not ours is never removed.
        assert docker_client.containers.get(old.name).id == squatter[0].id
        (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
        assert line["outcome"] == "failed" and "RESTORE FAILED" in line["error"]
        assert line["execution"]["outcome"] == "failed"
    finally:
        for c in squatter:
            c.remove(force=True)
        docker_client.api.remove_container(old.id, force=True)


def test_stop_before_the_old_container_is_stopped_changes_nothing(
    containers: Any, docker_client: Any, cleanup_prefix: str
) -> None:
    old = containers.run(APP_V2)
    before = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", None)
    stop = threading.Event()
    stop.set()
    result = execute_rollback(docker_client, p, 15, lambda _m: None, stop=stop)
    assert result.outcome == "aborted" and "nothing done" in result.message
    now = ops.observe(docker_client, old.id)
    assert (now.name, now.state, now.started_at) == (old.name, "running", before.started_at)
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]


def test_stop_after_the_old_container_was_stopped_restores_it(
    containers: Any, docker_client: Any, cleanup_prefix: str
) -> None:
    old = containers.run(APP_V2, restart_policy={"Name": "on-failure", "MaximumRetryCount": 2})
    p = preview_rollback(docker_client, old.id, "local", None)
    stop = threading.Event()

    def operator_presses_ctrl_c(message: str) -> None:
        if message.startswith("creating"):
            stop.set()

    result = execute_rollback(docker_client, p, 15, operator_presses_ctrl_c, stop=stop)
    assert result.outcome == "restored", result.message
    assert "stopped by the operator" in result.message
    now = docker_client.api.inspect_container(old.id)
    assert now["Name"] == "/" + old.name and now["State"]["Running"]
    assert now["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 2}
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]


def test_the_deadline_ends_the_health_wait_and_restores(
    containers: Any, docker_client: Any, cleanup_prefix: str
) -> None:
    old = _no_health(containers)
    p = preview_rollback(docker_client, old.id, "local", APP_V2)
    started = time.monotonic()
    result = execute_rollback(docker_client, p, 60, lambda _m: None, deadline=time.monotonic() + 5)
    assert result.outcome == "restored", result.message
    assert "ran out of time" in result.message
    assert time.monotonic() - started < 30
    assert docker_client.containers.get(old.name).id == old.id


def test_with_rm_and_swarm_task_containers_are_refused(containers: Any, docker_client: Any) -> None:
    rm = containers.run(APP_V2, auto_remove=True)
    assert "runs with --rm: cannot be kept for a restore" in (
        preview_rollback(docker_client, rm.id, "local", None).refusal or ""
    )
    task = containers.run(
        APP_V2,
        labels={"com.docker.swarm.task.id": "t1", "com.docker.swarm.service.name": "web"},
    )
    refusal = preview_rollback(docker_client, task.id, "local", None).refusal
    assert refusal == "managed by Swarm service web: roll back the service"


def test_compose_labels_are_kept_and_said_in_the_preview(
    containers: Any, docker_client: Any
) -> None:
    c = containers.run(
        APP_V2,
        labels={"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
    )
    recreated = dict(preview_rollback(docker_client, c.id, "local", None).recreated)
    assert "service web of project shop" in recreated["compose"]


def test_a_tag_moved_since_the_preview_is_refused(
    containers: Any,
    docker_client: Any,
    host: DockerHost,
    moving_tag: str,
    tmp_path: Path,
    cleanup_prefix: str,
) -> None:
    old = containers.run(APP_V2)
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", moving_tag)
    assert p.target_image_id == docker_client.images.get(APP_V1).id
    repository, tag = moving_tag.split(":")
    docker_client.images.get(BASE_IMAGE).tag(repository, tag)  # moved after the preview

    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=5, progress=lambda _m: None)
    outcome = _run(plan, AuditLog(tmp_path / "audit.jsonl"))
    assert outcome.status == "refused-recheck" and "points at another image" in outcome.message
    result = execute_rollback(docker_client, p, 5, lambda _m: None)
    assert result.outcome == "aborted" and "nothing done" in result.message
    assert ops.observe(docker_client, old.id).state == "running"


def test_settings_changed_since_the_preview_abort_with_nothing_done(
    containers: Any, docker_client: Any, cleanup_prefix: str
) -> None:
    old = containers.run(APP_V2)
    p = preview_rollback(docker_client, old.id, "local", None)
    docker_client.api.update_container(old.id, restart_policy={"Name": "always"})
    result = execute_rollback(docker_client, p, 5, lambda _m: None)
    assert result.outcome == "aborted" and "nothing done" in result.message
    assert "since the preview (restart policy)" in result.message
    assert ops.observe(docker_client, old.id).state == "running"
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]


def test_ctrl_c_during_the_rollback_restores_and_audits_the_real_outcome(
    containers: Any, docker_client: Any, host: DockerHost, tmp_path: Path, cleanup_prefix: str
) -> None:
    old = _no_health(containers)
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", APP_V2)
    warnings: list[str] = []

    async def scenario() -> Any:
        loop = asyncio.get_running_loop()
        cancel = asyncio.Event()

        def progress(message: str) -> None:
            if message.startswith("waiting for the new container"):
                loop.call_soon_threadsafe(cancel.set)  # what ctrl+c does

        plan = rollback_plan(
            host,
            seen,
            p,
            target="t1",
            wait_seconds=60,
            progress=progress,
            cancel=cancel,
            warn=warnings.append,
        )
        assert plan.timeout > rollback_budget(seen, 60) + RESTORE_ALLOWANCE

        async def yes(_plan: ActionPlan) -> bool:
            return True

        audit = AuditLog(tmp_path / "audit.jsonl")
        return await run_action(
            plan, confirm=yes, audit=audit, operator=OPERATOR, read_only=False, arm=None
        )

    outcome = asyncio.run(scenario())
    assert outcome.status == "failed" and "stopped by the operator" in outcome.message
    assert warnings == [INTERRUPT_MESSAGE]
    assert docker_client.containers.get(old.name).id == old.id
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert line["error"].startswith(RESTORED_MESSAGE)
    assert line["execution"]["interrupted"] is True


def test_a_cancelled_execute_still_awaits_the_restore(
    containers: Any, docker_client: Any, host: DockerHost, cleanup_prefix: str
) -> None:
    old = _no_health(containers)
    seen = ops.observe(docker_client, old.id)
    p = preview_rollback(docker_client, old.id, "local", APP_V2)
    waiting = threading.Event()

    def progress(message: str) -> None:
        if message.startswith("waiting for the new container"):
            waiting.set()

    plan = rollback_plan(host, seen, p, target="t1", wait_seconds=60, progress=progress)

    async def scenario() -> None:
        task = asyncio.ensure_future(plan.execute())
        while not waiting.is_set():
            await asyncio.sleep(0.05)
        task.cancel()  # the life cycle's timeout, or the worker cancelled
        with pytest.raises(RollbackRestored, match="stopped by the operator"):
            await task

    asyncio.run(scenario())
    restored = docker_client.api.inspect_container(old.id)
    assert restored["Name"] == "/" + old.name and restored["State"]["Running"]


# -- images without a health check: "healthy" means staying running `rollback_wait` s ---


@pytest.fixture
def plain_images(docker_client: Any) -> Iterator[dict[str, str]]:
    """Images with no health check: `stays` runs until stopped, `exits` ends with code 3
    about a second after it starts."""
    repository = f"opsc-test/plain-{uuid.uuid4().hex[:8]}"
    commands = {"stays": '["sleep", "3600"]', "exits": '["sh", "-c", "sleep 1; exit 3"]'}
    tags: dict[str, str] = {}
    try:
        for name, cmd in commands.items():
            tag = f"{repository}:{name}"
            dockerfile = f"FROM {BASE_IMAGE}\nCMD {cmd}\n".encode()
            docker_client.images.build(
                fileobj=io.BytesIO(dockerfile),
                tag=tag,
                rm=True,
                pull=False,
                labels={TEST_LABEL: "1"},
            )
            tags[name] = tag
        yield tags
    finally:
        for tag in tags.values():
            docker_client.images.remove(tag, force=True)


def test_without_a_health_check_staying_running_for_the_wait_is_success(
    containers: Any, docker_client: Any, plain_images: dict[str, str], cleanup_prefix: str
) -> None:
    old = containers.run(plain_images["exits"], command="sleep 3600")
    p = preview_rollback(docker_client, old.id, "local", plain_images["stays"])
    assert p.refusal is None, p.refusal
    steps: list[str] = []
    started = time.monotonic()
    result = execute_rollback(docker_client, p, 2.0, steps.append)
    assert result.outcome == "rolled-back", result.message
    assert time.monotonic() - started >= 2.0  # it did wait the whole time
    assert any("waiting for the new container: running" in s for s in steps), steps
    new = docker_client.containers.get(old.name)
    assert new.id != old.id and new.status == "running"
    assert new.attrs["Config"]["Image"] == plain_images["stays"]


def test_without_a_health_check_exiting_during_the_wait_restores_the_old_one(
    containers: Any, docker_client: Any, plain_images: dict[str, str], cleanup_prefix: str
) -> None:
    old = containers.run(plain_images["stays"])
    p = preview_rollback(docker_client, old.id, "local", plain_images["exits"])
    assert p.refusal is None, p.refusal
    result = execute_rollback(docker_client, p, 6.0, lambda _m: None)
    assert result.outcome == "restored", result.message
    assert "exited (exit code 3)" in result.message
    restored = docker_client.containers.get(old.name)
    assert restored.id == old.id and restored.status == "running"
    assert [c.id for c in ours(docker_client, cleanup_prefix)] == [old.id]


@pytest.fixture
def volumes_image(docker_client: Any) -> Iterator[str]:
    """app:2 with four image volumes: the engine lists a container's mounts from an
    unordered map, in another order from one inspect to the next."""
    tag = f"opsc-test/app:vol-{uuid.uuid4().hex[:8]}"
    dockerfile = f'FROM {APP_V2}\nVOLUME ["/v1", "/v2", "/v3", "/v4"]\n'.encode()
    docker_client.images.build(
        fileobj=io.BytesIO(dockerfile), tag=tag, rm=True, pull=False, labels={TEST_LABEL: "1"}
    )
    try:
        yield tag
    finally:
        docker_client.images.remove(tag, force=True)


def test_a_container_with_several_volumes_rolls_back(
    containers: Any, docker_client: Any, volumes_image: str, cleanup_prefix: str
) -> None:
    # The preview and the execution inspect the container separately: the mounts must
    # compare equal whatever order the engine lists them in, or every such rollback
    # aborted as "changed since the preview (mounts)".
    old = containers.run(volumes_image, healthcheck={"test": ["NONE"]})
    for _ in range(5):
        p = preview_rollback(docker_client, old.id, "local", APP_V1)
        assert p.refusal is None, p.refusal
        again = preview_rollback(docker_client, old.id, "local", APP_V1)
        assert dict(again.recreated)["mounts"] == dict(p.recreated)["mounts"]
    result = execute_rollback(docker_client, p, 1.0, lambda _m: None)
    assert result.outcome == "rolled-back", result.message
    new = docker_client.containers.get(old.name)
    assert sorted(m["Destination"] for m in new.attrs["Mounts"]) == ["/v1", "/v2", "/v3", "/v4"]
