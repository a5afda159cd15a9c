"""Preview a container rollback on a single host, and the body the new container is created from.

The new container is created from the old one's inspect data, the way the engine itself
would have been asked: its own settings are kept, but whatever it merely inherited from
the OLD image (command, entrypoint, environment defaults, labels, health check, working
dir...) is left out, so the target image's own defaults apply. Keeping the old image's
CMD or HEALTHCHECK would silently run the old program (or the old check) in the new one.

Running the rollback (stop, rename, create, start, wait, restore on failure) is in
adapters/docker/rollback_run.py.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from adapters.docker.actions import command_text, restart_policy_text
from adapters.docker.models import RollbackPreview

if TYPE_CHECKING:  # the SDK is loaded on first use, not when the console starts
    import docker

BASIS_PREVIOUS = "previous image of the repository by creation time"
BASIS_CONFIG = "configured rollback image"
#: Config keys whose value, when equal to the old image's, was inherited from it.
_INHERITED = ("Cmd", "Entrypoint", "WorkingDir", "User", "StopSignal", "Shell", "Healthcheck")


def repository_of(reference: str) -> str | None:
    """`registry:5000/app:1.4` -> `registry:5000/app`; None for an image id."""
    if reference.startswith("sha256:") or not reference:
        return None
    name = reference.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    return name[:colon] if colon > slash else name


def _tag_in(image: dict[str, Any], repository: str) -> str | None:
    tags = [t for t in image.get("RepoTags") or () if repository_of(t) == repository]
    return sorted(tags)[0] if tags else None


def _created(image: dict[str, Any]) -> float:
    created = image.get("Created")
    if isinstance(created, int | float):
        return float(created)
    from adapters.docker.actions import parse_time

    return parse_time(str(created)) or 0.0


def previous_image(
    client: docker.DockerClient, repository: str, current_id: str
) -> tuple[tuple[str, str] | None, str]:
    """The newest image of `repository` created before the current one:
    ((reference, image id), "") or (None, why there is none)."""
    images = client.api.images(name=repository)
    current = next((i for i in images if i["Id"] == current_id), None)
    current_created = (
        _created(current) if current else _created(client.api.inspect_image(current_id))
    )
    earlier = [i for i in images if i["Id"] != current_id and _created(i) < current_created]
    if not earlier:
        return None, f"no earlier image of {repository} is present on this host"
    best = max(earlier, key=_created)
    return (_tag_in(best, repository) or best["Id"], best["Id"]), ""


def _recreated(inspect: dict[str, Any], target: str) -> tuple[tuple[str, str], ...]:
    config = inspect.get("Config") or {}
    host = inspect.get("HostConfig") or {}
    env_names = [e.split("=", 1)[0] for e in config.get("Env") or ()]
    ports = [
        f"{(b.get('HostIp') or '0.0.0.0')}:{b.get('HostPort')}->{port}"
        for port, bindings in sorted((host.get("PortBindings") or {}).items())
        for b in bindings or ()
    ]
    mounts = [
        f"{m.get('Type')} {m.get('Name') or m.get('Source')} -> {m.get('Destination')}"
        f" ({'rw' if m.get('RW') else 'ro'})"
        for m in inspect.get("Mounts") or ()
    ]
    networks = []
    for net, ep in sorted(((inspect.get("NetworkSettings") or {}).get("Networks") or {}).items()):
        aliases = [a for a in (ep or {}).get("Aliases") or () if a != inspect["Id"][:12]]
        networks.append(net + (f" (aliases {', '.join(aliases)})" if aliases else ""))
    raw_labels = config.get("Labels") or {}
    labels = [f"{k}={v}" for k, v in sorted(raw_labels.items())]
    compose: tuple[tuple[str, str], ...] = ()
    if "com.docker.compose.project" in raw_labels:
        compose = (
            (
                "compose",
                f"labels kept: the new container counts as service "
                f"{raw_labels.get('com.docker.compose.service', '?')} of project "
                f"{raw_labels['com.docker.compose.project']}; a later `docker compose up` "
                "recreates it from the compose file's image",
            ),
        )
    return (
        ("name", (inspect.get("Name") or "").lstrip("/")),
        ("image", target),
        ("command", command_text(config) or "(image default)"),
        ("env", ", ".join(env_names) or "(none)"),
        ("ports", ", ".join(ports) or "(none)"),
        ("mounts", "; ".join(mounts) or "(none)"),
        ("networks", ", ".join(networks) or "(none)"),
        ("restart policy", restart_policy_text(host)),
        ("labels", ", ".join(labels) or "(none)"),
        *compose,
    )


def _refusal_of(inspect: dict[str, Any]) -> str | None:
    """Why this container can never be rolled back here, whatever the image."""
    labels = (inspect.get("Config") or {}).get("Labels") or {}
    if "com.docker.swarm.task.id" in labels:
        service = labels.get("com.docker.swarm.service.name") or "?"
        return f"managed by Swarm service {service}: roll back the service"
    if (inspect.get("HostConfig") or {}).get("AutoRemove"):
        return "runs with --rm: cannot be kept for a restore (stopping it deletes it)"
    return None


def preview_rollback(
    client: docker.DockerClient, container_id: str, host: str, configured_image: str | None
) -> RollbackPreview:
    """What a rollback of the container would do, or why it cannot (`refusal`)."""
    import docker.errors

    inspect = client.api.inspect_container(container_id)
    config = inspect.get("Config") or {}
    name = (inspect.get("Name") or "").lstrip("/")
    current = config.get("Image") or inspect["Image"]
    current_id = inspect["Image"]

    def refused(reason: str, target: str | None = None, basis: str = BASIS_PREVIOUS) -> Any:
        return RollbackPreview(
            host, inspect["Id"], name, current, target, basis, _recreated(inspect, "-"), reason
        )

    never = _refusal_of(inspect)
    if never is not None:
        return refused(never)
    if configured_image:
        basis = BASIS_CONFIG
        try:
            target_info = client.api.inspect_image(configured_image)
        except docker.errors.ImageNotFound:
            return refused(
                f"the configured image {configured_image} is not present on {host}",
                configured_image,
                basis,
            )
        if target_info["Id"] == current_id:
            return refused(f"{name} already runs {configured_image}", configured_image, basis)
        target, target_id = configured_image, target_info["Id"]
    else:
        basis = BASIS_PREVIOUS
        repository = repository_of(current)
        if repository is None:
            return refused(f"{name} was created from an image id, not a repository tag")
        found, reason = previous_image(client, repository, current_id)
        if found is None:
            return refused(reason)
        target, target_id = found
    return RollbackPreview(
        host,
        inspect["Id"],
        name,
        current,
        target,
        basis,
        _recreated(inspect, target),
        target_image_id=target_id,
    )


def _without(values: list[str] | None, inherited: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    drop = set(inherited or ())
    return [v for v in values if v not in drop]


def creation_body(
    inspect: dict[str, Any], old_image: dict[str, Any], target: str
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(the /containers/create body, extra networks to connect) for `target`.

    Settings the container inherited from the old image are dropped so that the target
    image's own apply; everything set for the container itself is kept.
    """
    config = dict(inspect.get("Config") or {})
    image_config = old_image.get("Config") or {}
    body: dict[str, Any] = {k: v for k, v in config.items() if k not in ("Image", "MacAddress")}
    body["Image"] = target
    for key in _INHERITED:
        if key in body and body[key] == image_config.get(key):
            del body[key]
    body["Env"] = _without(config.get("Env"), image_config.get("Env"))
    image_labels = image_config.get("Labels") or {}
    body["Labels"] = {
        k: v for k, v in (config.get("Labels") or {}).items() if image_labels.get(k) != v
    }
    for key in ("ExposedPorts", "Volumes"):
        own = {
            k: v
            for k, v in (config.get(key) or {}).items()
            if k not in (image_config.get(key) or {})
        }
        body[key] = own or None
    if config.get("Hostname") == inspect["Id"][:12]:
        body.pop("Hostname", None)  # the engine's default: the new container gets its own

    host_config = dict(inspect.get("HostConfig") or {})
    # Anonymous volumes would be new and empty in the new container: mount the same ones.
    binds = list(host_config.get("Binds") or ())
    covered = {b.split(":")[1] for b in binds if ":" in b}
    covered |= {m.get("Target") for m in host_config.get("Mounts") or ()}
    for mount in inspect.get("Mounts") or ():
        if mount.get("Type") == "volume" and mount.get("Destination") not in covered:
            mode = "" if mount.get("RW", True) else ":ro"
            binds.append(f"{mount['Name']}:{mount['Destination']}{mode}")
    host_config["Binds"] = binds or None
    body["HostConfig"] = host_config

    networks = ((inspect.get("NetworkSettings") or {}).get("Networks")) or {}
    endpoints = {
        net: _endpoint(ep, inspect["Id"][:12]) for net, ep in networks.items() if ep is not None
    }
    primary = host_config.get("NetworkMode") or "default"
    primary_key = "bridge" if primary == "default" else primary
    first = {k: v for k, v in endpoints.items() if k == primary_key}
    body["NetworkingConfig"] = {"EndpointsConfig": first} if first else None
    extra = {k: v for k, v in endpoints.items() if k != primary_key}
    return body, extra


def _endpoint(ep: dict[str, Any], short_id: str) -> dict[str, Any]:
    aliases = [a for a in ep.get("Aliases") or () if a != short_id]
    out: dict[str, Any] = {"Aliases": aliases or None}
    if ep.get("IPAMConfig"):
        out["IPAMConfig"] = ep["IPAMConfig"]
    if ep.get("Links"):
        out["Links"] = ep["Links"]
    return out
