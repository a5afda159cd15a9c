"""The `docker:` section of a target: which engines to watch and how.

Read strictly like the rest of the config (see `console.config_yaml`): unknown keys,
wrong types and duplicate host names are errors naming the file, the line and the key
path. An empty section (`docker:` with nothing under it) watches one engine found by
discovery: `$DOCKER_HOST`, else the local socket.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from yaml.nodes import Node

from console.config_yaml import (
    REFRESH_MAX,
    Reader,
    boolean,
    checked_url,
    join,
    named_entries,
    optional_integer,
    optional_number,
    optional_text,
    redact_dsn,
    required,
    resolve_path,
    text,
)

DOCKER_SCHEMES = ("unix", "tcp", "ssh")
DEFAULT_HOST_NAME = "local"


@dataclass(frozen=True, slots=True)
class DockerHostConfig:
    """One Docker engine."""

    name: str = DEFAULT_HOST_NAME
    """The host's name on screen and in the audit log."""
    url: str | None = None
    """unix://, tcp:// or ssh://user@host; None: `$DOCKER_HOST`, else the local socket."""
    tls_ca: Path | None = None
    """CA bundle (PEM) that verifies a tcp:// engine's certificate."""
    tls_cert: Path | None = None
    """Client certificate (PEM) for a tcp:// engine that asks for one."""
    tls_key: Path | None = None
    """Key of `tls_cert` (PEM)."""
    tls_verify: bool = True
    """Check the engine's certificate (and host name) over TLS."""

    @property
    def tls(self) -> bool:
        return any(p is not None for p in (self.tls_ca, self.tls_cert, self.tls_key))


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """The Docker engines of one target and how they are watched."""

    hosts: tuple[DockerHostConfig, ...] = (DockerHostConfig(),)
    refresh: float | None = None
    """Seconds between stats refreshes; None uses the global `refresh`."""
    timeout: float = 5.0
    """Seconds one engine call may take before it is abandoned."""
    name_patterns: tuple[str, ...] = ()
    """fnmatch patterns on container names (`web-*`); empty: every container."""
    compose_projects: tuple[str, ...] = ()
    """Compose project labels to show; empty: every container."""
    stats_workers: int = 16
    """Threads of each host's own pool (stats calls run concurrently through it)."""
    log_buffer_lines: int = 10_000
    """Lines a followed container log keeps in memory."""
    rollback_wait: float = 30.0
    """Seconds a rolled-back container must stay running (and healthy) to count."""
    rollback_images: Mapping[str, str] = field(default_factory=dict)
    """Container name -> image to roll back to (overrides the previous-image guess)."""

    def redacted(self) -> dict[str, Any]:
        """Shaped like the file, URL passwords masked, paths as strings."""
        return {
            "hosts": [
                {
                    "name": h.name,
                    "url": None if h.url is None else redact_dsn(h.url),
                    "tls_ca": _path_text(h.tls_ca),
                    "tls_cert": _path_text(h.tls_cert),
                    "tls_key": _path_text(h.tls_key),
                    "tls_verify": h.tls_verify,
                }
                for h in self.hosts
            ],
            "refresh": self.refresh,
            "timeout": self.timeout,
            "name_patterns": list(self.name_patterns),
            "compose_projects": list(self.compose_projects),
            "stats_workers": self.stats_workers,
            "log_buffer_lines": self.log_buffer_lines,
            "rollback_wait": self.rollback_wait,
            "rollback_images": dict(self.rollback_images),
        }


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


_HOST_KEYS = ("name", "url", "tls_ca", "tls_cert", "tls_key", "tls_verify")
_DOCKER_KEYS = (
    "hosts",
    "refresh",
    "timeout",
    "name_patterns",
    "compose_projects",
    "stats_workers",
    "log_buffer_lines",
    "rollback_wait",
    "rollback_images",
)
_seconds = required(optional_number(), "a number of seconds")


