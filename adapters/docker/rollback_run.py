"""Run a container rollback on a single host, and put the old container back on failure.

The old container is never removed: it is stopped and renamed `<name>.ops-rollback-<ts>`
(restart policy "no", so it stays stopped) so that it can be started again when the new
one does not become healthy. Once the old container is stopped, whatever happens (engine
errors, timeouts, lost connections, the operator's stop, the deadline) ends in a restore,
and a restore that fails too says loudly what it left. What the new container is created
from (the preview and the creation body) is in adapters/docker/rollback.py.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from adapters.docker.actions import DEFAULT_STOP_WAIT, restart_policy_text
from adapters.docker.models import RollbackPreview, RollbackResult
from adapters.docker.rollback import creation_body, recreated_items

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker

Progress = Callable[[str], None]

KEPT_SUFFIX = ".ops-rollback-"
RESTORED_MESSAGE = "rollback undone, the old container runs again"
#: Seconds a rollback allows itself beyond the stop wait and the health wait by default.
DEFAULT_MARGIN = 60.0
RESTORE_ATTEMPTS = 2
_POLL = 0.25


def short_error(exc: BaseException, limit: int = 200) -> str:
    """The engine's text for `exc` on one short line (its errors carry OCI dumps)."""
    text: Any = getattr(exc, "explanation", None) or str(exc) or type(exc).__name__
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _quiet(progress: Progress) -> Progress:
    """`progress` that can never break a rollback (a closed loop, a failing widget)."""

    def report(message: str) -> None:
        with contextlib.suppress(Exception):
            progress(message)

    return report


class _Halt(Exception):
    """The operator stopped the rollback, or its time ran out: restore now."""


def _check(stop: threading.Event, deadline: float) -> None:
    if stop.is_set():
        raise _Halt("stopped by the operator")
    if time.monotonic() >= deadline:
        raise _Halt("the rollback ran out of time")


def wait_healthy(
    client: docker.DockerClient,
    container_id: str,
    wait_seconds: float,
    progress: Progress,
    *,
    deadline: float | None = None,
    stop: threading.Event | None = None,
) -> str | None:
    """None when the container became healthy (health check) or stayed running for
    `wait_seconds`; else why not. The operator's `stop` or the rollback's `deadline`
    (monotonic) end the wait as a failure."""
    stop = stop or threading.Event()
    end = time.monotonic() + wait_seconds
    first_start: str | None = None
    while True:
        inspect = client.api.inspect_container(container_id)
        state = inspect.get("State") or {}
        status = state.get("Status")
        health = (state.get("Health") or {}).get("Status")
        first_start = first_start or state.get("StartedAt")
        if status != "running":
            return f"the new container is {status} (exit code {state.get('ExitCode')})"
        if state.get("StartedAt") != first_start:
            return "the new container restarted"
        if health == "healthy":
            return None
        if health == "unhealthy":
            return "the new container is unhealthy"
        now = time.monotonic()
        if now >= end:
            return None if health is None else f"the new container is still {health}"
        try:
            _check(stop, deadline if deadline is not None else end + 1.0)
        except _Halt as halt:
            return f"{halt} while waiting for the new container ({health or status})"
        left = end - now
        progress(f"waiting for the new container: {health or status}, {left:.0f} s left")
        stop.wait(min(_POLL, left))


def _changed(then: tuple[tuple[str, str], ...], now: tuple[tuple[str, str], ...]) -> list[str]:
    """The items whose value differs between two previews."""
    before, after = dict(then), dict(now)
    return [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]


@dataclass(slots=True)
class _Done:
    """What a rollback changed so far: what a restore has to undo."""

    create_sent: bool = False
    new_id: str | None = None


