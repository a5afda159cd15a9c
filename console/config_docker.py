"""The `docker:` section of a target: which engines to watch and how.

Read strictly like the rest of the config (see `console.config_yaml`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from console.config_yaml import Reader, join, optional_number, optional_text


@dataclass(frozen=True, slots=True)
class DockerHostConfig:
    """One Docker engine."""

    name: str = "local"
    """The host's name on screen and in the audit log."""
    url: str | None = None
    """unix://, tcp:// or ssh://user@host; None: `$DOCKER_HOST`, else the local socket."""


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """The Docker engines of one target."""

    hosts: tuple[DockerHostConfig, ...] = (DockerHostConfig(),)
    refresh: float | None = None
    """Seconds between stats refreshes; None uses the global `refresh`."""


def read_docker(r: Reader, node: Node, path: str, source: Path) -> DockerConfig:
    """The target's `docker:` section."""
    f = r.fields(node, path, ("hosts", "refresh"))
    hosts: list[DockerHostConfig] = []
    if "hosts" in f:
        for index, item in enumerate(r.sequence(f["hosts"], join(path, "hosts"))):
            item_path = f"{join(path, 'hosts')}[{index}]"
            h = r.fields(item, item_path, ("name", "url"))
            hosts.append(
                DockerHostConfig(
                    name=r.get(h, "name", item_path, optional_text, None) or "local",
                    url=r.get(h, "url", item_path, optional_text, None),
                )
            )
    return DockerConfig(
        hosts=tuple(hosts) or (DockerHostConfig(),),
        refresh=r.get(f, "refresh", path, optional_number(), None),
    )
