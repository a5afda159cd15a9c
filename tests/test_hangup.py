"""The SSH session drops (SIGHUP) in the middle of a container rollback: the real console
in a real pseudo-terminal, a real engine. The rollback runs on a thread of the console's
process: killed with it, it would leave the old container stopped and renamed."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.docker.rollback_run import RESTORED_MESSAGE
from tests.docker_situations import APP_V1, APP_V2, Containers, wait_until
from tests.pty_console import spawn_console

pytest_plugins = ("tests.docker_situations",)


class Terminal:
    """The console in a pty; everything it draws is read (it must never block on a full
    terminal) and kept, escape sequences and all."""

    def __init__(self, config: Path, state: Path) -> None:
        self.main, self.proc = spawn_console(config, state)
        self.output = bytearray()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self.main, 65536)
            except OSError:
                return
            if not chunk:
                return
            with self._lock:
                self.output += chunk

    def shows(self, text: str) -> bool:
        with self._lock:
            return text.encode() in self.output

    def press(self, keys: str) -> None:
        os.write(self.main, keys.encode())

    def hang_up(self) -> None:
        """What a dropped SSH session does: SIGHUP, and the terminal is gone."""
        self.proc.send_signal(signal.SIGHUP)
        os.close(self.main)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        with contextlib.suppress(OSError):  # already closed by hang_up
            os.close(self.main)


@pytest.mark.timeout(150)
def test_a_dropped_session_during_a_rollback_puts_the_old_container_back(
    tmp_path: Path, containers: Containers, docker_client: Any
) -> None:
    # No health check: the new app:2 container is waited on for the whole rollback_wait.
    c = containers.run(APP_V1, healthcheck={"test": ["NONE"]})
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "refresh": 0.5,
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {
                    "t": {
                        "docker": {
                            "hosts": [{"name": "local"}],
                            "name_patterns": [c.name],
                            "rollback_wait": 60,
                            "rollback_images": {c.name: APP_V2},
                        }
                    }
                },
            }
        )
    )
    term = Terminal(config, tmp_path)
    try:
        wait_until(lambda: term.shows("ops-console"), timeout=20, what="the first frame")
        term.press("4")
        wait_until(lambda: term.shows("CPU%1c"), timeout=20, what="the Containers screen")
        wait_until(lambda: term.shows(c.name), timeout=20, what="the container's row")
        term.press("R")
        wait_until(lambda: term.shows("and press Enter"), timeout=20, what="the dialog")
        term.press(c.name + "\r")

        def new_one_runs() -> bool:
            found = docker_client.containers.list(filters={"name": c.name})
            return any(x.id != c.id and x.name == c.name for x in found)

        wait_until(new_one_runs, timeout=40, what="the new container")
        hung_up = time.monotonic()
        term.hang_up()
        assert term.proc.wait(timeout=60) == 0
        # It stopped the rollback and exited, not waited out the 60 s rollback_wait.
        assert time.monotonic() - hung_up < 45
    finally:
        term.close()
        for x in docker_client.containers.list(all=True, filters={"name": containers.prefix}):
            if x.id != c.id:
                x.remove(force=True)
    restored = docker_client.api.inspect_container(c.id)
    assert restored["Name"] == "/" + c.name and restored["State"]["Running"]
    (line,) = [json.loads(x) for x in (tmp_path / "audit.jsonl").read_text().splitlines()]
    assert (line["action"], line["outcome"]) == ("docker.rollback", "failed")
    assert line["error"].startswith(RESTORED_MESSAGE)
    log = (tmp_path / "console.log").read_text()
    assert "SIGHUP while an action runs" in log


@pytest.mark.timeout(60)
def test_a_dropped_session_with_nothing_running_exits_cleanly(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "audit_log": str(tmp_path / "audit.jsonl"),
                "log_file": str(tmp_path / "console.log"),
                "targets": {"t": {"postgres": {"dsn": "postgresql://postgres@127.0.0.1:9/x"}}},
            }
        )
    )
    term = Terminal(config, tmp_path)
    try:
        wait_until(lambda: term.shows("ops-console"), timeout=20, what="the first frame")
        term.hang_up()
        assert term.proc.wait(timeout=15) == 0
    finally:
        term.close()
    assert "SIGHUP: exiting" in (tmp_path / "console.log").read_text()
