"""The Docker source of one target, owned by the app (one poller, whatever screens show it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.app import OpsConsoleApp

SOURCE_NAME = "docker"


def start(app: OpsConsoleApp) -> None:
    """Create the target's Docker source, set `app.docker` and add its poller."""
