"""The `runbook:` section of a target: operator commands run through the action life cycle."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from yaml.nodes import Node

from console.config_yaml import Reader


@dataclass(frozen=True, slots=True)
class RunbookActionConfig:
    """One runbook action."""

    name: str


def read_runbook(r: Reader, node: Node, path: str, source: Path) -> tuple[RunbookActionConfig, ...]:
    """The target's `runbook:` list."""
    r.sequence(node, path)
    return ()
