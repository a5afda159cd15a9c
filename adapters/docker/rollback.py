"""Preview a container rollback on a single host, and the body the new container is created from.

The new container is created from the old one's inspect data, the way the engine itself
would have been asked: its own settings are kept, but whatever it merely inherited from
the OLD image (command, entrypoint, environment defaults, labels, health check, working
dir...) is left out, so the target image's own defaults apply. Keeping the old image's
CMD or HEALTHCHECK would silently run the old program (or the old check) in the new one.

The preview (`recreated_items`) is derived from that very body and the target image's
defaults, merged as the engine merges them, so it lists what the new container will get
and says, item by item, whether it is the container's own or the target image's.

Running the rollback (stop, rename, create, start, wait, restore on failure) is in
adapters/docker/rollback_run.py.
"""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING, Any

from adapters.docker.actions import restart_policy_text
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


SOURCE_OWN = "the container's own"
#: What a target image's defaults are called before the target is known (a refusal).
_SOURCE_UNKNOWN = "from the target image"


def recreated_items(
    inspect: dict[str, Any],
    old_image: dict[str, Any],
    target: str | None,
    target_image: dict[str, Any] | None,
) -> tuple[tuple[str, str], ...]:
    """What the new container will be, item by item, derived from the very body
    `creation_body` sends and the target image's defaults the engine fills in (its own
    merge rule, see `_effective`): each value that can come from either says whence,
    "(the container's own) ..." or "(from <target>) ...". Without `target_image` (a
    refusal) the image's part is only named."""
    body, extra = creation_body(inspect, old_image, target or "-")
    image_config = (target_image or {}).get("Config") or {}
    known = target_image is not None  # else say only that it is the image's: no text
    from_image = f"from {target}" if known else _SOURCE_UNKNOWN

    def said(*parts: tuple[bool, str]) -> str:
        out = []
        for own, text in parts:
            whence = SOURCE_OWN if own else from_image
            out.append(f"({whence}) {text}" if own or known else f"({whence})")
        return "; ".join(out)

    def joined(own: list[str], inherited: list[str]) -> str:
        parts = [(True, ", ".join(own))] if own else []
        if inherited or not known:
            parts.append((False, ", ".join(inherited)))
        return said(*parts) if parts else "(none)"

    eff = _effective(body, image_config)
    own_env = [e.split("=", 1)[0] for e in body.get("Env") or ()]
    image_env = [
        n for e in image_config.get("Env") or () if (n := e.split("=", 1)[0]) not in own_env
    ]
    own_labels = body.get("Labels") or {}
    image_labels = {
        k: v for k, v in (image_config.get("Labels") or {}).items() if k not in own_labels
    }
    own_ports = sorted(body.get("ExposedPorts") or {})
    image_ports = [p for p in sorted(image_config.get("ExposedPorts") or {}) if p not in own_ports]
    host = body.get("HostConfig") or {}
    items: list[tuple[str, str]] = [
        ("name", (inspect.get("Name") or "").lstrip("/")),
        ("image", target or "-"),
    ]
    for key, what, text in _SINGLE:
        own, value = eff[key]
        items.append((what, said((own, text(value)))))
    items += [
        ("env", joined(own_env, image_env)),
        ("labels", joined(_pairs(own_labels), _pairs(image_labels))),
        ("exposed ports", joined(own_ports, image_ports)),
        ("ports", port_bindings_text(host)),
        ("mounts", _mounts_text(body, image_config, from_image)),
        ("networks", _networks_text(body, extra)),
        ("restart policy", restart_policy_text(host)),
    ]
    if "com.docker.compose.project" in own_labels:
        items.append(
            (
                "compose",
                f"labels kept: the new container counts as service "
                f"{own_labels.get('com.docker.compose.service', '?')} of project "
                f"{own_labels['com.docker.compose.project']}; a later `docker compose up` "
                "recreates it from the compose file's image",
            )
        )
    return tuple(items)


def _effective(body: dict[str, Any], image: dict[str, Any]) -> dict[str, tuple[bool, Any]]:
    """(from the body?, value) of the single-valued settings as the engine makes them
    when it creates `body` from an image whose config is `image` (the daemon's `merge`:
    an empty setting takes the image's; the image's CMD only without an entrypoint of
    the container's own; a health check's unset fields from the image's)."""
    out: dict[str, tuple[bool, Any]] = {}
    entrypoint, cmd = body.get("Entrypoint"), body.get("Cmd")
    if entrypoint:
        out["Entrypoint"], out["Cmd"] = (True, entrypoint), (True, cmd or [])
    else:
        out["Entrypoint"] = (
            (True, []) if entrypoint is not None else (False, image.get("Entrypoint"))
        )
        out["Cmd"] = (True, cmd) if cmd else (False, image.get("Cmd"))
    for key in ("User", "WorkingDir", "StopSignal"):
        out[key] = (True, body[key]) if body.get(key) else (False, image.get(key) or "")
    own_check, image_check = body.get("Healthcheck"), image.get("Healthcheck")
    if own_check is None or image_check is None:
        out["Healthcheck"] = (own_check is not None, own_check or image_check)
    else:
        merged = dict(own_check)
        for field, value in image_check.items():
            if not merged.get(field):
                merged[field] = value
        out["Healthcheck"] = (True, merged)
    return out