def execute_rollback(
    client: docker.DockerClient,
    preview: RollbackPreview,
    wait_seconds: float,
    progress: Progress,
    *,
    clock: Callable[[], float] = time.time,
    deadline: float | None = None,
    stop: threading.Event | None = None,
) -> RollbackResult:
    """Stop and rename the old container (restart policy set to "no" so it stays
    stopped), create and start the new one, wait for it; if anything fails, the operator
    sets `stop` or `deadline` (monotonic) passes, remove the new one and put the old one
    back as it was ("restored"). Before the old container is stopped, `stop`, the
    deadline, the target tag moved or any item of `preview.recreated` no longer what it
    would be abort with nothing changed ("aborted"). A restore that fails too is
    "failed", with the state left in the message."""
    if preview.refusal or not preview.target_image:
        raise ValueError(f"refused rollback: {preview.refusal}")
    report = _quiet(progress)
    stop = stop or threading.Event()
    target, name, cid = preview.target_image, preview.name, preview.container_id
    inspect = client.api.inspect_container(cid)
    old_image = client.api.inspect_image(inspect["Image"])
    target_info = client.api.inspect_image(target)
    target_id = target_info["Id"]
    body, extra_networks = creation_body(inspect, old_image, target)
    # What the operator confirmed is what is created: the same derivation, now.
    changed = _changed(preview.recreated, recreated_items(inspect, old_image, target, target_info))
    config, host_config = inspect.get("Config") or {}, inspect.get("HostConfig") or {}
    stop_wait = int(config.get("StopTimeout") or DEFAULT_STOP_WAIT)
    policy = dict(host_config.get("RestartPolicy") or {"Name": "no"})
    kept = f"{name}{KEPT_SUFFIX}{time.strftime('%Y%m%d%H%M%S', time.gmtime(clock()))}"
    if deadline is None:
        deadline = time.monotonic() + stop_wait + wait_seconds + DEFAULT_MARGIN

    def result(outcome: str, message: str, kept_as: str | None = None) -> RollbackResult:
        return RollbackResult(outcome, preview.current_image, target, message, kept_as)

    moved = preview.target_image_id is not None and target_id != preview.target_image_id
    if moved:
        return result(
            "aborted", f"{target} points at another image since the preview: nothing done"
        )
    if changed:
        return result(
            "aborted",
            f"what {name} would be recreated with changed since the preview "
            f"({', '.join(changed)}): nothing done",
        )
    try:
        _check(stop, deadline)
    except _Halt as halt:
        return result("aborted", f"{halt} before anything changed: nothing done")

    done = _Done()
    step = "stopping the old container"
    # From here on, whatever happens (engine errors, timeouts, lost connections, the
    # operator's stop), the old container is put back.
    try:
        report(f"stopping {name}")
        client.api.stop(cid, timeout=stop_wait)
        _check(stop, deadline)
        step = "renaming the old container"
        client.api.rename(cid, kept)
        # Kept beside the new one, it must not start by itself (policy "always", or an
        # engine restart): the restore puts the original policy back.
        client.api.update_container(cid, restart_policy={"Name": "no"})
        _check(stop, deadline)
        step = "creating the new container"
        report(f"creating {name} from {target}")
        done.create_sent = True
        done.new_id = client.api.create_container_from_config(body, name=name)["Id"]
        for net, endpoint in extra_networks.items():
            client.api.connect_container_to_network(
                done.new_id,
                net,
                aliases=endpoint.get("Aliases"),
                links=endpoint.get("Links"),
                ipv4_address=(endpoint.get("IPAMConfig") or {}).get("IPv4Address"),
                ipv6_address=(endpoint.get("IPAMConfig") or {}).get("IPv6Address"),
            )
        if client.api.inspect_container(done.new_id)["Image"] != target_id:
            raise _Halt(f"the new container does not run {target_id[:19]} as previewed")
        _check(stop, deadline)
        step = "starting the new container"
        report(f"starting {name}")
        client.api.start(done.new_id)
        step = "waiting for the new container"
        failure = wait_healthy(
            client, done.new_id, wait_seconds, report, deadline=deadline, stop=stop
        )
    except _Halt as halt:
        failure = str(halt)
    except Exception as exc:  # timeouts and lost connections too: always restore
        failure = f"{step} failed: {short_error(exc)}"
    if failure is None:
        message = (
            f"{name} now runs {target} (was {preview.current_image}); "
            f"the old container is kept stopped as {kept} (restart policy no)"
        )
        return RollbackResult(
            "rolled-back", preview.current_image, target, message, kept, done.new_id
        )
    report(f"{failure}: restoring the old container")
    error = _restore(client, cid, name, policy, done, target_id)
    if error is None:
        return result("restored", f"{RESTORED_MESSAGE}: {failure}")
    state = _left(client, cid, done)
    return RollbackResult(
        "failed",
        preview.current_image,
        target,
        f"ROLLBACK FAILED AND THE RESTORE FAILED TOO ({error}), after: {failure}. "
        f"Left: {state}. Put it back by hand: remove the new container, rename the old "
        f"one to {name}, `docker update --restart {restart_policy_text(host_config)}` it "
        "and start it.",
        kept,
        done.new_id,
    )


def _restore(
    client: docker.DockerClient,
    cid: str,
    name: str,
    policy: dict[str, Any],
    done: _Done,
    target_id: str,
) -> str | None:
    """Remove what the rollback created and put the old container back (its name,
    restart policy, running); None when it runs again, else why not. Idempotent: each
    step looks at the engine first, so a second attempt finishes what the first left."""
    import docker.errors

    error = "?"
    for attempt in range(RESTORE_ATTEMPTS):
        if attempt:
            time.sleep(1.0)  # e.g. a create still in flight that must appear first
        step = "removing the new container"
        try:
            new_id = done.new_id or (
                _ours_by_name(client, name, cid, target_id) if done.create_sent else None
            )
            if new_id is not None:
                with contextlib.suppress(docker.errors.NotFound):
                    client.api.remove_container(new_id, force=True, v=False)
                done.new_id = None
            now = client.api.inspect_container(cid)
            if (now.get("Name") or "").lstrip("/") != name:
                step = f"renaming the old container back to {name}"
                client.api.rename(cid, name)
            if (now.get("HostConfig") or {}).get("RestartPolicy") != policy:
                step = "restoring the old restart policy"
                client.api.update_container(cid, restart_policy=policy)
            if not (now.get("State") or {}).get("Running"):
                step = "starting the old container"
                client.api.start(cid)
            return None
        except Exception as exc:
            error = f"{step}: {short_error(exc)}"
    return error


def _ours_by_name(
    client: docker.DockerClient, name: str, old_id: str, target_id: str
) -> str | None:
    """The container the rollback's create made when its answer was lost: the one now
    called `name`, not the old one, from the target image."""
    import docker.errors

    try:
        found = client.api.inspect_container(name)
    except docker.errors.NotFound:
        return None
    if found["Id"] != old_id and found.get("Image") == target_id:
        return str(found["Id"])
    return None


def _left(client: docker.DockerClient, cid: str, done: _Done) -> str:
    """What a failed restore leaves, as far as the engine still tells."""
    try:
        old = client.api.inspect_container(cid)
        state = (old.get("State") or {}).get("Status") or "?"
        old_text = (
            f"old container {cid[:12]} named {(old.get('Name') or '').lstrip('/')} ({state}, "
            f"restart policy {restart_policy_text(old.get('HostConfig') or {})})"
        )
    except Exception as exc:
        old_text = f"old container {cid[:12]} (cannot inspect it: {short_error(exc, 80)})"
    new_text = (
        f"new container {done.new_id[:12]} still exists" if done.new_id else "no new container"
    )
    return f"{old_text}; {new_text}"
