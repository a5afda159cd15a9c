"""Where ops-console keeps its files, following the XDG base directory spec.

The one place that knows these locations: config, audit log and log file all ask here.
Every function reads the environment when called (not at import), so tests and
`--config`-style overrides that change the environment see the change.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

APP_NAME = "ops-console"


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME", "")
    return Path(home) if os.path.isabs(home) else Path.home()


def _xdg_base(variable: str, fallback: str, env: Mapping[str, str]) -> Path:
    """`$variable` if it is an absolute path, else `~/fallback`.

    The XDG spec says relative values are invalid and must be ignored: a relative
    path would move with the working directory, which changes with every SSH session.
    """
    value = env.get(variable, "")
    if os.path.isabs(value):
        return Path(value)
    return _home(env) / fallback


def config_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_CONFIG_HOME/ops-console`, default `~/.config/ops-console`."""
    return _xdg_base("XDG_CONFIG_HOME", ".config", _env(env)) / APP_NAME


def state_dir(env: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/ops-console`, default `~/.local/state/ops-console`."""
    return _xdg_base("XDG_STATE_HOME", ".local/state", _env(env)) / APP_NAME


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file used when neither `--config` nor `$OPS_CONSOLE_CONFIG` is given."""
    return config_dir(env) / "config.yaml"


def default_audit_path(env: Mapping[str, str] | None = None) -> Path:
    """The append-only audit log (one JSON object per line)."""
    return state_dir(env) / "audit.jsonl"


def default_log_path(env: Mapping[str, str] | None = None) -> Path:
    """The application's own diagnostic log."""
    return state_dir(env) / "ops-console.log"
