"""The Health source of one target, owned by the app (one poller, whatever screens show it)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from console.app import OpsConsoleApp

SOURCE_NAME = "health"


def start(app: OpsConsoleApp) -> None:
    """Create the target's Health source, set `app.health` and add its poller."""
