"""Real Docker situations for the Docker tests: the machine's engine and its test images.

Loaded by the Docker test modules with `pytest_plugins = ("tests.docker_situations",)`.
Everything a test creates carries the `opsc-test=1` label and an `opsc-test-` name prefix,
and is force-removed at teardown. Only the local test images exist (no registry):
`opsc-test/base:1`, `opsc-test/app:1` (healthy), `opsc-test/app:2` (unhealthy).
`bash .ci/docker.sh` starts the engine and builds them.

`Engine` is a throwaway second dockerd (its own socket, data root and bridge; optionally
also tcp:// with --tlsverify), for tests that stop engines or need one configured
differently.

Without a reachable engine the tests skip, unless `OPS_REQUIRE_SERVICES=1`, in which case
they fail.

(PYTEST_DONT_REWRITE: the test modules import helpers from here before pytest loads it
as a plugin.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

#: The label every test object carries .
TEST_LABEL = "opsc-test"
BASE_IMAGE = "opsc-test/base:1"
APP_V1 = "opsc-test/app:1"
APP_V2 = "opsc-test/app:2"


def _unavailable(reason: str) -> None:
    if os.environ.get("OPS_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}", pytrace=False)
    pytest.skip(reason)


def wait_until(
    check: Callable[[], bool], timeout: float = 10.0, what: str = "state", every: float = 0.05
) -> None:
    """Poll a sync `check` until it is true (no fixed sleeps in tests)."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(Exception):
            if check():
                return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(every)


