"""The `health:` section of a target: HTTP(S) and TCP checks."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from console.config_yaml import Reader


@dataclass(frozen=True, slots=True)
class HealthCheckConfig:
    """One health check."""

    name: str


def read_health(r: Reader, node: Node, path: str, source: Path) -> tuple[HealthCheckConfig, ...]:
    """The target's `health:` list."""
    r.sequence(node, path)
    return ()