def read_docker(r: Reader, node: Node, path: str, source: Path) -> DockerConfig:
    """The target's `docker:` section (null: one engine from discovery)."""
    f = r.fields(node, path, _DOCKER_KEYS)
    hosts = _read_hosts(r, f["hosts"], join(path, "hosts"), source) if "hosts" in f else ()
    return DockerConfig(
        hosts=hosts or (DockerHostConfig(),),
        refresh=r.get(f, "refresh", path, optional_number(at_most=REFRESH_MAX), None),
        timeout=r.get(f, "timeout", path, _seconds, 5.0),
        name_patterns=_read_strings(r, f, "name_patterns", path),
        compose_projects=_read_strings(r, f, "compose_projects", path),
        stats_workers=r.get(
            f, "stats_workers", path, required(optional_integer(1, 256), "an integer"), 16
        ),
        log_buffer_lines=r.get(
            f,
            "log_buffer_lines",
            path,
            required(optional_integer(100, 10_000_000), "an integer"),
            10_000,
        ),
        rollback_wait=r.get(f, "rollback_wait", path, _seconds, 30.0),
        rollback_images=_read_images(r, f, path),
    )


def _read_hosts(r: Reader, node: Node, path: str, source: Path) -> tuple[DockerHostConfig, ...]:
    entries = named_entries(
        r,
        node,
        path,
        _HOST_KEYS,
        noun="host",
        owner="Docker host",
        settings="engine settings",
        expected="a list of engines, e.g. `hosts: [{url: unix:///...}]`",
        example="- url: tcp://...",
        default_name=DEFAULT_HOST_NAME,
    )
    hosts = [_read_host(r, name, h, item_path, source) for name, h, item_path in entries]
    return tuple(hosts)


def _read_host(
    r: Reader, name: str, h: dict[str, Node], path: str, source: Path
) -> DockerHostConfig:
    url = r.get(h, "url", path, _docker_url, None)
    tls = {
        key: r.get(h, key, path, optional_text, None) for key in ("tls_ca", "tls_cert", "tls_key")
    }
    if any(tls.values()) and url is not None and not url.lower().startswith("tcp://"):
        key = next(k for k, v in tls.items() if v)
        r.report(h[key], join(path, key), "TLS settings are only used with a tcp:// url")
    if (tls["tls_cert"] is None) != (tls["tls_key"] is None):
        key = "tls_cert" if tls["tls_cert"] is not None else "tls_key"
        r.report(h[key], join(path, key), "tls_cert and tls_key must be given together")
    return DockerHostConfig(
        name=name,
        url=url,
        tls_ca=None if tls["tls_ca"] is None else resolve_path(tls["tls_ca"], source),
        tls_cert=None if tls["tls_cert"] is None else resolve_path(tls["tls_cert"], source),
        tls_key=None if tls["tls_key"] is None else resolve_path(tls["tls_key"], source),
        tls_verify=r.get(h, "tls_verify", path, boolean, True),
    )


def _docker_url(r: Reader, node: Node) -> str | None:
    """A unix://, tcp:// or ssh:// URL, or None. Messages show it password-masked."""
    url = optional_text(r, node)
    if url is None:
        return None
    parts = checked_url(r, url, DOCKER_SCHEMES)
    if parts.scheme.lower() == "unix":
        if not parts.path:
            r.fail("a unix:// URL needs the socket path, e.g. unix:///var/run/docker.sock")
    elif not parts.hostname:
        r.fail(f"{redact_dsn(url)!r} has no host name")
    return url


def _read_strings(r: Reader, f: dict[str, Node], key: str, path: str) -> tuple[str, ...]:
    node = f.get(key)
    if node is None:
        return ()
    key_path = join(path, key)
    out: list[str] = []
    for index, item in enumerate(r.sequence(node, key_path, "a list of strings")):
        value = r.convert(item, f"{key_path}[{index}]", text, None)
        if value is not None:
            out.append(value)
    return tuple(out)


def _read_images(r: Reader, f: dict[str, Node], path: str) -> dict[str, str]:
    node = f.get("rollback_images")
    if node is None:
        return {}
    key_path = join(path, "rollback_images")
    out: dict[str, str] = {}
    for name, _key_node, value_node in r.items(
        node, key_path, "a mapping of container names to images"
    ):
        image = r.convert(value_node, join(key_path, name), text, None)
        if image is not None:
            out[name] = image
    return out