@pytest.fixture(scope="session")
def docker_client() -> Iterator[Any]:
    """A docker SDK client for the machine's engine (skip/fail when unreachable)."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
        for image in (BASE_IMAGE, APP_V1, APP_V2):
            client.images.get(image)
    except Exception as exc:  # any failure means "not usable here"
        _unavailable(f"Docker engine or test images unavailable: {type(exc).__name__}: {exc}")
        return
    try:
        yield client
    finally:
        client.close()


class Containers:
    """Creates labelled, uniquely named test containers; removes them all at `cleanup`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.prefix = f"opsc-test-{uuid.uuid4().hex[:6]}-"
        self.created: list[Any] = []
        self._n = 0

    def name(self, hint: str | None = None) -> str:
        """A unique container name under this test's prefix."""
        self._n += 1
        return f"{self.prefix}{hint or 'c'}{self._n}"

    def run(
        self,
        image: str = BASE_IMAGE,
        command: str | list[str] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """`docker run -d` with the test label and a unique `opsc-test-` name.

        `name` is a hint appended to the prefix (so it stays unique). Extra keyword
        arguments go to `client.containers.run` (e.g. `nano_cpus`, `mem_limit`,
        `restart_policy`, `labels`). Returns the Container, already started.
        """
        kwargs.pop("detach", None)
        # create, record, then start: a start that fails must not leak the container.
        container = self.create(image, command, name, **kwargs)
        container.start()
        container.reload()
        return container

    def create(
        self,
        image: str = BASE_IMAGE,
        command: str | list[str] | None = None,
        name: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Like `run` but only created (state `created`)."""
        labels = {TEST_LABEL: "1", **dict(kwargs.pop("labels", None) or {})}
        container = self.client.containers.create(
            image, command, name=self.name(name), labels=labels, **kwargs
        )
        self.created.append(container)
        return container

    def cleanup(self) -> None:
        """Force-remove every container this factory made (gone already is fine)."""
        for container in self.created:
            with contextlib.suppress(Exception):
                container.remove(force=True, v=True)
        self.created.clear()


@pytest.fixture
def containers(docker_client: Any) -> Iterator[Containers]:
    """A factory of test containers, all removed at teardown."""
    factory = Containers(docker_client)
    try:
        yield factory
    finally:
        factory.cleanup()


# -- a throwaway second engine ----------------------------------------------------------


@dataclass(frozen=True)
class EngineTls:
    """What a throwaway engine needs to also serve `tcp://127.0.0.1:port` with
    `--tlsverify`: its CA (which must have signed the clients' certificates), its own
    certificate (for 127.0.0.1) and key."""

    port: int
    ca: Path
    cert: Path
    key: Path


class Engine:
    """A second dockerd on its own socket, data root AND bridge (never the shared one).

    Never start it with `--bridge=none`: a daemon with the bridge disabled deletes the
    `docker0` interface at start-up (`removeDefaultBridgeInterface`), which breaks
    networking of the shared engine for everyone. It gets its own bridge interface, in
    a documentation range (`bridge_ip`, TEST-NET-1 by default: give engines that may run
    at the same time different ones), and no iptables/forwarding changes.

    With `tls` it also listens on `tcp://127.0.0.1:<tls.port>` (`tcp_url`), verifying
    clients; the unix socket (`url`) stays, for the test's own docker CLI calls.
    """

    def __init__(self, *, tls: EngineTls | None = None, bridge_ip: str = "192.0.2.1/24") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="opsc-d-"))
        self.socket = self.dir / "d.sock"
        self.bridge = f"opscb{uuid.uuid4().hex[:6]}"
        self.tls = tls
        self.proc: subprocess.Popen[bytes] | None = None
        ip = ["ip", "link", "add", self.bridge, "type", "bridge"]
        subprocess.run(ip, check=True, capture_output=True)
        try:
            subprocess.run(
                ["ip", "addr", "add", bridge_ip, "dev", self.bridge],
                check=True,
                capture_output=True,
            )
        except BaseException:
            self.remove()
            raise

    @property
    def url(self) -> str:
        return f"unix://{self.socket}"

    @property
    def tcp_url(self) -> str:
        assert self.tls is not None, "an engine without tls has no tcp:// URL"
        return f"tcp://127.0.0.1:{self.tls.port}"

    def start(self) -> None:
        listen = [f"--host={self.url}"]
        if self.tls is not None:
            listen += [
                f"--host={self.tcp_url}",
                "--tlsverify",
                f"--tlscacert={self.tls.ca}",
                f"--tlscert={self.tls.cert}",
                f"--tlskey={self.tls.key}",
            ]
        log = open(self.dir / "dockerd.log", "ab")  # noqa: SIM115 - kept by the process
        self.proc = subprocess.Popen(
            [
                "dockerd",
                *listen,
                f"--data-root={self.dir / 'data'}",
                f"--exec-root={self.dir / 'exec'}",
                f"--pidfile={self.dir / 'd.pid'}",
                f"--bridge={self.bridge}",
                "--iptables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--shutdown-timeout=1",
            ],
            stdout=log,
            stderr=log,
        )
        log.close()
        wait_until(self._answers, timeout=30, what="the throwaway dockerd", every=0.1)

    def _answers(self) -> bool:
        out = subprocess.run(
            ["docker", "-H", self.url, "version", "--format", "{{.Server.Version}}"],
            capture_output=True,
            timeout=5,
        )
        return out.returncode == 0

    def docker(self, *args: str) -> str:
        """`docker -H <this engine's socket> ARGS`: its stdout (raises on failure)."""
        out = subprocess.run(
            ["docker", "-H", self.url, *args], check=True, capture_output=True, text=True
        )
        return out.stdout.strip()

    def load_base_image(self) -> None:
        """The machine's `opsc-test/base:1` (busybox) into this engine: no registry."""
        subprocess.run(
            f"docker save {BASE_IMAGE} | docker -H {self.url} load",
            shell=True,
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self.proc = None

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
        subprocess.run(["ip", "link", "del", self.bridge], capture_output=True)


def engine_binaries_or_skip() -> None:
    """A throwaway engine needs dockerd and ip (skip, or fail under OPS_REQUIRE_SERVICES)."""
    if shutil.which("dockerd") is None or shutil.which("ip") is None:
        _unavailable("no dockerd or ip binary for a throwaway engine")