def argv_text(argv: list[str] | None) -> str:
    return shlex.join(str(a) for a in argv) if argv else "(none)"


def healthcheck_text(check: dict[str, Any] | None) -> str:
    """A health check as the engine keeps it (durations in ns, 0: the engine's default)."""
    test = list((check or {}).get("Test") or ())
    if not test:
        return "(none)"
    if test[0] == "NONE":
        return "disabled"
    shell, args = test[0] == "CMD-SHELL", test[1:]
    text = " ".join(args) + " (shell)" if shell else argv_text(args)
    timing = []
    for field, what in _CHECK_TIMES:
        ns = (check or {}).get(field) or 0
        timing.append(f"{what} {ns / 1e9:g}s" if ns else f"{what} default")
    retries = (check or {}).get("Retries") or 0
    timing.append(f"retries {retries}" if retries else "retries default")
    return f"{text}; {', '.join(timing)}"


_CHECK_TIMES = (("Interval", "every"), ("Timeout", "timeout"), ("StartPeriod", "start period"))
#: (config key, item, its text): the settings that take one value, the container's or
#: the image's.
_SINGLE: tuple[tuple[str, str, Any], ...] = (
    ("Entrypoint", "entrypoint", argv_text),
    ("Cmd", "command", argv_text),
    ("Healthcheck", "health check", healthcheck_text),
    ("User", "user", lambda v: v or "(none: root)"),
    ("WorkingDir", "working dir", lambda v: v or "(none: /)"),
    ("StopSignal", "stop signal", lambda v: v or "(none: SIGTERM)"),
)


def _pairs(labels: dict[str, str]) -> list[str]:
    return [f"{k}={v}" for k, v in sorted(labels.items())]


def port_bindings_text(host_config: dict[str, Any]) -> str:
    ports = [
        f"{b.get('HostIp') or '0.0.0.0'}:{b.get('HostPort') or '(any)'}->{port}"
        for port, bindings in sorted((host_config.get("PortBindings") or {}).items())
        for b in bindings or ()
    ]
    return ", ".join(ports) or "(none)"


def _mounts_text(body: dict[str, Any], image: dict[str, Any], from_image: str) -> str:
    """The body's binds and mounts, and the new empty volumes the engine makes for the
    target image's declared volumes that nothing covers."""
    host = body.get("HostConfig") or {}
    out, covered = [], set()
    for bind in host.get("Binds") or ():
        source, _, rest = bind.partition(":")
        target, _, mode = rest.partition(":")
        kind = "bind" if source.startswith("/") else "volume"
        out.append(f"{kind} {source} -> {target} ({'ro' if 'ro' in mode.split(',') else 'rw'})")
        covered.add(target)
    for m in host.get("Mounts") or ():
        source = m.get("Source") or "(new, empty)"
        out.append(
            f"{m.get('Type')} {source} -> {m.get('Target')} ({'ro' if m.get('ReadOnly') else 'rw'})"
        )
        covered.add(m.get("Target"))
    for path in host.get("Tmpfs") or {}:
        out.append(f"tmpfs -> {path}")
        covered.add(path)
    declared = {**(image.get("Volumes") or {}), **(body.get("Volumes") or {})}
    for path in sorted(p for p in declared if p not in covered):
        whence = SOURCE_OWN if path in (body.get("Volumes") or {}) else from_image
        out.append(f"volume (new, empty) -> {path} (rw) ({whence})")
    return "; ".join(out) or "(none)"


def _networks_text(body: dict[str, Any], extra: dict[str, dict[str, Any]]) -> str:
    first = (body.get("NetworkingConfig") or {}).get("EndpointsConfig") or {}
    endpoints = {**first, **extra}
    networks = []
    for net, ep in sorted(endpoints.items()):
        aliases = ep.get("Aliases") or ()
        networks.append(net + (f" (aliases {', '.join(aliases)})" if aliases else ""))
    if not networks:
        return (body.get("HostConfig") or {}).get("NetworkMode") or "(none)"
    return ", ".join(networks)


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
        try:
            items = recreated_items(inspect, client.api.inspect_image(current_id), None, None)
        except docker.errors.ImageNotFound:
            items = ()
        return RollbackPreview(host, inspect["Id"], name, current, target, basis, items, reason)

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
        target = configured_image
    else:
        basis = BASIS_PREVIOUS
        repository = repository_of(current)
        if repository is None:
            return refused(f"{name} was created from an image id, not a repository tag")
        found, reason = previous_image(client, repository, current_id)
        if found is None:
            return refused(reason)
        target, target_id = found
        target_info = client.api.inspect_image(target_id)
    old_image = client.api.inspect_image(current_id)
    return RollbackPreview(
        host,
        inspect["Id"],
        name,
        current,
        target,
        basis,
        recreated_items(inspect, old_image, target, target_info),
        target_image_id=target_info["Id"],
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
    if body.get("Entrypoint"):
        # With an entrypoint of its own the engine never gave it the image's CMD: the
        # command it has was asked for, even when it equals the old image's.
        body["Cmd"] = config.get("Cmd")
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
    # The engine lists mounts from an unordered map: sorted, the body (and the preview
    # made from it) is the same from one inspect to the next.
    mounts = sorted(inspect.get("Mounts") or (), key=lambda m: str(m.get("Destination") or ""))
    for mount in mounts:
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
