"""Building a real app for Pilot tests: a config file on disk, a real server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from console.app import OpsConsoleApp
from console.config import load_config


def write_config(tmp_path: Path, dsn: str, **target: Any) -> Path:
    """A config with one target `t` on `dsn`; `target` adds keys (production, ...)."""
    refresh = target.pop("refresh", 0.5)
    top = target.pop("top", {})
    data = {
        "refresh": refresh,
        "audit_log": str(tmp_path / "audit.jsonl"),
        "log_file": str(tmp_path / "console.log"),
        **top,
        "targets": {"t": {"postgres": {"dsn": dsn}, **target}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def make_app(tmp_path: Path, dsn: str, **target: Any) -> OpsConsoleApp:
    config = load_config(write_config(tmp_path, dsn, **target))
    return OpsConsoleApp(config, "t")


def snapshot_pids(app: OpsConsoleApp) -> set[int]:
    state = app.states.get("postgres")
    if state is None or state.snapshot is None:
        return set()
    return {b.pid for b in state.snapshot.backends}
