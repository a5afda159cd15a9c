"""Real Docker situations for the Docker tests: the machine's engine and its test images.

Loaded by the Docker test modules with `pytest_plugins = ("tests.docker_situations",)`.
Everything a test creates carries the `opsc-test=1` label and an `opsc-test-` name prefix,
and is force-removed at teardown. Only the local test images exist (no registry):
`opsc-test/base:1`, `opsc-test/app:1` (healthy), `opsc-test/app:2` (unhealthy).
`bash .ci/docker.sh` starts the engine and builds them.

Without a reachable engine the tests skip, unless `OPS_REQUIRE_SERVICES=1`, in which case
they fail.

(PYTEST_DONT_REWRITE: the test modules import helpers from here before pytest loads it
as a plugin.)
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Callable, Iterator
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
