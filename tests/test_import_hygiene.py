"""Layering, checked in a fresh interpreter: what each layer may import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DRIVERS = ("asyncpg", "redis", "docker", "httpx")


def loaded_after(code: str) -> set[str]:
    script = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_ui_modules_do_not_load_drivers_before_the_first_frame() -> None:
    # Everything the app imports to paint its first frame: the drivers come later.
    loaded = loaded_after(
        "import console.cli, console.app, screens.dashboard, screens.postgres, "
        "screens.redis, screens.audit_log, screens.confirm, screens.containers, "
        "screens.container_logs, screens.container_detail, screens.health, "
        "screens.runbook, console.docker_source, console.health_source"
    )
    assert not loaded & set(DRIVERS), loaded & set(DRIVERS)


def test_adapters_import_no_textual_or_rich() -> None:
    loaded = loaded_after(
        "import adapters.postgres.monitor, adapters.postgres.actions, "
        "adapters.redis.monitor, adapters.redis.keys, adapters.redis.bigkeys, "
        "adapters.docker.monitor, adapters.docker.logs, adapters.docker.rollback_run, "
        "adapters.docker.swarm, adapters.docker.events, adapters.health.checker, "
        "adapters.health.status, adapters.runbook.runner"
    )
    assert "textual" not in loaded and "rich" not in loaded


def test_widgets_import_no_drivers() -> None:
    loaded = loaded_after(
        "import widgets.activity_table, widgets.blocking_tree, widgets.pg_summary, "
        "widgets.redis_summary, widgets.redis_detail, widgets.big_keys, "
        "widgets.container_table, widgets.service_table, widgets.log_view, "
        "widgets.containers_summary, widgets.container_detail, widgets.health_table, "
        "widgets.health_detail, widgets.health_summary, widgets.command_output, "
        "widgets.runbook_list"
    )
    assert not loaded & set(DRIVERS)
